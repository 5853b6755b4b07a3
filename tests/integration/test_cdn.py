"""The local CDN in front of the real API: it caches each read for as long as the API says, keys it by the
parameters that change the answer, revalidates with ETags, and keeps a full change-feed page for a year."""

import uuid

import requests

from chalicelib import caching
from tests.support import post, wait_for_count


def get(cdn, path, **headers):
    return requests.get(cdn.url + path, headers=headers, timeout=10)


def test_a_repeated_read_is_answered_by_the_cache_with_the_apis_own_lifetime(api, cdn):
    match_id = f"cdn-{uuid.uuid4().hex[:8]}"
    goal = {
        "match_id": match_id,
        "event_type": "goal",
        "team_id": "t",
        "player_id": "p",
        "timestamp": "2026-01-01T15:00:00Z",
    }
    post(api, goal)
    assert wait_for_count(api, match_id, 1)
    first, second = get(cdn, f"/matches/{match_id}/stats"), get(cdn, f"/matches/{match_id}/stats")
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.json() == first.json() and second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Cache-Control"] == caching.cache_control(caching.LIVE_MAX_AGE)
    revalidated = get(cdn, f"/matches/{match_id}/stats", **{"If-None-Match": first.headers["ETag"]})
    assert (revalidated.status_code, revalidated.content) == (304, b"")


def test_only_the_parameters_that_change_the_answer_are_in_the_key_or_reach_the_api(api, api_url, cdn):
    post(
        api, {"match_id": f"cdn-{uuid.uuid4().hex[:8]}", "event_type": "kick_off", "timestamp": "2026-01-01T15:00:00Z"}
    )
    get(cdn, "/matches?limit=1")
    assert get(cdn, "/matches?limit=1").headers["X-Cache"] == "HIT"
    assert get(cdn, "/matches?limit=2").headers["X-Cache"] == "MISS"  # limit changes the answer: its own entry
    tracked = get(cdn, "/matches?limit=1&utm_source=feed")  # not in the key, and not sent on
    assert (tracked.status_code, tracked.headers["X-Cache"]) == (200, "HIT")
    assert requests.get(api_url + "/matches?limit=1&utm_source=feed", timeout=10).status_code == 400


def test_a_full_change_feed_page_is_kept_for_a_year_and_the_last_one_briefly(api, cdn):
    match_id = f"cdn-{uuid.uuid4().hex[:8]}"
    events = [
        {"match_id": match_id, "event_id": f"e{i}", "event_type": "pass", "team_id": "t", "player_id": "p",
         "timestamp": f"2026-01-01T15:00:{i:02d}Z"}
        for i in range(3)
    ]  # fmt: skip
    post(api, {"events": events})
    assert wait_for_count(api, match_id, 3)
    full = get(cdn, f"/matches/{match_id}/changes?limit=1")
    assert full.json()["next_cursor"] and full.headers["Cache-Control"] == caching.IMMUTABLE
    last = get(cdn, f"/matches/{match_id}/changes?limit=1000")
    assert last.json()["next_cursor"] is None
    assert last.headers["Cache-Control"] == caching.cache_control(caching.LIVE_MAX_AGE)
