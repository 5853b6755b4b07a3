"""Push latency over real sockets: from the 202 of a POST to the ``change`` message at each subscriber.

Subscribers are spread over the matches (one asyncio loop holds every
connection); a producer offers events at a steady rate over those matches. Each
delivery's delay is its receipt time minus the moment its POST answered 202,
both on this process's clock. Then a burst, posted as fast as the API takes
it, measures the fan-out rate at the limit: messages received per second until
the last one arrives.
"""

import asyncio
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.system import post_at
from matchtools.client import ApiClient

CONNECT_CONCURRENCY = 50
DRAIN_SECONDS = 30.0  # after the last post: deliveries still arriving are counted, then the rest are missing


class Subscribers:
    """``count`` connections, each subscribed to one of ``match_ids`` in turn, recording when changes arrive
    and every message (its match, type, size and event); a context manager connects and closes them."""

    def __init__(self, ws_url: str, match_ids: list[str], count: int) -> None:
        self.ws_url, self.count = ws_url, count
        self.assigned = [match_ids[i % len(match_ids)] for i in range(count)]
        self.arrivals: dict[str, list[float]] = defaultdict(list)  # event_id -> receipt times
        self.log: list[tuple[str, str, int, tuple[Any, Any] | None]] = []  # match, type, bytes, (event, version)
        self.last_message_at = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),), daemon=True)

    def per_match(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for match_id in self.assigned:
            counts[match_id] += 1
        return counts

    def __enter__(self) -> "Subscribers":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def count_of(self, match_id: str) -> Counter[str]:
        """Messages received by type, over the match's followers."""
        return Counter(kind for match, kind, _, _ in list(self.log) if match == match_id)

    def delivered(self, match_id: str, event: tuple[str, int]) -> int:
        """Followers of the match that got the change of (event_id, version)."""
        return sum(
            1 for match, kind, _, key in list(self.log) if match == match_id and kind == "change" and key == event
        )

    def sizes(self, kind: str) -> list[int]:
        return [size for _, k, size, _ in list(self.log) if k == kind]

    def start(self, timeout: float = 600) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SystemExit("the subscribers did not all connect")

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        subscribed = 0
        connections: list[ClientConnection] = []

        async def open_one(match_id: str) -> None:
            nonlocal subscribed
            async with gate:
                connection = await connect(self.ws_url, open_timeout=120, max_queue=None)
                await connection.send(json.dumps({"action": "subscribe", "match_id": match_id}))
                while json.loads(await connection.recv())["type"] != "subscribed":
                    pass
            connections.append(connection)
            subscribed += 1
            if subscribed == self.count:
                self._ready.set()
            await self._listen(connection, match_id)

        tasks = [asyncio.create_task(open_one(match_id)) for match_id in self.assigned]
        await self._stop.wait()
        for connection in connections:
            await connection.close()
        for task in tasks:
            task.cancel()

    async def _listen(self, connection: ClientConnection, match_id: str) -> None:
        async for text in connection:
            now = time.time()  # the clock of post_at's 202s
            message = json.loads(text)
            event: dict[str, Any] = message.get("event") or {}
            key = (event.get("event_id"), event.get("version")) if event else None
            self.log.append((match_id, message["type"], len(text.encode() if isinstance(text, str) else text), key))
            self.last_message_at = now
            if message["type"] == "change":
                self.arrivals[message["event"]["event_id"]].append(now)


def _acked(requests: Iterator[tuple[list[dict[str, Any]], float]]) -> dict[str, tuple[float, str]]:
    """event_id -> (its 202, its match) for the requests bench.system.post_at makes."""
    return {event["event_id"]: (acked, event["match_id"]) for batch, acked in requests for event in batch}


def _drain(subscribers: Subscribers, due: int) -> None:
    """Wait until ``due`` change deliveries arrived, or the drain time is up."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline and sum(map(len, subscribers.arrivals.values())) < due:
        time.sleep(0.2)


def push_latency(
    url: str,
    ws_url: str,
    token: str,
    seconds: float,
    *,
    rate: int = 500,
    matches: int = 300,
    subscribers: int = 1000,
    burst_seconds: float = 5.0,
) -> dict[str, Any]:
    """Delays (s, per delivery) at ``rate``, deliveries due and made, and the fan-out rate (messages/s) of a
    burst posted as fast as the API takes it."""
    prefix = uuid.uuid4().hex[:6]
    match_ids = [f"w{prefix}-{m}" for m in range(matches)]
    clients = Subscribers(ws_url, match_ids, subscribers)
    clients.start()
    per_match = clients.per_match()
    api = ApiClient(url, token)
    try:
        steady = _acked(post_at(api, rate, seconds, match_ids, f"{prefix}s"))
        due = sum(per_match[match_id] for _, match_id in steady.values())
        _drain(clients, due)
        delays = [
            arrived - acked for event_id, (acked, _) in steady.items() for arrived in clients.arrivals.get(event_id, [])
        ]
        messages_before, burst_started = len(clients.log), time.time()
        burst = _acked(post_at(api, 1_000_000, burst_seconds, match_ids, f"{prefix}b", per_request=500))
        _drain(clients, due + sum(per_match[match_id] for _, match_id in burst.values()))
        fan_out = (len(clients.log) - messages_before) / max(1e-9, clients.last_message_at - burst_started)
    finally:
        clients.stop()
    return {
        "delays": delays,
        "due": due,
        "delivered": len(delays),
        "fan_out_per_s": fan_out,
        "burst_events": len(burst),
    }
