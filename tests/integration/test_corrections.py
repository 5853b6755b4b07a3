"""Live truth: amendments, voids and restores keep every read, /stats, the change feed and the directory exact.

Events go through the consumer Lambda as MSK events (tests.support.msk_event_of) into the real DynamoDB
Local, or through the whole pipeline where the test says so. Every check compares with an independent
recomputation from the final versions (tests.support).
"""

import threading
import uuid
from typing import Any

import pytest
from chalice.local import LambdaContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

import app
from chalicelib import layout
from chalicelib.events import parse_event
from chalicelib.publishing import KafkaPublisher, producer_config
from chalicelib.repository import EventRepository
from devstack.event_source import LocalEventSource
from devstack.stack import ensure_topic
from tests.support import (
    HEADERS,
    RECEIVED_AT,
    eventually,
    expected_changes,
    expected_stats,
    expected_status,
    live_events,
    msk_event_of,
    post,
    read_all,
)

CONTEXT = LambdaContext("consumer", 512)


def consume(events: list[dict[str, Any]]) -> dict[str, int]:
    return app.consume_events(msk_event_of(events), CONTEXT)


def ev(
    match_id: str,
    event_id: str,
    event_type: str = "pass",
    second: int = 0,
    version: int = 1,
    team: str = "home",
    player: str = "p1",
    **extra: Any,
) -> dict[str, Any]:
    event = {
        "match_id": match_id,
        "event_id": event_id,
        "event_type": event_type,
        "version": version,
        "timestamp": f"2026-05-01T{15 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000Z",
        **extra,
    }
    if event_type not in ("kick_off", "half_time", "full_time"):
        event |= {"team_id": team, "player_id": player}
    return event


def void(match_id: str, event_id: str, version: int) -> dict[str, Any]:
    return {"match_id": match_id, "event_id": event_id, "version": version, "deleted": True}


def changes(api, match_id: str) -> list[dict[str, Any]]:
    return read_all(api, f"/matches/{match_id}/changes?limit=1000", "changes", "after")


def summary(api, match_id: str) -> dict[str, Any] | None:
    return next(
        (entry for entry in read_all(api, "/matches?limit=100", "matches") if entry["match_id"] == match_id), None
    )


def assert_matches_the_final_versions(api, match_id: str, delivered: list[dict[str, Any]]) -> None:
    live = sorted(live_events(delivered), key=lambda e: (e["timestamp"], e["event_id"]))
    stored = read_all(api, f"/matches/{match_id}")
    assert [(e["event_id"], e["version"], e["event_type"], e["timestamp"]) for e in stored] == [
        (e["event_id"], e["version"], e["event_type"], e["timestamp"]) for e in live
    ]
    for event_type in {e["event_type"] for e in delivered if not e.get("deleted")}:
        assert [e["event_id"] for e in read_all(api, f"/matches/{match_id}/events/{event_type}")] == [
            e["event_id"] for e in live if e["event_type"] == event_type
        ]
    assert api.http.get(f"/matches/{match_id}/stats").json_body == expected_stats(match_id, delivered)
    assert [
        (c["change"], c["event"]["event_id"], c["event"]["version"]) for c in changes(api, match_id)
    ] == expected_changes(delivered)
    entry = summary(api, match_id)
    assert entry is not None
    expected = expected_stats(match_id, delivered)
    assert (entry["status"], entry["score"], entry["event_count"], entry["last_event_at"]) == (
        expected_status(delivered),
        expected["score"],
        expected["event_count"],
        expected["last_event_at"],
    )


def new_match() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def test_var_disallows_a_goal_end_to_end(api):
    """Through the whole pipeline: a goal, 1-0; DELETE voids it; 0-0, /goals empty, feed insert then delete."""
    match_id = new_match()
    events = [
        ev(match_id, "k1", "kick_off", 0, period=1),
        ev(match_id, "a1", "pass", 5, team="away", player="a9"),
        ev(match_id, "h1", "pass", 8),
        ev(match_id, "g1", "goal", 30, player="p9"),
    ]
    assert post(api, {"events": events}).status_code == 202
    assert eventually(lambda: api.http.get(f"/matches/{match_id}/stats").json_body["score"] == {"away": 0, "home": 1})

    response = api.http.delete(f"/matches/{match_id}/events/g1", headers=HEADERS)
    assert response.status_code == 202 and response.json_body == {"accepted": 1, "event_ids": ["g1"]}
    assert eventually(lambda: api.http.get(f"/matches/{match_id}/stats").json_body["score"] == {"away": 0, "home": 0})
    assert read_all(api, f"/matches/{match_id}/goals") == []
    assert [
        (c["change"], c["event"]["event_id"]) for c in changes(api, match_id) if c["event"]["event_id"] == "g1"
    ] == [("insert", "g1"), ("delete", "g1")]
    assert eventually(lambda: (summary(api, match_id) or {}).get("score") == {"away": 0, "home": 0})
    assert summary(api, match_id)["status"] == "live"


