"""Statistics rules: what each event adds to its match's totals, and the match's status.

Totals live as counters on small materialised items, one for the match
(``event_count``), one per team and one per player, so a write can ADD to
them, a read is one small Query, and no number of teams or players can make
an item outgrow DynamoDB's 400 KB. They are exact because the repository
applies the difference between an event's old and new version in the same
transaction that swaps the version.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from chalicelib import football, jsontext

TEAM_COUNTERS = (
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
PLAYER_COUNTERS = ("goals", "shots", "passes", "fouls", "yellow_cards", "red_cards")
XG = "xg"  # a sum, not a count: kept as an exact decimal (DynamoDB numbers are decimal)

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
Number = int | Decimal


def in_period(counter: str, period: int | None) -> str:
    """The name of a counter's share of ``period`` (None: the whole match's). A period's counters live on
    the same items as the match's, so an event with a period costs no extra write."""
    return counter if period is None else f"{counter}@{period}"


def increments(events: Iterable[Mapping[str, Any]]) -> dict[Owner, Counter[str]]:
    """Counter deltas per owner for a group of new events. Every team and player an event names gets an
    ``events`` count, so it appears in the totals even with all its counters at zero. An event with a
    ``period`` counts in that period's counters too."""
    deltas: dict[Owner, Counter[str]] = defaultdict(Counter)
    for event in events:
        event_type, team, player = event["event_type"], event.get("team_id"), event.get("player_id")
        team_counters, player_counters = _ALWAYS.get(event_type, ((), ()))
        if event_type == "shot" and event.get("outcome") == "saved":
            team_counters += ("shots_on_target",)
        if event_type == "pass" and event.get("outcome") != "incomplete":
            team_counters += ("passes_completed",)
        xg = Decimal(str(event["xg"])) if event.get("xg") is not None else None
        for period in {None, event.get("period")}:
            deltas[MATCH][in_period("event_count", period)] += 1
            if team:
                deltas["team", team].update(in_period(name, period) for name in ("events", *team_counters))
                if xg is not None:
                    deltas["team", team][in_period(XG, period)] += xg  # type: ignore[assignment]
            if player and event_type != "own_goal":
                deltas["player", player].update(in_period(name, period) for name in ("events", *player_counters))
                if xg is not None:
                    deltas["player", player][in_period(XG, period)] += xg  # type: ignore[assignment]
    return dict(deltas)


def difference(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[Owner, Counter[str]]:
    """What replacing the live version ``old`` with ``new`` changes (None: not live), zeros left out."""
    deltas: dict[Owner, Counter[str]] = defaultdict(Counter)
    for owner, counters in increments([new] if new else []).items():
        deltas[owner].update(counters)
    for owner, counters in increments([old] if old else []).items():
        deltas[owner].subtract(counters)
    return {
        owner: nonzero
        for owner, counters in deltas.items()
        if (nonzero := Counter({name: n for name, n in counters.items() if n}))
    }


STATUS_AFTER = {None: "pre_match", "kick_off": "live", "half_time": "half_time", "full_time": "finished"}
SUMMARY_TEAMS = 50  # a summary names at most this many teams (real matches have two)


def summary(
    *,
    first: Mapping[str, Any] | None,
    latest: Mapping[str, Any] | None,
    phase: Mapping[str, Any] | None,
    kick_off: Mapping[str, Any] | None,
    goals: Mapping[str, int],
) -> dict[str, Any]:
    """A match's directory entry from its live events: the earliest and latest, the latest match-level
    event (status) and kick_off (period), and each team's goals."""
    teams = sorted(goals, key=lambda team: (-goals[team], team))[:SUMMARY_TEAMS]
    return {
        "status": STATUS_AFTER[phase["event_type"] if phase else None],
        "period": kick_off.get("period") if kick_off else None,
        "minute": latest.get("minute") if latest else None,
        "score": {team: goals[team] for team in sorted(teams)},
        "teams": sorted(teams),
        "first_event_at": first["timestamp"] if first else None,
        "last_event_at": latest["timestamp"] if latest else None,
    }


def _percent(part: int, whole: int) -> float:
    if not whole:
        return 0.0
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@attrs.frozen
class MatchTotals:
    """What the repository stores for /stats: counters by owner (``name@period`` for a period's share),
    the roster events (chalicelib.football), the latest live event and match-level event (none: an empty
    match), and which period the response is of (None: the whole match)."""

    match_id: str
    totals: Mapping[Owner, Mapping[str, Number]]
    latest: Mapping[str, Any] | None = None
    phase: Mapping[str, Any] | None = None
    roster: Sequence[Mapping[str, Any]] = ()
    period: int | None = None


def _xg(total: Number) -> float:
    return float(Decimal(total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def render(match: MatchTotals) -> dict[str, Any]:
    """The /stats response (with ``match.period``, that period's). A team or player whose events were all
    voided has ``events`` at 0 and is left out, unless a lineup lists it or it came on."""
    totals, latest, phase, period = match.totals, match.latest, match.phase, match.period
    latest_at = latest["timestamp"] if latest else None
    pitch = football.on_pitch(match.roster)
    minutes = football.minutes_played(match.roster, pitch, latest_at, period)
    shapes = football.formations(match.roster)

    def counted(kind: str, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        return {
            owner: {name: int(counters.get(in_period(name, period), 0)) for name in names}
            | {XG: _xg(counters.get(in_period(XG, period), 0))}
            for (owner_kind, owner), counters in sorted(totals.items())
            if owner_kind == kind and counters.get(in_period("events", period))
        }

    teams = counted("team", TEAM_COUNTERS)
    seen = counted("player", PLAYER_COUNTERS)
    listed = {p: dict.fromkeys(PLAYER_COUNTERS, 0) | {XG: 0.0} for p in minutes if p not in seen}
    players = {p: c | {"minutes_played": minutes.get(p)} for p, c in sorted((seen | listed).items())}
    completed = sum(team["passes_completed"] for team in teams.values())
    return {
        "match_id": match.match_id,
        "status": STATUS_AFTER[phase["event_type"] if phase else None],
        "score": {team: team_totals["goals"] for team, team_totals in teams.items()},
        "teams": {
            team: counters
            | {
                "pass_accuracy": _percent(counters["passes_completed"], counters["passes"]),
                "possession": _percent(counters["passes_completed"], completed),
                "formation": shapes.get(team),
            }
            for team, counters in teams.items()
        },
        "players": players,
        "lineups": football.lineup_view(match.roster, pitch, shapes, minutes),
        "event_count": int(totals.get(MATCH, {}).get(in_period("event_count", period), 0)),
        "last_event_at": latest_at,
        **({"period": period} if period is not None else {}),
    }


def within(rendered: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """The rendered statistics, or, where their JSON would pass ``max_bytes`` (a match of thousands of
    players), the same without ``players`` and ``lineups`` and with ``"players_truncated": true``."""
    if len(jsontext.dumps(rendered).encode()) <= max_bytes:
        return rendered
    kept = {name: value for name, value in rendered.items() if name not in ("players", "lineups")}
    return kept | {"players_truncated": True}
