"""A WebSocket client for tests and tools: connect, send actions, read messages as the protocol defines them."""

import json
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection, connect

from chalicelib import messages


class LiveClient:
    """One connection to the WebSocket API; ``token`` makes it a producer."""

    def __init__(self, url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.connection: ClientConnection = connect(url, additional_headers=headers, open_timeout=30)
        self.seen: list[dict[str, Any]] = []  # every message read so far

    def __enter__(self) -> "LiveClient":
        return self

    def __exit__(self, *_: Any) -> None:
        self.connection.close()

    def send(self, message: Any) -> None:
        self.connection.send(message if isinstance(message, str) else json.dumps(message))

    def next(self, timeout: float = 30.0) -> dict[str, Any]:
        message = messages.read(self.connection.recv(timeout=timeout))
        self.seen.append(message)
        return message

    def ask(self, message: Any, timeout: float = 30.0) -> dict[str, Any]:
        """Send and return the answer (change and stats pushes that arrive first are kept in ``seen``)."""
        self.send(message)
        return self.until(lambda m: m["type"] not in ("change", "stats"), timeout)

    def subscribe(self, match_id: str) -> dict[str, Any]:
        answer = self.ask({"action": "subscribe", "match_id": match_id})
        assert answer["type"] == "subscribed", answer
        return answer

    def until(self, done: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
        """Read until a message satisfies ``done``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(timeout=max(0.01, deadline - time.monotonic()))
            if done(message):
                return message

    def changes(self) -> list[dict[str, Any]]:
        return [m for m in self.seen if m["type"] == "change"]

    def quiet(self, seconds: float) -> bool:
        """True when nothing arrives for ``seconds``."""
        try:
            self.next(timeout=seconds)
        except TimeoutError:
            return True
        return False
