"""DynamoDB repository: each event's latest version, its statistics and the change feed, kept exact.

An event's identity is (match_id, event_id). A batch is applied per match in
stream order: a higher version replaces the stored one, anything else changes
nothing. Each transaction swaps the versions, conditional on the version it
read (or on there being none), adds the difference between old and new to the
statistics items, and appends the changes it applied to the feed under the
next sequence number, conditional on that number being free. Redelivery,
stale versions and a second writer therefore fail a condition, and the batch
is re-planned from what is really stored: nothing is counted twice or missed.
"""

import base64
import binascii
import functools
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
from botocore.exceptions import ClientError

from chalicelib import layout, stats
from chalicelib.events import FIELDS, MATCH_LEVEL_TYPES

EVENT_FIELDS = (*FIELDS, "deleted", "received_at", "partition", "offset")  # the order events are returned in
TRANSACTION_ACTIONS = 100  # DynamoDB's limit per TransactWriteItems
TRANSACTION_ATTEMPTS = 6  # for conflicts and throttling; then the batch fails and is retried whole
PARALLEL_MATCHES = 8  # matches of one batch written concurrently
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
_CHANGE_CURSOR = re.compile(r"(\d{12})\.(\d{3})")


class RejectedByStorage(ValueError):
    """DynamoDB refused the write as invalid: retrying the same items can never succeed."""


class BadCursor(ValueError):
    """A cursor that this API did not hand out for this query."""


@attrs.frozen
class Page:
    events: list[str]  # each a stored event's JSON object, as written
    next_cursor: str | None


@attrs.frozen(kw_only=True)
class EventQuery:
    """One page request; the bounds are normalised UTC timestamps."""

    match_id: str
    event_type: str | None = None
    limit: int = 1000
    cursor: str | None = None
    descending: bool = False
    start: str | None = None
    end: str | None = None


@attrs.frozen
class Stored:
    """What the table holds for an event: its version and body (``deleted`` in the body: a tombstone)."""

    version: int
    body: Mapping[str, Any]

    @property
    def live(self) -> Mapping[str, Any] | None:
        return None if self.body.get("deleted") else self.body


def _body(event: Mapping[str, Any]) -> dict[str, Any]:
    return {name: event[name] for name in EVENT_FIELDS if name in event}


