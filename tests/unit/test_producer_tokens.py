"""Producer tokens: scoped to a provider and its matches, both versions of the secret during a rotation,
stored values stripped, and no secret fetched for a connection that shows no token."""

import json
import re

import pytest
from chalice.test import Client

import app
from chalicelib import live
from chalicelib.security import (
    IDENTITY_VALIDATION_EXPRESSION,
    IngestToken,
    Producer,
    Unauthorized,
    fingerprint,
    identify,
    parse_tokens,
)
from tests.support.fakes import RecordingPublisher, serve_with

GOAL = {"match_id": "m1", "event_type": "goal", "timestamp": "2026-01-01T00:00:00Z", "team_id": "t", "player_id": "p"}
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ingest"


class NotFound(Exception):
    pass


class SecretsManager:
    class exceptions:  # boto3's spelling
        ResourceNotFoundException = NotFound

    def __init__(self, versions):
        self.versions, self.calls = versions, 0

    def get_secret_value(self, SecretId, VersionStage):
        self.calls += 1
        if VersionStage not in self.versions:
            raise NotFound(VersionStage)
        return {"SecretString": self.versions[VersionStage]}


def check_bearer(header, accepted):
    return identify(header, accepted)[0]


def tokens(versions, clock=lambda: 0.0):
    secrets = SecretsManager(versions)
    return IngestToken({"INGEST_TOKEN_SECRET_ARN": ARN}, lambda: secrets, clock), secrets


def test_during_a_rotation_the_current_and_the_previous_token_are_both_accepted():
    token, _ = tokens({"AWSCURRENT": "new-token", "AWSPREVIOUS": "old-token"})
    for shown in ("new-token", "old-token"):
        check_bearer(f"Bearer {shown}", token.accepted)
    with pytest.raises(Unauthorized):
        check_bearer("Bearer older-token", token.accepted)


def test_a_stored_token_is_stripped_and_a_secret_never_rotated_has_one_version():
    token, _ = tokens({"AWSCURRENT": "stored-token\n"})
    check_bearer("Bearer stored-token", token.accepted)
    assert token.accepted() == {"stored-token": Producer("default")}


@pytest.mark.parametrize("stored", ["", "   \n", "two words"])
def test_a_stored_value_that_is_no_token_admits_nobody(stored):
    token, _ = tokens({"AWSCURRENT": stored})
    with pytest.raises(Unauthorized):
        check_bearer(f"Bearer {stored.strip() or 'x'}", token.accepted)


def test_the_secret_is_read_once_per_five_minutes_and_only_when_a_token_is_shown():
    now = [0.0]
    token, secrets = tokens({"AWSCURRENT": "t"}, clock=lambda: now[0])

    class Subscriptions:
        def connect(self, connection_id, token_fingerprint):
            pass

    live.connect("fan", {}, {}, token.accepted, Subscriptions())  # type: ignore[arg-type]
    assert secrets.calls == 0
    live.connect("producer", {"Authorization": "Bearer t"}, {}, token.accepted, Subscriptions())  # type: ignore[arg-type]
    check_bearer("Bearer t", token.accepted)
    assert secrets.calls == 2  # both stages, once
    now[0] += 301
    check_bearer("Bearer t", token.accepted)
    assert secrets.calls == 4


def test_a_producer_connection_stops_publishing_once_its_token_is_rotated_out():
    accepted = ["old-token"]

    class Subscriptions:
        def producer_token(self, connection_id):
            return fingerprint("old-token")

    def publish():
        return json.loads(
            live.message(
                "producer",
                json.dumps({"action": "publish", "request_id": "r", "events": [GOAL]}),
                subscriptions=Subscriptions(),  # type: ignore[arg-type]
                repository=None,  # type: ignore[arg-type]
                publisher=RecordingPublisher(),  # type: ignore[arg-type]
                accepted_tokens=lambda: {t: Producer("default") for t in accepted},
            )
        )

    assert publish()["type"] == "accepted"
    accepted[:] = ["new-token", "newer-token"]  # rotated twice: the connection's token is no longer either
    assert (publish()["type"], publish()["error"]) == ("error", "unauthorized")


ACME = "acme-token"
SCOPES = {ACME: {"provider": "acme", "match_prefixes": ["acme-", "cup-"]}, "open-token": {"provider": "open"}}


def test_ingest_tokens_name_a_provider_and_its_match_prefixes_beside_the_default_token():
    accepted = IngestToken({"INGEST_TOKENS": json.dumps(SCOPES), "INGEST_TOKEN": "plain"}, None).accepted()
    assert accepted == {
        ACME: Producer("acme", ("acme-", "cup-")),
        "open-token": Producer("open"),
        "plain": Producer("default"),
    }


