"""The local stand-in for Lambda's MSK event source mapping.

It consumes the topic with a consumer group, hands the consumer Lambda the
exact event AWS would (``eventSource: aws:kafka``, records grouped by
``<topic>-<partition>``, base64 keys and values), and commits offsets only
after the handler returned. A handler that raises gets the same records again,
after a bounded backoff, as Lambda would retry the batch.

``python -m devstack.event_source`` feeds the app's consumer from
``EVENTS_TOPIC`` in consumer group ``EVENT_SOURCE_GROUP`` (default
``football-consumer``) as static member ``EVENT_SOURCE_ID`` (default
``devstack-event-source``). ``spawn`` starts several in one group, as
``make run`` does with ``EVENT_SOURCES=N``: Kafka spreads the topic's
partitions over them, as the MSK event source mapping scales its pollers, and
a process beyond the partition count idles.
"""

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chalice.local import LambdaContext
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from chalicelib.config import Settings

Handler = Callable[[dict[str, Any], Any], Any]
LOCAL_CLUSTER_ARN = "arn:aws:kafka:local:000000000000:cluster/devstack/00000000-0000-0000-0000-000000000000-1"
GROUP_ID, INSTANCE_ID = "football-consumer", "devstack-event-source"


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def msk_event(batch: Mapping[TopicPartition, Sequence[Any]], bootstrap_servers: str) -> dict[str, Any]:
    """Kafka ConsumerRecords in the shape Lambda delivers them from MSK."""
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": LOCAL_CLUSTER_ARN,
        "bootstrapServers": bootstrap_servers,
        "records": {
            f"{tp.topic}-{tp.partition}": [
                {
                    "topic": r.topic,
                    "partition": r.partition,
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "timestampType": "CREATE_TIME" if r.timestamp_type == 0 else "LOG_APPEND_TIME",
                    "key": _b64(r.key),
                    "value": _b64(r.value),
                    "headers": [{name: list(value)} for name, value in (r.headers or [])],
                }
                for r in records
            ]
            for tp, records in batch.items()
        },
    }


class LocalEventSource:
    """Poll, invoke, commit: at-least-once delivery, like the real mapping."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        handler: Handler,
        *,
        group_id: str = GROUP_ID,
        instance_id: str | None = None,
        batch_size: int = 500,
        window_ms: int = 100,
        max_backoff_s: float = 5.0,
        log: Callable[[str], None] = print,
    ) -> None:
        self.bootstrap_servers, self.topic, self.handler = bootstrap_servers, topic, handler
        self.group_id, self.instance_id = group_id, instance_id
        self.batch_size, self.window_ms = batch_size, window_ms
        self.max_backoff_s, self.log = max_backoff_s, log
        self.batches = 0  # handled successfully
        self.failed_batches = 0  # handler raised; the batch was retried

    def _collect(self, consumer: KafkaConsumer) -> dict[TopicPartition, list[Any]]:
        """Up to batch_size records, waiting at most one window after the first arrives."""
        batch: dict[TopicPartition, list[Any]] = {}
        count, deadline = 0, None
        while count < self.batch_size:
            wait_ms = self.window_ms if deadline is None else int((deadline - time.monotonic()) * 1000)
            if wait_ms <= 0:
                break
            polled = consumer.poll(timeout_ms=wait_ms, max_records=self.batch_size - count)
            for tp, records in polled.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
            if deadline is None:
                if not batch:
                    break
                deadline = time.monotonic() + self.window_ms / 1000
        return batch

    def run(self, stop: threading.Event) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers.split(","),
            group_id=self.group_id,
            # a static member that restarts takes its partitions straight back, with no wait for
            # the coordinator to time out the member it was before the restart
            group_instance_id=self.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            session_timeout_ms=10_000,  # a killed runner's partitions move on within seconds
            max_poll_interval_ms=60_000,  # bounds a rebalance waiting for a member that is gone
            metadata_max_age_ms=30_000,
        )
        # Joining the group before the topic's metadata is known gets no partitions until the
        # metadata ages out; fetch it first.
        while not consumer.partitions_for_topic(self.topic) and not stop.wait(0.2):
            pass
        consumer.subscribe([self.topic])
        failures = 0
        try:
            while not stop.is_set():
                batch = self._collect(consumer)
                if not batch:
                    continue
                try:
                    self.handler(msk_event(batch, self.bootstrap_servers), LambdaContext("consumer", 512))
                except Exception as error:  # the handler's failure is the batch's retry
                    failures += 1
                    self.failed_batches += 1
                    backoff = min(self.max_backoff_s, 0.1 * 2**failures)
                    self.log(f"event source: batch failed ({error!r}); retrying in {backoff:.1f}s")
                    for tp, records in batch.items():
                        consumer.seek(tp, records[0].offset)
                    stop.wait(backoff)
                    continue
                failures = 0
                self.batches += 1
                try:
                    consumer.commit()
                except KafkaError as error:  # the next commit covers these offsets; a crash redelivers them
                    self.log(f"event source: commit failed ({error!r}); will commit with the next batch")
        finally:
            consumer.close()


def main() -> None:
    """Feed the app's consumer Lambda from the configured topic until SIGINT/SIGTERM."""
    import app

    settings = Settings.from_env(os.environ)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    LocalEventSource(
        settings.bootstrap_servers,
        settings.topic,
        app.consume_events,
        group_id=os.environ.get("EVENT_SOURCE_GROUP", GROUP_ID),
        instance_id=os.environ.get("EVENT_SOURCE_ID", INSTANCE_ID),
    ).run(stop)


def spawn(count: int, env: Mapping[str, str], cwd: Path) -> list["subprocess.Popen[bytes]"]:
    """``count`` event-source processes in one consumer group, each a static member of its own: the first
    is ``INSTANCE_ID`` (a single source keeps the id it always had), the others ``INSTANCE_ID-<n>``."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "devstack.event_source"],
            cwd=cwd,
            env=dict(env) | {"EVENT_SOURCE_ID": INSTANCE_ID if n == 0 else f"{INSTANCE_ID}-{n}"},
        )
        for n in range(count)
    ]


if __name__ == "__main__":
    main()
