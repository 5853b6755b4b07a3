"""DynamoDB repository: events stored exactly once, read back in order.

Writes are transactions of event puts, each conditional on the item not
existing, together with the updates that add those events to their matches'
statistics. A redelivered event fails its condition, is dropped from the
transaction and the rest is retried, so neither the events nor the totals can
count it twice.
"""

import base64
import binascii
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
from botocore.exceptions import ClientError

from chalicelib import layout, stats
from chalicelib.events import FIELDS

EVENT_FIELDS = (*FIELDS, "received_at", "partition", "offset")  # the order events are returned in
TRANSACTION_ACTIONS = 100  # DynamoDB's limit per TransactWriteItems
TRANSACTION_ATTEMPTS = 6  # for conflicts and throttling; then the batch fails and is retried whole
PARALLEL_TRANSACTIONS = 8  # concurrent transactions within one batch


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


def _number(attr: Mapping[str, Any]) -> int:
    return int(attr["N"])


def event_item(event: Mapping[str, Any]) -> dict[str, Any]:
    """A stored event as DynamoDB attribute values: keys, index key and the JSON body."""
    ts, event_id = event["timestamp"], event["event_id"]
    body = json.dumps({name: event[name] for name in EVENT_FIELDS if name in event}, separators=(",", ":"))
    return {
        layout.PARTITION_KEY: {"S": event["match_id"]},
        layout.SORT_KEY: {"S": layout.event_sort_key(ts, event_id)},
        layout.TYPE_SORT_KEY: {"S": layout.type_sort_key(event["event_type"], ts, event_id)},
        layout.EVENT_BODY: {"S": body},
    }


def _actions(events: Sequence[Mapping[str, Any]]) -> int:
    """Transaction actions to store these events of one match: a put each, an update per statistics item."""
    return len(events) + len(stats.increments(events))


