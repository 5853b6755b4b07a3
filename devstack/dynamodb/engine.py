"""The engine: moto's DynamoDB model behind one lock, with rollback, a durable journal and its own streams.

Every request is one unit of work under a single lock, so transactions and conditional writes are atomic
and isolated under any number of clients (DynamoDB's TransactWriteItems is serializable; a conditional
write's check and write are one step). A write request snapshots the items it names before moto runs it;
if moto answers anything but 200, those items are put back and the stream records it produced are
dropped, so a cancelled transaction leaves no item, index entry or stream record behind. A 200 is
journalled before it is answered (``journal.Journal``). One account and one region serve every client
whatever its credentials say, as DynamoDB Local did: the endpoint is the database.
"""

import copy
import io
import json
import logging
import pickle
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import moto
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.moto_server.werkzeug_app import create_backend_app
from werkzeug.test import run_wsgi_app

from devstack.dynamodb import moto_fixes
from devstack.dynamodb.journal import Journal
from devstack.dynamodb.moto_fixes import GlobalIndexes, PrimaryKey, primary_key, stored
from devstack.dynamodb.streams import StreamLog, StreamsError

ACCOUNT, REGION = "123456789012", "us-east-1"
JSON = "application/x-amz-json-1.0"
AUTHORIZATION = f"AWS4-HMAC-SHA256 Credential=local/20200101/{REGION}/dynamodb/aws4_request, Signature=-"
# What reads and changes nothing; everything else that moto answers 200 is journalled.
READS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "DescribeTable",
        "ListTables",
        "DescribeTimeToLive",
        "DescribeContinuousBackups",
        "ListTagsOfResource",
        "DescribeLimits",
        "DescribeEndpoints",
    }
)
SCHEMA_CHANGES = frozenset({"CreateTable", "UpdateTable", "DeleteTable", "UpdateTimeToLive"})
Response = tuple[str, list[tuple[str, str]], bytes]
log = logging.getLogger("devstack.dynamodb")


def _error(status: str, code: str, message: str) -> Response:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
    return status, [("Content-Type", JSON)], body


class Recorder:
    """Stands where moto keeps a table's stream shard: moto calls ``add(old, new)`` for each item it changes."""

    def __init__(self, changed: Callable[[Table, Item | None, Item | None], None], table: Table) -> None:
        self.changed, self.table = changed, table

    def add(self, old: Item | None, new: Item | None) -> None:
        self.changed(self.table, old, new)