def test_delete_needs_the_producer_token_and_a_valid_id(api):
    assert api.http.delete("/matches/m1/events/e1").status_code == 401
    assert api.http.delete("/matches/bad%20id/events/e1", headers=HEADERS).status_code == 400


def test_a_derived_id_cannot_be_corrected(api):
    response = post(
        api, {"match_id": "m1", "event_type": "kick_off", "timestamp": "2026-05-01T15:00:00Z", "version": 2}
    )
    assert response.status_code == 400 and response.json_body["errors"][0]["field"] == "event_id"
    assert post(api, {"match_id": "m1", "deleted": True}).status_code == 400


def test_a_higher_version_replaces_the_event_whole_even_its_time_and_type(api):
    match_id = new_match()
    delivered = [ev(match_id, "e1", "shot", 10, outcome="saved"), ev(match_id, "e2", "pass", 20)]
    consume(delivered)
    amended = ev(match_id, "e1", "goal", 40, version=2, player="p7")
    consume([amended])
    assert_matches_the_final_versions(api, match_id, [*delivered, amended])
    assert read_all(api, f"/matches/{match_id}/events/shot") == []


def test_a_stale_version_after_a_newer_one_changes_nothing(api):
    match_id = new_match()
    delivered = [
        ev(match_id, "e1", "goal", 10, version=3),
        ev(match_id, "e1", "shot", 10, version=2),
        ev(match_id, "e1", "shot", 10, version=3),
    ]
    for event in delivered:
        consume([event])
    assert_matches_the_final_versions(api, match_id, delivered)
    assert [c["change"] for c in changes(api, match_id)] == ["insert"]


def test_a_void_before_its_original_keeps_the_late_original_void(api):
    match_id = new_match()
    delivered = [void(match_id, "g1", 2), ev(match_id, "g1", "goal", 10), ev(match_id, "e2", "pass", 11)]
    for event in delivered:
        consume([event])
    assert_matches_the_final_versions(api, match_id, delivered)
    assert changes(api, match_id)[0]["event"]["event_id"] == "e2"  # the void changed nothing anyone had seen


def test_a_later_higher_version_restores_a_voided_event(api):
    match_id = new_match()
    delivered = [ev(match_id, "g1", "goal", 10), void(match_id, "g1", 2), ev(match_id, "g1", "goal", 10, version=3)]
    consume(delivered)  # one batch: applied in stream order within it
    assert_matches_the_final_versions(api, match_id, delivered)
    assert [c["change"] for c in changes(api, match_id)] == ["insert", "delete", "insert"]


def test_the_same_correction_batch_delivered_three_times_counts_once(api):
    match_id = new_match()
    originals = [ev(match_id, f"e{i}", "shot", i, outcome="saved") for i in range(20)]
    consume(originals)
    corrections = [
        *(ev(match_id, f"e{i}", "goal", i, version=2) for i in range(0, 20, 2)),
        *(void(match_id, f"e{i}", 2) for i in range(1, 20, 4)),
    ]
    results = [consume(corrections) for _ in range(3)]
    assert [r["stored"] for r in results] == [len(corrections), 0, 0]
    assert_matches_the_final_versions(api, match_id, [*originals, *corrections])


