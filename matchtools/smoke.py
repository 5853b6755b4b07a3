"""A smoke test of a running deployment: post a few events, read them back, check the stats.

Works against `make run` and a deployed stack alike; every check says what it
proved, and the first failure stops with a non-zero exit.
"""

import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from matchtools.client import ApiClient


def _events(match_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two batches, the second earlier in match time than the first, with a shared millisecond."""

    def event(
        event_type: str, clock: str, team: str | None = None, player: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        body = {"match_id": match_id, "event_type": event_type, "timestamp": f"2023-06-15T{clock}Z", **extra}
        return body | ({"team_id": team, "player_id": player} if team else {})

    late = [
        event("goal", "14:30:00.500", "home", "h9"),
        event("own_goal", "14:52:10.000", "away", "h4"),
        event("full_time", "15:50:00.000"),
    ]
    early = [
        event("kick_off", "14:00:00.000"),
        event("pass", "14:29:59.100", "home", "h8", related_player_id="h9"),
        event("pass", "14:29:59.100", "away", "a5", outcome="incomplete"),
        event("yellow_card", "14:40:00.000", "away", "a5"),
    ]
    return late, early


def smoke(url: str, token: str, timeout: float = 60.0, say: Callable[[str], None] = print) -> None:
    client = ApiClient(url, token)
    started = time.monotonic()

    def check(condition: bool, claim: str) -> None:
        if not condition:
            raise SystemExit(f"FAILED: {claim}")
        say(f"ok  {claim} ({time.monotonic() - started:.1f}s)")

    check(client.get("/health") == {"status": "ok"}, "GET /health is ok")
    anonymous = requests.post(f"{client.url}/events", json={}, timeout=30)
    check(anonymous.status_code == 401, "POST /events without the token is 401")
    match_id = f"smoke-{uuid.uuid4().hex[:10]}"
    late, early = _events(match_id)
    ids = client.post_events(late) + client.post_events(early)
    check(len(ids) == 7, f"7 events accepted for {match_id}")

    deadline = time.monotonic() + timeout
    while len(client.timeline(match_id)) < 7 and time.monotonic() < deadline:
        time.sleep(0.25)
    timeline = client.timeline(match_id)
    check(len(timeline) == 7, "all 7 are readable")
    check([e["timestamp"] for e in timeline] == sorted(e["timestamp"] for e in timeline), "in chronological order")
    check(
        [e["event_type"] for e in client.get(f"/matches/{match_id}/goals")["events"]] == ["goal"], "/goals has the goal"
    )
    check(client.timeline(match_id, order="desc") == timeline[::-1], "order=desc is the reverse")

    client.post_events(early)  # a client retry
    stats = client.get(f"/matches/{match_id}/stats")
    check(stats["score"] == {"away": 1, "home": 1}, "score 1-1 (a goal and an own goal)")
    check(stats["event_count"] == 7 and len(client.timeline(match_id)) == 7, "a re-posted batch counts once")
    check(
        stats["teams"]["home"]["pass_accuracy"] == 100.0 and stats["teams"]["away"]["passes_completed"] == 0,
        "pass statistics follow the rules",
    )
    response = client.session.get(f"{client.url}/matches/{match_id}/stats", timeout=30)
    cached = client.session.get(
        f"{client.url}/matches/{match_id}/stats", timeout=30, headers={"If-None-Match": response.headers["ETag"]}
    )
    check(cached.status_code == 304, "an unchanged read with its ETag is 304")
    say(f"smoke test passed against {client.url}")
