"""What every measurement shares: the bench's token, generated events, the records the API would write, timing."""

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.events import parse_event
from chalicelib.records import encode
from matchtools.generate import generate_match

TOKEN = "bench-token"
RECEIVED_AT = "2026-01-01T00:00:00.000Z"
REQUEST_EVENTS = 500  # events per POST /events batch, the API's maximum


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
