"""What the pipeline says once the load and the faults are over: drained, then read back through the API
(every page followed) and, for the dead-letter topic, from Kafka."""

import inspect
import time
from collections.abc import Callable
from typing import Any

import attrs
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from devstack.event_source import LocalEventSource
from matchtools.client import ApiClient

# The consumer group `python -m devstack.event_source` joins: its LocalEventSource's default.
CONSUMER_GROUP: str = inspect.signature(LocalEventSource.__init__).parameters["group_id"].default


def _partitions(consumer: Any, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def lag(bootstrap_servers: str, topic: str, group: str) -> tuple[int, dict[TopicPartition, int]]:
    """(records not yet committed by the group, the topic's end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), request_timeout_ms=15_000)
    try:
        partitions = _partitions(consumer, topic)
        ends: dict[TopicPartition, int] = dict(consumer.end_offsets(partitions)) if partitions else {}
    finally:
        consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), request_timeout_ms=15_000)
    try:
        committed = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()), ends


def wait_drained(
    bootstrap_servers: str, topic: str, group: str, timeout_s: float, quiet_s: float, log: Callable[[str], None] = print
) -> float:
    """Seconds until the group committed every offset and the topic's end stayed still for ``quiet_s``."""
    started = time.monotonic()
    still_since, last_ends, reported = None, None, 0.0
    while True:
        try:
            behind, ends = lag(bootstrap_servers, topic, group)
        except KafkaError as error:  # e.g. the coordinator still loading after a restart
            behind, ends = -1, None
            log(f"soak: drain check failed ({error!r}); retrying")
        now = time.monotonic()
        still_since = (still_since or now) if behind == 0 and ends == last_ends else None
        if still_since is not None and now - still_since >= quiet_s:
            return now - started
        last_ends = ends
        if now - started > timeout_s:
            raise TimeoutError(f"the consumer did not drain within {timeout_s:.0f}s ({behind} records behind)")
        if now - reported > 15:
            log(f"soak: draining, {behind} records behind")
            reported = now
        time.sleep(1.0)


@attrs.frozen
class MatchReads:
    timeline: list[dict[str, Any]]
    stats: dict[str, Any]
    changes: list[dict[str, Any]]


def read_match(api: ApiClient, match_id: str) -> MatchReads:
    return MatchReads(
        timeline=api.timeline(match_id, limit=1000),
        stats=api.get(f"/matches/{match_id}/stats"),
        changes=api.pages(f"/matches/{match_id}/changes", "changes", "after", limit=1000),
    )


def read_topic(bootstrap_servers: str, topic: str) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Every record of the topic from its first offset to its end now: (key, value, headers)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), enable_auto_commit=False)
    try:
        if not (partitions := _partitions(consumer, topic)):
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            for records in consumer.poll(timeout_ms=1000).values():
                found += [(r.key, r.value, dict(r.headers or [])) for r in records]
        return found
    finally:
        consumer.close()
