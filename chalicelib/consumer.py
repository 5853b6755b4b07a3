"""The consumer Lambda's work: one MSK batch into DynamoDB, exactly once in effect."""

from collections.abc import Mapping
from typing import Any

from chalicelib.records import InvalidRecord, decode, stream_records
from chalicelib.repository import EventRepository


def consume(msk_event: Mapping[str, Any], repository: EventRepository) -> dict[str, int]:
    """Store every decodable record; raising makes the event source retry the batch."""
    events, invalid = [], 0
    for record in stream_records(msk_event):
        try:
            events.append(decode(record))
        except InvalidRecord:
            invalid += 1
    stored = repository.save(events)
    return {"records": len(events) + invalid, "stored": stored, "duplicates": len(events) - stored, "invalid": invalid}
