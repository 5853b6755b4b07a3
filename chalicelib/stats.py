"""Statistics rules: what each event adds to its match's totals.

Totals live as counters on small materialised items, one for the match
(``event_count``), one per team and one per player, so a write can ADD to
them, a read is one small Query, and no number of teams or players can make
an item outgrow DynamoDB's 400 KB. They are exact because the repository
applies an event's increments in the same transaction that first stores it.
"""

from collections import Counter, defaultdict
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


# Which totals an increment belongs to: the match's, a team's or a player's.
MATCH = ("match", "")
Owner = tuple[str, str]  # (kind, id): ("match", ""), ("team", team_id) or ("player", player_id)


def increments(events: Iterable[Mapping[str, Any]]) -> dict[Owner, Counter[str]]:
    """Counter deltas per owner for a group of new events. Every team and player an event names gets an
    ``events`` count, so it appears in the totals even with all its counters at zero."""
    deltas: dict[Owner, Counter[str]] = defaultdict(Counter)
    for event in events:
        deltas[MATCH]["event_count"] += 1
        event_type, team, player = event["event_type"], event.get("team_id"), event.get("player_id")
        team_counters, player_counters = _ALWAYS.get(event_type, ((), ()))
        if event_type == "shot" and event.get("outcome") == "saved":
            team_counters += ("shots_on_target",)
        if event_type == "pass" and event.get("outcome") != "incomplete":
            team_counters += ("passes_completed",)
        if team:
            deltas["team", team].update(("events", *team_counters))
        if player and event_type != "own_goal":
            deltas["player", player].update(("events", *player_counters))
    return dict(deltas)


def _percent(part: int, whole: int) -> float:
    if not whole:
        return 0.0
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def render(match_id: str, totals: Mapping[Owner, Mapping[str, int]], last_event_at: str | None) -> dict[str, Any]:
    """The /stats response from the stored totals (none: an empty match)."""
    teams = {team: {name: int(counters.get(name, 0)) for name in TEAM_COUNTERS}
             for (kind, team), counters in sorted(totals.items()) if kind == "team"}
    players = {player: {name: int(counters.get(name, 0)) for name in PLAYER_COUNTERS}
               for (kind, player), counters in sorted(totals.items()) if kind == "player"}
    for team_totals in teams.values():
        team_totals["pass_accuracy"] = _percent(team_totals["passes_completed"], team_totals["passes"])
    return {
        "match_id": match_id,
        "score": {team: team_totals["goals"] for team, team_totals in teams.items()},
        "teams": teams,
        "players": players,
        "event_count": int(totals.get(MATCH, {}).get("event_count", 0)),
        "last_event_at": last_event_at,
    }