def test_a_summary_left_behind_by_a_crash_is_repaired_by_the_redelivery(api, live_services):
    match_id = new_match()
    events = [ev(match_id, "e1", "goal", 10), ev(match_id, "e2", "pass", 20)]
    consume(events)
    assert summary(api, match_id)["last_event_at"] == events[1]["timestamp"]
    crashing = EventRepository(live_services.dynamodb, live_services.settings.table)
    crashing._project = lambda match_id: (_ for _ in ()).throw(RuntimeError("killed"))  # after the commit
    voided = [void(match_id, "e2", 2)]  # the latest event: the summary needs the indexes
    with pytest.raises(RuntimeError):
        crashing.save([parse_event(e).to_dict() | {"received_at": RECEIVED_AT} for e in voided])
    assert summary(api, match_id)["last_event_at"] == events[1]["timestamp"]  # behind: the crash
    assert api.http.get(f"/matches/{match_id}/stats").json_body["last_event_at"] == events[0]["timestamp"]  # exact
    assert consume(voided)["stored"] == 0  # the redelivery: nothing to apply, the summary repaired
    assert_matches_the_final_versions(api, match_id, [*events, *voided])


def test_status_follows_the_match_level_events_and_a_voided_full_time_makes_the_match_live_again(api):
    match_id = new_match()
    steps = [
        ([], "pre_match"),
        ([ev(match_id, "k1", "kick_off", 0, period=1)], "live"),
        ([ev(match_id, "h1", "half_time", 2700)], "half_time"),
        ([ev(match_id, "k2", "kick_off", 3600, period=2)], "live"),
        ([ev(match_id, "f1", "full_time", 6500)], "finished"),
        ([void(match_id, "f1", 2)], "live"),
    ]
    delivered: list[dict[str, Any]] = [ev(match_id, "e0", "pass", 1)]
    consume(delivered)
    for events, status in steps:
        delivered += events
        if events:
            consume(events)
        assert api.http.get(f"/matches/{match_id}/stats").json_body["status"] == status
        assert summary(api, match_id)["status"] == status
    assert summary(api, match_id)["period"] == 2
    assert_matches_the_final_versions(api, match_id, delivered)


def test_the_directory_filters_by_status_and_day_and_pages(api):
    day = f"2031-0{uuid.uuid4().int % 9 + 1}-1{uuid.uuid4().int % 9}"
    ids = [new_match() for _ in range(3)]
    for i, match_id in enumerate(ids):
        consume([{"match_id": match_id, "event_id": "k", "event_type": "kick_off", "timestamp": f"{day}T15:0{i}:00Z"}])
    consume([{"match_id": ids[0], "event_id": "f", "event_type": "full_time", "timestamp": f"{day}T17:00:00Z"}])
    listed = api.http.get(f"/matches?date={day}").json_body
    assert [m["match_id"] for m in listed["matches"]] == [ids[0], ids[2], ids[1]]  # latest activity first
    finished = api.http.get(f"/matches?date={day}&status=finished").json_body["matches"]
    assert [(m["match_id"], m["status"], m["first_event_at"][:10]) for m in finished] == [(ids[0], "finished", day)]
    first = api.http.get(f"/matches?date={day}&limit=2").json_body
    rest = api.http.get(f"/matches?date={day}&limit=2&cursor={first['next_cursor']}").json_body
    assert [m["match_id"] for m in first["matches"] + rest["matches"]] == [ids[0], ids[2], ids[1]]
    assert rest["next_cursor"] is None
    for bad in ("status=over", "date=2031-13-01", "limit=101", "cursor=nope"):
        assert api.http.get(f"/matches?{bad}").status_code == 400


def test_the_directory_merges_its_index_partitions_into_one_order_page_by_page(api):
    day = f"2032-0{uuid.uuid4().int % 9 + 1}-1{uuid.uuid4().int % 9}"
    ids = [new_match() for _ in range(40)]  # over more than one of the index's partitions
    assert len({layout.directory_partition(m) for m in ids}) > 10
    consume(
        [
            {"match_id": m, "event_id": "k", "event_type": "kick_off", "timestamp": f"{day}T15:{i:02d}:00Z"}
            for i, m in enumerate(ids)
        ]
    )
    consume(
        [{"match_id": m, "event_id": "f", "event_type": "full_time", "timestamp": f"{day}T17:00:00Z"} for m in ids[::3]]
    )
    latest = {m: f"17:00 {m}" if i % 3 == 0 else f"15:{i:02d} {m}" for i, m in enumerate(ids)}
    expected = sorted(ids, key=latest.__getitem__, reverse=True)  # latest activity, then match_id, first
    for limit in (1, 7, 40):
        paged = read_all(api, f"/matches?date={day}&limit={limit}", "matches")
        assert [m["match_id"] for m in paged] == expected
    live = read_all(api, f"/matches?date={day}&status=live&limit=5", "matches")
    assert [m["match_id"] for m in live] == [m for m in expected if ids.index(m) % 3]
    later_day = api.http.get(f"/matches?date={day}&limit=1").json_body["next_cursor"]
    assert api.http.get(f"/matches?date=2099-01-01&cursor={later_day}").status_code == 400


