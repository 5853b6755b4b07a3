"""Topic provisioning: the CloudFormation custom resource that creates the topics on MSK.

The producer never creates topics at request time; the stack does, once,
through this handler (behind the CDK custom-resource provider framework).
Deleting the stack keeps the topics: events are data. kafka-python is imported
when the handler runs, not with the app module that every function imports.
"""

from collections.abc import Mapping
from typing import Any

from chalicelib.config import Settings
from chalicelib.publishing import connection_config


def on_event(event: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Create/Update: make sure each topic in ``Topics`` exists. Delete: nothing."""
    topics = [(t["Name"], int(t["Partitions"])) for t in event["ResourceProperties"]["Topics"]]
    physical_id = ",".join(name for name, _ in topics)
    if event["RequestType"] in ("Create", "Update"):
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(**connection_config(settings), request_timeout_ms=30_000)
        try:
            for name, partitions in topics:
                try:
                    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=-1)])
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()
    return {"PhysicalResourceId": physical_id}
