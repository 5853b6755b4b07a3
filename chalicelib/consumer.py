"""The consumer Lambda's work: one MSK batch into DynamoDB, exactly once in effect.

Records that can never be stored (not JSON, invalid, oversized, or refused by
DynamoDB) go to the dead-letter topic with their original bytes, so the
partition keeps flowing.
Anything else that fails raises: the event source then retries the whole
batch, and the repository's conditional writes make the retry harmless.
"""

from collections.abc import Mapping
from typing import Any

from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.publishing import KafkaPublisher
from chalicelib.records import InvalidRecord, StreamRecord, decode, stream_records
from chalicelib.repository import EventRepository, RejectedByStorage


def consume(msk_event: Mapping[str, Any], repository: EventRepository, publisher: KafkaPublisher) -> dict[str, int]:
    decoded: list[tuple[StreamRecord, list[dict[str, Any]]]] = []
    invalid: list[tuple[StreamRecord, str]] = []
    for record in stream_records(msk_event):
        try:
            decoded.append((record, decode(record)))
        except InvalidRecord as problem:
            invalid.append((record, str(problem)))
    refused: list[tuple[StreamRecord, str]] = []
    refused_events = 0
    try:
        stored = repository.save([event for _, events in decoded for event in events])
    except RejectedByStorage:  # some event DynamoDB can never hold: find its record, store the others
        stored = 0
        for record, events in decoded:
            try:
                stored += repository.save(events)
            except RejectedByStorage as problem:
                refused.append((record, f"refused by DynamoDB: {problem}"))
                refused_events += len(events)
    dead = invalid + refused
    if dead:  # after the writes: if this fails, the batch is retried and the writes are no-ops
        publisher.dead_letter(dead)
        for record, error in dead:
            logger.warning(
                "record dead-lettered",
                extra={"topic": record.topic, "partition": record.partition, "offset": record.offset, "error": error},
            )
    events_seen = sum(len(events) for _, events in decoded)
    summary = {
        "records": len(decoded) + len(invalid),
        "events": events_seen,
        "stored": stored,
        "duplicates": events_seen - refused_events - stored,
        "dead_lettered": len(dead),
    }
    metrics.add_metric(name="EventsStored", unit=MetricUnit.Count, value=stored)
    metrics.add_metric(name="DuplicateEvents", unit=MetricUnit.Count, value=summary["duplicates"])
    metrics.add_metric(name="DeadLetteredRecords", unit=MetricUnit.Count, value=len(dead))
    logger.info("batch stored", extra=summary)
    return summary
