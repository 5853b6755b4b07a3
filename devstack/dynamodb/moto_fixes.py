"""Two behaviours of moto's DynamoDB model replaced where the app relies on DynamoDB's: transactions and Query.

``install()`` puts them on moto's classes; the engine calls it once at start (nothing happens at import).
Both call moto's own model (get_item, put_item, update_item, the expression parsers) and change only how
the work is arranged:

- ``TransactWriteItems`` evaluates every condition against the state before the transaction, then applies
  the writes; a write that DynamoDB refuses (an item over the size limit) cancels the transaction with the
  ``ValidationError`` reason code, and the engine's rollback of the request's touched items undoes the rest
  (DynamoDB API Reference, TransactWriteItems: "all-or-nothing", CancellationReasons codes). moto's own
  version deep-copies every table it touches, so a transaction cost grew with the table.
- reads (GetItem, BatchGetItem, Query, Scan, TransactGetItems) answer with the same JSON written by
  ``json.dumps`` instead of moto's model-driven serializer, which costs more than the read itself.
- ``Query`` reads the one partition its key condition names, for the table and its local indexes, and the
  members of one global index partition (kept by ``GlobalIndexes``), instead of every item of the table.
"""

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

from moto.core.responses import ActionResult
from moto.dynamodb.comparisons import get_comparison_func, get_filter_expression
from moto.dynamodb.exceptions import (
    ItemSizeTooLarge,
    ItemSizeToUpdateTooLarge,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize, dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler

MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024  # "The aggregate size of the items in the transaction cannot exceed 4 MB"
CONDITION_FAILED = "The conditional request failed"
ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")
READS_AS_JSON = ("get_item", "batch_get_item", "query", "scan", "transact_get_items")
PrimaryKey = tuple[DynamoType, DynamoType | None]
_installed: dict[str, Any] = {}


def install(global_indexes: "GlobalIndexes") -> None:
    """Patch moto's classes once per process; the latest engine's index is the one queries use."""
    _installed["indexes"] = global_indexes
    if _installed.get("patched"):
        return
    _installed["patched"] = True
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    Table.query = _partition_local(Table.query)  # type: ignore[method-assign]
    for name in READS_AS_JSON:
        setattr(DynamoHandler, name, _as_json(getattr(DynamoHandler, name)))


def _as_json(read: Callable[[DynamoHandler], Any]) -> Callable[[DynamoHandler], Any]:
    """The read's result written as JSON directly: moto's model-driven serializer took ~0.3 ms per item."""

    def as_json(handler: DynamoHandler) -> Any:
        result = read(handler)
        return dynamo_json_dump(result.result) if isinstance(result, ActionResult) else result

    return as_json


def primary_key(table: Table, attributes: dict[str, Any]) -> PrimaryKey:
    """The (hash, range) of a key or item in DynamoDB JSON."""
    range_value = attributes.get(table.range_key_attr) if table.range_key_attr else None
    return DynamoType(attributes[table.hash_key_attr]), DynamoType(range_value) if range_value else None


def stored(table: Table, key: PrimaryKey) -> Item | None:
    """The item at ``key``, without creating the empty partition moto's defaultdict would."""
    partition: Any = table.items.get(key[0])  # an Item, or {range: Item} on a table with a sort key
    if partition is None or key[1] is None:
        return cast(Item | None, partition)
    return cast(Item | None, partition.get(key[1]))


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > MAX_TRANSACTION_ITEMS:
        raise TooManyTransactionsException()
    actions: list[tuple[str, dict[str, Any], Table, dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    size = 0
    for entry in transact_items:
        if len(entry) != 1:
            raise TransactWriteSingleOpException()
        ((kind, op),) = entry.items()
        if kind not in ACTIONS:
            raise MockValidationException(f"Unsupported transaction operation {kind}")
        table = self.get_table(op["TableName"])
        key = (
            op["Key"] if kind != "Put" else {a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr) if a}
        )
        identity = (table.name, json.dumps(key, sort_keys=True))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        written = op.get("Item") or op.get("ExpressionAttributeValues") or {}
        size += sum(bytesize(name) + DynamoType(value).size() for name, value in written.items())
        actions.append((kind, op, table, key))
    if size > MAX_TRANSACTION_BYTES:
        raise MockValidationException("Transaction request cannot be larger than 4 MB")

    reasons: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for _kind, op, table, key in actions:
        current = self.get_item(table.name, key)
        condition = op.get("ConditionExpression")
        if condition is None or get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            reasons.append((None, None, None))
            continue
        old = (
            current.to_json()["Attributes"]
            if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
            else None
        )
        reasons.append(("ConditionalCheckFailed", CONDITION_FAILED, old))  # type: ignore[arg-type]
    if any(code for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)

    for position, (kind, op, table, key) in enumerate(actions):
        try:
            _apply(self, kind, op, table.name, key)
        except (ItemSizeTooLarge, ItemSizeToUpdateTooLarge) as error:
            cancelled: list[Any] = [(None, None, None)] * len(actions)
            cancelled[position] = ("ValidationError", error.message, None)
            raise TransactionCanceledException(cancelled) from error


def _apply(backend: DynamoDBBackend, kind: str, op: dict[str, Any], table_name: str, key: dict[str, Any]) -> None:
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    if kind == "Put":
        backend.put_item(table_name, op["Item"])
    elif kind == "Delete":
        backend.delete_item(table_name, key)
    elif kind == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=names,  # type: ignore[arg-type]
            expression_attribute_values=values,  # type: ignore[arg-type]
        )


class GlobalIndexes:
    """Which items each global secondary index partition holds, kept as items change (``reindex``)."""

    def __init__(self) -> None:
        # table -> index -> partition value -> primary keys; and table -> index -> primary key -> value
        self.members: dict[str, dict[str, dict[DynamoType, dict[PrimaryKey, None]]]] = {}
        self.value_of: dict[str, dict[str, dict[PrimaryKey, DynamoType]]] = {}

    def reindex(self, table: Table, key: PrimaryKey) -> None:
        item = stored(table, key)
        for index in table.global_indexes:
            attribute = next(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
            members = self.members.setdefault(table.name, {}).setdefault(index.name, {})
            value_of = self.value_of.setdefault(table.name, {}).setdefault(index.name, {})
            old = value_of.pop(key, None)
            if old is not None:
                members[old].pop(key, None)
                if not members[old]:
                    del members[old]
            new = item.attrs.get(attribute) if item is not None else None
            if new is not None:
                members.setdefault(new, {})[key] = None
                value_of[key] = new

    def rebuild(self, table: Table) -> None:
        self.members.pop(table.name, None)
        self.value_of.pop(table.name, None)
        for item in table.all_items():
            self.reindex(table, (item.hash_key, item.range_key))

    def partition(self, table: Table, index_name: str, value: DynamoType) -> dict[Any, Any]:
        """The items of one index partition, laid out as moto's ``Table.items``."""
        layout: dict[Any, Any] = {}
        for key in self.members.get(table.name, {}).get(index_name, {}).get(value, {}):
            item = stored(table, key)
            if item is None:
                continue
            if key[1] is None:
                layout[key[0]] = item
            else:
                layout.setdefault(key[0], {})[key[1]] = item
        return layout


def _partition_local(query: Callable[..., Any]) -> Callable[..., Any]:
    def partition_query(table: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
        global_indexes: GlobalIndexes = _installed["indexes"]
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        conditions = dict(kwargs.get("hash_key_conditions") or [])
        view: dict[Any, Any] | None = None
        global_names = {index.name: index for index in table.global_indexes}
        if index_name in global_names:
            attribute = next(k["AttributeName"] for k in global_names[index_name].schema if k["KeyType"] == "HASH")
            if attribute in conditions:
                view = global_indexes.partition(table, index_name, conditions[attribute])
        else:
            value = hash_key if index_name is None else conditions.get(table.hash_key_attr)
            if value is not None:
                view = {value: table.items[value]} if value in table.items else {}
                narrowed = _key_range(table, view[value], index_name, args, kwargs) if value in view else None
                if narrowed is not None:
                    view[value] = narrowed
        if view is None:
            return query(table, hash_key, *args, **kwargs)
        everything = table.items
        table.items = view  # type: ignore[assignment]  # the engine's lock keeps every other request out meanwhile
        try:
            return query(table, hash_key, *args, **kwargs)
        finally:
            table.items = everything

    return partition_query


def _native(value: DynamoType | None) -> Any:
    """A key value as Python compares it (strings and numbers, the key types the app uses), else None."""
    if value is None:
        return None
    if value.type == "S":
        return value.value
    if value.type == "N":
        return Decimal(value.value)
    return None


def _key_range(
    table: Table, partition: dict[Any, Item], index_name: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[Any, Item] | None:
    """The partition's items within the key condition's range, after ExclusiveStartKey and at most Limit + 1 of
    them: what moto would walk, found without its per-item costs. None: leave the query to moto as it is."""
    if not table.range_key_attr or len(args) < 5:
        return None
    range_comparison, range_values, limit, start, forward = args[:5]
    if (
        set(kwargs) - {"hash_key_conditions", "range_key_conditions"}
        or len(kwargs.get("range_key_conditions") or []) > 1
    ):
        return None  # a legacy QueryFilter, or a multi-attribute key: moto's own walk
    if index_name is None:
        attribute = table.range_key_attr
    else:
        index = next((i for i in table.indexes if i.name == index_name), None)
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"] if index else []
        if len(ranges) != 1:
            return None
        attribute = ranges[0]
    bounds = [_native(v) for v in range_values]
    if any(b is None for b in bounds):
        return None
    compare = get_comparison_func(range_comparison) if range_comparison else None
    chosen: list[tuple[tuple[Any, Any], Any, Item]] = []
    for range_key, item in partition.items():
        value = item.attrs.get(attribute) if attribute else None
        if value is None:
            continue  # not in this index (a sparse one)
        own = _native(value)
        if own is None:
            return None  # a key type compared here as moto does it: binary
        if compare is not None and not compare(own, *bounds):
            continue
        order = (own, _native(range_key))
        if order[1] is None:
            return None
        chosen.append((order, range_key, item))
    chosen.sort(key=lambda entry: entry[0], reverse=not forward)
    if start:
        if attribute not in start or table.range_key_attr not in start:
            return None
        after = (
            _native(DynamoType(start.get(attribute, {}))),
            _native(DynamoType(start.get(table.range_key_attr, {}))),
        )
        if None in after:
            return None
        chosen = [c for c in chosen if (c[0] > after if forward else c[0] < after)]
    if limit:
        chosen = chosen[: int(limit) + 1]
    return {range_key: item for _, range_key, item in chosen}
