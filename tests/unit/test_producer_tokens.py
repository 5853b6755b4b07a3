"""The producer token in the cloud: both versions of the secret during a rotation, stored values stripped,
and no secret fetched for a connection that shows no token."""

import json

import pytest

from chalicelib import live
from chalicelib.security import IngestToken, Unauthorized, check_bearer, fingerprint
from tests.support.fakes import RecordingPublisher

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
    assert token.accepted() == ("stored-token",)


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
                accepted_tokens=lambda: tuple(accepted),
            )
        )

    assert publish()["type"] == "accepted"
    accepted[:] = ["new-token", "newer-token"]  # rotated twice: the connection's token is no longer either
    assert (publish()["type"], publish()["error"]) == ("error", "unauthorized")
