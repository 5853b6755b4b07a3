"""AWS's DynamoDB capacity rules, applied to the requests the app makes and the items they touch.

``Ledger`` sizes every write and read and attributes the units to the partition key of the table and of
each global index it touches (a local index shares its table partition's throughput, so its units count
there). ``bench.request_costs`` and ``bench.capacity`` both size by it; tests/unit/test_cost_model.py checks the
rules on the documentation's own examples.

- item size: attribute names + values, strings in UTF-8, numbers about 1 byte per 2 digits + 1
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)
- writes: 1 WCU per 1 KB rounded up per item; reads: 1 RCU per 4 KB strongly consistent, 0.5 eventually
  consistent; GetItem and each item of a BatchGetItem round up on their own, a Query sums the sizes of the
  items it evaluates and then rounds to 4 KB
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html)
- transactions: 2 units per item (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html)
- an index entry is written when the item's entry in it changes (its keys or projected attributes): a changed
  index key costs a delete and a put, an entry that appears a put, one that goes a delete; an index entry is
  sized by its keys and projected attributes
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html#LSI.ThroughputConsiderations.Writes)
- per partition, at most 1,000 WCU/s and 3,000 RCU/s, for a table and for each global index
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html)
"""

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

KB, READ_UNIT_BYTES = 1024, 4096
FILTERED_ITEM_BYTES = 200  # the size taken for an item a filter dropped when the page returned none to go by
PARTITION_WCU, PARTITION_RCU = 1000.0, 3000.0

Item = Mapping[str, Mapping[str, Any]]
Key = tuple[str, str | None, str]  # (table, global index or None, partition key value)
_VERBS = re.compile(r"\b(SET|ADD|REMOVE|DELETE)\b")


def attribute_bytes(value: Mapping[str, Any]) -> int:
    """The size of one attribute value (name excluded) by AWS's rules."""
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        digits = str(raw).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("L", "M"):
        elements = raw if kind == "L" else raw.values()
        return 3 + sum(attribute_bytes(element) + 1 for element in elements)
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_bytes({kind[0]: element}) for element in raw)
    raise ValueError(f"unknown attribute type {kind}")


def item_bytes(item: Item) -> int:
    """An item's size: its attribute names and values."""
    return sum(len(name.encode()) + attribute_bytes(value) for name, value in item.items())


def units_of(size: int) -> int:
    """Write units for an item (or index entry) of ``size`` bytes: 1 KB each, rounded up."""
    return math.ceil(size / KB)


def query_read_units(items: Sequence[Item], *, consistent: bool = False) -> float:
    """One Query page's read units: the items' sizes summed, then rounded up to 4 KB (at least one)."""
    units = max(1, math.ceil(sum(item_bytes(item) for item in items) / READ_UNIT_BYTES))
    return float(units if consistent else units / 2)


def item_read_units(items: Sequence[Item | None], *, consistent: bool = False) -> float:
    """GetItem, or each item of a BatchGetItem: every item rounded up to 4 KB on its own (at least one unit)."""
    units = sum(max(1, math.ceil(item_bytes(item) / READ_UNIT_BYTES)) if item else 1 for item in items)
    return float(units if consistent else units / 2)


def apply_update(item: Item, expression: str, names: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, Any]:
    """The item after an UpdateExpression of SET a = :v, ADD n :d and REMOVE a clauses (what the repository
    and the subscriptions write)."""
    new = dict(item)
    parts = _VERBS.split(expression)
    for verb, body in zip(parts[1::2], parts[2::2], strict=True):
        for clause in (c.strip() for c in body.split(",") if c.strip()):
            if verb == "SET":
                name, value = (token.strip() for token in clause.split("=", 1))
                new[names.get(name, name)] = values[value]
            elif verb == "ADD":
                name, value = clause.split()
                attribute, delta = names.get(name, name), Decimal(values[value]["N"])
                new[attribute] = {"N": str(Decimal(new[attribute]["N"]) + delta if attribute in new else delta)}
            elif verb == "REMOVE":
                new.pop(names.get(clause, clause), None)
            else:
                raise ValueError(f"unsupported update clause {verb} {clause}")
    return new


@attrs.frozen
class Index:
    name: str
    kind: str  # "lsi" or "gsi"
    keys: tuple[str, ...]  # partition key first
    projected: tuple[str, ...] | None  # None: ALL

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The item's entry in this index (None: not in it, a sparse index)."""
        if item is None or not all(k in item for k in self.keys):
            return None
        if self.projected is None:
            return dict(item)
        names = (*table_keys, *self.keys, *self.projected)
        return {name: item[name] for name in names if name in item}


