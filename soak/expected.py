"""The contract's read model, recomputed from the soak's own ledger: statistics, status, directory entries.

Written from README.md ("GET /matches/{match_id}/stats", "GET /matches") without importing
``chalicelib.stats`` or the repository: a rule implemented wrongly there must not be able to confirm
itself by being computed twice. The integration tests check the app against it too (tests.support).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

TEAM_FIELDS = (
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
PLAYER_FIELDS = ("goals", "shots", "passes", "fouls", "yellow_cards", "red_cards")
# event types that count one in the team's (and, where the player has the field, the player's) total
_PLAIN_COUNTS = {
    "foul": "fouls",
    "yellow_card": "yellow_cards",
    "red_card": "red_cards",
    "corner": "corners",
    "offside": "offsides",
    "save": "saves",
    "substitution": "substitutions",
}
_STATUS_AFTER = {"kick_off": "live", "half_time": "half_time", "full_time": "finished"}

Event = Mapping[str, Any]


def timeline_key(event: Event) -> tuple[str, str]:
    """Chronological order with the documented tie-break: timestamp, then event_id (byte order)."""
    return event["timestamp"], event["event_id"]


def _latest(events: Iterable[Event]) -> Event | None:
    return max(events, key=timeline_key, default=None)


def status(live: Iterable[Event]) -> str:
    """pre_match until a kick_off; then whatever the latest live match-level event says."""
    phase = _latest(e for e in live if e["event_type"] in _STATUS_AFTER)
    return _STATUS_AFTER[phase["event_type"]] if phase else "pre_match"


def _accuracy(completed: int, passes: int) -> float:
    """Percent with one decimal, halves rounded up (66.65 -> 66.7); 0.0 without passes."""
    if not passes:
        return 0.0
    return float((Decimal(100 * completed) / Decimal(passes)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _totals(live: Iterable[Event]) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per team and per player counters. Every team and player a live event names appears, even at zero;
    the player of an own goal counts nowhere (the goal is the other team's)."""
    teams: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TEAM_FIELDS, 0))
    players: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(PLAYER_FIELDS, 0))
    for event in live:
        kind, team_id, player_id = event["event_type"], event.get("team_id"), event.get("player_id")
        team = teams[team_id] if team_id else None
        player = players[player_id] if player_id and kind != "own_goal" else None
        if team is None:
            continue
        if kind == "goal":
            team["goals"] += 1
            team["shots"] += 1
            team["shots_on_target"] += 1
            if player is not None:
                player["goals"] += 1
                player["shots"] += 1
        elif kind == "own_goal":
            team["goals"] += 1
        elif kind == "shot":
            team["shots"] += 1
            team["shots_on_target"] += event.get("outcome") == "saved"
            if player is not None:
                player["shots"] += 1
        elif kind == "pass":
            team["passes"] += 1
            team["passes_completed"] += event.get("outcome") != "incomplete"
            if player is not None:
                player["passes"] += 1
        elif kind in _PLAIN_COUNTS:
            field = _PLAIN_COUNTS[kind]
            team[field] += 1
            if player is not None and field in player:
                player[field] += 1
    return dict(teams), dict(players)


def stats(match_id: str, live: Sequence[Event]) -> dict[str, Any]:
    """The exact /stats body the live events imply."""
    teams, players = _totals(live)
    latest = _latest(live)
    return {
        "match_id": match_id,
        "status": status(live),
        "score": {team: teams[team]["goals"] for team in sorted(teams)},
        "teams": {
            team: teams[team] | {"pass_accuracy": _accuracy(teams[team]["passes_completed"], teams[team]["passes"])}
            for team in sorted(teams)
        },
        "players": {player: players[player] for player in sorted(players)},
        "event_count": len(live),
        "last_event_at": latest["timestamp"] if latest else None,
    }


def summary(match_id: str, live: Sequence[Event]) -> dict[str, Any]:
    """The exact directory entry (GET /matches) the live events imply."""
    teams, _ = _totals(live)
    latest = _latest(live)
    first = min(live, key=timeline_key, default=None)
    kick_off = _latest(e for e in live if e["event_type"] == "kick_off")
    return {
        "match_id": match_id,
        "status": status(live),
        "period": kick_off.get("period") if kick_off else None,
        "minute": latest.get("minute") if latest else None,
        "score": {team: teams[team]["goals"] for team in sorted(teams)},
        "teams": sorted(teams),
        "event_count": len(live),
        "first_event_at": first["timestamp"] if first else None,
        "last_event_at": latest["timestamp"] if latest else None,
    }
