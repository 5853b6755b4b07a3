"""DynamoDB repository: events stored exactly once, read back in order.

Writes are transactions of up to 99 event puts, each conditional on the item
not existing, plus one update that adds their statistics. A redelivered event
fails its condition, is dropped from the transaction and the rest is retried,
so neither the events nor the totals can count it twice.
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
TRANSACTION_EVENTS = 99  # DynamoDB allows 100 actions; one is the stats update
TRANSACTION_ATTEMPTS = 6  # for conflicts and throttling; then the batch fails and is retried whole
PARALLEL_MATCHES = 8  # concurrent per-match transactions within one batch


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


def _to_attr(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        raise TypeError("booleans are not stored")
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, set):
        return {"SS": sorted(value)}
    raise TypeError(f"cannot store {type(value).__name__}")


def _from_attr(attr: Mapping[str, Any]) -> Any:
    (kind, value), = attr.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "SS":
        return set(value)
    return value


def _plain(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: _from_attr(attr) for name, attr in item.items()}


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


class EventRepository:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -- writes -------------------------------------------------------------

    def save(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Store events once each and add them to their match's totals; return how many were new.

        Matches are independent, so they are written concurrently; a match's own chunks go in order,
        since they all update its statistics item.
        """
        by_match: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
        for event in events:
            key = layout.event_sort_key(event["timestamp"], event["event_id"])
            by_match[event["match_id"]].setdefault(key, event)
        if len(by_match) <= 1:
            return sum(self._save_match(match_id, list(group.values())) for match_id, group in by_match.items())
        with ThreadPoolExecutor(max_workers=min(PARALLEL_MATCHES, len(by_match))) as pool:
            return sum(pool.map(lambda entry: self._save_match(entry[0], list(entry[1].values())), by_match.items()))

    def _save_match(self, match_id: str, events: list[Mapping[str, Any]]) -> int:
        new = sum(self._save_new(match_id, events[start:start + TRANSACTION_EVENTS])
                  for start in range(0, len(events), TRANSACTION_EVENTS))
        self._raise_last_event_at(match_id, max(event["timestamp"] for event in events))
        return new

    def _save_new(self, match_id: str, events: list[Mapping[str, Any]]) -> int:
        attempt = 0
        while events:
            actions = [
                {"Put": {
                    "TableName": self.table,
                    "Item": event_item(event),
                    "ConditionExpression": "attribute_not_exists(#sk)",
                    "ExpressionAttributeNames": {"#sk": layout.SORT_KEY},
                }}
                for event in events
            ]
            actions.append({"Update": self._stats_update(match_id, events)})
            try:
                self.client.transact_write_items(TransactItems=actions)
                return len(events)
            except ClientError as error:
                reasons = error.response.get("CancellationReasons") or []
                invalid = [r for r in reasons if r.get("Code") == "ValidationError"]
                if error.response["Error"]["Code"] == "ValidationException" or invalid:
                    raise RejectedByStorage(invalid[0].get("Message") if invalid else str(error)) from error
                stored = {i for i, r in enumerate(reasons[: len(events)]) if r.get("Code") == "ConditionalCheckFailed"}
                if stored:  # already written by an earlier delivery: drop them, retry the rest at once
                    events = [event for i, event in enumerate(events) if i not in stored]
                    continue
                attempt += 1
                if not reasons or attempt >= TRANSACTION_ATTEMPTS:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt))  # conflict or throttling: back off
        return 0

    def _stats_update(self, match_id: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        counters, teams, players = stats.increments(items)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses = []
        for i, (name, amount) in enumerate(counters.items()):
            names[f"#c{i}"], values[f":c{i}"] = name, _to_attr(amount)
            clauses.append(f"#c{i} :c{i}")
        for attribute, members in (("teams", teams), ("players", players)):
            if members:
                names[f"#{attribute}"], values[f":{attribute}"] = attribute, _to_attr(members)
                clauses.append(f"#{attribute} :{attribute}")
        return {
            "TableName": self.table,
            "Key": self._stats_key(match_id),
            "UpdateExpression": "ADD " + ", ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _raise_last_event_at(self, match_id: str, timestamp: str) -> None:
        """Max is idempotent, so it needs no transaction: redelivery cannot overcount it."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._stats_key(match_id),
                UpdateExpression="SET last_event_at = :ts",
                ConditionExpression="attribute_not_exists(last_event_at) OR last_event_at < :ts",
                ExpressionAttributeValues={":ts": {"S": timestamp}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # -- reads --------------------------------------------------------------

    def _stats_key(self, match_id: str) -> dict[str, Any]:
        return {layout.PARTITION_KEY: {"S": match_id}, layout.SORT_KEY: {"S": layout.STATS_SORT_KEY}}

    def statistics(self, match_id: str) -> dict[str, Any]:
        """The match's materialised totals: one GetItem."""
        response = self.client.get_item(TableName=self.table, Key=self._stats_key(match_id))
        return stats.render(match_id, _plain(response.get("Item", {})))

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
