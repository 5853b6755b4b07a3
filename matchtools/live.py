"""The WebSocket side of the tools: publish events over the socket, and watch a match live."""

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from chalicelib import messages
from matchtools.client import ApiClient


class WebSocketProducer:
    """``post_events`` over the WebSocket API's ``publish``, for ``replay --websocket``."""

    def __init__(self, ws_url: str, token: str) -> None:
        self.connection: ClientConnection = connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"})

    def post_events(self, events: list[dict[str, Any]]) -> list[str]:
        request_id = uuid.uuid4().hex
        self.connection.send(messages.publish(request_id, events))
        while True:
            answer = messages.read(self.connection.recv(timeout=60))
            if answer.get("request_id") != request_id:
                continue  # a push for a match this connection also follows
            if answer["type"] == "accepted":  # ids left out of a reply too big for one frame: the events' own
                return list(answer.get("event_ids") or [str(e.get("event_id", "")) for e in events])
            raise SystemExit(f"publish refused: {answer['error']}: {answer['message']}")


def describe(message: dict[str, Any]) -> str:
    """One line per pushed message."""
    if message["type"] == "change":
        event = message["event"]
        who = " ".join(f"{k}={event[k]}" for k in ("team_id", "player_id", "minute") if event.get(k) is not None)
        return (
            f"{message['cursor']}  {message['change']:<6} {event.get('event_type', '-'):<13} {event['event_id']}  {who}"
        )
    if message["type"] in ("stats", "subscribed"):
        stats = message["stats"]
        score = " ".join(f"{team} {goals}" for team, goals in stats["score"].items()) or "no score"
        return f"{'':16}  {stats['status']}, {score}, {stats['event_count']} events"
    return json.dumps(message)


def watch(
    ws_url: str, api: ApiClient, match_id: str, out: Callable[[str], None] = print, count: int | None = None
) -> None:
    """Print the match's pushed changes; after a dropped connection, resubscribe and fill the gap from the
    change feed (deduplicated by cursor). ``count``: stop after that many changes."""
    last: str | None = None
    seen = 0
    while count is None or seen < count:
        try:
            with connect(ws_url) as connection:
                connection.send(messages.subscribe(match_id))
                while count is None or seen < count:
                    message = messages.read(connection.recv())
                    if message["type"] == "subscribed":
                        out(describe(message))
                        after = last
                        while after is not None:  # what was missed while disconnected
                            page = api.get(f"/matches/{match_id}/changes", after=after)
                            for change in page["changes"]:
                                out(describe(change | {"type": "change", "match_id": match_id}))
                                last, seen = change["cursor"], seen + 1
                            after = page["next_cursor"]
                        last = last or message["cursor"]
                    elif message["type"] == "change" and (last is None or message["cursor"] > last):
                        out(describe(message))
                        last, seen = message["cursor"], seen + 1
                    elif message["type"] == "stats":
                        out(describe(message))
                    elif message["type"] == "error":
                        raise SystemExit(f"{message['error']}: {message['message']}")
        except (ConnectionClosed, OSError) as error:
            out(f"connection lost ({error}); reconnecting")
            time.sleep(1)
