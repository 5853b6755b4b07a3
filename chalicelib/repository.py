"""DynamoDB repository: each event's latest version, its statistics and the change feed, kept exact.

An event's identity is (match_id, event_id). A batch is applied per match in
stream order: a higher version replaces the stored one, anything else changes
nothing. A match's share of a transaction (many matches share one) swaps the
versions, conditional on the version it read (or on there being none), adds
the difference between old and new to the statistics items, moves the match's
feed sequence number on ``s#match``, conditional on the one it saw, with the
summary when that needs no read, and appends the changes it applied to the
feed. Redelivery, stale versions and a second writer therefore fail a
condition, and the match is re-planned from what is really stored: nothing is
counted twice or missed.
"""

import functools
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from botocore.exceptions import ClientError

from chalicelib import cursors, jsontext, layout, planner, stats
from chalicelib.config import DEFAULT_CACHE_ENTRIES
from chalicelib.errors import BadCursor
from chalicelib.events import MATCH_LEVEL_TYPES
from chalicelib.lru import LRU

if TYPE_CHECKING:  # the stubs are a development requirement, not packaged
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesOutputTypeDef,
        KeysAndAttributesTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

TRANSACTION_ATTEMPTS = 6  # for conflicts and throttling; then the batch fails and is retried whole
PARALLEL_TRANSACTIONS = 8  # transactions of one round committed concurrently
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
STATS_QUERY_LIMIT = 500  # statistics items one Query reads at most (a match has a few dozen)
_CHANGE_CURSOR = re.compile(r"([0-9]{12})\.([0-9]{3})")  # ASCII digits: \d also takes other scripts' digits


@attrs.frozen(kw_only=True)
class _Outcome:
    """How one transaction went: committed, or per match that failed a condition the events whose stored
    version was not the one assumed (an empty list: its sequence number moved). Failed with no match named:
    a conflict or throttling, and every match of it is retried."""

    committed: bool
    stale: Mapping[str, Sequence[str]] = attrs.field(factory=dict)

    def retry(self, match_id: str) -> bool:
        return match_id in self.stale or not self.stale

    @property
    def backs_off(self) -> bool:
        """Whether the next round should wait: a conflict, or a match whose sequence number moved."""
        return not self.committed and (not self.stale or any(not ids for ids in self.stale.values()))


class RejectedByStorage(ValueError):
    """DynamoDB refused the write as invalid: retrying the same items can never succeed."""


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


def event_item(match_id: str, body: Mapping[str, Any]) -> dict[str, "AttributeValueTypeDef"]:
    """An event's item: identity key, version, JSON body, and the index keys while it is live."""
    event_id = body["event_id"]
    item: dict[str, AttributeValueTypeDef] = {
        layout.PARTITION_KEY: {"S": match_id},
        layout.SORT_KEY: {"S": layout.event_key(event_id)},
        layout.VERSION: {"N": str(body["version"])},
        layout.EVENT_BODY: {"S": jsontext.dumps(body)},
    }
    if not body.get("deleted"):
        timestamp, event_type = body["timestamp"], body["event_type"]
        item[layout.TIME_SORT_KEY] = {"S": layout.time_sort_key(timestamp, event_id)}
        item[layout.TYPE_SORT_KEY] = {"S": layout.type_sort_key(event_type, timestamp, event_id)}
        if event_type in MATCH_LEVEL_TYPES:
            item[layout.PHASE_SORT_KEY] = {"S": layout.time_sort_key(timestamp, event_id)}
    return item


_Add = tuple[str, dict[str, str], dict[str, Any]]  # an ADD clause: expression, attribute names and values


def _add(counters: Mapping[str, int]) -> _Add | None:
    """An ADD clause (expression, names, values) for the counters that move; None if none does."""
    moved = {name: n for name, n in counters.items() if n}
    if not moved:
        return None
    return (
        ", ".join(f"#c{i} :c{i}" for i in range(len(moved))),
        {f"#c{i}": name for i, name in enumerate(moved)},
        {f":c{i}": {"N": str(n)} for i, n in enumerate(moved.values())},
    )


