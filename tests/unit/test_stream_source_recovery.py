"""The local stream source against an in-memory DynamoDB Streams: it outlives DynamoDB being unreachable, and a
restarted one resumes after the last record it handed over (checkpointed per shard), as Lambda's mapping does."""

import json
import threading
import time
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from devstack.stream_source import Checkpoint, LocalStreamSource

STREAM_ARN = "arn:aws:dynamodb:ddblocal:000000000000:table/events/stream/2026-01-01T00:00:00.000"
SHARD = "shardId-00000001795674244534-6790b37a"


def sequence(n: int) -> str:
    return f"{n:021d}"


class _Exceptions:
    ExpiredIteratorException = type("ExpiredIteratorException", (ClientError,), {})
    TrimmedDataAccessException = type("TrimmedDataAccessException", (ClientError,), {})


def _error(kind: type[ClientError], operation: str) -> ClientError:
    return kind({"Error": {"Code": kind.__name__, "Message": "fake"}}, operation)


class FakeDynamoDB:
    """DynamoDB Streams as the source uses it: shards of numbered records, and a switch to take it down."""

    exceptions = _Exceptions

    def __init__(self) -> None:
        self.shards: dict[str, list[int]] = {SHARD: []}  # sequence numbers per shard
        self.closed: set[str] = set()
        self.trimmed_before: dict[str, int] = {}  # records below this sequence number are gone
        self.down = False
        self.calls_while_down = 0
        self.iterator_requests: list[tuple[str, str, str | None]] = []

    def write(self, *numbers: int, shard: str = SHARD) -> None:
        self.shards[shard] += numbers

    def _check(self) -> None:
        if self.down:
            self.calls_while_down += 1
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")

    def describe_table(self, TableName: str) -> dict[str, Any]:
        self._check()
        return {"Table": {"TableName": TableName, "LatestStreamArn": STREAM_ARN}}

    def describe_stream(self, StreamArn: str, **_: Any) -> dict[str, Any]:
        self._check()
        shards = []
        for shard_id, numbers in self.shards.items():
            numbers_range = {"StartingSequenceNumber": sequence(numbers[0] if numbers else 1)}
            if shard_id in self.closed:
                numbers_range["EndingSequenceNumber"] = sequence(numbers[-1] if numbers else 1)
            shards.append({"ShardId": shard_id, "SequenceNumberRange": numbers_range})
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def get_shard_iterator(
        self, StreamArn: str, ShardId: str, ShardIteratorType: str, SequenceNumber: str | None = None
    ) -> dict[str, Any]:
        self._check()
        self.iterator_requests.append((ShardId, ShardIteratorType, SequenceNumber))
        trim = self.trimmed_before.get(ShardId, 0)
        if ShardIteratorType == "TRIM_HORIZON":
            after = trim - 1
        else:
            assert ShardIteratorType == "AFTER_SEQUENCE_NUMBER" and SequenceNumber
            after = int(SequenceNumber)
            if after < trim:
                raise _error(_Exceptions.TrimmedDataAccessException, "GetShardIterator")
        return {"ShardIterator": f"{ShardId}|{after}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self._check()
        shard_id, after = ShardIterator.split("|")
        numbers = [n for n in self.shards[shard_id] if n > int(after)][:Limit]
        last = numbers[-1] if numbers else int(after)
        response: dict[str, Any] = {
            "Records": [
                {
                    "eventID": f"e{n}",
                    "eventName": "INSERT",
                    "dynamodb": {"Keys": {"n": {"N": str(n)}}, "SequenceNumber": sequence(n)},
                }
                for n in numbers
            ]
        }
        if not (shard_id in self.closed and last >= max(self.shards[shard_id], default=0)):
            response["NextShardIterator"] = f"{shard_id}|{last}"
        return response


class Running:
    """A source on a thread, recording the sequence numbers its handler took."""

    def __init__(self, fake: FakeDynamoDB, checkpoint_dir: Any = None, **options: Any) -> None:
        self.delivered: list[int] = []
        self.logs: list[str] = []
        self.source = LocalStreamSource(
            "http://127.0.0.1:1",
            "events",
            self.handler,
            poll_interval_s=0.005,
            max_backoff_s=0.05,
            log=self.logs.append,
            **options,
            **({"checkpoint_dir": checkpoint_dir} if checkpoint_dir else {}),
        )
        self.source.dynamodb = fake  # type: ignore[assignment]
        self.source.streams = fake  # type: ignore[assignment]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.source.run, args=(self.stop,), daemon=True)

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.delivered += [int(r["dynamodb"]["SequenceNumber"]) for r in event["Records"]]
        return {"batchItemFailures": []}

    def __enter__(self) -> "Running":
        self.thread.start()
        assert self.source.ready.wait(10)
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()

    def until_delivered(self, *numbers: int, timeout: float = 10.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while not set(numbers) <= set(self.delivered) and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.delivered


def test_a_connection_error_is_retried_and_delivery_carries_on_in_order():
    fake = FakeDynamoDB()
    with Running(fake) as running:
        fake.write(1, 2)
        assert running.until_delivered(1, 2) == [1, 2]
        fake.down = True
        fake.write(3, 4)
        time.sleep(0.3)
        assert running.thread.is_alive() and fake.calls_while_down >= 3  # kept trying
        fake.down = False
        fake.write(5)
        assert running.until_delivered(3, 4, 5) == [1, 2, 3, 4, 5]
    assert running.source.unavailable >= 3
    assert any("DynamoDB unavailable (EndpointConnectionError" in line for line in running.logs)


def test_dynamodb_down_at_start_is_waited_for():
    fake = FakeDynamoDB()
    fake.write(1)
    fake.down = True
    running = Running(fake)
    running.thread.start()
    try:
        assert not running.source.ready.wait(0.3) and running.thread.is_alive()
        fake.down = False
        assert running.source.ready.wait(10)
        fake.write(2)
        assert running.until_delivered(2) == [2]  # a first start: from the stream's end, as before
    finally:
        running.__exit__()


def test_a_restart_resumes_after_the_last_record_handed_over(tmp_path):
    fake = FakeDynamoDB()
    fake.write(1, 2)
    with Running(fake, tmp_path) as first:  # the first start ever: from the end
        fake.write(3)
        assert first.until_delivered(3) == [3]
    (saved,) = tmp_path.glob("stream-source-events-*.json")
    assert json.loads(saved.read_text()) == {
        "stream_arn": STREAM_ARN,
        "positions": {SHARD: sequence(3)},
        "finished": [],
    }
    fake.write(4, 5)  # while no source runs
    with Running(fake, tmp_path) as second:
        fake.write(6)
        assert second.until_delivered(4, 5, 6) == [4, 5, 6]
    assert (SHARD, "AFTER_SEQUENCE_NUMBER", sequence(3)) in fake.iterator_requests


def test_a_first_start_that_delivered_nothing_still_resumes_where_it_was_positioned(tmp_path):
    fake = FakeDynamoDB()
    fake.write(1)
    with Running(fake, tmp_path):
        pass
    fake.write(2)
    with Running(fake, tmp_path) as second:
        assert second.until_delivered(2) == [2]


def test_a_shard_trimmed_past_the_checkpoint_is_read_from_its_trim_horizon(tmp_path):
    fake = FakeDynamoDB()
    with Running(fake, tmp_path) as first:
        fake.write(1, 2)
        first.until_delivered(1, 2)
    fake.write(3, 4, 5)
    fake.trimmed_before[SHARD] = 4  # 1 to 3 are gone
    with Running(fake, tmp_path) as second:
        assert second.until_delivered(4, 5) == [4, 5]
    assert any("trimmed" in line for line in second.logs)


def test_shards_new_since_the_checkpoint_are_read_from_their_start_and_gone_ones_forgotten(tmp_path):
    fake = FakeDynamoDB()
    with Running(fake, tmp_path) as first:
        fake.write(1)
        first.until_delivered(1)
    child = "shardId-00000001795674244999-00000002"
    fake.write(2)
    fake.closed.add(SHARD)
    fake.shards[child] = [3, 4]
    with Running(fake, tmp_path) as second:
        assert second.until_delivered(2, 3, 4) == [2, 3, 4]
    (saved,) = tmp_path.glob("stream-source-events-*.json")
    assert json.loads(saved.read_text())["finished"] == [SHARD]
    del fake.shards[SHARD]  # trimmed away entirely
    fake.write(5, shard=child)
    with Running(fake, tmp_path) as third:
        assert third.until_delivered(5) == [5]
    assert json.loads(saved.read_text())["positions"] == {child: sequence(5)}


def test_a_stop_while_a_batch_is_retried_does_not_checkpoint_it(tmp_path):
    fake = FakeDynamoDB()
    with Running(fake, tmp_path) as first:
        fake.write(1)
        first.until_delivered(1)
    failing = threading.Event()

    def refuse(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failing.set()
        raise RuntimeError("broadcaster down")

    fake.write(2)
    second = Running(fake, tmp_path, max_retries=1000)
    second.source.handler = refuse
    with second:
        assert failing.wait(10)
    with Running(fake, tmp_path) as third:
        assert third.until_delivered(2) == [2]


def test_a_checkpoint_of_another_stream_is_not_used(tmp_path):
    checkpoint = Checkpoint(tmp_path, STREAM_ARN)
    other = {"stream_arn": STREAM_ARN.replace("2026", "2025"), "positions": {"shard-0": "1"}, "finished": []}
    checkpoint.path.write_text(json.dumps(other))
    assert checkpoint.load() is None


def test_an_unreadable_checkpoint_counts_as_none(tmp_path):
    checkpoint = Checkpoint(tmp_path, STREAM_ARN)
    checkpoint.path.write_text('{"stream_arn": "')
    assert checkpoint.load() is None
