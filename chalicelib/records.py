"""The Kafka record: its one definition, encoded by the API and decoded by the consumer.

A record carries a request's events of one match, in order, with when the API
took them and the provider whose token sent them; its key is the match_id, so a match keeps its order in one
partition. The consumer re-validates what it decodes: the topic is a boundary
too, and anything that reaches it without passing the schema must not reach
the table.
"""

import base64
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from chalicelib import jsontext
from chalicelib.errors import InvalidEvents
from chalicelib.events import Event, Void, parse_batch

PROVIDER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_RECORD_FIELDS = frozenset({"received_at", "provider", "events"})

RECORD_EVENTS = 100  # events per record, at most
RECORD_BYTES = 128 * 1024  # bytes per record, at most: half of what the consumer accepts, an eighth of the broker's
MAX_RECORD_BYTES = 256 * 1024  # what the consumer accepts
# what decoding adds to each event: who sent it, when the API took it and where it is in the topic
STAMPS = ("provider", "received_at", "partition", "offset")
DEFAULT_PROVIDER = "default"  # a record that names none was sent with the unscoped INGEST_TOKEN


@attrs.frozen
class StreamRecord:
    """One record as the consumer sees it: the original bytes and where they came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int = 0  # Kafka's, ms since the epoch: when the producer created it (CreateTime); 0 if unknown


class InvalidRecord(Exception):
    """A record that can never be stored, however often it is retried."""


def encode(
    events: Sequence[Event | Void], received_at: str, provider: str = DEFAULT_PROVIDER
) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs for a request's events: one match's events in order, up to RECORD_EVENTS and
    RECORD_BYTES a record, so no valid request yields a record the consumer refuses. Fewer, larger records:
    kafka-python's cost is per record (make bench)."""
    head = f'{{"received_at":{json.dumps(received_at)},"provider":{json.dumps(provider)},"events":['.encode()
    by_match: dict[str, list[bytes]] = {}
    for event in events:
        by_match.setdefault(event.match_id, []).append(jsontext.dumps(event.to_dict()).encode())
    out: list[tuple[bytes, bytes]] = []
    for match_id, encoded in by_match.items():
        group: list[bytes] = []
        size = len(head) + 2
        for one in encoded:
            if group and (len(group) == RECORD_EVENTS or size + len(one) + 1 > RECORD_BYTES):
                out.append((match_id.encode(), head + b",".join(group) + b"]}"))
                group, size = [], len(head) + 2
            group.append(one)
            size += len(one) + 1
        out.append((match_id.encode(), head + b",".join(group) + b"]}"))
    return out


def stream_records(msk_event: Mapping[str, Any]) -> Iterator[StreamRecord]:
    """Every record of every topic-partition in Lambda's MSK event, in stream order."""
    # Powertools' data classes (all of them, with this one) load with the first batch, not with the app
    from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEvent

    for record in KafkaEvent(dict(msk_event)).records:
        yield StreamRecord(
            topic=record.topic,
            partition=int(record.partition),
            offset=int(record.offset),
            key=record.decoded_key or None,
            value=base64.b64decode(record.get("value") or ""),  # a tombstone has none; it is dead-lettered
            timestamp=max(0, int(record.get("timestamp") or 0)),
        )


def decode(record: StreamRecord) -> list[dict[str, Any]]:
    """The stored form of the record's events: canonical event plus its STAMPS."""
    if len(record.value) > MAX_RECORD_BYTES:
        raise InvalidRecord(f"record of {len(record.value)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        payload = jsontext.loads(record.value)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRecord(f"not JSON: {error}") from None
    if not isinstance(payload, dict) or not {"received_at", "events"} <= set(payload) <= _RECORD_FIELDS:
        raise InvalidRecord('not an events record: {"received_at": ..., "provider": ..., "events": [...]}')
    received_at, raw_events = payload["received_at"], payload["events"]
    provider = payload.get("provider", DEFAULT_PROVIDER)
    if not isinstance(received_at, str) or not isinstance(raw_events, list) or not raw_events:
        raise InvalidRecord("received_at must be a string and events a non-empty list")
    if not isinstance(provider, str) or not PROVIDER.fullmatch(provider):
        raise InvalidRecord(f"provider must match {PROVIDER.pattern}")
    stamps = dict(zip(STAMPS, (provider, received_at, record.partition, record.offset), strict=True))
    try:
        return [event.to_dict() | stamps for event in parse_batch({"events": raw_events})]
    except InvalidEvents as invalid:
        raise InvalidRecord(f"invalid events: {json.dumps(invalid.errors)}") from None
