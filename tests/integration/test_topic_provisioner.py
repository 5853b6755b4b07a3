"""The custom-resource handler behind Custom::KafkaTopics, against the real local broker."""

import uuid

import pytest
from kafka import KafkaAdminClient

from chalicelib.config import Settings
from chalicelib.topics import on_event


def test_create_makes_every_topic_and_repeating_it_or_deleting_changes_nothing(environ):
    names = [f"provisioned-{uuid.uuid4().hex[:6]}", f"provisioned-{uuid.uuid4().hex[:6]}-dlq"]
    event = {
        "RequestType": "Create",
        "ResourceProperties": {"Topics": [{"Name": names[0], "Partitions": "4"}, {"Name": names[1], "Partitions": 1}]},
    }
    settings = Settings.from_env(environ)
    for request_type in ("Create", "Update", "Delete"):
        assert on_event(event | {"RequestType": request_type}, settings) == {"PhysicalResourceId": ",".join(names)}
    admin = KafkaAdminClient(bootstrap_servers=environ["KAFKA_BOOTSTRAP_SERVERS"])
    described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
    admin.close()
    assert described == {names[0]: 4, names[1]: 1}


def test_an_update_adds_partitions_and_refuses_to_remove_any(environ):
    name = f"provisioned-{uuid.uuid4().hex[:6]}"
    settings = Settings.from_env(environ)

    def provision(request_type, partitions):
        topics = [{"Name": name, "Partitions": str(partitions)}]
        return on_event({"RequestType": request_type, "ResourceProperties": {"Topics": topics}}, settings)

    provision("Create", 2)
    provision("Update", 6)
    admin = KafkaAdminClient(bootstrap_servers=environ["KAFKA_BOOTSTRAP_SERVERS"])
    assert [len(t["partitions"]) for t in admin.describe_topics([name])] == [6]
    admin.close()
    with pytest.raises(ValueError, match="cannot remove partitions"):
        provision("Update", 3)