def test_a_client_resuming_from_its_last_cursor_misses_nothing_and_sees_nothing_twice(api):
    match_id = new_match()
    consume([ev(match_id, f"e{i}", "pass", i) for i in range(7)])
    seen, cursor = [], None
    for _ in range(10):
        body = api.http.get(f"/matches/{match_id}/changes?limit=3" + (f"&after={cursor}" if cursor else "")).json_body
        seen += body["changes"]
        cursor = seen[-1]["cursor"] if seen else None
        if len(seen) == 7:
            consume([void(match_id, "e3", 2)])  # more arrives while the client follows
    assert [(c["change"], c["event"]["event_id"]) for c in seen] == [
        *(("insert", f"e{i}") for i in range(7)),
        ("delete", "e3"),
    ]
    assert [c["cursor"] for c in seen] == sorted(c["cursor"] for c in seen)
    assert api.http.get(f"/matches/{match_id}/changes?after=garbage").status_code == 400


class Crash(BaseException):
    """Ends the event source's thread like a kill: nothing is committed."""


def test_consumer_killed_mid_correction_batch_then_restarted_applies_everything_once(api, environ, live_services):
    topic = f"corr-{uuid.uuid4().hex[:6]}"
    ensure_topic(environ["KAFKA_BOOTSTRAP_SERVERS"], topic, partitions=1)
    settings = live_services.settings
    match_id = new_match()
    originals = [ev(match_id, f"e{i}", "shot", i, outcome="saved", player=f"p{i % 5}") for i in range(150)]
    corrections = [
        *(ev(match_id, f"e{i}", "goal", i + 1, version=2, player=f"p{i % 7}") for i in range(0, 150, 3)),
        *(void(match_id, f"e{i}", 5) for i in range(1, 150, 5)),
    ]
    publisher = KafkaPublisher(
        lambda: KafkaProducer(**producer_config(settings)), topic, settings.dead_letter_topic, 10
    )
    for batch in (originals, corrections):  # two requests: two sets of records, in this order on the partition
        publisher.publish([parse_event(e) for e in batch], RECEIVED_AT, "default")
    publisher.close()

    def apply_half_then_die(msk_event, context):
        half = {key: records[: len(records) // 2 + 1] for key, records in msk_event["records"].items()}
        app.consume_events(msk_event | {"records": half}, context)
        raise Crash

    with pytest.raises(Crash):
        LocalEventSource(settings.bootstrap_servers, topic, apply_half_then_die, group_id=topic).run(threading.Event())
    stop = threading.Event()
    restarted = LocalEventSource(settings.bootstrap_servers, topic, app.consume_events, group_id=topic)
    thread = threading.Thread(target=restarted.run, args=(stop,), daemon=True)
    thread.start()
    delivered = [*originals, *corrections]
    try:
        assert eventually(lambda: len(changes(api, match_id)) == len(expected_changes(delivered)), timeout=120)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert_matches_the_final_versions(api, match_id, delivered)


# -- property: any interleaving of corrections, delivered in any batches, any number of times ---------------

EVENT_IDS = [f"e{i}" for i in range(6)]
operation = st.one_of(
    st.tuples(
        st.just("event"),
        st.sampled_from(EVENT_IDS),
        st.integers(1, 6),
        st.sampled_from(["goal", "shot", "pass", "own_goal", "kick_off", "half_time", "full_time", "foul"]),
        st.integers(0, 5),
        st.sampled_from(["home", "away"]),
        st.sampled_from(["p1", "p2", "p3"]),
    ),
    st.tuples(st.just("void"), st.sampled_from(EVENT_IDS), st.integers(1, 6)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    operations=st.lists(operation, min_size=1, max_size=25),
    cuts=st.lists(st.integers(1, 6), max_size=10),
    redeliver=st.lists(st.integers(0, 9), max_size=4),
)
def test_any_delivery_of_corrections_leaves_exactly_the_final_versions(api, operations, cuts, redeliver):
    match_id = new_match()
    delivered = []
    for op in operations:
        if op[0] == "void":
            delivered.append(void(match_id, op[1], op[2]))
        else:
            _, event_id, version, event_type, second, team, player = op
            delivered.append(ev(match_id, event_id, event_type, second, version=version, team=team, player=player))
    batches, start = [], 0
    for size in [*cuts, len(delivered)]:
        if start < len(delivered):
            batches.append(delivered[start : start + size])
            start += size
    for i, batch in enumerate(batches):
        consume(batch)
        for _ in range(redeliver.count(i)):  # at-least-once: a batch may come again, and later ones after it
            consume(batch)
    for i in redeliver:  # and a late redelivery of an old batch, after everything
        if i < len(batches):
            consume(batches[i])
    assert_matches_the_final_versions(api, match_id, delivered)


# -- property: lineups, substitutions, red cards, xG and periods under any corrections ----------------------

SQUADS = {team: [f"{team}{n}" for n in range(1, 6)] for team in ("home", "away")}
FOOTBALL_IDS = [f"f{i}" for i in range(8)]
teams = st.sampled_from(sorted(SQUADS))


@st.composite
def football_event(draw: st.DrawFn, match_id: str) -> dict[str, Any]:
    """One event of the roster or of the counters, at a random second of a 40-minute window."""
    kind = draw(
        st.sampled_from(["lineup", "formation_change", "substitution", "red_card", "shot", "goal", "pass", "whistle"])
    )
    event_id, version, second = draw(st.sampled_from(FOOTBALL_IDS)), draw(st.integers(1, 4)), draw(st.integers(0, 2400))
    team = draw(teams)
    squad = SQUADS[team]
    period = draw(st.sampled_from([1, 2, None]))
    extra: dict[str, Any] = {} if period is None else {"period": period}
    if kind == "whistle":
        whistle = draw(st.sampled_from(["kick_off", "half_time", "full_time"]))
        return ev(match_id, event_id, whistle, second, version=version, **extra)
    if kind == "lineup":
        listed = draw(st.lists(st.sampled_from(squad), min_size=1, max_size=5, unique=True))
        players = [{"player_id": p, "starter": draw(st.booleans()), "shirt_number": squad.index(p) + 1} for p in listed]
        event = ev(match_id, event_id, "lineup", second, version=version, team=team, players=players, **extra)
        if draw(st.booleans()):
            event["formation"] = draw(st.sampled_from(["4-4-2", "4-3-3", "3-5-2"]))
        event.pop("player_id")
        return event
    if kind == "formation_change":
        event = ev(match_id, event_id, kind, second, version=version, team=team, formation="4-2-3-1", **extra)
        event.pop("player_id")
        return event
    player = draw(st.sampled_from(squad))
    if kind == "substitution":
        extra["related_player_id"] = draw(st.sampled_from(squad))
    if kind in ("shot", "goal") and draw(st.booleans()):
        extra["xg"] = draw(st.integers(0, 1000)) / 1000
    if kind == "pass":
        extra["outcome"] = draw(st.sampled_from(["complete", "incomplete"]))
    return ev(match_id, event_id, kind, second, version=version, team=team, player=player, **extra)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), size=st.integers(1, 30), cuts=st.lists(st.integers(1, 8), max_size=6))
def test_minutes_xg_possession_and_periods_equal_a_recomputation_under_any_corrections(api, data, size, cuts):
    match_id = new_match()
    starters = [{"player_id": p, "starter": n < 3} for n, p in enumerate(SQUADS["home"])]
    delivered = [  # a match under way, whose first events the later ones may amend or void
        ev(match_id, "f0", "lineup", 0, team="home", players=starters, formation="4-4-2"),
        ev(match_id, "f1", "kick_off", 10, period=1),
    ]
    delivered[0].pop("player_id")
    for _ in range(size):
        if data.draw(st.integers(0, 5)) == 0:
            delivered.append(void(match_id, data.draw(st.sampled_from(FOOTBALL_IDS)), data.draw(st.integers(1, 4))))
        else:
            delivered.append(data.draw(football_event(match_id)))
    start = 0
    for cut in [*cuts, len(delivered)]:
        if start < len(delivered):
            consume(delivered[start : start + cut])
            start += cut
    consume(delivered)  # and everything again: a redelivery changes nothing
    assert_matches_the_final_versions(api, match_id, delivered)
    for period in (1, 2):
        assert api.http.get(f"/matches/{match_id}/stats?period={period}").json_body == expected_stats(
            match_id, delivered, period
        )
