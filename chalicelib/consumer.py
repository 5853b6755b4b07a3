"""The consumer Lambda's work: one MSK batch into DynamoDB, exactly once in effect.

Records that can never be stored (not JSON, invalid, oversized, or refused by
DynamoDB) go to the dead-letter topic with their original bytes, so the
partition keeps flowing.
Anything else that fails raises: the event source then retries the whole
batch, and the repository's conditional writes make the retry harmless.

Each batch logs, and emits as metrics, how old its oldest record was when the
batch started (``record_age_ms``, metric ``RecordAge``: Kafka timestamp to
handler start, the wait before the consumer) and how long storing it took
(``store_ms``, metric ``StoreTime``: handler start to the last transaction
committed), with the offsets it covered, so a record's way from the topic to
the table can be followed in the logs.
"""

import time
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.publishing import KafkaPublisher
from chalicelib.records import InvalidRecord, StreamRecord, decode, stream_records
from chalicelib.repository import EventRepository, RejectedByStorage


def consume(msk_event: Mapping[str, Any], repository: EventRepository, publisher: KafkaPublisher) -> dict[str, int]:
    started = time.time()
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
    store_ms = round((time.time() - started) * 1000)
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
    metrics.add_metric(name="StoreTime", unit=MetricUnit.Milliseconds, value=store_ms)
    records = [record for record, _ in [*decoded, *invalid]]
    timing: dict[str, Any] = {"store_ms": store_ms, "offsets": _offsets(records)}
    stamps = [record.timestamp for record in records if record.timestamp > 0]
    if stamps:
        timing["record_age_ms"] = round(started * 1000) - min(stamps)
        metrics.add_metric(name="RecordAge", unit=MetricUnit.Milliseconds, value=timing["record_age_ms"])
    logger.info("batch stored", extra=summary | timing)
    return summary


def _offsets(records: Iterable[StreamRecord]) -> dict[str, list[int]]:
    """The first and last offset of the batch in each ``<topic>-<partition>``, as Lambda's event keys them."""
    spans: dict[str, list[int]] = {}
    for record in records:
        span = spans.setdefault(f"{record.topic}-{record.partition}", [record.offset, record.offset])
        span[0], span[1] = min(span[0], record.offset), max(span[1], record.offset)
    return spans
