"""Statistics rules: what each event adds to its match's totals.

Totals live as flat counters on one materialised item per match
(``t#<team>#goals``, ``p#<player>#passes``) so a write can ADD to them and a
read is one small Query. They are exact because the repository applies an event's
increments in the same transaction that first stores it.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

TEAM_COUNTERS = (
    "goals", "shots", "shots_on_target", "passes", "passes_completed", "fouls",
    "yellow_cards", "red_cards", "corners", "offsides", "saves", "substitutions",
)
PLAYER_COUNTERS = ("goals", "shots", "passes", "fouls", "yellow_cards", "red_cards")

# event_type -> (team counters, player counters) it always adds one to
_ALWAYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "goal": (("goals", "shots", "shots_on_target"), ("goals", "shots")),
    "own_goal": (("goals",), ()),
    "shot": (("shots",), ("shots",)),
    "save": (("saves",), ()),
    "pass": (("passes",), ("passes",)),
    "foul": (("fouls",), ("fouls",)),
    "yellow_card": (("yellow_cards",), ("yellow_cards",)),
    "red_card": (("red_cards",), ("red_cards",)),
    "corner": (("corners",), ()),
    "offside": (("offsides",), ()),
    "substitution": (("substitutions",), ()),
}


def increments(events: Iterable[Mapping[str, Any]]) -> tuple[Counter[str], set[str], set[str]]:
    """Counter deltas plus the teams and players seen, for a group of new events."""
    counters: Counter[str] = Counter()
    teams: set[str] = set()
    players: set[str] = set()
    for event in events:
        counters["event_count"] += 1
        event_type, team, player = event["event_type"], event.get("team_id"), event.get("player_id")
        team_counters, player_counters = _ALWAYS.get(event_type, ((), ()))
        if event_type == "shot" and event.get("outcome") == "saved":
            team_counters += ("shots_on_target",)
        if event_type == "pass" and event.get("outcome") != "incomplete":
            team_counters += ("passes_completed",)
        if team:
            teams.add(team)
            counters.update(f"t#{team}#{name}" for name in team_counters)
        if player and event_type != "own_goal":
            players.add(player)
            counters.update(f"p#{player}#{name}" for name in player_counters)
    return counters, teams, players


def _percent(part: int, whole: int) -> float:
    if not whole:
        return 0.0
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def render(match_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The /stats response from the materialised item (empty item: empty match)."""
    teams = {team: dict.fromkeys(TEAM_COUNTERS, 0) for team in sorted(item.get("teams", ()))}
    players = {player: dict.fromkeys(PLAYER_COUNTERS, 0) for player in sorted(item.get("players", ()))}
    for name, value in item.items():
        kind, _, rest = name.partition("#")
        if kind in ("t", "p") and rest:
            owner, _, counter = rest.rpartition("#")
            (teams if kind == "t" else players).setdefault(owner, {})[counter] = int(value)
    for totals in teams.values():
        totals["pass_accuracy"] = _percent(totals["passes_completed"], totals["passes"])
    return {
        "match_id": match_id,
        "score": {team: totals["goals"] for team, totals in teams.items()},
        "teams": teams,
        "players": players,
        "event_count": int(item.get("event_count", 0)),
        "last_event_at": item.get("last_event_at"),
    }
