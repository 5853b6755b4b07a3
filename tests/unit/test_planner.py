"""The correction planner alone: versions, voids, counter moves, roster entries, transaction limits, edges."""

from chalicelib import planner


def ev(event_id, event_type="pass", version=1, second=0, **extra):
    event = {"match_id": "m", "event_id": event_id, "event_type": event_type, "version": version}
    event["timestamp"] = f"2026-05-01T15:00:{second:02d}.000Z"
    if event_type not in ("kick_off", "half_time", "full_time", "lineup"):
        event |= {"team_id": "home", "player_id": "h9"}
    return event | extra


def stored(event):
    return planner.Stored(event["version"], planner.stored_body(event))


def test_a_new_event_is_written_counted_and_fed_as_an_insert():
    plan = planner.plan_next([ev("g1", "goal")], {})
    assert (plan.taken, list(plan.writes), [c["change"] for c in plan.changes]) == (1, ["g1"], ["insert"])
    assert plan.deltas["team", "home"]["goals"] == 1 and plan.deltas["match", ""]["event_count"] == 1


def test_a_redelivery_or_a_stale_version_is_taken_and_changes_nothing():
    known = {"g1": stored(ev("g1", "goal", version=2))}
    plan = planner.plan_next([ev("g1", "goal", version=2), ev("g1", "shot", version=1)], known)
    assert (plan.taken, plan.writes, plan.changes, plan.actions()) == (2, {}, [], 0)


def test_an_amendment_moves_the_counters_by_the_difference():
    known = {"g1": stored(ev("g1", "goal"))}
    plan = planner.plan_next([ev("g1", "shot", version=2, outcome="saved")], known)
    assert [c["change"] for c in plan.changes] == ["update"]
    team = plan.deltas["team", "home"]
    assert (team["goals"], team["shots"], team["shots_on_target"]) == (-1, 0, 0)


def test_a_void_leaves_a_tombstone_and_feeds_a_delete_and_a_void_of_nothing_feeds_nothing():
    known = {"g1": stored(ev("g1", "goal"))}
    void = {"match_id": "m", "event_id": "g1", "version": 2, "deleted": True}
    plan = planner.plan_next([void], known)
    assert plan.writes["g1"].live is None and [c["change"] for c in plan.changes] == ["delete"]
    assert plan.deltas["team", "home"]["goals"] == -1
    never_seen = planner.plan_next([void | {"event_id": "x"}], {})
    assert list(never_seen.writes) == ["x"] and never_seen.changes == []  # kept, so a late original stays void


def test_roster_events_are_put_and_removed_with_the_event():
    lineup = ev("l1", "lineup", team_id="home", players=[{"player_id": "h1", "starter": True}])
    assert planner.plan_next([lineup], {}).roster == {"l1": planner.stored_body(lineup)}
    voided = planner.plan_next(
        [{"match_id": "m", "event_id": "l1", "version": 2, "deleted": True}], {"l1": stored(lineup)}
    )
    assert voided.roster == {"l1": None}
    assert planner.plan_next([ev("p1")], {}).roster == {}


def test_a_plan_stops_at_the_transaction_limit_and_leaves_the_rest_for_the_next():
    events = [ev(f"p{n}", player_id=f"h{n}") for n in range(60)]  # each: its put and its player's ADD
    plan = planner.plan_next(events, {})
    assert plan.actions() <= planner.TRANSACTION_ACTIONS
    assert 0 < plan.taken < len(events) and len(plan.writes) == plan.taken
    rest = planner.plan_next(events[plan.taken :], {})
    assert plan.taken + rest.taken == len(events)


def test_the_head_advances_its_edges_until_an_edge_event_moves():
    start = planner.Head(0, True, dict.fromkeys(planner.EDGE_NAMES), {})
    kick_off = ev("k1", "kick_off", second=1, period=1)
    plan = planner.plan_next([kick_off, ev("p1", second=5)], {})
    head = start.after(plan)
    assert head.exact and head.seq == 1
    assert (head.edges["first"]["event_id"], head.edges["latest"]["event_id"], head.edges["phase"]["event_id"]) == (
        "k1",
        "p1",
        "k1",
    )
    moved = planner.plan_next([ev("p1", version=2, second=0)], {"p1": stored(ev("p1", second=5))})
    assert not head.after(moved).exact  # only the indexes can say which event is latest now
