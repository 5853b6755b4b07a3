"""A producer thrown away during a Kafka outage is closed in the background; its close failing (the flush
times out while Kafka is out) is one log line, not a thread's traceback."""

import threading
import time

import pytest
from kafka.errors import KafkaTimeoutError

from chalicelib import publishing
from chalicelib.errors import StreamUnavailable
from chalicelib.events import parse_event

EVENT = {
    "match_id": "m1",
    "event_id": "e1",
    "event_type": "pass",
    "team_id": "home",
    "player_id": "p1",
    "timestamp": "2026-05-01T15:00:00Z",
}


class UnreachableKafkaProducer:
    """Sends fail (Kafka is out), and so does close: its flush cannot finish."""

    def __init__(self) -> None:
        self.close_timeouts: list[float] = []

    def send(self, *_args, **_kwargs):
        raise KafkaTimeoutError("Failed to update metadata after 0.5 secs.")

    def close(self, timeout=None):
        self.close_timeouts.append(timeout)
        raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")


def test_a_discarded_producer_that_fails_to_close_logs_one_line_and_no_traceback(monkeypatch):
    uncaught: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    warnings: list[tuple[str, dict]] = []
    monkeypatch.setattr(publishing.logger, "warning", lambda message, **kwargs: warnings.append((message, kwargs)))
    producers: list[UnreachableKafkaProducer] = []

    def make() -> UnreachableKafkaProducer:
        producers.append(UnreachableKafkaProducer())
        return producers[-1]

    publisher = publishing.KafkaPublisher(make, "events", "dead-letters", ack_timeout_seconds=0.5)
    for _ in range(2):
        with pytest.raises(StreamUnavailable):
            publisher.publish([parse_event(EVENT)], "2026-01-01T00:00:00.000Z", "default")
    assert len(producers) == 2  # each failure discarded its producer; the next call made a fresh one

    closing = [m for m, _ in warnings if m != "kafka did not acknowledge"]
    deadline = time.monotonic() + 10
    while (len(closing) < 2 and not uncaught) and time.monotonic() < deadline:
        time.sleep(0.01)
        closing = [m for m, _ in warnings if m != "kafka did not acknowledge"]
    assert not uncaught, [f"{u.exc_type.__name__}: {u.exc_value}" for u in uncaught]
    assert closing == ["discarded kafka producer did not close"] * 2
    details = [kwargs["extra"]["error"] for m, kwargs in warnings if m in closing]
    assert len(details) == 2
    assert all(
        d.startswith("KafkaTimeoutError: ") and d.endswith("Timeout after waiting for 1.5 secs.") for d in details
    )
    assert all(p.close_timeouts == [1.5] for p in producers)  # closed as before: once, 3x the ack timeout