class EventRepository:
    def __init__(self, client: "DynamoDBClient", table: str, cache_entries: int = DEFAULT_CACHE_ENTRIES) -> None:
        self.client = client
        self.table = table
        self._heads: LRU[str, planner.Head] = LRU(cache_entries)  # match_id -> as of the last change this process saw

    # -- writes -------------------------------------------------------------

    def save(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Apply events (and voids) to their matches; return how many changed something.

        Every round plans each match's next share of its pending events (in stream order) and packs the
        plans of many matches into transactions of at most 100 actions, committed concurrently: a live
        batch spans hundreds of matches with an event or two each, and a transaction per match would
        cost as many round trips. A transaction that fails is re-planned, per match, from what is stored.
        """
        pending: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for event in events:
            pending[event["match_id"]].append(event)
        touched = list(pending)
        known: dict[str, dict[str, planner.Stored | None]] = {m: {} for m in pending}  # read; an id not here is new
        attempts: Counter[str] = Counter()
        applied = 0
        while pending:
            plans = {match_id: planner.plan_next(events_, known[match_id]) for match_id, events_ in pending.items()}
            for match_id, plan in plans.items():
                if not plan.writes:  # only redeliveries or stale versions: nothing to write
                    pending[match_id] = pending[match_id][plan.taken :]
            writing = [(match_id, plan) for match_id, plan in plans.items() if plan.writes]
            transactions: list[list[tuple[str, planner.Plan]]] = []
            for match_id, plan in writing:  # first fit, in order: the matches of a transaction are independent
                room = next(
                    (
                        t
                        for t in transactions
                        if sum(p.actions() for _, p in t) + plan.actions() <= planner.TRANSACTION_ACTIONS
                    ),
                    None,
                )
                if room is None:
                    transactions.append([(match_id, plan)])
                else:
                    room.append((match_id, plan))
            with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_TRANSACTIONS, len(transactions)))) as pool:
                outcomes = list(pool.map(lambda t: self._commit(t, known), transactions))
            for transaction, outcome in zip(transactions, outcomes, strict=True):
                for match_id, plan in transaction:
                    if outcome.committed:
                        known[match_id] |= plan.writes
                        applied += len(plan.changes)
                        pending[match_id] = pending[match_id][plan.taken :]
                    elif outcome.stale.get(match_id):  # events not stored as assumed: read them, then re-plan
                        known[match_id] |= self._read(match_id, outcome.stale[match_id])
                    elif outcome.retry(match_id):  # its sequence number moved, or a conflict
                        attempts[match_id] += 1
                        if attempts[match_id] >= TRANSACTION_ATTEMPTS:
                            raise RuntimeError(f"match {match_id}: transaction kept failing")
            if any(outcome.backs_off for outcome in outcomes):
                time.sleep(min(2.0, 0.05 * 2 ** max(attempts.values(), default=1)))
            pending = {match_id: events_ for match_id, events_ in pending.items() if events_}
        for match_id in touched:
            if not self._head(match_id).exact:
                self._project(match_id)
        return applied

    def _commit(
        self, transaction: Sequence[tuple[str, planner.Plan]], known: Mapping[str, Mapping[str, planner.Stored | None]]
    ) -> "_Outcome":
        """Write the plans of one transaction, and say how it went."""
        actions: list[TransactWriteItemTypeDef] = []
        owners: list[tuple[str, str | None]] = []  # per action: its match, and its event id (None: not an event)
        heads: dict[str, planner.Head] = {}
        for match_id, plan in transaction:
            for event_id, new in plan.writes.items():
                put: PutTypeDef = {"TableName": self.table, "Item": event_item(match_id, new.body)}
                read = known[match_id].get(event_id)
                if read is None:
                    put |= {
                        "ConditionExpression": "attribute_not_exists(#sk)",
                        "ExpressionAttributeNames": {"#sk": layout.SORT_KEY},
                    }
                else:
                    put |= {
                        "ConditionExpression": "#v = :v",
                        "ExpressionAttributeNames": {"#v": layout.VERSION},
                        "ExpressionAttributeValues": {":v": {"N": str(read.version)}},
                    }
                actions.append({"Put": put})
                owners.append((match_id, event_id))
            head = self._head(match_id)
            heads[match_id] = head.after(plan)
            update = self._match_update(
                match_id, heads[match_id], expected_seq=head.seq, add=_add(plan.deltas.get(stats.MATCH, Counter()))
            )
            others = self._stats_updates(match_id, plan.deltas) + self._roster_writes(match_id, plan.roster)
            actions += [{"Update": update}, *others]
            owners += [(match_id, None)] * (1 + len(others))
            if plan.changes:
                actions.append(
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {
                                layout.PARTITION_KEY: {"S": match_id},
                                layout.SORT_KEY: {"S": layout.change_key(heads[match_id].seq)},
                                layout.CHANGES: {"S": jsontext.dumps(plan.changes)},
                            },
                        }
                    }
                )
                owners.append((match_id, None))
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            invalid = [r for r in reasons if r.get("Code") == "ValidationError"]
            if error.response["Error"]["Code"] == "ValidationException" or invalid:
                raise RejectedByStorage(invalid[0].get("Message") if invalid else str(error)) from error
            if not reasons:
                raise
            stale: dict[str, list[str]] = {}
            for (match_id, owner), reason in zip(owners, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    self._heads.pop(match_id, None)
                    stale.setdefault(match_id, [])
                    if owner is not None:
                        stale[match_id].append(owner)
            return _Outcome(committed=False, stale=stale)
        self._heads.update(heads)
        return _Outcome(committed=True)

    def _stats_updates(
        self, match_id: str, deltas: Mapping[stats.Owner, Counter[str]]
    ) -> list["TransactWriteItemTypeDef"]:
        """One ADD per team or player statistics item whose counters move."""
        return [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {
                        layout.PARTITION_KEY: {"S": match_id},
                        layout.SORT_KEY: {"S": layout.stats_key(kind, owner_id)},
                    },
                    "UpdateExpression": "ADD " + add[0],
                    "ExpressionAttributeNames": add[1],
                    "ExpressionAttributeValues": add[2],
                }
            }
            for (kind, owner_id), counters in deltas.items()
            if (kind, owner_id) != stats.MATCH and (add := _add(counters))
        ]

    def _roster_writes(
        self, match_id: str, roster: Mapping[str, Mapping[str, Any] | None]
    ) -> list["TransactWriteItemTypeDef"]:
        """The roster items (chalicelib.football) of the events that enter, change or leave it."""
        writes: list[TransactWriteItemTypeDef] = []
        for event_id, body in roster.items():
            key = {layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.roster_key(event_id)}}
            if body is None:
                writes.append({"Delete": {"TableName": self.table, "Key": key}})
            else:
                item = key | {layout.EVENT_BODY: {"S": jsontext.dumps(body)}}
                writes.append({"Put": {"TableName": self.table, "Item": item}})
        return writes

    def _read(self, match_id: str, event_ids: Sequence[str]) -> dict[str, planner.Stored | None]:
        """The stored versions of these events (None: never stored), strongly consistent."""
        found: dict[str, planner.Stored | None] = dict.fromkeys(event_ids)
        for start in range(0, len(event_ids), BATCH_GET_KEYS):
            keys = [
                {layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.event_key(e)}}
                for e in event_ids[start : start + BATCH_GET_KEYS]
            ]
            request: Mapping[str, KeysAndAttributesTypeDef | KeysAndAttributesOutputTypeDef] = {
                self.table: {"Keys": keys, "ConsistentRead": True}
            }
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table, []):
                    body = json.loads(item[layout.EVENT_BODY]["S"])
                    found[body["event_id"]] = planner.Stored(int(item[layout.VERSION]["N"]), body)
                request = response.get("UnprocessedKeys") or {}
        return found

    def _head(self, match_id: str) -> planner.Head:
        """The match's head as this process last left it, or as stored (strongly consistent). Every
        transaction with changes is conditional on the sequence number it read, so a stale head fails
        the commit and is read again."""
        if (head := self._heads.get(match_id)) is None:
            item = self.client.get_item(
                TableName=self.table,
                ConsistentRead=True,
                Key={layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.MATCH_STATS}},
            ).get("Item", {})
            seq, summary_seq = (int(item.get(name, {"N": "0"})["N"]) for name in (layout.FEED_SEQ, layout.SUMMARY_SEQ))
            edges = json.loads(item[layout.EDGES]["S"]) if layout.EDGES in item else dict.fromkeys(planner.EDGE_NAMES)
            teams = _totals(self._stats_items(match_id, f"{layout.STATS_PREFIX}team#", consistent=True))
            head = planner.Head(
                seq,
                summary_seq == seq,
                edges,
                {
                    team: Counter({n: counters.get(n, 0) for n in ("events", "goals")})
                    for (_, team), counters in teams.items()
                },
            )
            self._heads[match_id] = head
        return head

    def _match_update(
        self, match_id: str, head: planner.Head, expected_seq: int, add: "_Add | None" = None
    ) -> "UpdateTypeDef":
        """The ``s#match`` update that moves the feed to ``head.seq`` if it is still at ``expected_seq``
        (every write of the match goes through it, so two writers can never interleave), with the
        summary when the head's edges are exact, and the match counters' ADD."""
        values: dict[str, Any] = {layout.FEED_SEQ: {"N": str(head.seq)}}
        if head.exact:
            summary = head.summary()
            values |= {
                layout.SUMMARY: {"S": json.dumps(summary, separators=(",", ":"))},
                layout.EDGES: {"S": json.dumps(head.edges, separators=(",", ":"))},
                layout.SUMMARY_SEQ: {"N": str(head.seq)},
                layout.DIRECTORY_PARTITION_KEY: {"S": layout.directory_partition(match_id)},
                layout.DIRECTORY_SORT_KEY: {"S": f"{summary['last_event_at'] or ''}#{match_id}"},
                layout.FIRST_DAY: {"S": (summary["first_event_at"] or "")[:10]},
                layout.DIRECTORY_STATUS: {"S": summary["status"]},
            }
        expression, names, operands = add or ("", {}, {})
        return {
            "TableName": self.table,
            "Key": {layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.MATCH_STATS}},
            "UpdateExpression": "SET "
            + ", ".join(f"#s{i} = :s{i}" for i in range(len(values)))
            + (f" ADD {expression}" if expression else ""),
            "ConditionExpression": "#s0 = :seen" + ("" if expected_seq else " OR attribute_not_exists(#s0)"),
            "ExpressionAttributeNames": {f"#s{i}": name for i, name in enumerate(values)} | names,
            "ExpressionAttributeValues": {f":s{i}": value for i, value in enumerate(values.values())}
            | {":seen": {"N": str(expected_seq)}}
            | operands,
        }

    def _project(self, match_id: str) -> None:
        """Read the match's edges from its indexes and store its summary, when a change moved or removed
        an edge event (or a crash left the summary behind the feed: the redelivery repairs it)."""
        head = self._head(match_id)
        edge = functools.partial(self._edge, match_id, consistent=True)
        head = attrs.evolve(
            head,
            exact=True,
            edges={
                "first": edge(layout.TIME_INDEX, descending=False),
                "latest": edge(layout.TIME_INDEX),
                "phase": edge(layout.PHASE_INDEX),
                "kick_off": edge(layout.TYPE_INDEX, prefix="kick_off#"),
            },
        )
        try:
            self.client.update_item(**self._match_update(match_id, head, expected_seq=head.seq))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            self._heads.pop(match_id, None)  # another writer moved on; its own commit projects
            return
        self._heads[match_id] = head

    # -- reads --------------------------------------------------------------

    def _edge(
        self, match_id: str, index: str, *, descending: bool = True, prefix: str | None = None, consistent: bool = False
    ) -> dict[str, Any] | None:
        """The first or last live event of a local index (optionally of one type), or None."""
        sort_key = {
            layout.TIME_INDEX: layout.TIME_SORT_KEY,
            layout.TYPE_INDEX: layout.TYPE_SORT_KEY,
            layout.PHASE_INDEX: layout.PHASE_SORT_KEY,
        }[index]
        condition, values = "#pk = :pk", {":pk": {"S": match_id}}
        if prefix:
            condition, values = condition + " AND begins_with(#sk, :p)", values | {":p": {"S": prefix}}
        items = self.client.query(
            TableName=self.table,
            IndexName=index,
            KeyConditionExpression=condition,
            Limit=1,
            ScanIndexForward=not descending,
            ConsistentRead=consistent,
            ExpressionAttributeValues=values,
            ExpressionAttributeNames={"#pk": layout.PARTITION_KEY} | ({"#sk": sort_key} if prefix else {}),
        )["Items"]
        return json.loads(items[0][layout.EVENT_BODY]["S"]) if items else None

    def _stats_items(
        self,
        match_id: str,
        prefix: str = layout.STATS_PREFIX,
        consistent: bool = False,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": consistent,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": layout.PARTITION_KEY, "#sk": layout.SORT_KEY},
            "ExpressionAttributeValues": {":pk": {"S": match_id}, ":prefix": {"S": prefix}},
            "Limit": STATS_QUERY_LIMIT,
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self.client.query(**params)
            items += response["Items"]
            if "LastEvaluatedKey" not in response:
                return items
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def totals(self, match_id: str, period: int | None = None) -> stats.MatchTotals:
        """The match's totals (``period``: to render that period's): one Query on its statistics and roster
        items. Status and last_event_at come from the edge events ``s#match`` keeps,
        or, while those are behind the feed (a change moved an edge and the consumer has not re-read it
        yet), from the indexes, so they are exact as the totals."""
        items = self._stats_items(match_id)
        roster = [
            json.loads(i[layout.EVENT_BODY]["S"])
            for i in items
            if i[layout.SORT_KEY]["S"].startswith(layout.ROSTER_PREFIX)
        ]
        counters = [i for i in items if not i[layout.SORT_KEY]["S"].startswith(layout.ROSTER_PREFIX)]
        match = next((item for item in items if item[layout.SORT_KEY]["S"] == layout.MATCH_STATS), {})
        sequence = [match.get(name, {"N": "0"})["N"] for name in (layout.SUMMARY_SEQ, layout.FEED_SEQ)]
        if sequence[0] == sequence[1]:
            edges = json.loads(match[layout.EDGES]["S"]) if layout.EDGES in match else {}
            latest, phase = edges.get("latest"), edges.get("phase")
        else:
            latest, phase = self._edge(match_id, layout.TIME_INDEX), self._edge(match_id, layout.PHASE_INDEX)
        return stats.MatchTotals(match_id, _totals(counters), latest=latest, phase=phase, roster=roster, period=period)

    def page(self, query: EventQuery) -> Page:
        """One page of a match's live events (optionally one type) in timeline order."""
        if query.start and query.end and query.start > query.end:
            return Page([], None)  # an empty window (DynamoDB refuses BETWEEN with low > high)
        index, sort_key = (
            (layout.TYPE_INDEX, layout.TYPE_SORT_KEY) if query.event_type else (layout.TIME_INDEX, layout.TIME_SORT_KEY)
        )
        prefix = f"{query.event_type}#" if query.event_type else ""
        low = prefix + (query.start or "0")
        high = prefix + (query.end + "$" if query.end else layout.INDEX_END)  # "$" sorts just after "#"
        params: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
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
        fitting = _within(items[: query.limit], lambda item: item[layout.EVENT_BODY]["S"])
        more, items = len(items) > len(fitting), fitting
        return Page(
            [item[layout.EVENT_BODY]["S"] for item in items], _encode_cursor(items[-1], sort_key) if more else None
        )

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
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": layout.PARTITION_KEY, "#sk": layout.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": match_id},
                ":low": {"S": layout.change_key(seq)},
                ":high": {"S": layout.CHANGE_PREFIX + "~"},
            },
            "Limit": limit + 1,  # items, each of one or more changes
        }
        found: list[dict[str, Any]] = []
        while len(found) <= limit:
            response = self.client.query(**params)
            for item in response["Items"]:
                item_seq = int(item[layout.SORT_KEY]["S"][len(layout.CHANGE_PREFIX) :])
                for i, change in enumerate(json.loads(item[layout.CHANGES]["S"])):
                    if (item_seq, i) > (seq, index):
                        found.append(change | {"cursor": layout.change_cursor(item_seq, i)})
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        page = _within(found[:limit], json.dumps)
        return page, page[-1]["cursor"] if len(found) > len(page) else None

    def feed_position(self, match_id: str) -> str | None:
        """The cursor of the match's latest change (None: none yet): a subscriber's pushes continue after it."""
        items = self.client.query(
            TableName=self.table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :c)",
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
            ExpressionAttributeNames={"#pk": layout.PARTITION_KEY, "#sk": layout.SORT_KEY},
            ExpressionAttributeValues={":pk": {"S": match_id}, ":c": {"S": layout.CHANGE_PREFIX}},
        )["Items"]
        if not items:
            return None
        seq = int(items[0][layout.SORT_KEY]["S"][len(layout.CHANGE_PREFIX) :])
        return layout.change_cursor(seq, len(json.loads(items[0][layout.CHANGES]["S"])) - 1)


