"""The local stand-in for Lambda's DynamoDB Streams event source mapping.

It reads the events table's stream from the local engine, shard by shard in
order, and hands the broadcaster the event Lambda would (``Records`` with
``eventSource: aws:dynamodb``, new and old images). It moves on only when the
handler succeeded: an exception retries the same records after a backoff; a
partial batch response (``batchItemFailures``) retries from the failed record
on. After ``max_retries`` it logs the records it skips, where Lambda would
send them to the on-failure destination, as the stack configures it.

Like the mapping, it outlives DynamoDB being unreachable (the engine
restarting): it retries with a backoff and carries on from the last record
delivered. ``python -m devstack.stream_source`` checkpoints, per shard, the
last sequence number the handler took in ``$DEVSTACK_DATA`` (``make run``'s
data dir), so a restarted one resumes after it rather than at the stream's end.
"""

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import boto3
import botocore.exceptions
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from chalice.local import LambdaContext

from chalicelib import layout
from chalicelib.broadcast import BATCH_SIZE, RETRY_ATTEMPTS
from chalicelib.config import Settings
from devstack.sender import SenderProcesses
from devstack.stack import LOCAL_AWS, dynamodb_client

Handler = Callable[[dict[str, Any], Any], Any]


def stream_event(records: Sequence[Mapping[str, Any]], stream_arn: str, region: str) -> dict[str, Any]:
    """GetRecords output in the shape Lambda delivers it (creation time in epoch seconds)."""
    out = []
    for record in records:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if created is not None and not isinstance(created, int | float):
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        out.append(
            {
                "eventID": record["eventID"],
                "eventName": record["eventName"],
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": region,
                "dynamodb": dynamodb,
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": out}


# What DynamoDB (Local) answers while it is down, restarting or overloaded. Reading the stream retries these
# until they pass, as Lambda's event source mapping does; none of them ends the source.
UNAVAILABLE: tuple[type[Exception], ...] = (ClientError, botocore.exceptions.ConnectionError, HTTPClientError)
# Fail fast and let run() back off and retry: boto3's defaults wait 60 s on a socket that does not answer.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})


@attrs.define
class _Shard:
    shard_id: str
    position: str | None = None  # the last sequence number handed to the handler (or skipped at a first start)
    finished: bool = False  # read to its end, or closed before a first start: nothing more to read
    iterator: str | None = None  # None: opened after ``position`` before the next read


class Checkpoint:
    """One stream's shard positions in a small JSON file, so that a restarted source resumes where it stopped,
    as Lambda's event source mapping keeps its position per shard. A file per stream: a recreated table has a
    new stream, which no old position applies to."""

    def __init__(self, directory: Path, stream_arn: str) -> None:
        table = stream_arn.partition(":table/")[2].partition("/")[0] or "table"
        digest = hashlib.sha256(stream_arn.encode()).hexdigest()[:12]
        self.path, self.stream_arn = directory / f"stream-source-{table}-{digest}.json", stream_arn
        self._written: dict[str, Any] | None = None

    def load(self) -> dict[str, _Shard] | None:
        """The shards as last saved; None if this stream was never read with this directory."""
        try:
            saved = json.loads(self.path.read_text())
            if saved.get("stream_arn") != self.stream_arn:
                return None
            finished = set(saved["finished"])
            shards = {
                shard_id: _Shard(shard_id, position, shard_id in finished)
                for shard_id, position in saved["positions"].items()
            }
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError):  # not one this source wrote: as if none
            return None
        self._written = saved
        return shards

    def save(self, shards: Mapping[str, _Shard]) -> None:
        """Write the positions if they changed, atomically: a crash leaves the old file or the new one."""
        state = {
            "stream_arn": self.stream_arn,
            "positions": {shard_id: shard.position for shard_id, shard in shards.items()},
            "finished": sorted(shard_id for shard_id, shard in shards.items() if shard.finished),
        }
        if state == self._written:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        partial.write_text(json.dumps(state, indent=1) + "\n")
        os.replace(partial, self.path)
        self._written = state


class LocalStreamSource:
    """Poll, invoke, advance: at-least-once delivery in stream order, like the real mapping.

    With ``checkpoint_dir`` it keeps each shard's position there (see ``Checkpoint``): a restart resumes after
    the last record handed over, a shard trimmed past it is read from its trim horizon, and only a first start
    ever (no checkpoint for the stream) begins at the stream's end. Without, positions live as long as the object.
    """

    def __init__(
        self,
        endpoint_url: str,
        table: str,
        handler: Handler,
        *,
        batch_size: int = BATCH_SIZE,
        max_retries: int = RETRY_ATTEMPTS,
        poll_interval_s: float = 0.05,
        max_backoff_s: float = 2.0,
        checkpoint_dir: Path | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.dynamodb = dynamodb_client(endpoint_url, CLIENT_CONFIG)
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint_url, config=CLIENT_CONFIG, **LOCAL_AWS)
        self.table, self.handler, self.batch_size, self.max_retries = table, handler, batch_size, max_retries
        self.poll_interval_s, self.max_backoff_s, self.log = poll_interval_s, max_backoff_s, log
        self.checkpoint_dir = checkpoint_dir
        self.ready = threading.Event()  # set once positioned: later changes are delivered
        self.batches = self.failed_batches = self.skipped_records = 0
        self.unavailable = 0  # DynamoDB (Streams) calls that failed and were retried
        self._stream_arn: str | None = None
        self._shards: dict[str, _Shard] = {}
        self._checkpoint: Checkpoint | None = None
        self._from_end = True  # the next discovery positions new shards at their end (a first start)
        self._progressed = False

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``. DynamoDB being unreachable (e.g. the engine restarting) is logged and retried
        after a backoff, from the positions delivered, not the end of the source."""
        failures = 0
        while not stop.is_set():
            self._progressed = False
            try:
                self._poll(stop)
            except UNAVAILABLE as error:
                failures = 1 if self._progressed else failures + 1
                self.unavailable += 1
                backoff = min(self.max_backoff_s, 0.1 * 2 ** (failures - 1))
                self.log(
                    f"stream source: DynamoDB unavailable ({type(error).__name__}: {error}); retrying in {backoff:.2f}s"
                )
                stop.wait(backoff)

    def _poll(self, stop: threading.Event) -> None:
        stream_arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        if stream_arn != self._stream_arn:
            self._open_stream(stream_arn)
        for shard in self._shards.values():
            shard.iterator = None  # one from before a failure may not be valid any more
        last_describe = 0.0
        while not stop.is_set():
            if time.monotonic() - last_describe > 1.0 or all(s.finished for s in self._shards.values()):
                self._discover(stream_arn)
                last_describe = time.monotonic()
            busy = False
            for shard in list(self._shards.values()):
                if shard.finished:
                    continue
                if shard.iterator is None:
                    shard.iterator = self._iterator(stream_arn, shard)
                try:
                    response = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
                except (
                    self.streams.exceptions.ExpiredIteratorException,
                    self.streams.exceptions.TrimmedDataAccessException,
                ):
                    # an iterator older than 15 minutes, or one the stream trimmed past: open another
                    # after the last record delivered
                    shard.iterator = None
                    continue
                self._progressed = True
                records = response["Records"]
                if records:
                    busy = True
                    if not self._deliver(records, stream_arn, stop):
                        return  # stopped before the handler took them: the checkpoint stays before them
                    shard.position = records[-1]["dynamodb"]["SequenceNumber"]
                shard.iterator = response.get("NextShardIterator")
                shard.finished = shard.iterator is None  # a closed shard, read to its end
                if records or shard.finished:
                    self._save()
            if not busy:
                stop.wait(self.poll_interval_s)

    def _open_stream(self, stream_arn: str) -> None:
        """Resume from the stream's checkpoint; with none, a first start begins at the stream's end, and a
        stream that replaced the one this source was reading (a recreated table) at its start."""
        self._checkpoint = Checkpoint(self.checkpoint_dir, stream_arn) if self.checkpoint_dir else None
        saved = self._checkpoint.load() if self._checkpoint else None
        if self._checkpoint and saved is not None:
            self.log(f"stream source: resuming from {self._checkpoint.path}")
        self._from_end = saved is None and self._stream_arn is None
        self._shards = saved or {}
        self._stream_arn = stream_arn

    def _save(self) -> None:
        if self._checkpoint is not None:
            self._checkpoint.save(self._shards)

    def _iterator(self, stream_arn: str, shard: _Shard) -> str:
        """After the last record handed over; at the shard's trim horizon if there is none, or if the stream
        no longer holds it (trimmed, as DynamoDB does after 24 hours)."""
        if shard.position:
            try:
                response = self.streams.get_shard_iterator(
                    StreamArn=stream_arn,
                    ShardId=shard.shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=shard.position,
                )
                return response["ShardIterator"]
            except self.streams.exceptions.TrimmedDataAccessException:
                self.log(f"stream source: {shard.shard_id} is trimmed past {shard.position}; reading its trim horizon")
        response = self.streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
        )
        return response["ShardIterator"]

    def _skip_to_end(self, shard: _Shard) -> None:
        """Read past what the shard holds, so the position is a real sequence number to checkpoint."""
        while shard.iterator:
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
            if not response["Records"]:
                return
            shard.position = response["Records"][-1]["dynamodb"]["SequenceNumber"]
            shard.iterator = response.get("NextShardIterator")

    def _discover(self, stream_arn: str) -> None:
        """Follow the stream's shards: forget those it no longer has, read new ones from their start. At a first
        start, those open are read from their end and those closed not at all."""
        found: list[Mapping[str, Any]] = []
        params: dict[str, Any] = {"StreamArn": stream_arn}
        while True:
            description = self.streams.describe_stream(**params)["StreamDescription"]
            found += description["Shards"]
            if not description.get("LastEvaluatedShardId"):
                break
            params["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        described = {shard["ShardId"]: shard for shard in found}
        added: dict[str, _Shard] = {}  # kept only once all are positioned: a failure halfway positions them anew
        for shard_id, shard_description in described.items():
            if shard_id in self._shards:
                continue
            shard = added[shard_id] = _Shard(shard_id)
            if self._from_end:
                if "EndingSequenceNumber" in shard_description["SequenceNumberRange"]:
                    shard.finished = True
                else:
                    shard.iterator = self._iterator(stream_arn, shard)
                    self._skip_to_end(shard)
        for gone in set(self._shards) - set(described):
            del self._shards[gone]
        self._shards |= added
        self._from_end = False
        self._save()
        self.ready.set()

    def _deliver(self, records: Sequence[Mapping[str, Any]], stream_arn: str, stop: threading.Event) -> bool:
        """Hand the records to the handler until it takes them or they are skipped (True); False if stopped."""
        attempt = 0
        while records:
            if stop.is_set():
                return False
            event = stream_event(records, stream_arn, os.environ.get("AWS_REGION", "us-east-1"))
            try:
                result = self.handler(event, LambdaContext("broadcaster", 256))
                failures = (result or {}).get("batchItemFailures") or []
                if not failures:
                    self.batches += 1
                    return True
                first = min(failure["itemIdentifier"] for failure in failures)
                records = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(first)]
                problem = f"partial failure from {first}"
            except Exception as error:  # the handler's failure is the batch's retry
                problem = repr(error)
            attempt += 1
            self.failed_batches += 1
            if attempt > self.max_retries:
                self.skipped_records += len(records)
                self.log(
                    f"stream source: skipping {len(records)} records after {self.max_retries} retries "
                    f"({problem}); Lambda would send them to the on-failure destination"
                )
                return True
            backoff = min(self.max_backoff_s, 0.05 * 2**attempt)
            self.log(f"stream source: batch failed ({problem}); retrying in {backoff:.2f}s")
            stop.wait(backoff)
        return True


def main() -> None:
    """Feed the app's broadcaster from the events table's stream until SIGINT/SIGTERM."""
    import app

    settings = Settings.from_env(os.environ)
    # where ``make run`` keeps its data, as devstack.run finds it (it passes DEVSTACK_DATA on when set)
    data_dir = Path(os.environ.get("DEVSTACK_DATA", Path(__file__).resolve().parent.parent / ".devstack" / "data"))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    senders = SenderProcesses(Path(__file__).resolve().parent.parent, os.environ)
    app.services.fan_out_through(senders)  # a big match's shards in processes of their own, as in Lambdas
    try:
        LocalStreamSource(
            settings.dynamodb_endpoint_url or "",
            settings.table or layout.DEFAULT_TABLE,
            app.broadcast_changes,
            checkpoint_dir=data_dir,
        ).run(stop)
    finally:
        senders.close()


if __name__ == "__main__":
    main()
