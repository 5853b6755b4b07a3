"""WebSocket subscribers over real sockets, one asyncio loop holding every connection, logging what arrives."""

import asyncio
import json
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CONNECT_CONCURRENCY = 50


class Subscribers:
    """``count`` connections, each subscribed to one of ``match_ids`` in turn, recording when changes arrive
    and every message (its match, type, size and event); a context manager connects and closes them."""

    def __init__(self, ws_url: str, match_ids: list[str], count: int) -> None:
        self.ws_url, self.count = ws_url, count
        self.assigned = [match_ids[i % len(match_ids)] for i in range(count)]
        self.arrivals: dict[str, list[float]] = defaultdict(list)  # event_id -> receipt times
        self.log: list[tuple[str, str, int, tuple[Any, Any] | None]] = []  # match, type, bytes, (event, version)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),), daemon=True)

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
            now = time.time()  # the wall clock the 202s are timed on
            message = json.loads(text)
            event: dict[str, Any] = message.get("event") or {}
            key = (event.get("event_id"), event.get("version")) if event else None
            self.log.append((match_id, message["type"], len(text.encode() if isinstance(text, str) else text), key))
            if message["type"] == "change":
                self.arrivals[message["event"]["event_id"]].append(now)
