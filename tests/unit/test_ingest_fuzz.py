"""Throw random bodies, headers and sizes at POST /events: each gets its one right status, never a trace, and
only a valid body is published."""

import json

from chalice.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import app
from chalicelib.errors import InvalidEvents
from chalicelib.events import MAX_BATCH, parse_batch
from chalicelib.security import IngestToken
from tests.support.fakes import RecordingPublisher, serve_with
from tests.unit.test_schema_properties import json_values, valid_events

TOKEN = "fuzz-token"
FIELDS = [
    "match_id",
    "event_type",
    "timestamp",
    "team_id",
    "player_id",
    "event_id",
    "period",
    "minute",
    "second",
    "outcome",
    "x",
    "y",
    "related_player_id",
    "events",
    "received_at",
]
JSON_CONTENT_TYPES = (None, "application/json", "application/json; charset=utf-8")  # none sent: Chalice reads JSON


bodies = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda event, name, value: json.dumps(event | {name: value}).encode(),
        valid_events(),
        st.sampled_from(FIELDS),
        json_values,
    ),
    st.lists(valid_events(), max_size=3).map(lambda events: json.dumps({"events": events}).encode()),
    st.integers(1, 3).map(lambda n: b'{"events": [' + b",".join([b'{"x": 1}'] * (n * 300)) + b"]}"),
)
any_headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "text/plain",
                "application/xml",
                "",
                "multipart/form-data",
            ]
        ),
        "Authorization": st.sampled_from([f"Bearer {TOKEN}", "Bearer nope", "", "Basic abc", f"Bearer {TOKEN} extra"]),
        "X-Random": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=50),
    },
)
producer_headers = st.fixed_dictionaries(
    {"Authorization": st.just(f"Bearer {TOKEN}"), "Content-Type": st.just("application/json")},
    optional={"X-Random": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=50)},
)
headers = st.one_of(any_headers, producer_headers)  # half from a real producer, so bodies reach the publish


def right_status(body: bytes, request_headers: dict[str, str]) -> int:
    """In the order the API checks them: producer token, media type, JSON, batch size, the events."""
    if request_headers.get("Authorization") != f"Bearer {TOKEN}":
        return 401
    if request_headers.get("Content-Type") not in JSON_CONTENT_TYPES:
        return 415
    try:
        parsed = json.loads(body)
    except ValueError:
        return 400
    if isinstance(parsed, dict) and isinstance(parsed.get("events"), list) and len(parsed["events"]) > MAX_BATCH:
        return 413
    try:
        parse_batch(parsed)
    except InvalidEvents:
        return 400
    return 202


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, request_headers=headers)
def test_every_request_gets_its_one_right_status_never_a_trace_and_only_valid_bodies_are_published(
    monkeypatch, body, request_headers
):
    publisher = RecordingPublisher()
    serve_with(monkeypatch, publisher=publisher, ingest_token=IngestToken({"INGEST_TOKEN": TOKEN}, secrets_client=None))
    with Client(app.app) as client:
        response = client.http.post("/events", headers=request_headers, body=body)
    status = right_status(body, request_headers)
    event(f"status {status}")  # pytest --hypothesis-show-statistics: how often each branch ran
    assert response.status_code == status, response.body
    assert b"Traceback" not in response.body
    assert len(publisher.published) == (status == 202)
