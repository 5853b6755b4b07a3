"""What the soak asked for and what it was told: every request, its attempts and whether a 202 came back.

The independent recomputation (soak.verify) works from this ledger only. An event counts as
acknowledged only when a 202 answered the request that carried it; a request that never got one
(abandoned after the client's retry budget) may or may not have reached Kafka, and is kept as such.
"""

import threading
from collections import Counter
from typing import Any

import attrs

# Corrections (docs/api.md): versions are 1-2147483647, and DELETE voids with the highest one.
MAX_VERSION = 2_147_483_647


@attrs.define
class Request:
    """One request as the client sent it (every retry sends exactly this), and how it ended.

    ``events`` are the events of a POST, or for a DELETE the void it stands for; ``ops`` names why each
    event is there (original, amend, void, restore, for_good, stale, redeliver, pre_void)."""

    seq: int
    match_id: str
    method: str  # POST or DELETE
    events: list[dict[str, Any]]
    ops: list[str]
    attempts: int = 0
    failures: Counter[str] = attrs.field(factory=Counter)  # per failed attempt: 503, connection, timeout, http_5xx
    acked: bool = False
    abandoned: bool = False  # the retry budget ran out: Kafka may or may not have the events
    rejected: str | None = None  # a 4xx: nothing was published (all or nothing), and the soak's request was wrong
    event_ids: list[str] | None = None  # what the 202 named, in order


class Ledger:
    """Append-only and thread-safe: the producer threads settle requests into it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self.requests: list[Request] = []

    def new(self, match_id: str, method: str, events: list[dict[str, Any]], ops: list[str]) -> Request:
        """A request numbered in global send order (a match's requests come from one thread, in order)."""
        with self._lock:
            self._seq += 1
            return Request(self._seq, match_id, method, events, ops)

    def settle(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def snapshot(self) -> list[Request]:
        with self._lock:
            return sorted(self.requests, key=lambda r: r.seq)

    def progress(self) -> dict[str, int]:
        """Running totals for the progress line."""
        with self._lock:
            acked = [r for r in self.requests if r.acked]
            return {
                "requests": len(self.requests),
                "events_acked": sum(len(r.events) for r in acked),
                "retried_requests": sum(1 for r in self.requests if r.attempts > 1),
                "abandoned": sum(1 for r in self.requests if r.abandoned),
                "rejected": sum(1 for r in self.requests if r.rejected),
            }
