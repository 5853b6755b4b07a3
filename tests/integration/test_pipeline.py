"""The whole pipeline through the real services: POST -> Kafka -> event source -> DynamoDB -> GET."""

import json
import uuid

import pytest

from tests.support import HEADERS, SCOPED_TOKEN, eventually, expected_stats, post, read_all, wait_for_count


def post_json(api, body: str, content_type: str = "application/json"):
    return api.http.post("/events", headers=HEADERS | {"Content-Type": content_type}, body=body)


def test_seed_example_goal_is_readable_after_202(api):
    match_id = f"match-{uuid.uuid4().hex[:8]}"
    goal = {
        "match_id": match_id,
        "event_type": "goal",
        "player_id": "player456",
        "team_id": "team789",
        "timestamp": "2023-06-15T14:30:00Z",
    }
    response = post(api, goal)
    assert response.status_code == 202
    assert response.json_body["accepted"] == 1
    assert wait_for_count(api, match_id, 1)
    (stored,) = read_all(api, f"/matches/{match_id}")
    assert {k: stored[k] for k in goal} == goal | {"timestamp": "2023-06-15T14:30:00.000Z"}
    assert stored["event_id"] == response.json_body["event_ids"][0]
    assert {"received_at", "partition", "offset"} <= set(stored)
    assert stored["provider"] == "default"  # INGEST_TOKEN's producer


def test_a_scoped_producers_events_carry_its_provider_in_every_read_and_other_matches_are_refused(api):
    headers = HEADERS | {"Authorization": f"Bearer {SCOPED_TOKEN}"}
    mine, theirs = f"acme-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    goal = {"event_type": "goal", "player_id": "p9", "team_id": "t1", "timestamp": "2026-03-01T15:00:00Z"}
    refused = api.http.post("/events", headers=headers, body=json.dumps({"events": [goal | {"match_id": theirs}]}))
    assert (refused.status_code, refused.json_body["error"], refused.json_body["match_ids"]) == (
        403,
        "forbidden_match",
        [theirs],
    )
    refused = api.http.delete(f"/matches/{theirs}/events/e1", headers={"Authorization": f"Bearer {SCOPED_TOKEN}"})
    assert refused.status_code == 403
    accepted = api.http.post("/events", headers=headers, body=json.dumps(goal | {"match_id": mine}))
    assert accepted.status_code == 202
    assert wait_for_count(api, mine, 1)
    reads = [read_all(api, f"/matches/{mine}"), read_all(api, f"/matches/{mine}/goals")]
    reads.append(
        [c["event"] for c in read_all(api, f"/matches/{mine}/changes", items="changes", cursor_parameter="after")]
    )
    assert [[e["provider"] for e in events] for events in reads] == [["acme"]] * 3
    assert read_all(api, f"/matches/{theirs}") == []


def test_generated_match_is_stored_exactly_once_in_chronological_order(generated_match, api):
    match_id, posted, ids = generated_match
    stored = read_all(api, f"/matches/{match_id}")
    assert len(stored) == len(posted) == 3400
    assert sorted(e["event_id"] for e in stored) == sorted(ids)
    assert len({e["timestamp"] for e in stored}) < len(stored) - 300  # hundreds share a millisecond
    assert stored == sorted(stored, key=lambda e: (e["timestamp"], e["event_id"]))


@pytest.mark.parametrize(("route", "event_type"), [("goals", "goal"), ("passes", "pass"), ("events/foul", "foul")])
def test_type_routes_return_exactly_their_events(generated_match, api, route, event_type):
    match_id, _, _ = generated_match
    everything = read_all(api, f"/matches/{match_id}")
    expected = [e for e in everything if e["event_type"] == event_type]
    assert expected
    assert read_all(api, f"/matches/{match_id}/{route}") == expected


@pytest.mark.parametrize("limit", [7, 333, 1000])
def test_pages_concatenate_to_the_full_timeline(generated_match, api, limit):
    match_id, _, _ = generated_match
    assert read_all(api, f"/matches/{match_id}?limit={limit}") == read_all(api, f"/matches/{match_id}")


def test_single_event_pages_of_a_type_route_concatenate(generated_match, api):
    match_id, _, _ = generated_match
    assert read_all(api, f"/matches/{match_id}/goals?limit=1") == read_all(api, f"/matches/{match_id}/goals")


def test_unknown_match_is_empty_not_missing(api):
    response = api.http.get("/matches/never-played")
    assert (response.status_code, response.json_body) == (
        200,
        {"match_id": "never-played", "events": [], "count": 0, "next_cursor": None},
    )


