"""The read side a live app relies on: order, windows, cursors, caching and exact statistics."""

import base64
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from chalice.local import LambdaContext

import app
from matchtools.generate import generate_match
from tests.support import expected_stats, msk_event_of, read_all


def timeline(api, match_id, query=""):
    return read_all(api, f"/matches/{match_id}{query}")


def test_desc_order_is_the_exact_reverse(generated_match, api):
    match_id, _, _ = generated_match
    ascending = timeline(api, match_id)
    assert timeline(api, match_id, "?order=desc&limit=333") == ascending[::-1]
    assert read_all(api, f"/matches/{match_id}/passes?order=desc&limit=250") == [
        e for e in ascending[::-1] if e["event_type"] == "pass"
    ]


def test_latest_first_ticker_is_one_small_read(generated_match, api):
    match_id, _, _ = generated_match
    body = api.http.get(f"/matches/{match_id}?order=desc&limit=5").json_body
    assert body["events"] == timeline(api, match_id)[-5:][::-1]
    assert body["next_cursor"]


def test_time_windows_return_exactly_the_events_inside_inclusive_bounds(generated_match, api):
    match_id, _, _ = generated_match
    everything = timeline(api, match_id)
    rng = random.Random(5)
    for _ in range(5):
        low, high = sorted(rng.sample([e["timestamp"] for e in everything], 2))
        expected = [e for e in everything if low <= e["timestamp"] <= high]
        assert timeline(api, match_id, f"?from={low}&to={high}&limit=100") == expected
        assert timeline(api, match_id, f"?from={low}&to={high}&order=desc") == expected[::-1]
        assert read_all(api, f"/matches/{match_id}/events/pass?from={low}&to={high}") == [
            e for e in expected if e["event_type"] == "pass"
        ]
    assert timeline(api, match_id, f"?from={high}&to={low}") == ([] if low < high else expected)
    first = everything[0]["timestamp"]
    assert timeline(api, match_id, f"?to={first}") == [e for e in everything if e["timestamp"] == first]


def test_window_bounds_accept_any_offset(generated_match, api):
    match_id, _, _ = generated_match
    everything = timeline(api, match_id)
    cut = everything[1000]["timestamp"]
    in_cest = datetime.fromisoformat(cut).astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    assert in_cest.endswith("+02:00")
    assert timeline(api, match_id, f"?from={quote(in_cest)}") == [e for e in everything if e["timestamp"] >= cut]


def _cursor(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor({"match_id": "another", "sk": "2023-06-15T14:00:00.000Z#x"}),
        _cursor({"match_id": "MATCH", "sk": "~stats"}),
        _cursor({"match_id": "MATCH", "sk": "2023#x", "extra": "1"}),
        _cursor({"match_id": "MATCH", "sk": 5}),
        _cursor(["MATCH"]),
        "%%%",
        "bm90IGpzb24",
    ],
)
def test_tampered_or_foreign_cursors_are_400(generated_match, api, cursor):
    match_id, _, _ = generated_match
    response = api.http.get(f"/matches/{match_id}?cursor={cursor.replace('MATCH', match_id)}")
    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_cursor"


def test_a_cursor_of_one_event_type_is_refused_by_another(generated_match, api):
    match_id, _, _ = generated_match
    cursor = api.http.get(f"/matches/{match_id}/passes?limit=3").json_body["next_cursor"]
    assert api.http.get(f"/matches/{match_id}/events/foul?cursor={cursor}").status_code == 400


@pytest.mark.parametrize("route", ["", "/goals", "/events/foul?order=desc", "/stats"])
def test_every_read_has_an_etag_and_answers_304_when_unchanged(generated_match, api, route):
    match_id, _, _ = generated_match
    first = api.http.get(f"/matches/{match_id}{route}")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=2"
    assert api.http.get(f"/matches/{match_id}{route}").headers["ETag"] == etag
    again = api.http.get(f"/matches/{match_id}{route}", headers={"If-None-Match": f'W/"nope", {etag}'})
    assert (again.status_code, again.body) == (304, b"")
    assert again.headers["ETag"] == etag
    assert api.http.get(f"/matches/{match_id}{route}", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_etag_changes_when_the_match_changes(api):
    match_id = f"etag-{uuid.uuid4().hex[:8]}"
    before = api.http.get(f"/matches/{match_id}/stats").headers["ETag"]
    event = generate_match(match_id, events=3)[1]
    app.consume_events(msk_event_of([event]), LambdaContext("consumer", 512))
    assert api.http.get(f"/matches/{match_id}/stats").headers["ETag"] != before


def test_stats_are_exact_after_out_of_order_delivery_and_redelivery_of_every_batch(api):
    match_id = f"stats-{uuid.uuid4().hex[:8]}"
    events = generate_match(match_id, events=1200, seed=11)
    batches = [msk_event_of(events[i : i + 100], partition=2, first_offset=i) for i in range(0, len(events), 100)]
    for batch in reversed(batches):  # newest first: out of order
        app.consume_events(batch, LambdaContext("consumer", 512))
    stored = timeline(api, match_id)
    expected = expected_stats(match_id, events)
    assert sum(expected["score"].values()) == 3  # two goals and an own goal
    assert api.http.get(f"/matches/{match_id}/stats").json_body == expected
    for batch in batches:  # every batch again
        app.consume_events(batch, LambdaContext("consumer", 512))
    assert api.http.get(f"/matches/{match_id}/stats").json_body == expected
    assert timeline(api, match_id) == stored