def event_item(match_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """An event's item: identity key, version, JSON body, and the index keys while it is live."""
    event_id = body["event_id"]
    item = {
        layout.PARTITION_KEY: {"S": match_id},
        layout.SORT_KEY: {"S": layout.event_key(event_id)},
        layout.VERSION: {"N": str(body["version"])},
        layout.EVENT_BODY: {"S": json.dumps(body, separators=(",", ":"))},
    }
    if not body.get("deleted"):
        timestamp, event_type = body["timestamp"], body["event_type"]
        item[layout.TIME_SORT_KEY] = {"S": layout.time_sort_key(timestamp, event_id)}
        item[layout.TYPE_SORT_KEY] = {"S": layout.type_sort_key(event_type, timestamp, event_id)}
        if event_type in MATCH_LEVEL_TYPES:
            item[layout.PHASE_SORT_KEY] = {"S": layout.time_sort_key(timestamp, event_id)}
    return item


@attrs.define
class _Plan:
    """One transaction's worth of a match's pending events, applied in order over what is stored."""

    taken: int = 0  # how many pending events it covers (applied or found to change nothing)
    writes: dict[str, Stored] = attrs.field(factory=dict)  # event_id -> the version to store
    changes: list[dict[str, Any]] = attrs.field(factory=list)
    deltas: dict[stats.Owner, Counter[str]] = attrs.field(factory=lambda: defaultdict(Counter))

    def actions(self) -> int:
        return len(self.writes) + sum(1 for c in self.deltas.values() if +c or -c) + (1 if self.changes else 0)


def _change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str | None:
    """The feed's name for a swap of live versions (None: not live); None when no reader could see it."""
    if new is not None:
        return "update" if old is not None else "insert"
    return "delete" if old is not None else None


class EventRepository:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self._feed_seq: dict[str, int] = {}  # match_id -> last change sequence this process saw

    # -- writes -------------------------------------------------------------

    def save(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Apply events (and voids) to their matches; return how many changed something."""
        by_match: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for event in events:
            by_match[event["match_id"]].append(event)
        if len(by_match) <= 1:
            return sum(self._save_match(*match) for match in by_match.items())
        with ThreadPoolExecutor(max_workers=min(PARALLEL_MATCHES, len(by_match))) as pool:
            return sum(pool.map(lambda match: self._save_match(*match), by_match.items()))

    def _save_match(self, match_id: str, events: Sequence[Mapping[str, Any]]) -> int:
        pending = list(events)
        known: dict[str, Stored | None] = {}  # read from the table; an id not here is assumed new
        applied, attempt = 0, 0
        while pending:
            plan = self._plan(pending, known)
            if plan.writes:
                failed = self._commit(match_id, plan, known)
                if failed is not None:
                    if failed:
                        known |= self._read(match_id, failed)
                    else:  # a conflict or throttling, or another writer took our feed sequence number
                        attempt += 1
                        if attempt >= TRANSACTION_ATTEMPTS:
                            raise RuntimeError(f"match {match_id}: transaction kept failing")
                        self._feed_seq.pop(match_id, None)
                        time.sleep(min(2.0, 0.05 * 2**attempt))
                    continue
                known |= plan.writes
                applied += len(plan.changes)
            pending = pending[plan.taken:]
        self._project(match_id)
        return applied

    def _plan(self, pending: Sequence[Mapping[str, Any]], known: Mapping[str, Stored | None]) -> _Plan:
        """Apply pending events in order while the transaction stays within its action limit."""
        plan = _Plan()
        for event in pending:
            event_id, version = event["event_id"], event["version"]
            current = plan.writes.get(event_id) or known.get(event_id)
            if current is not None and version <= current.version:
                plan.taken += 1  # a redelivery or a stale version: nothing to do
                continue
            new = Stored(version, _body(event))
            old_live = current.live if current else None
            difference = stats.difference(old_live, new.live)
            change = _change(old_live, new.live)
            previous = plan.writes.get(event_id)
            plan.writes[event_id] = new
            for owner, counters in difference.items():
                plan.deltas[owner].update(counters)
            if change:
                plan.changes.append({"change": change, "event": new.body})
            if plan.actions() > TRANSACTION_ACTIONS and plan.taken:  # over the limit: leave it to the next one
                if previous is None:
                    del plan.writes[event_id]
                else:
                    plan.writes[event_id] = previous
                for owner, counters in difference.items():
                    plan.deltas[owner].subtract(counters)
                if change:
                    plan.changes.pop()
                break
            plan.taken += 1
        return plan

    def _commit(self, match_id: str, plan: _Plan, known: Mapping[str, Stored | None]) -> list[str] | None:
        """Write the plan; None when it committed, else the events whose stored version was not the one
        assumed (empty: retry after a conflict)."""
        actions: list[dict[str, Any]] = []
        for event_id, new in plan.writes.items():
            put: dict[str, Any] = {"TableName": self.table, "Item": event_item(match_id, new.body),
                                   "ExpressionAttributeNames": {"#sk": layout.SORT_KEY}}
            read = known.get(event_id)
            if read is None:
                put["ConditionExpression"] = "attribute_not_exists(#sk)"
            else:
                put["ConditionExpression"] = "#v = :v"
                put["ExpressionAttributeNames"] = {"#v": layout.VERSION}
                put["ExpressionAttributeValues"] = {":v": {"N": str(read.version)}}
            actions.append({"Put": put})
        actions += self._stats_updates(match_id, plan.deltas)
        if plan.changes:
            seq = self._last_seq(match_id) + 1
            actions.append({"Put": {
                "TableName": self.table, "ConditionExpression": "attribute_not_exists(#sk)",
                "ExpressionAttributeNames": {"#sk": layout.SORT_KEY},
                "Item": {layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.change_key(seq)},
                         layout.CHANGES: {"S": json.dumps(plan.changes, separators=(",", ":"))}}}})
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            invalid = [r for r in reasons if r.get("Code") == "ValidationError"]
            if error.response["Error"]["Code"] == "ValidationException" or invalid:
                raise RejectedByStorage(invalid[0].get("Message") if invalid else str(error)) from error
            if not reasons:
                raise
            ids = list(plan.writes)
            return [ids[i] for i, r in enumerate(reasons[:len(ids)]) if r.get("Code") == "ConditionalCheckFailed"]
        if plan.changes:
            self._feed_seq[match_id] = seq
        return None

    def _stats_updates(self, match_id: str, deltas: Mapping[stats.Owner, Counter[str]]) -> list[dict[str, Any]]:
        """One ADD per statistics item whose counters move."""
        updates = []
        for (kind, owner_id), counters in deltas.items():
            moved = {name: n for name, n in counters.items() if n}
            if not moved:
                continue
            names = {f"#c{i}": name for i, name in enumerate(moved)}
            values = {f":c{i}": {"N": str(n)} for i, n in enumerate(moved.values())}
            updates.append({"Update": {
                "TableName": self.table,
                "Key": {layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.stats_key(kind, owner_id)}},
                "UpdateExpression": "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }})
        return updates

    def _read(self, match_id: str, event_ids: Sequence[str]) -> dict[str, Stored | None]:
        """The stored versions of these events (None: never stored), strongly consistent."""
        found: dict[str, Stored | None] = dict.fromkeys(event_ids)
        for start in range(0, len(event_ids), BATCH_GET_KEYS):
            keys = [{layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.event_key(e)}}
                    for e in event_ids[start:start + BATCH_GET_KEYS]]
            request = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table, []):
                    body = json.loads(item[layout.EVENT_BODY]["S"])
                    found[body["event_id"]] = Stored(int(item[layout.VERSION]["N"]), body)
                request = response.get("UnprocessedKeys") or {}
        return found

    def _last_seq(self, match_id: str) -> int:
        if match_id not in self._feed_seq:
            items = self.client.query(
                TableName=self.table, KeyConditionExpression="#pk = :pk AND begins_with(#sk, :c)",
                ScanIndexForward=False, Limit=1, ConsistentRead=True,
                ExpressionAttributeNames={"#pk": layout.PARTITION_KEY, "#sk": layout.SORT_KEY},
                ExpressionAttributeValues={":pk": {"S": match_id}, ":c": {"S": layout.CHANGE_PREFIX}})["Items"]
            self._feed_seq[match_id] = int(items[0][layout.SORT_KEY]["S"][len(layout.CHANGE_PREFIX):]) if items else 0
        return self._feed_seq[match_id]

    def _project(self, match_id: str) -> None:
        """Recompute the match's summary (status, period, minute, score, first and last event) from its live
        events. Run after every batch of the match, redelivered or not, so a crash between the transaction
        and this write is repaired by the redelivery it causes."""
        teams = self._stats_items(match_id, f"{layout.STATS_PREFIX}team#", consistent=True)
        goals = {owner_id: counters.get("goals", 0) for (_, owner_id), counters in teams.items() if counters.get("events")}
        edge = functools.partial(self._edge, match_id, consistent=True)  # sees what this process just wrote
        summary = stats.summary(first=edge(layout.TIME_INDEX, descending=False), latest=edge(layout.TIME_INDEX),
                                phase=edge(layout.PHASE_INDEX), kick_off=edge(layout.TYPE_INDEX, prefix="kick_off#"),
                                goals=goals)
        activity = f"{summary['last_event_at'] or ''}#{match_id}"
        self.client.update_item(
            TableName=self.table,
            Key={layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.MATCH_STATS}},
            UpdateExpression="SET #summary = :summary, #dpk = :dpk, #dsk = :dsk, #day = :day",
            ExpressionAttributeNames={"#summary": "summary", "#dpk": layout.DIRECTORY_PARTITION_KEY,
                                      "#dsk": layout.DIRECTORY_SORT_KEY, "#day": "first_day"},
            ExpressionAttributeValues={":summary": {"S": json.dumps(summary, separators=(",", ":"))},
                                       ":dpk": {"S": layout.DIRECTORY_PARTITION}, ":dsk": {"S": activity},
                                       ":day": {"S": (summary["first_event_at"] or "")[:10]}})

    # -- reads --------------------------------------------------------------

    def _edge(self, match_id: str, index: str, *, descending: bool = True, prefix: str | None = None,
              consistent: bool = False) -> dict[str, Any] | None:
        """The first or last live event of a local index (optionally of one type), or None."""
        sort_key = {layout.TIME_INDEX: layout.TIME_SORT_KEY, layout.TYPE_INDEX: layout.TYPE_SORT_KEY,
                    layout.PHASE_INDEX: layout.PHASE_SORT_KEY}[index]
        condition, values = "#pk = :pk", {":pk": {"S": match_id}}
        if prefix:
            condition, values = condition + " AND begins_with(#sk, :p)", values | {":p": {"S": prefix}}
        items = self.client.query(
            TableName=self.table, IndexName=index, KeyConditionExpression=condition, Limit=1,
            ScanIndexForward=not descending, ConsistentRead=consistent, ExpressionAttributeValues=values,
            ExpressionAttributeNames={"#pk": layout.PARTITION_KEY} | ({"#sk": sort_key} if prefix else {}))["Items"]
        return json.loads(items[0][layout.EVENT_BODY]["S"]) if items else None

    def _stats_items(self, match_id: str, prefix: str = layout.STATS_PREFIX, consistent: bool = False,
                     ) -> dict[stats.Owner, dict[str, int]]:
        params: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": consistent,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": layout.PARTITION_KEY, "#sk": layout.SORT_KEY},
            "ExpressionAttributeValues": {":pk": {"S": match_id}, ":prefix": {"S": prefix}}}
        totals: dict[stats.Owner, dict[str, Any]] = {}
        while True:
            response = self.client.query(**params)
            for item in response["Items"]:
                totals[layout.stats_owner(item[layout.SORT_KEY]["S"])] = {
                    name: int(attr["N"]) for name, attr in item.items() if "N" in attr}
            if "LastEvaluatedKey" not in response:
                return totals
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def statistics(self, match_id: str) -> dict[str, Any]:
        """The match's totals (one Query on its statistics items), with its latest event and latest
        match-level event read from their indexes, so status and last_event_at are exact as the totals."""
        latest, phase = self._edge(match_id, layout.TIME_INDEX), self._edge(match_id, layout.PHASE_INDEX)
        return stats.render(match_id, self._stats_items(match_id), latest=latest, phase=phase)

    def page(self, query: EventQuery) -> Page:
        """One page of a match's live events (optionally one type) in timeline order."""
        if query.start and query.end and query.start > query.end:
            return Page([], None)  # an empty window (DynamoDB refuses BETWEEN with low > high)
        index, sort_key = ((layout.TYPE_INDEX, layout.TYPE_SORT_KEY) if query.event_type
                           else (layout.TIME_INDEX, layout.TIME_SORT_KEY))
        prefix = f"{query.event_type}#" if query.event_type else ""
        low = prefix + (query.start or "0")
        high = prefix + (query.end + "$" if query.end else layout.INDEX_END)  # "$" sorts just after "#"
        params: dict[str, Any] = {
            "TableName": self.table, "IndexName": index,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": layout.PARTITION_KEY, "#sk": sort_key},
            "ExpressionAttributeValues": {":pk": {"S": query.match_id}, ":low": {"S": low}, ":high": {"S": high}},
            "ScanIndexForward": not query.descending,
        }
        if query.cursor:
            params["ExclusiveStartKey"] = _decode_cursor(query.cursor, query.match_id, sort_key, low, high)
        items: list[dict[str, Any]] = []
        while True:
            params["Limit"] = query.limit + 1 - len(items)  # one extra tells whether a next page exists
            response = self.client.query(**params)
            items += response["Items"]
            if len(items) > query.limit or "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page([item[layout.EVENT_BODY]["S"] for item in items], _encode_cursor(items[-1], sort_key) if more else None)

    def changes(self, match_id: str, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Applied changes after the cursor, in the order applied, and the cursor to continue from when
        more are already there."""
        seq, index = (0, -1)
        if after is not None:
            parsed = _CHANGE_CURSOR.fullmatch(after)
            if not parsed:
                raise BadCursor("cursor is not one this API issued")
            seq, index = int(parsed[1]), int(parsed[2])
        params: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": layout.PARTITION_KEY, "#sk": layout.SORT_KEY},
            "ExpressionAttributeValues": {":pk": {"S": match_id}, ":low": {"S": layout.change_key(seq)},
                                          ":high": {"S": layout.CHANGE_PREFIX + "~"}}}
        found: list[dict[str, Any]] = []
        while len(found) <= limit:
            response = self.client.query(**params)
            for item in response["Items"]:
                item_seq = int(item[layout.SORT_KEY]["S"][len(layout.CHANGE_PREFIX):])
                for i, change in enumerate(json.loads(item[layout.CHANGES]["S"])):
                    if (item_seq, i) > (seq, index):
                        found.append(change | {"cursor": f"{item_seq:012d}.{i:03d}"})
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found[:limit], found[limit - 1]["cursor"] if len(found) > limit else None

    def directory(self, *, status: str | None, day: str | None, limit: int,
                  cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Match summaries, latest activity first, optionally of one status and first day."""
        names = {"#pk": layout.DIRECTORY_PARTITION_KEY}
        values: dict[str, Any] = {":pk": {"S": layout.DIRECTORY_PARTITION}}
        params: dict[str, Any] = {"TableName": self.table, "IndexName": layout.DIRECTORY_INDEX,
                                  "KeyConditionExpression": "#pk = :pk", "ScanIndexForward": False}
        if day:
            names["#day"], values[":day"] = "first_day", {"S": day}
            params["FilterExpression"] = "#day = :day"
        if cursor:
            params["ExclusiveStartKey"] = _decode_directory_cursor(cursor)
        params |= {"ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
        found: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (summary, its index key)
        while len(found) <= limit:  # one more than asked tells whether a next page exists
            response = self.client.query(**params)
            for item in response["Items"]:
                summary = json.loads(item["summary"]["S"])
                if status is None or summary["status"] == status:
                    key = {name: item[name] for name in (layout.PARTITION_KEY, layout.SORT_KEY,
                                                         layout.DIRECTORY_PARTITION_KEY, layout.DIRECTORY_SORT_KEY)}
                    found.append(({"match_id": item[layout.PARTITION_KEY]["S"], **summary,
                                   "event_count": int(item.get("event_count", {"N": "0"})["N"])}, key))
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        more = len(found) > limit
        return [summary for summary, _ in found[:limit]], _encode_key(found[limit - 1][1]) if more else None


def _encode_key(key: Mapping[str, Any]) -> str:
    plain = {name: value["S"] for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_key(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("cursor is not one this API issued") from None


def _encode_cursor(item: Mapping[str, Any], sort_key: str) -> str:
    return _encode_key({name: item[name] for name in (layout.PARTITION_KEY, layout.SORT_KEY, sort_key)})


def _decode_cursor(cursor: str, match_id: str, sort_key: str, low: str, high: str) -> dict[str, Any]:
    """Accept only a key of this match inside this query's range."""
    key = _decode_key(cursor)
    if (
        not isinstance(key, dict)
        or set(key) != {layout.PARTITION_KEY, layout.SORT_KEY, sort_key}
        or not all(isinstance(value, str) for value in key.values())
        or key[layout.PARTITION_KEY] != match_id
        or not key[layout.SORT_KEY].startswith(layout.EVENT_PREFIX)
        or not low <= key[sort_key] <= high
    ):
        raise BadCursor("cursor does not belong to this query")
    return {name: {"S": value} for name, value in key.items()}


def _decode_directory_cursor(cursor: str) -> dict[str, Any]:
    key = _decode_key(cursor)
    names = {layout.PARTITION_KEY, layout.SORT_KEY, layout.DIRECTORY_PARTITION_KEY, layout.DIRECTORY_SORT_KEY}
    if (not isinstance(key, dict) or set(key) != names or not all(isinstance(v, str) for v in key.values())
            or key[layout.SORT_KEY] != layout.MATCH_STATS or key[layout.DIRECTORY_PARTITION_KEY] != layout.DIRECTORY_PARTITION):
        raise BadCursor("cursor does not belong to this query")
    return {name: {"S": value} for name, value in key.items()}
