"""StatsBomb open-data events into contract events.

The StatsBomb format records every touch; the contract keeps what a match
timeline and its statistics need: Starting XI becomes ``lineup`` (formation 433
as ``4-3-3``, positions, jersey numbers), Tactical Shift ``formation_change``,
``shot.statsbomb_xg`` ``xg``, ``shot.body_part`` ``body_part``, and pass and shot
end locations ``end_x``/``end_y``. Each StatsBomb event maps to zero or more
contract events, keyed by the StatsBomb id (plus a suffix for extra events
derived from the same one), so importing a file twice changes nothing.
"""

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from chalicelib.events import FORMATION, MAX_LINEUP, iso_millis

PERIOD_STARTS = {1: 0, 2: 60, 3: 110, 4: 130, 5: 150}  # minutes after kick-off, breaks included
PITCH_LENGTH, PITCH_WIDTH = 120.0, 80.0
SHOT_OUTCOMES = {
    "Saved": "saved",
    "Saved to Post": "saved",
    "Off T": "off_target",
    "Wayward": "off_target",
    "Saved Off Target": "off_target",
    "Blocked": "blocked",
    "Post": "post",
}
SET_PIECES = {"Corner": "corner", "Free Kick": "free_kick", "Throw-in": "throw_in"}
CARDS = {"Yellow Card": ("yellow_card",), "Red Card": ("red_card",), "Second Yellow": ("yellow_card", "red_card")}
KEEPER_SAVES = {"Shot Saved", "Penalty Saved", "Save", "Shot Saved to Post", "Shot Saved Off Target"}
BODY_PARTS = {"Right Foot": "right_foot", "Left Foot": "left_foot", "Head": "head"}  # anything else: other
SIMPLE = {
    "Interception": "interception",
    "Clearance": "clearance",
    "Dribble": "dribble",
    "Offside": "offside",
    "Foul Committed": "foul",
    "Substitution": "substitution",
}


def _name(raw: dict[str, Any], *path: str) -> str | None:
    """raw[path...]["name"], or None where any step is missing."""
    for key in path:
        raw = raw.get(key) or {}
    return raw.get("name")


def _pitch(location: list[float], prefix: str = "") -> dict[str, float]:
    """A StatsBomb location (yards on a 120 x 80 pitch) as the contract's percentages of length and width."""
    return {
        f"{prefix}x": round(min(max(location[0] / PITCH_LENGTH * 100, 0.0), 100.0), 1),
        f"{prefix}y": round(min(max(location[1] / PITCH_WIDTH * 100, 0.0), 100.0), 1),
    }


def formation(tactics: dict[str, Any]) -> str | None:
    """StatsBomb's formation number (433) as the contract's text (4-3-3); None if it is not one."""
    digits = str(tactics.get("formation", ""))
    text = "-".join(digits)
    return text if FORMATION.fullmatch(text) else None


def _lineup(tactics: dict[str, Any]) -> dict[str, Any]:
    players = []
    for entry in tactics.get("lineup", [])[:MAX_LINEUP]:
        player: dict[str, Any] = {"player_id": _name(entry, "player")[:64], "starter": True}  # type: ignore[index]
        if position := _name(entry, "position"):
            player["position"] = position[:32]
        if isinstance(entry.get("jersey_number"), int) and 0 <= entry["jersey_number"] <= 99:
            player["shirt_number"] = entry["jersey_number"]
        players.append(player)
    shape = formation(tactics)
    return {"players": players} | ({"formation": shape} if shape else {})


def _shot(shot: dict[str, Any]) -> dict[str, Any]:
    """A shot's xG, body part and end location."""
    extra: dict[str, Any] = {}
    if isinstance(shot.get("statsbomb_xg"), int | float) and 0 <= shot["statsbomb_xg"] <= 1:
        extra["xg"] = shot["statsbomb_xg"]
    if part := _name(shot, "body_part"):
        extra["body_part"] = BODY_PARTS.get(part, "other")
    if end := shot.get("end_location"):
        extra |= _pitch(end, "end_")
    return extra


