"""What every measurement shares: the bench's token, generated events, the records the API would write, timing."""

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chalicelib.events import parse_event
from chalicelib.records import encode
from devstack.run_process import RunProcess
from devstack.stack import free_port
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
    endpoints = stack.endpoints
    os.environ.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": endpoints.bootstrap_servers,
            "DYNAMODB_ENDPOINT_URL": endpoints.dynamodb_endpoint_url,
            "INGEST_TOKEN": TOKEN,
        }
    )
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


def run_all(workers: int, work: Callable[[Any], Any], items: list[Any]) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, items))


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started
