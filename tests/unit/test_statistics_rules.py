from chalicelib import stats


def ev(event_type, team="home", player="p1", **extra):
    return {"event_type": event_type, "team_id": team, "player_id": player, **extra}


def rendered(events):
    return stats.render(stats.MatchTotals("m", stats.increments(events)))


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
    assert totals["players"]["a9"] == dict.fromkeys(stats.PLAYER_COUNTERS, 0)
    assert totals["teams"]["away"]["pass_accuracy"] == 0.0


def test_empty_match_has_empty_statistics():
    assert stats.render(stats.MatchTotals("m", {})) == {
        "match_id": "m",
        "status": "pre_match",
        "score": {},
        "teams": {},
        "players": {},
        "event_count": 0,
        "last_event_at": None,
    }