@attrs.frozen
class Table:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    @classmethod
    def of(cls, definition: Mapping[str, Any]) -> "Table":
        """From create_table arguments."""
        indexes = []
        for kind, section in (("lsi", "LocalSecondaryIndexes"), ("gsi", "GlobalSecondaryIndexes")):
            for index in definition.get(section, []):
                projection = index["Projection"]
                projected = {"ALL": None, "KEYS_ONLY": ()}.get(
                    projection["ProjectionType"], tuple(projection.get("NonKeyAttributes", ()))
                )
                keys = tuple(k["AttributeName"] for k in index["KeySchema"])
                indexes.append(Index(index["IndexName"], kind, keys, projected))
        return cls(definition["TableName"], tuple(k["AttributeName"] for k in definition["KeySchema"]), tuple(indexes))


@attrs.define
class Units:
    """Capacity units attributed to partition keys, and the totals by part (table, lsi, gsi)."""

    wcu: Counter[Key] = attrs.field(factory=Counter)
    rcu: Counter[Key] = attrs.field(factory=Counter)
    parts: dict[str, Counter[str]] = attrs.field(factory=lambda: {"write": Counter(), "read": Counter()})
    writes: int = 0  # items put, updated or deleted
    calls: Counter[str] = attrs.field(factory=Counter)  # by operation, as a Meter saw them
    failed: Counter[str] = attrs.field(factory=Counter)  # of which answered with an error: not sized


