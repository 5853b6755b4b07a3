"""Topic provisioning: the CloudFormation custom resource that creates the topics on MSK.

The producer never creates topics at request time; the stack does, through
this handler (behind the CDK custom-resource provider framework):

- Create makes each topic with its partitions, and finds one that exists as it is.
- Update makes new topics and adds partitions to those that have fewer than asked (Kafka can add
  partitions, never remove them: asking for fewer fails the update, and the stack rolls back).
- Delete leaves the topics alone. They live in the cluster, so deleting the stack, which deletes the
  cluster, deletes them with it.

kafka-python is imported when the handler runs, not with the app module that every function imports.
"""

from collections.abc import Mapping
from typing import Any

from chalicelib.config import Settings
from chalicelib.publishing import connection_config


def on_event(event: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Create/Update: each topic in ``Topics`` exists with at least its partitions. Delete: nothing."""
    topics = {t["Name"]: int(t["Partitions"]) for t in event["ResourceProperties"]["Topics"]}
    physical_id = ",".join(topics)
    if event["RequestType"] in ("Create", "Update"):
        from kafka import KafkaAdminClient
        from kafka.admin import NewPartitions, NewTopic

        admin = KafkaAdminClient(**connection_config(settings), request_timeout_ms=30_000)
        try:
            present = [name for name in admin.list_topics() if name in topics]  # only those it may describe
            existing = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(present)} if present else {}
            missing = [
                NewTopic(n, num_partitions=p, replication_factor=-1) for n, p in topics.items() if n not in existing
            ]
            if missing:
                admin.create_topics(missing)
            fewer = {name: wanted for name, wanted in topics.items() if name in existing and existing[name] < wanted}
            if any(existing[name] > wanted for name, wanted in topics.items() if name in existing):
                raise ValueError(f"Kafka cannot remove partitions: {existing} exist, {topics} asked")
            if fewer:
                admin.create_partitions({name: NewPartitions(total_count=p) for name, p in fewer.items()})
        finally:
            admin.close()
    return {"PhysicalResourceId": physical_id}