def test_cursor_from_another_match_is_400(generated_match, api):
    match_id, _, _ = generated_match
    cursor = api.http.get(f"/matches/{match_id}?limit=5").json_body["next_cursor"]
    assert api.http.get(f"/matches/other?cursor={cursor}").status_code == 400
    assert api.http.get(f"/matches/{match_id}?cursor=garbage").status_code == 400


def test_rejected_requests_store_nothing(api):
    match_id = f"bad-{uuid.uuid4().hex[:8]}"
    good = {
        "match_id": match_id,
        "event_type": "foul",
        "team_id": "t",
        "player_id": "p",
        "timestamp": "2023-06-15T14:30:00Z",
    }
    bad_bodies = [
        (good | {"timestamp": "later"}, 400),
        (good | {"extra": True}, 400),
        ({"events": [good | {"event_id": "would-be-valid"}, good | {"minute": -5}]}, 400),
        ({"events": [good] * 501}, 413),
        ({"events": []}, 400),
    ]
    for body, status in bad_bodies:
        assert post(api, body).status_code == status
    assert post_json(api, json.dumps(good), content_type="text/plain").status_code == 415
    assert post_json(api, "{oops").status_code == 400
    assert (
        api.http.post("/events", headers={"Content-Type": "application/json"}, body=json.dumps(good)).status_code == 401
    )
    sentinel = good | {"event_id": "sentinel"}
    assert post(api, sentinel).status_code == 202
    assert wait_for_count(api, match_id, 1)
    assert [e["event_id"] for e in read_all(api, f"/matches/{match_id}")] == ["sentinel"]


def test_generated_match_statistics_match_the_rules(generated_match, api):
    match_id, posted, _ = generated_match
    response = api.http.get(f"/matches/{match_id}/stats")
    assert response.status_code == 200
    assert response.json_body == expected_stats(match_id, posted)


def test_no_number_of_players_fills_an_item_or_dead_letters_valid_events(api, pipeline):
    """12,000 distinct players, twice what filled the one statistics item a match used to have (the later
    records went to the dead-letter topic): every event is stored and /stats counts them exactly; its
    players alone would pass 1 MB, so it answers without them, saying so."""
    match_id = f"crowd-{uuid.uuid4().hex[:8]}"
    events = [
        {
            "match_id": match_id,
            "event_type": "pass",
            "team_id": f"team{i % 3}",
            "player_id": f"player-{i:05d}",
            "timestamp": f"2026-05-01T15:{i // 1000 % 60:02d}:{i // 10 % 60:02d}.{i % 1000:03d}Z",
            "event_id": f"e{i}",
        }
        for i in range(12_000)
    ]
    for start in range(0, len(events), 500):
        assert post(api, {"events": events[start : start + 500]}).status_code == 202
    # one partition, consumed in order: once the last event is readable every one was stored. Polling the whole
    # match instead read 12,000 events five times a second and starved the consumer of the engine.
    last = events[-1]["timestamp"]
    assert eventually(lambda: api.http.get(f"/matches/{match_id}?from={last}&to={last}").json_body["events"], 600)
    assert len(read_all(api, f"/matches/{match_id}")) == len(events)
    response = api.http.get(f"/matches/{match_id}/stats")
    assert len(response.body) <= 1_000_000
    expected = expected_stats(match_id, events)
    assert len(json.dumps(expected["players"])) > 1_000_000
    kept = {k: v for k, v in expected.items() if k not in ("players", "lineups")}
    assert response.json_body == kept | {"players_truncated": True}


def test_a_batch_of_four_byte_characters_is_stored_whole_not_dead_lettered(api, pipeline):
    """500 events of ids in 4-byte characters, over 700 KB as UTF-8 JSON: as JSON escapes (12 bytes a character)
    their Kafka records would be far over what the consumer accepts. Records are split by encoded size, and
    the feed items by bytes, so all 500 are stored and read back."""
    match_id = f"astral-{uuid.uuid4().hex[:8]}"
    face = "\U0001f600"
    events = [
        {
            "match_id": match_id,
            "event_type": "pass",
            "team_id": face * 64,
            "player_id": face * 61 + f"{i:03d}",
            "related_player_id": face * 64,
            "timestamp": f"2026-05-01T15:00:{i // 10:02d}.{i % 10:03d}Z",
            "event_id": face * 125 + f"{i:03d}",
        }
        for i in range(500)
    ]
    body = json.dumps({"events": events}, ensure_ascii=False).encode()
    assert 700_000 < len(body) <= 1024 * 1024
    response = api.http.post("/events", headers=HEADERS, body=body)
    assert response.status_code == 202, response.body
    assert wait_for_count(api, match_id, len(events), timeout=120)
    stored = read_all(api, f"/matches/{match_id}")
    assert sorted(e["event_id"] for e in stored) == sorted(e["event_id"] for e in events)
