"""The contract's read model, recomputed from the soak's own ledger: statistics, status, directory entries.

Written from docs/api.md and docs/football.md (``/stats``, ``/matches``) without importing
``chalicelib.stats`` or the repository: a rule implemented wrongly there must not be able to confirm
itself by being computed twice. The integration tests check the app against it too (tests.support).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
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


def _totals(live: Iterable[Event]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per team and per player counters and xG sums. Every team and player a live event names appears,
    even at zero; the player of an own goal counts nowhere (the goal is the other team's)."""
    teams: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(TEAM_FIELDS, 0) | {"xg": Decimal(0)})
    players: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(PLAYER_FIELDS, 0) | {"xg": Decimal(0)})
    for event in live:
        kind, team_id, player_id = event["event_type"], event.get("team_id"), event.get("player_id")
        team = teams[team_id] if team_id else None
        player = players[player_id] if player_id and kind != "own_goal" else None
        if team is None:
            continue
        if kind in ("shot", "goal") and event.get("xg") is not None:
            team["xg"] += Decimal(repr(event["xg"]))
            if player is not None:
                player["xg"] += Decimal(repr(event["xg"]))
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


def _two_places(total: Decimal) -> float:
    return float(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _ms(timestamp: str) -> int:
    return round(datetime.fromisoformat(timestamp).timestamp() * 1000)


def _lineup_of(live: Sequence[Event]) -> dict[str, Event]:
    """Each team's final lineup: its latest live one."""
    return {e["team_id"]: e for e in sorted((e for e in live if e["event_type"] == "lineup"), key=timeline_key)}


def minutes(live: Sequence[Event], period: int | None = None) -> dict[str, int]:
    """Minutes played, by a sweep along the timeline: the clock runs from a kick_off to the next
    whistle, and every player on the pitch in between (in ``period``, if given) is credited with it."""
    lineups = _lineup_of(live)
    played: dict[str, int] = {p["player_id"]: 0 for lineup in lineups.values() for p in lineup["players"]}
    starters = [p["player_id"] for lineup in lineups.values() for p in lineup["players"] if p["starter"]]
    on: set[str] = set()
    off: set[str] = set()
    clock: int | None = None  # the running period's number (0 without one), None between whistles
    started = False
    previous = None
    for event in sorted(live, key=timeline_key):
        now = _ms(event["timestamp"])
        if clock is not None and previous is not None and (period is None or clock == period):
            for player in on:
                played[player] = played.get(player, 0) + now - previous
        previous = now
        kind = event["event_type"]
        if kind == "kick_off":
            clock = event.get("period") or 0
            if not started:
                started = True
                on |= {p for p in starters if p not in off}
        elif kind in ("half_time", "full_time"):
            clock = None
        elif kind == "substitution":
            if event["player_id"] in on:
                on.discard(event["player_id"])
                off.add(event["player_id"])
            coming = event.get("related_player_id")
            if coming is not None:
                played.setdefault(coming, 0)
                if coming not in off:
                    on.add(coming)
        elif kind == "red_card" and event["player_id"] in on:
            on.discard(event["player_id"])
            off.add(event["player_id"])
    return {
        player: int((Decimal(ms) / 60_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        for player, ms in played.items()
    }


def stats(match_id: str, live: Sequence[Event], period: int | None = None) -> dict[str, Any]:
    """The exact /stats body the live events imply (with ``period``: ``/stats?period=N``)."""
    counted = [e for e in live if period is None or e.get("period") == period]
    teams, players = _totals(counted)
    latest = _latest(live)
    played = minutes(live, period)
    for player in played:
        players.setdefault(player, dict.fromkeys(PLAYER_FIELDS, 0) | {"xg": Decimal(0)})
    shaped = sorted(
        (e for e in live if e["event_type"] in ("lineup", "formation_change") and e.get("formation")), key=timeline_key
    )
    formation = {e["team_id"]: e["formation"] for e in shaped}
    completed = sum(t["passes_completed"] for t in teams.values())
    listed_anywhere = {p["player_id"] for lineup in _lineup_of(live).values() for p in lineup["players"]}
    brought_on: dict[str, str] = {}  # an unlisted substitute's team: that of the substitution bringing him on
    for event in sorted(live, key=timeline_key):
        coming = event.get("related_player_id") if event["event_type"] == "substitution" else None
        if coming is not None and coming not in listed_anywhere:
            brought_on.setdefault(coming, event["team_id"])
    lineups = {}
    for team, lineup in sorted(_lineup_of(live).items()):
        rows = [
            {
                "player_id": p["player_id"],
                "position": p.get("position"),
                "shirt_number": p.get("shirt_number"),
                "starter": p["starter"],
                "minutes_played": played[p["player_id"]],
            }
            for p in lineup["players"]
        ]
        rows += [
            {"player_id": p, "position": None, "shirt_number": None, "starter": False, "minutes_played": played[p]}
            for p, joined_team in brought_on.items()
            if joined_team == team
        ]
        lineups[team] = {"formation": formation.get(team), "players": rows}
    body = {
        "match_id": match_id,
        "status": status(live),
        "score": {team: teams[team]["goals"] for team in sorted(teams)},
        "teams": {
            team: teams[team]
            | {
                "xg": _two_places(teams[team]["xg"]),
                "pass_accuracy": _accuracy(teams[team]["passes_completed"], teams[team]["passes"]),
                "possession": _accuracy(teams[team]["passes_completed"], completed),
                "formation": formation.get(team),
            }
            for team in sorted(teams)
        },
        "players": {
            player: players[player] | {"xg": _two_places(players[player]["xg"]), "minutes_played": played.get(player)}
            for player in sorted(players)
        },
        "lineups": lineups,
        "event_count": len(counted),
        "last_event_at": latest["timestamp"] if latest else None,
    }
    return body | ({"period": period} if period is not None else {})


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
