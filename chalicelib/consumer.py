"""The consumer Lambda's work: one MSK batch into DynamoDB, exactly once in effect.

Records that can never be stored (not JSON, invalid, oversized) go to the
dead-letter topic with their original bytes, so the partition keeps flowing.
Anything else that fails raises: the event source then retries the whole
batch, and the repository's conditional writes make the retry harmless.
"""

from collections.abc import Mapping
from typing import Any

from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.publishing import KafkaPublisher
from chalicelib.records import InvalidRecord, StreamRecord, decode, stream_records
from chalicelib.repository import EventRepository


def consume(msk_event: Mapping[str, Any], repository: EventRepository, publisher: KafkaPublisher) -> dict[str, int]:
    events: list[dict[str, Any]] = []
    rejects: list[tuple[StreamRecord, str]] = []
    for record in stream_records(msk_event):
        try:
            events.append(decode(record))
        except InvalidRecord as problem:
            rejects.append((record, str(problem)))
    if rejects:
        publisher.dead_letter(rejects)  # before storing: a failure here retries the batch, losing nothing
        for record, error in rejects:
            logger.warning("record dead-lettered", extra={"topic": record.topic, "partition": record.partition,
                                                          "offset": record.offset, "error": error})
    stored = repository.save(events)
    summary = {"records": len(events) + len(rejects), "stored": stored, "duplicates": len(events) - stored,
               "dead_lettered": len(rejects)}
    metrics.add_metric(name="EventsStored", unit=MetricUnit.Count, value=stored)
    metrics.add_metric(name="DuplicateEvents", unit=MetricUnit.Count, value=summary["duplicates"])
    metrics.add_metric(name="DeadLetteredRecords", unit=MetricUnit.Count, value=len(rejects))
    logger.info("batch stored", extra=summary)
    return summary
