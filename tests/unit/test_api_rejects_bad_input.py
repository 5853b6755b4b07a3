"""Bad requests get a clear 4xx before anything reaches Kafka.

The publisher here only records calls: these tests pin down that rejection
happens before publishing. That nothing is stored end to end is checked
against the real services in tests/integration.
"""

import base64
import json

import pytest
from chalice.test import Client

import app
from chalicelib.security import IngestToken
from tests.support.fakes import RecordingPublisher, serve_with

GOAL = {
    "match_id": "match123",
    "event_type": "goal",
    "player_id": "player456",
    "team_id": "team789",
    "timestamp": "2023-06-15T14:30:00Z",
}
TOKEN = "unit-test-token"
JSON = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def publisher():
    return RecordingPublisher()


@pytest.fixture
def client(monkeypatch, publisher):
    serve_with(monkeypatch, publisher=publisher, ingest_token=IngestToken({"INGEST_TOKEN": TOKEN}, secrets_client=None))
    with Client(app.app) as test_client:
        yield test_client


def post(client, body, headers=JSON):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.http.post("/events", headers=headers, body=raw)


def test_health(client):
    response = client.http.get("/health")
    assert (response.status_code, response.json_body) == (200, {"status": "ok"})


def test_valid_batch_is_published_whole_and_answered_202(client, publisher):
    response = post(client, {"events": [GOAL, GOAL | {"event_id": "e2"}]})
    assert response.status_code == 202
    assert response.json_body["accepted"] == 2
    assert response.json_body["event_ids"][1] == "e2"
    assert [len(batch) for batch in publisher.published] == [2]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        ("", 400, "invalid_json"),
        (GOAL | {"timestamp": "soon"}, 400, "invalid_events"),
        ({k: v for k, v in GOAL.items() if k != "match_id"}, 400, "invalid_events"),
        (GOAL | {"unexpected": 1}, 400, "invalid_events"),
        ({"events": []}, 400, "invalid_events"),
        ({"events": [GOAL, GOAL | {"period": 9}]}, 400, "invalid_events"),
        ([GOAL], 400, "invalid_events"),
        ({"events": [GOAL] * 501}, 413, "batch_too_large"),
        (GOAL | {"event_id": "x" * (1024 * 1024)}, 413, "body_too_large"),
    ],
)
def test_bad_bodies_get_a_4xx_and_publish_nothing(client, publisher, body, status, code):
    response = post(client, body)
    assert (response.status_code, response.json_body["error"]) == (status, code)
    assert publisher.published == []


def test_invalid_batch_names_each_bad_field_with_its_index(client, publisher):
    response = post(client, {"events": [GOAL, GOAL | {"minute": 200, "x": -1}]})
    assert response.json_body["errors"] == [
        {"index": 1, "field": "minute", "message": "must be between 0 and 130"},
        {"index": 1, "field": "x", "message": "must be between 0 and 100"},
    ]


def test_non_json_content_type_is_415(client, publisher):
    response = post(client, GOAL, headers=JSON | {"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert publisher.published == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/matches/m1?limit=0", "limit"),
        ("/matches/m1?limit=1001", "limit"),
        ("/matches/m1?limit=ten", "limit"),
        ("/matches/m1?order=sideways", "order"),
        ("/matches/m1?from=yesterday", "from"),
        ("/matches/m1?colour=red", "colour"),
        ("/matches/m1/events/penalty", "penalty"),
    ],
)
def test_bad_query_parameters_are_400(client, path, message):
    response = client.http.get(path)
    assert response.status_code == 400
    assert message in response.json_body["message"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"bearer  {TOKEN[:-1]}"],
)
def test_missing_or_wrong_producer_token_is_401(client, publisher, authorization):
    headers = {"Content-Type": "application/json"} | (
        {"Authorization": authorization} if authorization is not None else {}
    )
    response = post(client, GOAL, headers=headers)
    assert response.status_code == 401
    assert publisher.published == []


def test_bearer_scheme_is_case_insensitive(client, publisher):
    assert post(client, GOAL, headers=JSON | {"Authorization": f"bearer {TOKEN}"}).status_code == 202


def test_reads_need_no_token(client):
    assert client.http.get("/matches/m1/events/penalty").status_code == 400  # reached the route, not the authorizer


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/matches?limit=%C2%B2", "invalid_query"),  # "²".isdigit() is true; int("²") is not a number
        ("/matches/m1?limit=" + "9" * 5000, "invalid_query"),
        ("/matches/m1/changes?limit=%D9%A3", "invalid_query"),  # an Arabic-Indic three
        ("/matches/m1/changes?after=%C2%B2" + "0" * 11 + ".000", "invalid_cursor"),
        ("/matches?cursor=" + _cursor("[" * 3000), "invalid_cursor"),
        ("/matches?cursor=" + _cursor("[" * 900 + "]" * 900), "invalid_cursor"),
        ("/matches/m1?cursor=" + _cursor("[" * 3000), "invalid_cursor"),
        ("/matches/m1?cursor=" + _cursor(json.dumps({"match_id": "m1", "sk": "", "time_sk": "x"})), "invalid_cursor"),
        (
            "/matches/m1?cursor=" + _cursor(json.dumps({"match_id": "m1", "sk": "e#" + "x" * 3000, "time_sk": "x"})),
            "invalid_cursor",
        ),
        ("/matches/" + "m" * 65, "invalid_match_id"),
        ("/matches/" + "m" * 65 + "/stats", "invalid_match_id"),
        ("/matches/bad%20id/changes", "invalid_match_id"),
        ("/matches/%F0%9F%98%80/goals", "invalid_match_id"),
    ],
)
def test_hostile_paths_and_parameters_get_a_400_before_any_read(client, path, code):
    response = client.http.get(path)
    assert (response.status_code, response.json_body["error"]) == (400, code)


def test_an_error_lists_the_first_50_field_errors_and_how_many_there_were(client, publisher):
    response = post(client, {"events": [GOAL | {f"unknown_{n}": 1} for n in range(80)]})
    assert response.status_code == 400
    assert len(response.json_body["errors"]) == 50 and response.json_body["error_count"] == 80
    assert publisher.published == []


def test_a_huge_unknown_field_is_quoted_short(client, publisher):
    response = post(client, GOAL | {"x" * 500_000: 1})
    assert response.status_code == 400
    assert len(response.body) < 1000
