import itertools

from chalicelib import football, stats

_ids = itertools.count()


def ev(event_type, team="home", player="p1", at=0, **extra):
    """An event ``at`` seconds after 15:00 (team and player left out where the type has none)."""
    event = {
        "event_type": event_type,
        "event_id": f"e{next(_ids):04d}",
        "timestamp": f"2026-05-01T{15 + at // 3600}:{at // 60 % 60:02d}:{at % 60:02d}.000Z",
    }
    if event_type not in ("kick_off", "half_time", "full_time"):
        event["team_id"] = team
    if event_type not in ("kick_off", "half_time", "full_time", "lineup", "formation_change"):
        event["player_id"] = player
    return event | extra


def rendered(events, period=None):
    latest = max(events, key=lambda e: (e["timestamp"], e["event_id"]), default=None)
    roster = [e for e in events if e["event_type"] in football.ROSTER_TYPES]
    totals = stats.increments(events)
    return stats.render(stats.MatchTotals("m", totals, latest=latest, roster=roster, period=period))


def test_goal_is_a_shot_on_target_that_scored():
    totals = rendered([ev("goal")])
    assert {k: totals["teams"]["home"][k] for k in ("goals", "shots", "shots_on_target")} == {
        "goals": 1,
        "shots": 1,
        "shots_on_target": 1,
    }
    assert totals["players"]["p1"]["goals"] == 1


def test_own_goal_counts_only_in_the_credited_teams_goals():
    totals = rendered([ev("own_goal", team="away", player="home_defender")])
    assert totals["score"] == {"away": 1}
    assert totals["teams"]["away"]["shots"] == 0
    assert "home_defender" not in totals["players"]


def test_only_saved_shots_are_on_target():
    totals = rendered([ev("shot", outcome=o) for o in ("saved", "off_target", "blocked", "post")] + [ev("shot")])
    assert (totals["teams"]["home"]["shots"], totals["teams"]["home"]["shots_on_target"]) == (5, 1)


def test_pass_accuracy_rounds_to_one_decimal():
    passes = [ev("pass", outcome="complete"), ev("pass"), ev("pass", outcome="incomplete")]
    team = rendered(passes)["teams"]["home"]
    assert (team["passes"], team["passes_completed"], team["pass_accuracy"]) == (3, 2, 66.7)


def test_teams_and_players_seen_appear_with_zero_totals():
    totals = rendered([ev("tackle", team="away", player="a9")])
    assert totals["score"] == {"away": 0}
    assert totals["players"]["a9"] == dict.fromkeys(stats.PLAYER_COUNTERS, 0) | {"xg": 0.0, "minutes_played": None}
    assert totals["teams"]["away"]["pass_accuracy"] == 0.0
    assert (totals["teams"]["away"]["possession"], totals["teams"]["away"]["formation"]) == (0.0, None)


def test_empty_match_has_empty_statistics():
    assert stats.render(stats.MatchTotals("m", {})) == {
        "match_id": "m",
        "status": "pre_match",
        "score": {},
        "teams": {},
        "players": {},
        "lineups": {},
        "event_count": 0,
        "last_event_at": None,
    }


def test_xg_sums_each_teams_and_players_shots_and_goals_to_two_decimals():
    totals = rendered([ev("shot", xg=0.125), ev("goal", xg=0.3), ev("shot", player="p2", xg=0.07), ev("shot")])
    assert totals["teams"]["home"]["xg"] == 0.5  # 0.495 rounds half up
    assert (totals["players"]["p1"]["xg"], totals["players"]["p2"]["xg"]) == (0.43, 0.07)


def test_an_amended_xg_moves_the_sum_by_the_difference():
    shot = ev("shot", xg=0.1)
    deltas = stats.difference(shot, shot | {"xg": 0.35})
    assert deltas["team", "home"]["xg"] == stats.Decimal("0.25")


def test_possession_is_each_teams_share_of_the_completed_passes():
    passes = [ev("pass"), ev("pass"), ev("pass", outcome="incomplete"), ev("pass", team="away", player="a1")]
    teams = rendered(passes)["teams"]
    assert (teams["home"]["possession"], teams["away"]["possession"]) == (66.7, 33.3)


def test_a_period_counts_only_its_own_events():
    events = [ev("goal", period=1), ev("goal", period=2), ev("goal"), ev("pass", period=2)]
    whole, second = rendered(events), rendered(events, period=2)
    assert (whole["score"], whole["event_count"]) == ({"home": 3}, 4)
    assert (second["score"], second["event_count"], second["period"]) == ({"home": 1}, 2, 2)
    assert second["teams"]["home"]["possession"] == 100.0


LINEUP = [
    {"player_id": "h1", "position": "GK", "shirt_number": 1, "starter": True},
    {"player_id": "h9", "position": "CF", "shirt_number": 9, "starter": True},
    {"player_id": "h12", "shirt_number": 12, "starter": False},
]


def test_minutes_are_the_overlap_of_time_on_the_pitch_with_the_periods():
    events = [
        ev("lineup", at=0, formation="4-3-3", players=LINEUP),
        ev("kick_off", at=60, period=1),
        ev("red_card", player="h1", at=60 + 10 * 60 + 29),  # 10 min 29 s: rounds down
        ev("half_time", at=60 + 45 * 60),
        ev("kick_off", at=60 + 60 * 60, period=2),
        ev("substitution", player="h9", related_player_id="h12", at=60 + 60 * 60 + 20 * 60 + 30),
        ev("formation_change", at=60 + 60 * 60 + 21 * 60, formation="4-4-2"),
        ev("pass", player="h12", at=60 + 60 * 60 + 30 * 60),  # the latest event: the clock so far
    ]
    totals = rendered(events)
    minutes = {p: totals["players"][p]["minutes_played"] for p in ("h1", "h9", "h12")}
    assert minutes == {"h1": 10, "h9": 66, "h12": 10}  # h9: 45 + 20.5 rounds up; h12: 9.5 rounds up
    assert rendered(events, period=2)["players"]["h9"]["minutes_played"] == 21
    assert totals["teams"]["home"]["formation"] == "4-4-2"
    lineup = totals["lineups"]["home"]
    assert lineup["formation"] == "4-4-2"
    assert [(p["player_id"], p["starter"], p["shirt_number"], p["minutes_played"]) for p in lineup["players"]] == [
        ("h1", True, 1, 10),
        ("h9", True, 9, 66),
        ("h12", False, 12, 10),
    ]


def test_a_listed_player_who_never_came_on_has_zero_and_an_unlisted_substitute_joins_the_lineup():
    events = [
        ev("lineup", players=LINEUP),
        ev("kick_off", at=0, period=1),
        ev("substitution", player="h9", related_player_id="h20", at=30 * 60),
        ev("full_time", at=90 * 60),
    ]
    lineup = rendered(events)["lineups"]["home"]
    assert [(p["player_id"], p["minutes_played"]) for p in lineup["players"]] == [
        ("h1", 90),
        ("h9", 30),
        ("h12", 0),
        ("h20", 60),
    ]