def _contract_types(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(event_type, extra fields) for one StatsBomb event; empty when it has no contract meaning."""
    kind = _name(raw, "type")
    out: list[tuple[str, dict[str, Any]]] = []
    if kind == "Starting XI" and raw.get("tactics", {}).get("lineup"):
        out.append(("lineup", _lineup(raw["tactics"])))
    elif kind == "Tactical Shift" and (shape := formation(raw.get("tactics", {}))):
        out.append(("formation_change", {"formation": shape}))
    elif kind == "Pass":
        passed: dict[str, Any] = {"outcome": "incomplete" if raw["pass"].get("outcome") else "complete"}
        if end := raw["pass"].get("end_location"):
            passed |= _pitch(end, "end_")
        if recipient := _name(raw, "pass", "recipient"):
            passed["related_player_id"] = recipient[:64]
        out.append(("pass", passed))
        if set_piece := SET_PIECES.get(_name(raw, "pass", "type") or ""):
            out.append((set_piece, {}))
        if _name(raw, "pass", "outcome") == "Pass Offside":
            out.append(("offside", {}))
    elif kind == "Shot":
        outcome = _name(raw, "shot", "outcome")
        detail = _shot(raw["shot"])
        if outcome == "Goal":
            out.append(("goal", detail))
        else:
            out.append(("shot", detail | ({"outcome": SHOT_OUTCOMES[outcome]} if outcome in SHOT_OUTCOMES else {})))
    elif kind == "Goal Keeper" and _name(raw, "goalkeeper", "type") in KEEPER_SAVES:
        out.append(("save", {}))
    elif kind == "Duel" and _name(raw, "duel", "type") == "Tackle":
        out.append(("tackle", {}))
    elif kind in SIMPLE:
        extra = {}
        if kind == "Substitution" and (replacement := _name(raw, "substitution", "replacement")):
            extra["related_player_id"] = replacement[:64]
        out.append((SIMPLE[kind], extra))
    card = _name(raw, "foul_committed", "card") or _name(raw, "bad_behaviour", "card")
    out += [(card_type, {}) for card_type in CARDS.get(card or "", ())]
    return out


def _moment(raw: dict[str, Any], kick_off: datetime) -> datetime:
    hours, minutes, seconds = raw["timestamp"].split(":")
    within = timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))
    return kick_off + timedelta(minutes=PERIOD_STARTS.get(raw["period"], 150)) + within


def convert(
    raw_events: list[dict[str, Any]], match_id: str, kick_off: datetime
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Contract events in timeline order, and how many StatsBomb events of each type had no equivalent."""
    teams = sorted({name for raw in raw_events if (name := _name(raw, "team"))})
    last_period = max((raw["period"] for raw in raw_events), default=1)
    events: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    marked: set[tuple[str, int]] = set()  # (match-level type, period): StatsBomb logs one per team
    for raw in raw_events:
        kind, period = _name(raw, "type") or "?", raw["period"]
        base: dict[str, Any] = {
            "match_id": match_id,
            "timestamp": iso_millis(_moment(raw, kick_off)),
            "period": period,
            "minute": min(raw.get("minute", 0), 130),
            "second": raw.get("second", 0),
        }
        if kind in ("Half Start", "Half End"):
            marker = "kick_off" if kind == "Half Start" else "full_time" if period == last_period else "half_time"
            if (marker, period) not in marked and (kind == "Half Start" or period in (1, last_period)):
                marked.add((marker, period))
                events.append(base | {"event_type": marker, "event_id": f"{raw['id']}:{marker}"})
            continue
        if kind == "Own Goal Against":  # the credited team is the other one; "Own Goal For" is the same goal
            credited = [team for team in teams if team != _name(raw, "team")]
            mapped = (
                [("own_goal", {"team_id": credited[0][:64]})] if credited else []
            )  # extra overrides the actor's team
        else:
            mapped = _contract_types(raw)
        if not mapped:
            skipped[kind] += 1
            continue
        actor: dict[str, Any] = {
            key: name[:64]
            for key, name in (("team_id", _name(raw, "team")), ("player_id", _name(raw, "player")))
            if name
        }
        if location := raw.get("location"):
            actor |= _pitch(location)
        for n, (event_type, extra) in enumerate(mapped):
            suffix = "" if n == 0 else f":{event_type}"
            events.append(base | actor | {"event_type": event_type, "event_id": f"{raw['id']}{suffix}"} | extra)
    events.sort(key=lambda e: (e["timestamp"], e["event_id"]))
    return events, skipped
