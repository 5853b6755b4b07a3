"""Replay matches at real time x speed: one file, or many generated matches at once.

Events are posted when their match time comes due (scaled by ``speed``): every
tick, whatever is due goes out in one request of at most 500 events, so the
offered load follows the matches' own rhythm, bursts included.
"""

import time
from datetime import datetime
from typing import Any, Protocol

from tqdm import tqdm

TICK_SECONDS = 0.05
MAX_BATCH = 500


class Producer(Protocol):
    """The API client (POST /events) or the WebSocket producer (publish)."""

    def post_events(self, events: list[dict[str, Any]]) -> list[str]: ...


def replay(client: Producer, events: list[dict[str, Any]], speed: float, *, progress: bool = True) -> float:
    """Post every event at its (scaled) time; returns the achieved events per second."""
    ordered = sorted(events, key=lambda event: event["timestamp"])
    first = datetime.fromisoformat(ordered[0]["timestamp"])
    due = [(datetime.fromisoformat(event["timestamp"]) - first).total_seconds() / speed for event in ordered]
    started, sent = time.monotonic(), 0
    with tqdm(total=len(ordered), unit="event", disable=not progress, desc="replaying") as bar:
        while sent < len(ordered):
            now = time.monotonic() - started
            until = sent
            while until < len(ordered) and until - sent < MAX_BATCH and due[until] <= now:
                until += 1
            if until == sent:
                time.sleep(min(TICK_SECONDS, max(0.0, due[sent] - now)))
                continue
            client.post_events(ordered[sent:until])
            bar.update(until - sent)
            sent = until
            bar.set_postfix(rate=f"{sent / max(time.monotonic() - started, 1e-9):.0f}/s")
    return len(ordered) / max(time.monotonic() - started, 1e-9)
