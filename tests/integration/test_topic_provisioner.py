"""The custom-resource handler behind Custom::KafkaTopics, against the real local broker."""

import uuid

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