def _totals(items: Iterable[Mapping[str, Any]]) -> dict[stats.Owner, dict[str, stats.Number]]:
    """Statistics items' counters by owner (sums such as xG as exact decimals)."""
    return {
        layout.stats_owner(item[layout.SORT_KEY]["S"]): {
            name: _number(attr["N"]) for name, attr in item.items() if "N" in attr
        }
        for item in items
    }


def _number(text: str) -> stats.Number:
    return int(text) if text.lstrip("-").isdigit() else Decimal(text)


PAGE_BYTES = 900_000  # of a page's events or changes: the answer stays under 1 MB with its envelope


def _within(items: Sequence[Any], text: Callable[[Any], str]) -> list[Any]:
    """The leading items whose texts fit in PAGE_BYTES together (at least one: an item is at most 400 KB)."""
    kept: list[Any] = []
    size = 0
    for item in items:
        size += len(text(item).encode()) + 1
        if kept and size > PAGE_BYTES:
            break
        kept.append(item)
    return kept


def _encode_cursor(item: Mapping[str, Any], sort_key: str) -> str:
    return cursors.encode({name: item[name]["S"] for name in (layout.PARTITION_KEY, layout.SORT_KEY, sort_key)})


def _decode_cursor(cursor: str, match_id: str, sort_key: str, low: str, high: str) -> dict[str, Any]:
    """Accept only a key of this match inside this query's range."""
    key = cursors.decode(cursor)
    if (
        set(key) != {layout.PARTITION_KEY, layout.SORT_KEY, sort_key}
        or key[layout.PARTITION_KEY] != match_id
        or not key[layout.SORT_KEY].startswith(layout.EVENT_PREFIX)
        or not low <= key[sort_key] <= high
    ):
        raise BadCursor("cursor does not belong to this query")
    return {name: {"S": value} for name, value in key.items()}
