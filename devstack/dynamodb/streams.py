"""The engine's DynamoDB Streams: one shard per table stream, bounded, with sequence numbers that never repeat.

Records are appended only when a write commits (``Recorder`` buffers them per request), so a cancelled
transaction leaves none. What DynamoDB documents and this follows:

- a stream record per item-level change, and none for a PutItem or UpdateItem that changes nothing
  (DynamoDB Developer Guide, "Change data capture for DynamoDB Streams");
- sequence numbers increase within a shard and are never reused; records older than the retention are
  trimmed, and an iterator before the trim horizon gets ``TrimmedDataAccessException``;
- a shard iterator expires 15 minutes after it is returned (``ExpiredIteratorException``; DynamoDB Streams
  API Reference, GetShardIterator). Iterators here are self-describing tokens, so none is kept in memory.
- ``GetRecords`` returns at most 1,000 records or 1 MB (API Reference, GetRecords).
"""

import base64
import binascii
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs

FIRST_SEQUENCE = 10**20  # 21 digits, as DynamoDB's sequence numbers are
ITERATOR_TTL_S = 15 * 60
MAX_RECORDS = 1000
MAX_RESPONSE_BYTES = 1024 * 1024
RETENTION_S = 24 * 3600


class StreamsError(Exception):
    """A DynamoDB Streams error: its ``__type`` name and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@attrs.define
class Shard:
    """One table stream's only shard: retained records oldest first, sized for the retention bound."""

    shard_id: str
    created: float
    next_seq: int = FIRST_SEQUENCE
    records: deque[tuple[int, float, dict[str, Any]]] = attrs.field(factory=deque)  # (seq, created, record)
    size: int = 0

    @property
    def trim_horizon(self) -> int:
        return self.records[0][0] if self.records else self.next_seq


@attrs.define
class StreamLog:
    """Every table stream's shard, bounded to ``retention_bytes`` and 24 hours of records."""

    retention_bytes: int
    clock: Callable[[], float] = time.time
    shards: dict[str, Shard] = attrs.field(factory=dict)  # by stream ARN

    def shard(self, stream_arn: str) -> Shard:
        if stream_arn not in self.shards:
            digest = uuid.uuid5(uuid.NAMESPACE_URL, stream_arn).hex
            self.shards[stream_arn] = Shard(f"shardId-00000000000000000001-{digest[:8]}", self.clock())
        return self.shards[stream_arn]

    def append(self, stream_arn: str, record: dict[str, Any]) -> None:
        """Give ``record`` (eventName, dynamodb without SequenceNumber) the shard's next sequence number."""
        shard = self.shard(stream_arn)
        seq, now = shard.next_seq, self.clock()
        shard.next_seq += 1
        record["dynamodb"]["SequenceNumber"] = str(seq)
        record["dynamodb"]["ApproximateCreationDateTime"] = int(now)
        shard.records.append((seq, now, record))
        shard.size += record["dynamodb"]["SizeBytes"]
        while shard.records and (shard.size > self.retention_bytes or shard.records[0][1] < now - RETENTION_S):
            shard.size -= shard.records.popleft()[2]["dynamodb"]["SizeBytes"]

    # -- the DynamoDB Streams API over the shards ---------------------------------------------------------

    def iterator(self, stream_arn: str, shard_id: str, kind: str, sequence_number: str | None) -> str:
        shard = self._find(stream_arn, shard_id)
        if kind == "TRIM_HORIZON":
            start = shard.trim_horizon
        elif kind == "LATEST":
            start = shard.next_seq
        elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if not sequence_number or not sequence_number.isdigit():
                raise StreamsError("ValidationException", "SequenceNumber is required for this iterator type")
            start = int(sequence_number) + (kind == "AFTER_SEQUENCE_NUMBER")
            if start < shard.trim_horizon:
                raise StreamsError("TrimmedDataAccessException", f"{sequence_number} is beyond the trim horizon")
            if start > shard.next_seq:
                raise StreamsError("ValidationException", f"{sequence_number} is not in the shard")
        else:
            raise StreamsError("ValidationException", f"invalid ShardIteratorType {kind}")
        return self._token(stream_arn, shard_id, start)

    def records(self, token: str, limit: int) -> dict[str, Any]:
        stream_arn, shard_id, start = self._untoken(token)
        shard = self._find(stream_arn, shard_id)
        if start < shard.trim_horizon:
            raise StreamsError("TrimmedDataAccessException", "the iterator's position has been trimmed")
        out: list[dict[str, Any]] = []
        size = 0
        first = start - shard.trim_horizon
        for index in range(first, len(shard.records)):
            record = shard.records[index][2]
            size += record["dynamodb"]["SizeBytes"]
            if len(out) >= min(limit, MAX_RECORDS) or (out and size > MAX_RESPONSE_BYTES):
                break
            out.append(record)
        following = int(out[-1]["dynamodb"]["SequenceNumber"]) + 1 if out else start
        return {"Records": out, "NextShardIterator": self._token(stream_arn, shard_id, following)}

    def describe(self, stream_arn: str, table: dict[str, Any]) -> dict[str, Any]:
        shard = self.shard(stream_arn)
        return {
            "StreamArn": stream_arn,
            "StreamLabel": stream_arn.rsplit("/", 1)[-1],
            "StreamStatus": "ENABLED",
            "StreamViewType": table["StreamSpecification"]["StreamViewType"],
            "CreationRequestDateTime": int(shard.created),
            "TableName": table["TableName"],
            "KeySchema": table["KeySchema"],
            "Shards": [
                {"ShardId": shard.shard_id, "SequenceNumberRange": {"StartingSequenceNumber": str(FIRST_SEQUENCE)}}
            ],
        }

    def _find(self, stream_arn: str, shard_id: str) -> Shard:
        shard = self.shards.get(stream_arn)
        if shard is None or shard.shard_id != shard_id:
            raise StreamsError("ResourceNotFoundException", f"shard {shard_id} not found in {stream_arn}")
        return shard

    def _token(self, stream_arn: str, shard_id: str, position: int) -> str:
        body = json.dumps([stream_arn, shard_id, position, int(self.clock())], separators=(",", ":"))
        return base64.urlsafe_b64encode(body.encode()).decode()

    def _untoken(self, token: str) -> tuple[str, str, int]:
        try:
            stream_arn, shard_id, position, issued = json.loads(base64.urlsafe_b64decode(token.encode()))
            if not (isinstance(stream_arn, str) and isinstance(shard_id, str) and isinstance(position, int)):
                raise ValueError(token)
        except (ValueError, TypeError, binascii.Error) as error:
            raise StreamsError("ValidationException", "Invalid ShardIterator") from error
        if issued < self.clock() - ITERATOR_TTL_S:
            raise StreamsError("ExpiredIteratorException", "the shard iterator has expired")
        return stream_arn, shard_id, position

    # -- snapshot state ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            arn: {"id": s.shard_id, "created": s.created, "next": s.next_seq, "records": list(s.records)}
            for arn, s in self.shards.items()
        }

    def restore(self, state: dict[str, Any]) -> None:
        for arn, saved in state.items():
            records = deque(tuple(r) for r in saved["records"])
            size = sum(r[2]["dynamodb"]["SizeBytes"] for r in records)
            self.shards[arn] = Shard(saved["id"], saved["created"], saved["next"], records, size)
