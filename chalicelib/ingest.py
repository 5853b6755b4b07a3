"""POST /events: from raw request body to events acknowledged by Kafka."""

from datetime import UTC, datetime

from chalicelib import jsontext
from chalicelib.errors import BatchTooLarge, BodyTooLarge, InvalidJson
from chalicelib.events import MAX_BATCH, MAX_VERSION, Event, Void, iso_millis, parse_batch
from chalicelib.observability import logger
from chalicelib.publishing import Publisher
from chalicelib.security import Producer

MAX_BODY_BYTES = 1024 * 1024


def ingest(raw_body: bytes | str, publisher: Publisher, producer: Producer) -> list[str]:
    """Validate the whole body, check the producer may write its matches, publish it, return the event
    ids Kafka acknowledged."""
    if len(raw_body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = jsontext.loads(raw_body)
    except jsontext.TooDeep:
        raise InvalidJson(f"the body nests more than {jsontext.MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidJson("the body is not valid JSON") from None
    if isinstance(body, dict) and isinstance(body.get("events"), list) and len(body["events"]) > MAX_BATCH:
        raise BatchTooLarge(f"a batch holds at most {MAX_BATCH} events")
    return publish(parse_batch(body), publisher, producer)


def void_for_good(match_id: str, event_id: str, publisher: Publisher, producer: Producer) -> list[str]:
    """DELETE /matches/{match_id}/events/{event_id}: a void with the highest version, through the stream."""
    void = parse_batch({"match_id": match_id, "event_id": event_id, "version": MAX_VERSION, "deleted": True})
    return publish(void, publisher, producer)


def publish(events: list[Event | Void], publisher: Publisher, producer: Producer) -> list[str]:
    """Publish validated events, all within the producer's scope, and return their ids once Kafka
    acknowledged all of them."""
    producer.check(event.match_id for event in events)
    publisher.publish(events, received_at=iso_millis(datetime.now(UTC)), provider=producer.provider)
    logger.info(
        "events accepted",
        extra={
            "accepted": len(events),
            "provider": producer.provider,
            "match_ids": sorted({e.match_id for e in events}),
        },
    )
    return [event.event_id for event in events]