class Ledger:
    """AWS's rules applied to a sequence of writes and reads, keeping each item's image to know what a write
    replaces. Writes cost the larger of the old and new item in 1 KB units, each index entry written the
    same by its own size; a transaction doubles everything."""

    def __init__(self, definition: Mapping[str, Any], *others: Mapping[str, Any]) -> None:
        """``definition`` (create_table arguments) sizes any table not named by one of ``others``."""
        self.tables = {d["TableName"]: Table.of(d) for d in (definition, *others)}
        self.default = self.tables[definition["TableName"]]
        self.images: dict[tuple[str, ...], dict[str, Any]] = {}
        self.units = Units()

    def table(self, name: str) -> Table:
        return self.tables.get(name, self.default)

    def _image_key(self, table: Table, item: Item) -> tuple[str, ...]:
        return (table.name, *(json.dumps(item[k], sort_keys=True) for k in table.keys))

    def write(self, table_name: str, old: Item | None, new: Item | None, *, factor: int = 1) -> dict[str, int]:
        """Record one write that turns ``old`` into ``new`` (None: no item); its units by part."""
        table = self.table(table_name)
        partition = (old or new or {}).get(table.keys[0], {}).get("S", "")
        old_size, new_size = (item_bytes(i) if i is not None else 0 for i in (old, new))
        units = {"table": factor * units_of(max(old_size, new_size)), "lsi": 0, "gsi": 0}
        self.units.writes += 1
        self.units.wcu[(table.name, None, partition)] += units["table"]
        for index in table.indexes:
            before, after = index.entry(old, table.keys), index.entry(new, table.keys)
            if before == after:
                continue
            same_key = before and after and all(before[k] == after[k] for k in index.keys)
            cost: list[tuple[Item, int]] = []
            if same_key:
                cost.append((after, units_of(max(item_bytes(before), item_bytes(after)))))  # type: ignore[arg-type]
            else:
                cost += [(entry, units_of(item_bytes(entry))) for entry in (before, after) if entry]
            for entry, n in cost:
                key = (table.name, index.name if index.kind == "gsi" else None, entry[index.keys[0]].get("S", ""))
                self.units.wcu[key] += factor * n
                units[index.kind] += factor * n
        for part, n in units.items():
            self.units.parts["write"][part] += n
        return units

    def transaction(self, actions: Sequence[Mapping[str, Any]], *, transactional: bool = True) -> dict[str, int]:
        """A committed TransactWriteItems (x2), the images moved on; ``transactional=False``: the same writes
        made one by one (PutItem, UpdateItem, DeleteItem, BatchWriteItem), at single cost."""
        total: Counter[str] = Counter()
        for action in actions:
            (verb, request), *_ = action.items()
            table = self.table(request["TableName"])
            if verb == "Put":
                key = self._image_key(table, request["Item"])
                new: dict[str, Any] | None = dict(request["Item"])
            elif verb == "Update":
                key = self._image_key(table, request["Key"])
                base = self.images.get(key) or dict(request["Key"])
                new = apply_update(
                    base,
                    request["UpdateExpression"],
                    request.get("ExpressionAttributeNames", {}),
                    request.get("ExpressionAttributeValues", {}),
                )
            elif verb == "Delete":
                key, new = self._image_key(table, request["Key"]), None
            else:  # ConditionCheck: a read of the item, 2 read units per 4 KB; the repository uses none
                raise ValueError(f"unsupported transaction action {verb}")
            old = self.images.get(key)
            if old is None and verb == "Delete":
                old = dict(request["Key"])  # an item this ledger never saw: at least its key
            total.update(self.write(table.name, old, new, factor=2 if transactional else 1))
            if new is None:
                self.images.pop(key, None)
            else:
                self.images[key] = new
        return {part: total[part] for part in ("table", "lsi", "gsi")}

    def request(self, operation: str, params: Mapping[str, Any]) -> dict[str, int]:
        """A data-plane write request by its operation name and parameters."""
        if operation == "TransactWriteItems":
            return self.transaction(params["TransactItems"])
        if operation == "BatchWriteItem":
            actions = [
                {"Put": {"TableName": table, "Item": w["PutRequest"]["Item"]}}
                if "PutRequest" in w
                else {"Delete": {"TableName": table, "Key": w["DeleteRequest"]["Key"]}}
                for table, requests in params["RequestItems"].items()
                for w in requests
            ]
        else:
            verb = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[operation]
            actions = [{verb: dict(params)}]
        return self.transaction(actions, transactional=False)

    def read(self, operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> float:
        """A read request by its parameters and answer: its units, attributed to the partition it read."""
        if operation == "BatchGetItem":
            total = 0.0
            for table_name, items in parsed.get("Responses", {}).items():
                table = self.table(table_name)
                consistent = bool(params["RequestItems"][table_name].get("ConsistentRead"))
                for item in items:
                    units = item_read_units([item], consistent=consistent)
                    self.units.rcu[(table.name, None, item[table.keys[0]]["S"])] += units
                    total += units
            self.units.parts["read"]["table"] += total
            return total
        table = self.table(params["TableName"])
        consistent = bool(params.get("ConsistentRead"))
        if operation == "GetItem":
            units = item_read_units([parsed.get("Item")], consistent=consistent)
            partition = params["Key"][table.keys[0]]["S"]
            key: Key = (table.name, None, partition)
            part = "table"
        else:  # Query: every item it evaluated, the ones a filter dropped (ScannedCount - Count) included
            index = next((i for i in table.indexes if i.name == params.get("IndexName")), None)
            items = parsed.get("Items", [])
            size = sum(item_bytes(item) for item in items)
            dropped = parsed.get("ScannedCount", len(items)) - len(items)
            size += dropped * (size // len(items) if items else FILTERED_ITEM_BYTES)
            units = max(1, math.ceil(size / READ_UNIT_BYTES)) / (1 if consistent else 2)
            partition = _partition_value(params, index.keys[0] if index else table.keys[0])
            key = (table.name, index.name if index and index.kind == "gsi" else None, partition)
            part = index.kind if index else "table"
        self.units.rcu[key] += units
        self.units.parts["read"][part] += units
        return units


def _partition_value(params: Mapping[str, Any], attribute: str) -> str:
    """The partition key value a Query's key condition names."""
    names = {alias: name for alias, name in params.get("ExpressionAttributeNames", {}).items()}
    for clause in params["KeyConditionExpression"].split(" AND "):
        left, _, right = (part.strip() for part in clause.partition("="))
        if names.get(left, left) == attribute and right.startswith(":"):
            return str(params["ExpressionAttributeValues"][right]["S"])
    raise ValueError(f"no partition key condition in {params['KeyConditionExpression']!r}")


WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_OPERATIONS = frozenset({"GetItem", "Query", "BatchGetItem"})


class Meter:
    """Records every data-plane call of a boto3 DynamoDB client into a ``Ledger``: reads as they answer,
    writes (in call order) when ``settle`` is called, so sizing costs nothing in timed calls. Failed calls
    (conditional failures, conflicts) are counted, not sized. ``close`` leaves the client as it was."""

    def __init__(self, client: Any, ledger: Ledger) -> None:
        import threading

        self.client, self.ledger = client, ledger
        self._lock = threading.Lock()
        self._writes: list[tuple[str, Mapping[str, Any]]] = []
        self._handlers = [("before-parameter-build.dynamodb", self._keep), ("after-call.dynamodb", self._record)]
        for event, handler in self._handlers:
            client.meta.events.register(event, handler)

    def close(self) -> None:
        for event, handler in self._handlers:
            self.client.meta.events.unregister(event, handler)

    @staticmethod
    def _keep(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["sizing_params"] = params

    def _record(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        operation = model.name
        if operation not in WRITE_OPERATIONS | READ_OPERATIONS:
            return
        with self._lock:
            self.ledger.units.calls[operation] += 1
            if http_response.status_code >= 300:
                self.ledger.units.failed[operation] += 1
            elif operation in WRITE_OPERATIONS:
                self._writes.append((operation, context["sizing_params"]))
            else:
                self.ledger.read(operation, context["sizing_params"], parsed)

    def settle(self) -> None:
        """Size the writes recorded so far."""
        with self._lock:
            writes, self._writes = self._writes, []
        for operation, params in writes:
            self.ledger.request(operation, params)

    def take(self) -> Units:
        """What the calls since the last take cost, their writes sized now; the tally starts over."""
        self.settle()
        with self._lock:
            taken, self.ledger.units = self.ledger.units, Units()
        return taken