def _chunks(events: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """A match's events in stream order, cut into groups that each fit one transaction."""
    chunks: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    owners: set[stats.Owner] = set()
    for event in events:
        touched = set(stats.increments([event]))
        if current and len(current) + 1 + len(owners | touched) > TRANSACTION_ACTIONS:
            chunks.append(current)
            current, owners = [], set()
        current.append(event)
        owners |= touched
    return [*chunks, current] if current else chunks


class EventRepository:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -- writes -------------------------------------------------------------

    def save(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Store events once each and add them to their match's totals; return how many were new.

        A live batch spans many matches with a few events each, so matches share transactions: each
        carries up to 100 actions, a match's event puts together with the updates of the statistics
        items they touch (the match's, and each team's and player's). A match whose events need more
        continues in the next round, since one transaction cannot touch an item twice. A round's
        transactions run concurrently.
        """
        by_match: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
        for event in events:
            by_match[event["match_id"]].setdefault(layout.event_sort_key(event["timestamp"], event["event_id"]), event)
        chunks = {match_id: _chunks(list(group.values())) for match_id, group in by_match.items()}
        new = 0
        for round_ in range(max((len(c) for c in chunks.values()), default=0)):
            transactions: list[list[tuple[str, list[Mapping[str, Any]]]]] = [[]]
            size = 0  # actions in the last transaction
            for match_id, match_chunks in chunks.items():
                if round_ < len(match_chunks):
                    actions = _actions(match_chunks[round_])
                    if size + actions > TRANSACTION_ACTIONS:
                        transactions.append([])
                        size = 0
                    transactions[-1].append((match_id, match_chunks[round_]))
                    size += actions
            if len(transactions) == 1:
                new += self._write(transactions[0])
            else:
                with ThreadPoolExecutor(max_workers=min(PARALLEL_TRANSACTIONS, len(transactions))) as pool:
                    new += sum(pool.map(self._write, transactions))
        return new

    def _write(self, groups: list[tuple[str, list[Mapping[str, Any]]]]) -> int:
        """One transaction: every group's event puts (each only if new) and its statistics updates."""
        attempt = 0
        while groups:
            actions: list[dict[str, Any]] = []
            owners: list[tuple[int, int] | None] = []  # which (group, event) each action puts
            for g, (match_id, group) in enumerate(groups):
                for e, event in enumerate(group):
                    actions.append({"Put": {"TableName": self.table, "Item": event_item(event),
                                            "ConditionExpression": "attribute_not_exists(#sk)",
                                            "ExpressionAttributeNames": {"#sk": layout.SORT_KEY}}})
                    owners.append((g, e))
                updates = self._stats_updates(match_id, group)
                actions += updates
                owners += [None] * len(updates)
            try:
                self.client.transact_write_items(TransactItems=actions)
                return sum(len(group) for _, group in groups)
            except ClientError as error:
                reasons = error.response.get("CancellationReasons") or []
                invalid = [r for r in reasons if r.get("Code") == "ValidationError"]
                if error.response["Error"]["Code"] == "ValidationException" or invalid:
                    raise RejectedByStorage(invalid[0].get("Message") if invalid else str(error)) from error
                stored = {owners[i] for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
                if stored - {None}:  # already written by an earlier delivery: drop them, retry the rest at once
                    groups = [(m, [ev for e, ev in enumerate(group) if (g, e) not in stored])
                              for g, (m, group) in enumerate(groups)]
                    groups = [(m, group) for m, group in groups if group]
                    continue
                attempt += 1
                if not reasons or attempt >= TRANSACTION_ATTEMPTS:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt))  # conflict or throttling: back off
        return 0

    def _stats_updates(self, match_id: str, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One ADD per statistics item the events touch."""
        updates = []
        for (kind, owner_id), counters in stats.increments(events).items():
            names = {f"#c{i}": name for i, name in enumerate(counters)}
            values = {f":c{i}": {"N": str(amount)} for i, amount in enumerate(counters.values())}
            updates.append({"Update": {
                "TableName": self.table,
                "Key": {layout.PARTITION_KEY: {"S": match_id},
                        layout.SORT_KEY: {"S": layout.stats_sort_key(kind, owner_id)}},
                "UpdateExpression": "ADD " + ", ".join(f"{name} {value}" for name, value in zip(names, values, strict=True)),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }})
        return updates

    # -- reads --------------------------------------------------------------

    def statistics(self, match_id: str) -> dict[str, Any]:
        """The match's totals: one Query for its statistics items, and one item for last_event_at."""
        key = {"#pk": layout.PARTITION_KEY, "#sk": layout.SORT_KEY}
        params: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :stats)",
            "ExpressionAttributeNames": key,
            "ExpressionAttributeValues": {":pk": {"S": match_id}, ":stats": {"S": layout.STATS_PREFIX}}}
        totals: dict[stats.Owner, dict[str, int]] = {}
        while True:
            response = self.client.query(**params)
            for item in response["Items"]:
                totals[layout.stats_owner(item[layout.SORT_KEY]["S"])] = {
                    name: _number(attr) for name, attr in item.items() if "N" in attr}
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        latest = self.client.query(
            TableName=self.table, KeyConditionExpression="#pk = :pk AND #sk < :end", ScanIndexForward=False, Limit=1,
            ExpressionAttributeNames=key, ExpressionAttributeValues={":pk": {"S": match_id},
                                                                    ":end": {"S": layout.EVENTS_END}})["Items"]
        last_event_at = latest[0][layout.SORT_KEY]["S"].split("#", 1)[0] if latest else None
        return stats.render(match_id, totals, last_event_at)

    def page(self, query: EventQuery) -> Page:
        """One page of a match's events (optionally one type) in timeline order."""
        if query.start and query.end and query.start > query.end:
            return Page([], None)  # an empty window (DynamoDB refuses BETWEEN with low > high)
        sort_key = layout.TYPE_SORT_KEY if query.event_type else layout.SORT_KEY
        prefix = f"{query.event_type}#" if query.event_type else ""
        low = prefix + (query.start or "0")
        high = prefix + (query.end + "$" if query.end else layout.EVENTS_END)  # "$" sorts just after "#"
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": layout.PARTITION_KEY, "#sk": sort_key},
            "ExpressionAttributeValues": {":pk": {"S": query.match_id}, ":low": {"S": low}, ":high": {"S": high}},
            "ScanIndexForward": not query.descending,
        }
        if query.event_type:
            params["IndexName"] = layout.TYPE_INDEX
        if query.cursor:
            params["ExclusiveStartKey"] = _decode_cursor(query.cursor, query.match_id, prefix, low, high)
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


def _encode_cursor(item: Mapping[str, Any], sort_key: str) -> str:
    key = {name: item[name]["S"] for name in (layout.PARTITION_KEY, layout.SORT_KEY, sort_key)}
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, match_id: str, prefix: str, low: str, high: str) -> dict[str, Any]:
    """Accept only a key of this match inside this query's range."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("cursor is not one this API issued") from None
    sort_key = layout.TYPE_SORT_KEY if prefix else layout.SORT_KEY
    expected = {layout.PARTITION_KEY, layout.SORT_KEY, sort_key}
    if (
        not isinstance(key, dict)
        or set(key) != expected
        or not all(isinstance(value, str) for value in key.values())
        or key[layout.PARTITION_KEY] != match_id
        or not low <= key[sort_key] <= high
    ):
        raise BadCursor("cursor does not belong to this query")
    return {name: {"S": value} for name, value in key.items()}