class Engine:
    """A WSGI application speaking DynamoDB and DynamoDB Streams, with its data in ``data_dir``."""

    def __init__(
        self, data_dir: Path, *, retention_bytes: int = 64 << 20, fsync: bool = False, compact_bytes: int = 256 << 20
    ) -> None:
        self.lock = threading.Lock()
        self.indexes = GlobalIndexes()
        moto_fixes.install(self.indexes)
        self.moto = create_backend_app("dynamodb")
        self.streams = StreamLog(retention_bytes)
        self.journal = Journal(data_dir, fsync=fsync)
        self.compact_bytes = compact_bytes
        self._pending: dict[tuple[str, PrimaryKey], list[Any]] = {}
        self.backend.reset()  # moto's model is one per process: this engine starts it from its own data
        self.recover()

    @property
    def backend(self) -> DynamoDBBackend:
        return dynamodb_backends[ACCOUNT][REGION]

    # -- durability ------------------------------------------------------------------------------------------

    def recover(self) -> None:
        state, entries = self.journal.load()
        if state is not None:
            if state["moto"] != moto.__version__:
                raise RuntimeError(f"data written with moto {state['moto']}, this is moto {moto.__version__}")
            self.backend.tables.update(pickle.loads(state["tables"]))
            self.streams.restore(state["streams"])
        self._attach()
        replayed = 0
        for operation, body in entries:
            status, _, payload = self.execute(operation, body, journal=False)
            replayed += 1
            if not status.startswith("200"):
                log.warning("replayed %s answered %s: %s", operation, status, payload[:500])
        self.journal.compact(self._state())
        log.info("recovered %d tables, replayed %d writes", len(self.backend.tables), replayed)

    def _state(self) -> dict[str, Any]:
        tables = self.backend.tables
        recorders = {name: table.stream_shard for name, table in tables.items()}
        for table in tables.values():
            table.stream_shard = None
        try:
            return {
                "moto": moto.__version__,
                "tables": pickle.dumps(dict(tables), protocol=pickle.HIGHEST_PROTOCOL),
                "streams": self.streams.state(),
            }
        finally:
            for name, table in tables.items():
                table.stream_shard = recorders[name]

    def close(self) -> None:
        """At a clean stop: everything in the snapshot, an empty journal."""
        with self.lock:
            self.journal.compact(self._state())
            self.journal.close()

    def _attach(self) -> None:
        """A Recorder on every table moto created or gave a new stream shard since the last request."""
        for table in self.backend.tables.values():
            if not isinstance(table.stream_shard, Recorder):
                table.stream_shard = Recorder(self._changed, table)  # type: ignore[assignment]
                self.indexes.rebuild(table)

    # -- requests ----------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or "0"
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
        service, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if service == "DynamoDB_20120810":
            status, headers, payload = self.execute(operation, body)
        elif service == "DynamoDBStreams_20120810":
            status, headers, payload = self.stream_request(operation, body)
        else:
            status, headers, payload = _error("400 Bad Request", "UnknownOperationException", "unknown target")
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    def execute(self, operation: str, body: bytes, *, journal: bool = True) -> Response:
        with self.lock:
            if operation in READS:
                return self._moto(operation, body)
            before = [
                (table, key, copy.deepcopy(stored(table, key)) if updated else stored(table, key))
                for table, key, updated in self._touched(operation, body)
            ]
            self._pending = {}
            status, headers, payload = self._moto(operation, body)
            if status.startswith("200") and journal:
                try:
                    self.journal.append(operation, body)
                except OSError as error:  # not durable, so not done: undone and answered as DynamoDB's 500
                    log.exception("journal write failed")
                    status, headers, payload = _error("500 Internal Server Error", "InternalServerError", str(error))
            if not status.startswith("200"):
                for table, key, item in reversed(before):
                    self._put_back(table, key, item)
                    self.indexes.reindex(table, key)  # moto may have moved it in a global index meanwhile
                self._pending = {}
                return status, headers, payload
            self._publish()
            self._attach()
            # a table's stream label is moto's clock at CreateTable/UpdateTable: replayed, it would change
            # the stream's ARN and orphan its readers' checkpoints, so the snapshot keeps it from now on
            if self.journal.bytes > self.compact_bytes or (journal and operation in SCHEMA_CHANGES):
                self.journal.compact(self._state())
            return status, headers, payload

    def _moto(self, operation: str, body: bytes) -> Response:
        environ = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_TYPE": JSON,
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": f"dynamodb.{REGION}.amazonaws.com",
            "HTTP_X_AMZ_TARGET": f"DynamoDB_20120810.{operation}",
            "HTTP_AUTHORIZATION": AUTHORIZATION,
            "HTTP_X_MOTO_ACCOUNT_ID": ACCOUNT,
        }
        try:
            app_iter, status, headers = run_wsgi_app(self.moto, environ)
            try:
                payload = b"".join(app_iter)
            finally:
                getattr(app_iter, "close", lambda: None)()
        except Exception as error:  # moto failing on an input it did not expect: DynamoDB's 500, nothing kept
            log.exception("moto failed on %s", operation)
            return _error("500 Internal Server Error", "InternalServerError", f"{type(error).__name__}: {error}")
        dropped = ("content-length", "content-type", "server", "date", "access-control-allow-origin")
        kept = [(k, v) for k, v in headers.items() if k.lower() not in dropped]
        return status, [("Content-Type", JSON), *kept], payload

    def _touched(self, operation: str, body: bytes) -> list[tuple[Table, PrimaryKey, bool]]:
        """The items a write request names, to put back if it fails (True: changed in place by an update, so
        copied first; a put or delete replaces the item); moto validates the request itself."""
        try:
            request = json.loads(body)
            named: list[tuple[str, dict[str, Any], bool]] = []
            if operation == "PutItem":
                named.append((request["TableName"], request["Item"], False))
            elif operation in ("UpdateItem", "DeleteItem"):
                named.append((request["TableName"], request["Key"], operation == "UpdateItem"))
            elif operation == "BatchWriteItem":
                for name, writes in request["RequestItems"].items():
                    for write in writes:
                        for kind, field in (("PutRequest", "Item"), ("DeleteRequest", "Key")):
                            if kind in write:
                                named.append((name, write[kind][field], False))
            elif operation == "TransactWriteItems":
                for entry in request["TransactItems"]:
                    for kind, action in entry.items():
                        fields = action["Item"] if kind == "Put" else action["Key"]
                        named.append((action["TableName"], fields, kind == "Update"))
            touched = []
            for name, attributes, updated in named:
                table = self.backend.tables.get(name)
                if table is not None:
                    touched.append((table, primary_key(table, attributes), updated))
            return touched
        except Exception:  # a malformed request: moto refuses it before touching anything
            return []

    @staticmethod
    def _put_back(table: Table, key: PrimaryKey, item: Item | None) -> None:
        hash_value, range_value = key
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item  # type: ignore[assignment]  # a table without a sort key
        elif item is None:
            partition = table.items.get(hash_value)
            if partition is not None:
                partition.pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item

    # -- streams -----------------------------------------------------------------------------------------------

    def _changed(self, table: Table, old: Item | None, new: Item | None) -> None:
        item = new if new is not None else old
        if item is None:
            return
        key = (item.hash_key, item.range_key)
        self.indexes.reindex(table, key)
        if not (table.latest_stream_label and (table.stream_specification or {}).get("StreamEnabled")):
            return
        slot = self._pending.get((table.name, key))
        if slot is None:
            self._pending[(table.name, key)] = [table, _image(old), _image(new)]
        else:
            slot[2] = _image(new)

    def _publish(self) -> None:
        """One record per item the request changed, first image to last; none where nothing changed."""
        for table, old, new in self._pending.values():
            if old == new:
                continue
            view = (table.stream_specification or {})["StreamViewType"]
            image = new if new is not None else old
            keys = {a: image[a] for a in (table.hash_key_attr, table.range_key_attr) if a}
            change: dict[str, Any] = {"Keys": keys, "StreamViewType": view}
            if new is not None and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
                change["NewImage"] = new
            if old is not None and view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
                change["OldImage"] = old
            change["SizeBytes"] = len(json.dumps(change, separators=(",", ":")))
            name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
            record = {
                "eventID": uuid.uuid4().hex,
                "eventName": name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": change,
            }
            self.streams.append(_stream_arn(table), record)
        self._pending = {}

    def stream_request(self, operation: str, body: bytes) -> Response:
        with self.lock:
            try:
                request = json.loads(body or b"{}")
                if not isinstance(request, dict):
                    raise StreamsError("SerializationException", "the request is not a JSON object")
                answer = self._stream_operation(operation, request)
            except StreamsError as error:
                return _error("400 Bad Request", error.code, error.message)
            except (ValueError, KeyError, TypeError) as error:
                return _error("400 Bad Request", "ValidationException", f"{type(error).__name__}: {error}")
            return "200 OK", [("Content-Type", JSON)], json.dumps(answer).encode()

    def _stream_operation(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation == "ListStreams":
            streams = [
                {"StreamArn": _stream_arn(t), "TableName": t.name, "StreamLabel": t.latest_stream_label}
                for t in self.backend.tables.values()
                if t.latest_stream_label and request.get("TableName") in (None, t.name)
            ]
            return {"Streams": streams}
        if operation == "DescribeStream":
            table = self._stream_table(request["StreamArn"])
            description = table.describe(base_key="Table")["Table"]
            return {"StreamDescription": self.streams.describe(request["StreamArn"], description)}
        if operation == "GetShardIterator":
            self._stream_table(request["StreamArn"])
            token = self.streams.iterator(
                request["StreamArn"], request["ShardId"], request["ShardIteratorType"], request.get("SequenceNumber")
            )
            return {"ShardIterator": token}
        if operation == "GetRecords":
            return self.streams.records(request["ShardIterator"], int(request.get("Limit", 1000)))
        raise StreamsError("UnknownOperationException", f"unknown operation {operation}")

    def _stream_table(self, stream_arn: str) -> Table:
        name = stream_arn.split(":table/", 1)[-1].split("/", 1)[0]
        table = self.backend.tables.get(name)
        if table is None or not table.latest_stream_label or _stream_arn(table) != stream_arn:
            raise StreamsError("ResourceNotFoundException", f"Requested resource not found: {stream_arn}")
        return table


def _image(item: Item | None) -> dict[str, Any] | None:
    """The item as the stream shows it, copied now: moto changes items in place."""
    return json.loads(dynamo_json_dump(item.to_json()["Attributes"])) if item is not None else None


def _stream_arn(table: Table) -> str:
    return f"{table.table_arn}/stream/{table.latest_stream_label}"
