"""Throw random bodies, headers and sizes at POST /events: never a 5xx, never a trace, nothing published."""

import json

from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app
from chalicelib.events import InvalidEvents, parse_batch
from chalicelib.security import IngestToken
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


class RecordingPublisher:
    def __init__(self):
        self.published = []

    def publish(self, events, received_at):
        self.published.append(events)


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
headers = st.fixed_dictionaries(
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, request_headers=headers)
def test_no_request_gets_a_5xx_or_a_trace_and_only_valid_bodies_are_published(monkeypatch, body, request_headers):
    publisher = RecordingPublisher()
    monkeypatch.setattr(app.services, "publisher", publisher)
    monkeypatch.setattr(app.services, "ingest_token", IngestToken({"INGEST_TOKEN": TOKEN}, secrets_client=None))
    with Client(app.app) as client:
        response = client.http.post("/events", headers=request_headers, body=body)
    assert 200 <= response.status_code < 500
    assert b"Traceback" not in response.body
    if response.status_code == 202:
        assert len(publisher.published) == 1
        assert parse_batch(json.loads(body))
    else:
        assert publisher.published == []
        if response.status_code == 400 and response.json_body.get("error") == "invalid_events":
            try:
                parse_batch(json.loads(body))
            except InvalidEvents:
                pass
            else:
                raise AssertionError("a valid body was rejected")
