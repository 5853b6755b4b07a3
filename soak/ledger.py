"""Every request the soak sent, its attempts and whether a 202 came back: all the verification works from."""

import itertools
import threading
from collections import Counter
from typing import Any

import attrs

MAX_VERSION = 2_147_483_647  # versions are 1 to this (docs/api.md), and DELETE voids with it


@attrs.define
class Request:
    """One request as every attempt sent it, and how it ended; a DELETE's ``events`` is the void it stands for."""

    seq: int
    match_id: str
    method: str  # POST or DELETE
    events: list[dict[str, Any]]
    ops: list[str]  # why each event is there: original, amend, void, restore, for_good, stale, redeliver, pre_void
    attempts: int = 0
    failures: Counter[str] = attrs.field(factory=Counter)  # per failed attempt: 503, connection, timeout, http_5xx
    acked: bool = False
    abandoned: bool = False  # the retry budget ran out: Kafka may or may not have the events
    rejected: str | None = None  # a 4xx: nothing was published (all or nothing), and the soak's request was wrong
    event_ids: list[str] | None = None  # what the 202 named, in order


class Ledger:
    """Append-only and thread-safe; requests are numbered in global send order."""

    def __init__(self) -> None:
        self._lock, self._seq = threading.Lock(), itertools.count(1)
        self.requests: list[Request] = []

    def new(self, match_id: str, method: str, events: list[dict[str, Any]], ops: list[str]) -> Request:
        with self._lock:
            return Request(next(self._seq), match_id, method, events, ops)

    def settle(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def snapshot(self) -> list[Request]:
        with self._lock:
            return sorted(self.requests, key=lambda r: r.seq)

    def progress(self) -> str:
        done = self.snapshot()
        acked = sum(len(r.events) for r in done if r.acked)
        retried, abandoned = sum(r.attempts > 1 for r in done), sum(r.abandoned for r in done)
        return f"{len(done)} requests, {acked} events acknowledged, {retried} retried, {abandoned} abandoned"
