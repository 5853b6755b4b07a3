"""Any path, query string, header and body on any route, and any WebSocket message: never a 5xx but 503,
and every error a JSON object. The real app and repository behind fakes of Kafka and DynamoDB."""

import json
from urllib.parse import quote

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app
from chalicelib import live
from chalicelib.directory import MatchDirectory
from chalicelib.records import DEFAULT_PROVIDER
from chalicelib.repository import EventRepository
from chalicelib.security import IngestToken, Producer, fingerprint
from tests.support.fakes import EmptyDynamoDB, RecordingPublisher, serve_with

TOKEN = "surface-token"
ROUTES = [
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/config"),
    ("GET", "/assets/{a}"),
    ("GET", "/matches"),
    ("GET", "/matches/{a}"),
    ("GET", "/matches/{a}/goals"),
    ("GET", "/matches/{a}/passes"),
    ("GET", "/matches/{a}/events/{b}"),
    ("GET", "/matches/{a}/stats"),
    ("GET", "/matches/{a}/changes"),
    ("POST", "/events"),
    ("DELETE", "/matches/{a}/events/{b}"),
]
GATEWAY_ANSWERS = (401, 403, 415)  # answered before the app by the authorizer and the gateway, in their shapes
PARAMETERS = ["limit", "cursor", "after", "order", "from", "to", "status", "date", "x"]

segments = st.one_of(st.text(min_size=1, max_size=80), st.sampled_from(["m1", "app.js", "goal", "e1", "²", "%E0"]))
values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["²", "9" * 5000, "0", "-1", "asc", "2026-01-01", "000000000001.000", "e30"]),
    st.binary(max_size=400).map(lambda b: __import__("base64").urlsafe_b64encode(b).decode()),
    st.integers(0, 4000).map(lambda n: __import__("base64").urlsafe_b64encode(b"[" * n).decode()),
)
queries = st.dictionaries(st.sampled_from(PARAMETERS), values, max_size=3)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.sampled_from([f"Bearer {TOKEN}", "Bearer x", "", "Basic y"]),
        "Content-Type": st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8"]),
        "If-None-Match": st.text(max_size=40),
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.just(b"[" * 5000),
    st.builds(lambda n: json.dumps({"events": [{"x": 1}] * n}).encode(), st.integers(0, 600)),
)


@pytest.fixture
def client(monkeypatch):
    serve_with(
        monkeypatch,
        ingest_token=IngestToken({"INGEST_TOKEN": TOKEN}, secrets_client=None),
        publisher=RecordingPublisher(),
        repository=EventRepository(EmptyDynamoDB(), "t"),  # type: ignore[arg-type]
        directory=MatchDirectory(EmptyDynamoDB(), "t"),  # type: ignore[arg-type]
    )
    with Client(app.app) as test_client:
        yield test_client


def _path(template: str, a: str, b: str, query: dict[str, str]) -> str:
    path = template.format(a=quote(a, safe=""), b=quote(b, safe=""))
    return path + ("?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items()) if query else "")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ROUTES), segments, segments, queries, headers, bodies)
def test_no_request_gets_a_5xx_other_than_503_and_every_error_is_json(client, route, a, b, query, sent, body):
    method, template = route
    response = client.http.request(method, _path(template, a, b, query), headers=sent, body=body)
    assert response.status_code < 500 or response.status_code == 503, (method, template, response.body[:300])
    if response.status_code >= 400:
        answer = json.loads(response.body)
        assert isinstance(answer, dict), response.body[:300]
        if response.status_code not in GATEWAY_ANSWERS:
            assert "error" in answer, response.body[:300]


class Subscriptions:
    def subscribe(self, connection_id, match_id):
        pass

    def unsubscribe(self, connection_id, match_id):
        pass

    def producer_token(self, connection_id):
        return fingerprint(TOKEN) if connection_id == "producer" else None


messages_ = st.one_of(
    st.text(max_size=300),
    st.just("[" * 3000),
    st.builds(
        lambda action, extra: json.dumps({"action": action} | extra),
        st.sampled_from(["subscribe", "unsubscribe", "publish", "ping", "dance"]),
        st.dictionaries(
            st.sampled_from(["match_id", "events", "request_id"]),
            st.one_of(
                st.none(), st.integers(), st.text(max_size=80), st.lists(st.dictionaries(st.text(), st.integers()))
            ),
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["producer", "fan"]), messages_)
def test_every_websocket_message_gets_one_json_answer(connection_id, text):
    answer = live.message(
        connection_id,
        text,
        subscriptions=Subscriptions(),  # type: ignore[arg-type]
        repository=EventRepository(EmptyDynamoDB(), "t"),  # type: ignore[arg-type]
        publisher=RecordingPublisher(),  # type: ignore[arg-type]
        accepted_tokens=lambda: {TOKEN: Producer(DEFAULT_PROVIDER)},
    )
    assert json.loads(answer)["type"] in ("subscribed", "unsubscribed", "accepted", "error", "pong")
