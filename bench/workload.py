"""What every measurement shares: the bench's token and stack, generated events and their records, timing."""

import contextlib
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from chalicelib.events import parse_event
from chalicelib.records import encode
from devstack.run_process import RunProcess
from devstack.stack import ensure_topic, free_port
from matchtools.generate import generate_match

TOKEN = "bench-token"
RECEIVED_AT = "2026-01-01T00:00:00.000Z"
REQUEST_EVENTS = 500  # events per POST /events batch, the API's maximum


@contextlib.contextmanager
def throwaway_stack(name: str) -> Iterator[RunProcess]:
    """The ``make run`` stack on a new temporary data dir, with the bench's token; stopped on the way out."""
    stack = RunProcess(Path(tempfile.mkdtemp(prefix=f"{name}-")) / "data", free_port(), TOKEN)
    try:
        yield stack
    finally:
        stack.stop()


def app_on(stack: RunProcess) -> Any:
    """The app module, in this process, with new services pointed at ``stack``: the bench calls its handlers
    around its own meters. New, because a bench runs stack after stack and clients keep their endpoint."""
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = stack.endpoints.bootstrap_servers
    os.environ["DYNAMODB_ENDPOINT_URL"] = stack.endpoints.dynamodb_endpoint_url
    os.environ["INGEST_TOKEN"] = TOKEN
    import app
    from chalicelib.services import Services

    app.services = Services(os.environ)
    return app


def events_for(matches: int, per_match: int, seed: int) -> list[dict[str, Any]]:
    """``per_match`` generated events of each of ``matches`` new matches, match after match."""
    prefix = uuid.uuid4().hex[:6]
    out = []
    for m in range(matches):
        out += generate_match(f"b{prefix}-{m}", events=per_match, seed=seed + m)
    return out


def api_records(events: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """The Kafka (key, value) records the API publishes for these events posted in requests of 500."""
    return [
        record
        for start in range(0, len(events), REQUEST_EVENTS)
        for record in encode([parse_event(e) for e in events[start : start + REQUEST_EVENTS]], RECEIVED_AT)
    ]


def consume_preloaded(
    stack: RunProcess,
    records: list[tuple[bytes, bytes]],
    handler: Callable[[dict[str, Any], Any], Any],
    done: threading.Event,
    *,
    partitions: int = 3,
    batch_size: int = 500,
    timeout: float = 600,
) -> bool:
    """A new topic holding ``records``, drained through the local event source into ``handler`` (called as the
    MSK event source mapping calls the consumer Lambda) until ``done`` is set: False if ``timeout`` came first."""
    from devstack.event_source import LocalEventSource

    bootstrap, topic = stack.endpoints.bootstrap_servers, f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for future in [producer.send(topic, key=key, value=value) for key, value in records]:
        future.get(timeout=60)
    producer.close()
    source = LocalEventSource(bootstrap, topic, handler, group_id=topic, batch_size=batch_size, log=lambda _: None)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    finished = done.wait(timeout)
    stop.set()
    thread.join(timeout=30)
    return finished


def run_all(workers: int, work: Callable[[Any], Any], items: list[Any]) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, items))


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started
