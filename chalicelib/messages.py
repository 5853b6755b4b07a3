"""The WebSocket protocol (docs/api.md, "Live push"): the one module that reads and writes its messages.

Clients send JSON objects with an ``action``; the server answers and pushes
JSON objects with a ``type``. The server decodes with ``decode`` and writes
with ``subscribed`` ... ``error``; Python clients (``matchtools``, ``make
bench``, the tests) write with ``subscribe``/``unsubscribe``/``publish`` and
read with ``read``. The match centre's JavaScript mirrors this module.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from chalicelib import jsontext
from chalicelib import stats as match_stats
from chalicelib.events import MATCH_ID

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket frame limit is 32 KB each, 128 KB a message
MAX_SERVER_MESSAGE_BYTES = 32 * 1024  # what the server sends fits one frame
SERVER_TYPES = frozenset({"subscribed", "unsubscribed", "change", "stats", "accepted", "error", "pong"})


class BadMessage(ValueError):
    """A client message the server cannot act on; answered with an ``error`` message."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.request_id = code, message, request_id


@attrs.frozen
class Subscribe:
    match_id: str


@attrs.frozen
class Unsubscribe:
    match_id: str


@attrs.frozen
class Ping:
    pass


@attrs.frozen
class Publish:
    request_id: str | None
    body: bytes  # the events, as POST /events takes them: validated by the same function


def decode(text: str | None) -> Subscribe | Unsubscribe | Publish | Ping:
    """A client message, or BadMessage saying what is wrong with it: size and nesting are checked first."""
    if text is None or len(text.encode(errors="replace")) > MAX_MESSAGE_BYTES:
        raise BadMessage("invalid_message", f"a message is a JSON object of at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = jsontext.loads(text)
    except jsontext.TooDeep:
        raise BadMessage("invalid_message", f"a message nests at most {jsontext.MAX_DEPTH} levels") from None
    except ValueError:
        raise BadMessage("invalid_json", "the message is not valid JSON") from None
    if not isinstance(message, dict):
        raise BadMessage("invalid_message", "a message is a JSON object with an action")
    action = message.get("action")
    if action == "ping":
        return Ping()
    if action == "publish":
        request_id = message.get("request_id")
        if request_id is not None and not (isinstance(request_id, str) and 0 < len(request_id) <= 128):
            raise BadMessage("invalid_message", "request_id must be a string of 1-128 characters")
        if "events" not in message:
            raise BadMessage("invalid_message", "publish carries events", request_id)
        return Publish(request_id, json.dumps({"events": message["events"]}).encode())
    if action in ("subscribe", "unsubscribe"):
        match_id = message.get("match_id")
        if not isinstance(match_id, str) or not MATCH_ID.fullmatch(match_id):
            raise BadMessage("invalid_match_id", f"match_id must match {MATCH_ID.pattern}")
        return Subscribe(match_id) if action == "subscribe" else Unsubscribe(match_id)
    raise BadMessage("unknown_action", "action must be subscribe, unsubscribe, publish or ping")


def _write(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def pong() -> str:
    return _write({"type": "pong"})


def subscribed(match_id: str, stats: dict[str, Any], cursor: str | None) -> str:
    return _write({"type": "subscribed", "match_id": match_id, "stats": _fitting(stats), "cursor": cursor})


def unsubscribed(match_id: str) -> str:
    return _write({"type": "unsubscribed", "match_id": match_id})


def change(match_id: str, change: Mapping[str, Any]) -> str:
    """One applied change as the change feed lists it (``change``, ``event``, ``cursor``)."""
    return _write(
        {
            "type": "change",
            "match_id": match_id,
            "change": change["change"],
            "event": change["event"],
            "cursor": change["cursor"],
        }
    )


def stats(match_id: str, totals: dict[str, Any]) -> str:
    return _write({"type": "stats", "match_id": match_id, "stats": _fitting(totals)})


def _fitting(totals: dict[str, Any]) -> dict[str, Any]:
    """Statistics that fit in a server message beside its envelope (type, match_id, cursor)."""
    return match_stats.within(totals, MAX_SERVER_MESSAGE_BYTES - 512)


def accepted(request_id: str | None, event_ids: Sequence[str]) -> str:
    """How many events were accepted, and their ids where they fit in one message."""
    count = {"type": "accepted", "request_id": request_id, "accepted": len(event_ids)}
    whole = _write(count | {"event_ids": list(event_ids)})
    return whole if len(whole.encode()) <= MAX_SERVER_MESSAGE_BYTES else _write(count)


def error(
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    error_count: int = 0,
    publish: bool = False,
    details: Mapping[str, Any] | None = None,
) -> str:
    """An error; ``publish`` answers carry their ``request_id`` (and ``errors``, the first of ``error_count``,
    for invalid events)."""
    body: dict[str, Any] = {"type": "error", "error": code, "message": message, **(details or {})}
    if publish:
        body["request_id"] = request_id
    if errors:
        body["errors"], body["error_count"] = list(errors), max(error_count, len(errors))
    return _write(body)


def subscribe(match_id: str) -> str:
    return _write({"action": "subscribe", "match_id": match_id})


def unsubscribe(match_id: str) -> str:
    return _write({"action": "unsubscribe", "match_id": match_id})


def publish(request_id: str, events: Sequence[Mapping[str, Any]]) -> str:
    return _write({"action": "publish", "request_id": request_id, "events": list(events)})


def read(text: str | bytes) -> dict[str, Any]:
    """A server message, for clients: a JSON object with a known ``type``."""
    message = json.loads(text)
    if not isinstance(message, dict) or message.get("type") not in SERVER_TYPES:
        raise ValueError(f"not a message of this protocol: {str(text)[:200]}")
    return message
