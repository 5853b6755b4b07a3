"""The local stand-in for Lambda's DynamoDB Streams event source mapping.

It reads the events table's stream from DynamoDB Local, shard by shard in
order, and hands the broadcaster the event Lambda would (``Records`` with
``eventSource: aws:dynamodb``, new and old images). It moves on only when the
handler succeeded: an exception retries the same records after a backoff; a
partial batch response (``batchItemFailures``) retries from the failed record
on. After ``max_retries`` it logs the records it skips, where Lambda would
send them to the on-failure destination, as the stack configures it.
"""

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import boto3
from chalice.local import LambdaContext

from chalicelib import layout
from chalicelib.broadcast import BATCH_SIZE, RETRY_ATTEMPTS
from chalicelib.config import Settings
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


@attrs.define
class _Shard:
    shard_id: str
    iterator: str | None = None  # None: finished (or closed before the source started)
    position: str | None = None  # the last sequence number delivered


class LocalStreamSource:
    """Poll, invoke, advance: at-least-once delivery in stream order, like the real mapping."""

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
        log: Callable[[str], None] = print,
    ) -> None:
        self.dynamodb = dynamodb_client(endpoint_url)
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint_url, **LOCAL_AWS)
        self.table, self.handler, self.batch_size, self.max_retries = table, handler, batch_size, max_retries
        self.poll_interval_s, self.max_backoff_s, self.log = poll_interval_s, max_backoff_s, log
        self.ready = threading.Event()  # set once positioned at the stream's end: later changes are delivered
        self.batches = self.failed_batches = self.skipped_records = 0

    def run(self, stop: threading.Event) -> None:
        stream_arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        shards: dict[str, _Shard] = {}
        last_describe = 0.0
        while not stop.is_set():
            if time.monotonic() - last_describe > 1.0 or not any(s.iterator for s in shards.values()):
                self._discover(stream_arn, shards, starting=not self.ready.is_set())
                last_describe = time.monotonic()
                self.ready.set()
            busy = False
            for shard in shards.values():
                if shard.iterator is None:
                    continue
                try:
                    response = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
                except (
                    self.streams.exceptions.ExpiredIteratorException,
                    self.streams.exceptions.TrimmedDataAccessException,
                ):
                    # DynamoDB Local sometimes refuses an iterator at the end of a shard that has no new
                    # records yet: open another after the last record delivered
                    shard.iterator = self._iterator(stream_arn, shard)
                    continue
                records = response["Records"]
                if records:
                    busy = True
                    self._deliver(records, stream_arn, stop)
                    shard.position = records[-1]["dynamodb"]["SequenceNumber"]
                shard.iterator = response.get("NextShardIterator")
            if not busy:
                stop.wait(self.poll_interval_s)

    def _iterator(self, stream_arn: str, shard: "_Shard") -> str:
        if shard.position:
            response = self.streams.get_shard_iterator(
                StreamArn=stream_arn,
                ShardId=shard.shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=shard.position,
            )
        else:
            response = self.streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
            )
        return response["ShardIterator"]

    def _skip_to_end(self, shard: "_Shard") -> None:
        """Read past what the shard holds. (A LATEST iterator would do, but DynamoDB Local's sometimes never
        sees the records written after it.)"""
        while shard.iterator:
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
            if not response["Records"]:
                return
            shard.position = response["Records"][-1]["dynamodb"]["SequenceNumber"]
            shard.iterator = response.get("NextShardIterator")

    def _discover(self, stream_arn: str, shards: dict[str, "_Shard"], *, starting: bool) -> None:
        """Open an iterator on every new shard: at the end of those open at start, else at their start."""
        found: list[Mapping[str, Any]] = []
        params: dict[str, Any] = {"StreamArn": stream_arn}
        while True:
            description = self.streams.describe_stream(**params)["StreamDescription"]
            found += description["Shards"]
            if not description.get("LastEvaluatedShardId"):
                break
            params["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        for described in found:
            shard_id = described["ShardId"]
            if shard_id in shards:
                continue
            shard = shards[shard_id] = _Shard(shard_id)
            if not (starting and "EndingSequenceNumber" in described["SequenceNumberRange"]):
                shard.iterator = self._iterator(stream_arn, shard)
            if starting:
                self._skip_to_end(shard)

    def _deliver(self, records: Sequence[Mapping[str, Any]], stream_arn: str, stop: threading.Event) -> None:
        attempt = 0
        while records and not stop.is_set():
            event = stream_event(records, stream_arn, os.environ.get("AWS_REGION", "us-east-1"))
            try:
                result = self.handler(event, LambdaContext("broadcaster", 256))
                failures = (result or {}).get("batchItemFailures") or []
                if not failures:
                    self.batches += 1
                    return
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
                return
            backoff = min(self.max_backoff_s, 0.05 * 2**attempt)
            self.log(f"stream source: batch failed ({problem}); retrying in {backoff:.2f}s")
            stop.wait(backoff)


def main() -> None:
    """Feed the app's broadcaster from the events table's stream until SIGINT/SIGTERM."""
    import app

    settings = Settings.from_env(os.environ)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    LocalStreamSource(
        settings.dynamodb_endpoint_url or "", settings.table or layout.DEFAULT_TABLE, app.broadcast_changes
    ).run(stop)


if __name__ == "__main__":
    main()
