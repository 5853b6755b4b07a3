"""MSK record decoding: Lambda's Kafka event in, items to store out.

Each record is re-validated: the topic is a boundary too, and anything that
reaches it without passing the schema must not reach the table.
"""

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from chalicelib.events import InvalidEvents, parse_event

MAX_RECORD_BYTES = 64 * 1024


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


def decode(record: StreamRecord) -> dict[str, Any]:
    """The stored form: canonical event, ``received_at`` and its stream position."""
    if len(record.value) > MAX_RECORD_BYTES:
        raise InvalidRecord(f"record of {len(record.value)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        payload = json.loads(record.value)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRecord(f"not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise InvalidRecord("not a JSON object")
    received_at = payload.pop("received_at", None)
    if not isinstance(received_at, str):
        raise InvalidRecord("received_at is missing")
    try:
        event = parse_event(payload)
    except InvalidEvents as invalid:
        raise InvalidRecord(f"invalid event: {json.dumps(invalid.errors)}") from None
    return event.to_dict() | {"received_at": received_at, "partition": record.partition, "offset": record.offset}
