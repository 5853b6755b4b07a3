"""MSK record decoding: Lambda's Kafka event in, items to store out.

Each record is re-validated: the topic is a boundary too, and anything that
reaches it without passing the schema must not reach the table.
"""

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from chalicelib.events import InvalidEvents, parse_batch

MAX_RECORD_BYTES = 256 * 1024  # the API writes at most ~60 KB (100 events of the largest size)


@attrs.frozen
class StreamRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class InvalidRecord(Exception):
    """A record that can never be stored, however often it is retried."""


def stream_records(msk_event: Mapping[str, Any]) -> Iterator[StreamRecord]:
    """Every record of every topic-partition in the batch, in stream order."""
    for batch in msk_event.get("records", {}).values():
        for record in batch:
            yield StreamRecord(
                topic=record["topic"],
                partition=int(record["partition"]),
                offset=int(record["offset"]),
                key=base64.b64decode(record["key"]) if record.get("key") else None,
                value=base64.b64decode(record.get("value") or ""),
            )


def decode(record: StreamRecord) -> list[dict[str, Any]]:
    """The stored form of the record's events: canonical event, ``received_at`` and stream position."""
    if len(record.value) > MAX_RECORD_BYTES:
        raise InvalidRecord(f"record of {len(record.value)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        payload = json.loads(record.value)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRecord(f"not JSON: {error}") from None
    if not isinstance(payload, dict) or set(payload) != {"received_at", "events"}:
        raise InvalidRecord('not an events record: {"received_at": ..., "events": [...]}')
    received_at, raw_events = payload["received_at"], payload["events"]
    if not isinstance(received_at, str) or not isinstance(raw_events, list) or not raw_events:
        raise InvalidRecord("received_at must be a string and events a non-empty list")
    position = {"received_at": received_at, "partition": record.partition, "offset": record.offset}
    try:
        return [event.to_dict() | position for event in parse_batch({"events": raw_events})]
    except InvalidEvents as invalid:
        raise InvalidRecord(f"invalid events: {json.dumps(invalid.errors)}") from None
