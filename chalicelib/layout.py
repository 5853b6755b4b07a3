"""Table, index and key layout: the one place that knows how items are keyed.

Imported by the repository, the local stack and the CDK stack so the three can
never disagree. Events are keyed ``<timestamp>#<event_id>`` inside their match,
so two events in the same millisecond get distinct, deterministic keys and a
redelivered event lands on the item it already wrote.
"""

from typing import Any

DEFAULT_TABLE = "football-match-events"
DEFAULT_TOPIC = "football-match-events"

PARTITION_KEY = "match_id"
SORT_KEY = "sk"
TYPE_INDEX = "by_type"
TYPE_SORT_KEY = "type_sk"

# An event item holds its keys plus the whole stored event as one JSON string: one attribute to
# write, read and parse instead of a dozen typed ones, and pages are served by splicing it in.
EVENT_BODY = "event"

# A match's statistics items share its partition: ``~stats#match#``, ``~stats#team#<id>`` and
# ``~stats#player#<id>``. "~" sorts after every timestamp, so event queries bound their range below it
# and one Query on the prefix reads all the totals.
STATS_PREFIX = "~stats#"
EVENTS_END = "~"


def stats_sort_key(kind: str, owner_id: str) -> str:
    return f"{STATS_PREFIX}{kind}#{owner_id}"


def stats_owner(sort_key: str) -> tuple[str, str]:
    """(kind, id) back from a statistics item's sort key."""
    kind, _, owner_id = sort_key.removeprefix(STATS_PREFIX).partition("#")
    return kind, owner_id


def event_sort_key(timestamp: str, event_id: str) -> str:
    return f"{timestamp}#{event_id}"


def type_sort_key(event_type: str, timestamp: str, event_id: str) -> str:
    return f"{event_type}#{timestamp}#{event_id}"


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments for DynamoDB ``create_table`` (local stack and tests)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
            {"AttributeName": TYPE_SORT_KEY, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": TYPE_INDEX,
                "KeySchema": [
                    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": TYPE_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
