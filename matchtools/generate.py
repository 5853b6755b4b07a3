"""Deterministic synthetic matches: realistic mix of types, many same-millisecond events."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.events import iso_millis

KICK_OFF = datetime(2023, 6, 15, 14, 0, tzinfo=UTC)
_WEIGHTS = {
    "pass": 60,
    "tackle": 4,
    "interception": 3,
    "clearance": 3,
    "dribble": 3,
    "throw_in": 3,
    "foul": 2,
    "shot": 2,
    "free_kick": 2,
    "corner": 1,
    "offside": 1,
    "save": 1,
}


def generate_match(
    match_id: str, *, events: int = 3400, seed: int = 7, same_ms_share: float = 0.15
) -> list[dict[str, Any]]:
    """A match of about ``events`` contract events in chronological order.

    ``same_ms_share`` of the events reuse the previous event's millisecond, as
    real feeds do when a pass and its reception (or a foul and a card) are
    logged together. A few goals, an own goal, cards and substitutions are always in.
    """
    rng = random.Random(seed)
    teams = {"home": [f"home_p{i}" for i in range(1, 12)], "away": [f"away_p{i}" for i in range(1, 12)]}
    types, weights = zip(*_WEIGHTS.items(), strict=True)
    step = timedelta(minutes=95) / events
    moment = KICK_OFF
    out: list[dict[str, Any]] = [
        {"match_id": match_id, "event_type": "kick_off", "timestamp": iso_millis(moment), "period": 1}
    ]
    special = {
        events // 5: "goal",
        events // 3: "yellow_card",
        events // 2: "own_goal",
        (2 * events) // 3: "substitution",
        (3 * events) // 4: "goal",
        (4 * events) // 5: "red_card",
        events // 2 + 1: "half_time",
    }
    for n in range(1, events - 1):
        if rng.random() >= same_ms_share:
            moment += step * rng.uniform(0.5, 1.5)
        team = rng.choice(("home", "away"))
        event_type = special.get(n) or rng.choices(types, weights)[0]
        event: dict[str, Any] = {"match_id": match_id, "event_type": event_type, "timestamp": iso_millis(moment)}
        elapsed = int((moment - KICK_OFF).total_seconds())
        event |= {"period": 1 if n <= events // 2 else 2, "minute": min(elapsed // 60, 130), "second": elapsed % 60}
        if event_type != "half_time":
            event |= {"team_id": team, "player_id": rng.choice(teams[team])}
            event |= {"x": round(rng.uniform(0, 100), 1), "y": round(rng.uniform(0, 100), 1)}
        if event_type == "pass":
            event["outcome"] = "incomplete" if rng.random() < 0.2 else "complete"
            event["related_player_id"] = rng.choice(teams[team])
        elif event_type == "shot":
            event["outcome"] = rng.choice(("saved", "off_target", "blocked", "post"))
        elif event_type == "substitution":
            event["related_player_id"] = f"{team}_sub1"
        if rng.random() < 0.5:
            event["event_id"] = f"{match_id}-{n}"
        out.append(event)
    out.append({"match_id": match_id, "event_type": "full_time", "timestamp": iso_millis(moment + step), "period": 2})
    return out