def test_a_scoped_secret_and_its_previous_plain_value_are_both_accepted_during_a_rotation():
    token, _ = tokens({"AWSCURRENT": json.dumps(SCOPES) + "\n", "AWSPREVIOUS": "old-plain"})
    assert identify(f"Bearer {ACME}", token.accepted)[1] == Producer("acme", ("acme-", "cup-"))
    assert identify("Bearer old-plain", token.accepted)[1] == Producer("default")


@pytest.mark.parametrize(
    "scope",
    [
        {"provider": "bad name"},
        {"provider": "acme", "match_prefixes": "acme-"},
        {"provider": "acme", "match_prefixes": [""]},
        {"provider": "acme", "role": "admin"},
        "acme",
    ],
)
def test_an_invalid_scope_leaves_its_token_out_and_keeps_the_others(scope):
    accepted = parse_tokens(json.dumps({"bad-token": scope, ACME: SCOPES[ACME]}))
    assert set(accepted) == {ACME}


@pytest.mark.parametrize("stored", ["{not json", "{" * 5000, '{"t": {"provider": "a"}} trailing'])
def test_tokens_that_are_not_json_admit_nobody_and_raise_nothing(stored):
    assert parse_tokens(stored) == {}


def test_every_acceptable_token_passes_the_gateways_identity_validation_expression():
    expression = re.compile(IDENTITY_VALIDATION_EXPRESSION)
    for token in ("t", "a" * 512, "~!#$%&'*+-./0123456789:;<=>?@[]^_`{|}", "Zz9"):
        assert parse_tokens(token)
        assert expression.match(f"Bearer {token}") and expression.match(f"bearer {token}")
    for header in ("Bearer", "Bearer ", "Basic abc", "Bearer two words", "Bearer " + "a" * 513, "Bearer caf\u00e9"):
        assert not expression.match(header)


@pytest.fixture
def scoped(monkeypatch):
    publisher = RecordingPublisher()
    serve_with(monkeypatch, publisher=publisher, ingest_token=IngestToken({"INGEST_TOKENS": json.dumps(SCOPES)}, None))
    with Client(app.app) as client:
        yield client, publisher


def as_acme(body):
    return {
        "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {ACME}"},
        "body": json.dumps(body),
    }


def test_a_batch_naming_any_match_outside_the_scope_is_refused_whole_with_403(scoped):
    client, publisher = scoped
    events = [GOAL | {"match_id": m} for m in ("acme-1", "other-2", "cup-3", "zzz-4", "other-2")]
    response = client.http.post("/events", **as_acme({"events": events}))
    assert response.status_code == 403
    assert response.json_body["error"] == "forbidden_match"
    assert response.json_body["match_ids"] == ["other-2", "zzz-4"]
    assert response.json_body["message"]
    assert publisher.published == []


def test_a_batch_within_the_scope_is_published_as_its_provider(scoped):
    client, publisher = scoped
    response = client.http.post("/events", **as_acme({"events": [GOAL | {"match_id": "cup-final"}]}))
    assert response.status_code == 202
    assert publisher.providers == ["acme"]


def test_delete_outside_the_scope_is_403_and_inside_is_202(scoped):
    client, publisher = scoped
    headers = {"Authorization": f"Bearer {ACME}"}
    refused = client.http.delete("/matches/other-1/events/e1", headers=headers)
    assert (refused.status_code, refused.json_body["match_ids"]) == (403, ["other-1"])
    assert client.http.delete("/matches/acme-1/events/e1", headers=headers).status_code == 202
    assert publisher.providers == ["acme"]


def test_a_token_the_route_does_not_accept_is_401_even_past_the_authorizer(scoped):
    client, publisher = scoped
    response = client.http.post("/events", headers={"Authorization": "Bearer nobody"}, body=json.dumps(GOAL))
    assert response.status_code == 401
    assert publisher.published == []


def test_a_websocket_publish_outside_the_scope_gets_forbidden_match(monkeypatch):
    class Subscriptions:
        def producer_token(self, connection_id):
            return fingerprint(ACME)

    publisher = RecordingPublisher()

    def publish(match_id):
        return json.loads(
            live.message(
                "producer",
                json.dumps({"action": "publish", "request_id": "r", "events": [GOAL | {"match_id": match_id}]}),
                subscriptions=Subscriptions(),  # type: ignore[arg-type]
                repository=None,  # type: ignore[arg-type]
                publisher=publisher,  # type: ignore[arg-type]
                accepted_tokens=lambda: parse_tokens(json.dumps(SCOPES)),
            )
        )

    refused = publish("other-9")
    assert (refused["type"], refused["error"], refused["match_ids"], refused["request_id"]) == (
        "error",
        "forbidden_match",
        ["other-9"],
        "r",
    )
    assert publish("acme-9")["type"] == "accepted"
    assert publisher.providers == ["acme"]
