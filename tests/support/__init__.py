"""Helpers the integration tests share: posting, reading every page, waiting, expected stats."""

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.events import parse_event
from chalicelib.records import encode
from tests.support.aws_events import kafka_record, msk_event

TOKEN = "integration-test-token"
RECEIVED_AT = "2026-01-01T00:00:00.000Z"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}


def post(api: Any, body: Any) -> Any:
    return api.http.post("/events", headers=HEADERS, body=json.dumps(body))


def read_all(api: Any, path: str, items: str = "events", cursor_parameter: str = "cursor") -> list[dict[str, Any]]:
    """Follow next_cursor to the end: every item of the route's pages (``items`` names them in a page,
    ``cursor_parameter`` is the query parameter that takes next_cursor back)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        separator = "&" if "?" in path else "?"
        response = api.http.get(path + (f"{separator}{cursor_parameter}={cursor}" if cursor else ""))
        assert response.status_code == 200, response.body
        found += response.json_body[items]
        cursor = response.json_body["next_cursor"]
        if cursor is None:
            return found


def msk_event_of(events: list[dict[str, Any]], *, partition: int = 0, first_offset: int = 0) -> dict[str, Any]:
    """The Lambda MSK event that delivers these events as the API would have published them."""
    written = encode([parse_event(e) for e in events], RECEIVED_AT)
    return msk_event(
        *(kafka_record(value, first_offset + i, partition=partition, key=key) for i, (key, value) in enumerate(written))
    )


def eventually(check: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Poll until check() is truthy; generous timeout for a slow shared CI machine."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def wait_for_count(api: Any, match_id: str, count: int, timeout: float = 90.0) -> bool:
    return bool(eventually(lambda: len(read_all(api, f"/matches/{match_id}")) >= count, timeout))


def final_versions(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The contract's corrections, applied in delivery order: per event_id the highest version wins (one at
    or below the stored one changes nothing), and a void (``deleted``) is kept as such."""
    final: dict[str, dict[str, Any]] = {}
    for event in events:
        key = event.get("event_id") or json.dumps(event, sort_keys=True)
        if key not in final or event.get("version", 1) > final[key].get("version", 1):
            final[key] = event
    return final


def expected_changes(events: Iterable[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """The change feed the contract implies, as (change, event_id, version), for events in delivery order."""
    stored: dict[str, dict[str, Any]] = {}
    changes = []
    for event in events:
        key, version = event["event_id"], event.get("version", 1)
        old = stored.get(key)
        if old is not None and version <= old.get("version", 1):
            continue
        stored[key] = event
        was_live, is_live = old is not None and not old.get("deleted"), not event.get("deleted")
        if was_live or is_live:
            changes.append(("update" if was_live and is_live else "insert" if is_live else "delete", key, version))
    return changes


def live_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in final_versions(events).values() if not e.get("deleted")]


def expected_status(events: Iterable[dict[str, Any]]) -> str:
    """pre_match, live, half_time or finished after the latest live match-level event (timestamp, event_id)."""
    phases = [e for e in live_events(events) if e["event_type"] in ("kick_off", "half_time", "full_time")]
    if not phases:
        return "pre_match"
    latest = max(phases, key=lambda e: (e["timestamp"], e.get("event_id", "")))
    return {"kick_off": "live", "half_time": "half_time", "full_time": "finished"}[latest["event_type"]]


def expected_stats(match_id: str, events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The contract's statistics rules, computed straight from the events (independent of chalicelib.stats)."""
    events = list(events)
    unique = live_events(events)
    team_keys = (
        "goals",
        "shots",
        "shots_on_target",
        "passes",
        "passes_completed",
        "fouls",
        "yellow_cards",
        "red_cards",
        "corners",
        "offsides",
        "saves",
        "substitutions",
    )
    player_keys = ("goals", "shots", "passes", "fouls", "yellow_cards", "red_cards")
    teams: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(team_keys, 0))
    players: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(player_keys, 0))
    plural = {
        "foul": "fouls",
        "yellow_card": "yellow_cards",
        "red_card": "red_cards",
        "corner": "corners",
        "offside": "offsides",
        "save": "saves",
        "substitution": "substitutions",
    }
    for e in unique:
        kind, team, player = e["event_type"], e.get("team_id"), e.get("player_id")
        if team:
            teams[team]
        if player and kind != "own_goal":
            players[player]
        if kind == "goal":
            for key in ("goals", "shots", "shots_on_target"):
                teams[team][key] += 1
            players[player]["goals"] += 1
            players[player]["shots"] += 1
        elif kind == "own_goal":
            teams[team]["goals"] += 1
        elif kind == "shot":
            teams[team]["shots"] += 1
            teams[team]["shots_on_target"] += e.get("outcome") == "saved"
            players[player]["shots"] += 1
        elif kind == "pass":
            teams[team]["passes"] += 1
            teams[team]["passes_completed"] += e.get("outcome") != "incomplete"
            players[player]["passes"] += 1
        elif kind in plural:
            teams[team][plural[kind]] += 1
            if plural[kind] in player_keys:
                players[player][plural[kind]] += 1
    for totals in teams.values():
        passes = totals["passes"]
        totals["pass_accuracy"] = round(100 * totals["passes_completed"] / passes + 1e-9, 1) if passes else 0.0
    stamps = [e["timestamp"] for e in unique]
    return {
        "match_id": match_id,
        "status": expected_status(events),
        "score": {team: totals["goals"] for team, totals in sorted(teams.items())},
        "teams": dict(sorted(teams.items())),
        "players": dict(sorted(players.items())),
        "event_count": len(unique),
        "last_event_at": max(stamps) if stamps else None,
    }
