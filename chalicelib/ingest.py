"""POST /events: from raw request body to events acknowledged by Kafka."""

import json
from datetime import UTC, datetime

from chalicelib.events import MAX_BATCH, MAX_VERSION, Event, InvalidEvents, Void, iso_millis, parse_batch
from chalicelib.http import ApiError
from chalicelib.observability import logger
from chalicelib.publishing import KafkaPublisher, StreamUnavailable

MAX_BODY_BYTES = 1024 * 1024
RETRY_AFTER_SECONDS = "2"


def ingest(raw_body: bytes, publisher: KafkaPublisher) -> list[str]:
    """Validate the whole body, publish it, return the event ids Kafka acknowledged."""
    if len(raw_body) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if isinstance(body, dict) and isinstance(body.get("events"), list) and len(body["events"]) > MAX_BATCH:
        raise ApiError(413, "batch_too_large", f"a batch holds at most {MAX_BATCH} events")
    try:
        events = parse_batch(body)
    except InvalidEvents as invalid:
        raise ApiError(
            400, "invalid_events", "the request has invalid fields; nothing was accepted", errors=invalid.errors
        ) from None
    return publish(events, publisher)


def void_for_good(match_id: str, event_id: str, publisher: KafkaPublisher) -> list[str]:
    """DELETE /matches/{match_id}/events/{event_id}: a void with the highest version, through the stream."""
    try:
        events = parse_batch({"match_id": match_id, "event_id": event_id, "version": MAX_VERSION, "deleted": True})
    except InvalidEvents as invalid:
        raise ApiError(400, "invalid_events", "the match or event id is invalid", errors=invalid.errors) from None
    return publish(events, publisher)


def publish(events: list[Event | Void], publisher: KafkaPublisher) -> list[str]:
    """Publish validated events and return their ids once Kafka acknowledged all of them."""
    try:
        publisher.publish(events, received_at=iso_millis(datetime.now(UTC)))
    except StreamUnavailable:
        raise ApiError(
            503,
            "stream_unavailable",
            "the event stream did not acknowledge in time; retry",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        ) from None
    logger.info("events accepted", extra={"accepted": len(events), "match_ids": sorted({e.match_id for e in events})})
    return [event.event_id for event in events]  # type: ignore[misc]
