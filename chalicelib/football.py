"""Figures that come from who was on the pitch when: lineups, formations and minutes played.

Counters can be ADDed as events arrive; these cannot (a voided substitution moves two players' minutes
at once), so they are computed whenever they are read, from the match's *roster events*: its live
lineups, formation changes, substitutions, red cards and match-level events. The repository keeps those
apart (``s#roster#<event_id>``), so they are one small read beside the counters.

- A team's lineup is its latest live ``lineup`` (timestamp, then event_id); its formation is that of its
  latest live ``lineup`` or ``formation_change`` carrying one.
- A period runs from its ``kick_off`` to the next ``half_time`` or ``full_time`` (or the next
  ``kick_off``, should a whistle be missing), or while live to the match's latest event.
- A starter comes on at the first ``kick_off``; a substitution brings on its ``related_player_id`` and
  takes off its ``player_id``; a red card takes off its ``player_id``. They apply in timeline order, and
  a player who went off stays off.
- Minutes played: the time on the pitch within the periods, summed, in whole minutes rounded half up.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

ROSTER_TYPES = frozenset(
    {"lineup", "formation_change", "substitution", "red_card", "kick_off", "half_time", "full_time"}
)
_WHISTLES = frozenset({"kick_off", "half_time", "full_time"})
_FOREVER = 2**62

Event = Mapping[str, Any]
Pitch = dict[str, tuple[str, int | None, int]]  # player -> (team, came on ms or None, went off ms)


def _key(event: Event) -> tuple[str, str]:
    return event["timestamp"], event["event_id"]


def _ms(timestamp: str) -> int:
    """Milliseconds since the epoch of a stored ``YYYY-MM-DDTHH:MM:SS.sssZ``: exact integers to sum."""
    moment = datetime.fromisoformat(timestamp)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def periods(roster: Iterable[Event], latest_at: str | None) -> list[tuple[int | None, int, int]]:
    """Each kick_off's (period, start ms, end ms), in time order."""
    whistles = sorted((e for e in roster if e["event_type"] in _WHISTLES), key=_key)
    found = []
    for n, whistle in enumerate(whistles):
        if whistle["event_type"] != "kick_off":
            continue
        end = whistles[n + 1]["timestamp"] if n + 1 < len(whistles) else latest_at or whistle["timestamp"]
        found.append((whistle.get("period"), _ms(whistle["timestamp"]), _ms(end)))
    return found


def formations(roster: Iterable[Event]) -> dict[str, str]:
    """Each team's formation: that of its latest live lineup or formation_change carrying one."""
    shaped = [e for e in roster if e["event_type"] in ("lineup", "formation_change") and e.get("formation")]
    found: dict[str, Event] = {}
    for event in sorted(shaped, key=_key):
        found[event["team_id"]] = event
    return {team: event["formation"] for team, event in found.items()}


def lineups(roster: Iterable[Event]) -> dict[str, Event]:
    """Each team's latest live lineup."""
    found: dict[str, Event] = {}
    for event in sorted((e for e in roster if e["event_type"] == "lineup"), key=_key):
        found[event["team_id"]] = event
    return found


def _minutes(ms: int) -> int:
    return (ms + 30_000) // 60_000  # half a minute and more rounds up


def on_pitch(roster: Sequence[Event]) -> Pitch:
    """Every listed or substituted-on player: (team, came on ms or None if never, went off ms). Events
    apply in timeline order: taking off a player who is not on yet changes nothing."""
    team_of: dict[str, str] = {}
    starters: list[str] = []
    for team, lineup in lineups(roster).items():
        for player in lineup["players"]:
            team_of[player["player_id"]] = team
            if player["starter"]:
                starters.append(player["player_id"])
    since: dict[str, int] = {}
    until: dict[str, int] = {}
    kicked_off = False
    for event in sorted(roster, key=_key):
        at, kind = _ms(event["timestamp"]), event["event_type"]
        if kind == "kick_off" and not kicked_off:
            kicked_off = True
            for player in starters:
                since.setdefault(player, at)
        elif kind == "substitution":
            if event["player_id"] in since:
                until.setdefault(event["player_id"], at)
            coming = event.get("related_player_id")
            if coming is not None:
                team_of.setdefault(coming, event["team_id"])
                since.setdefault(coming, at)
        elif kind == "red_card" and event["player_id"] in since:
            until.setdefault(event["player_id"], at)
    return {player: (team, since.get(player), until.get(player, _FOREVER)) for player, team in team_of.items()}


def minutes_played(
    roster: Sequence[Event], pitch: Pitch, latest_at: str | None, period: int | None = None
) -> dict[str, int]:
    """Whole minutes on the pitch (``on_pitch``) of every listed or substituted-on player, over the match
    or one period."""
    spans = [(start, end) for p, start, end in periods(roster, latest_at) if period is None or p == period]
    played = {}
    for player, (_, since, until) in pitch.items():
        ms = 0
        if since is not None:
            ms = sum(max(0, min(end, until) - max(start, since)) for start, end in spans)
        played[player] = _minutes(ms)
    return played


def lineup_view(
    roster: Sequence[Event], pitch: Pitch, shapes: Mapping[str, str], minutes: Mapping[str, int]
) -> dict[str, dict[str, Any]]:
    """``lineups`` of /stats: per team with a lineup, its formation and players (listed, then those who
    came on without being listed) with their minutes."""
    view = {}
    for team, lineup in sorted(lineups(roster).items()):
        listed = [p["player_id"] for p in lineup["players"]]
        joined = [p for p, (t, _, _) in pitch.items() if t == team and p not in listed]  # in the order they came on
        players = [
            {
                "player_id": player["player_id"],
                "position": player.get("position"),
                "shirt_number": player.get("shirt_number"),
                "starter": player["starter"],
                "minutes_played": minutes.get(player["player_id"], 0),
            }
            for player in lineup["players"]
        ]
        players += [
            {"player_id": p, "position": None, "shirt_number": None, "starter": False, "minutes_played": minutes[p]}
            for p in joined
        ]
        view[team] = {"formation": shapes.get(team), "players": players}
    return view
