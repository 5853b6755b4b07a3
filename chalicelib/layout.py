"""Table, index and key layout: the one place that knows how items are keyed.

Imported by the repository, the local stack and the CDK stack so the three can
never disagree. One partition per match (``match_id``) holds:

- ``e#<event_id>``: the event's current version, found by identity, so a
  correction replaces it in one conditional write. While it is live it also
  carries the keys of three sparse local secondary indexes: ``by_time``
  (``<timestamp>#<event_id>``, the timeline), ``by_type``
  (``<event_type>#<timestamp>#<event_id>``) and ``by_phase`` (match-level
  events only, for the status). A voided event keeps its item (a tombstone
  with its version) without those keys, so it leaves every read.
- ``c#<seq>``: the changes one transaction applied, in order: the change feed.
- ``s#match``, ``s#team#<id>``, ``s#player#<id>``: statistics counters, and
  ``s#roster#<event_id>``: the live lineups, substitutions, red cards and
  match-level events minutes are computed from, all read with one Query. A
  period's share of a counter sits beside it on the same item
  (``goals@2``). ``s#match`` also holds the feed's last sequence number and
  the match's summary. The ``directory`` global secondary index lists the
  summary items latest activity first, spread over DIRECTORY_SHARDS index
  partitions by a hash of the match_id, so no partition takes every match's
  updates. It projects the summary, the event count, the status and the
  first day, not the edge events, so its entries stay under 1 KB.
"""

import zlib
from typing import Any, Final

DEFAULT_TABLE = "football-match-events"
DEFAULT_TOPIC = "football-match-events"

PARTITION_KEY = "match_id"
SORT_KEY = "sk"
TIME_INDEX, TIME_SORT_KEY = "by_time", "time_sk"
TYPE_INDEX, TYPE_SORT_KEY = "by_type", "type_sk"
PHASE_INDEX, PHASE_SORT_KEY = "by_phase", "phase_sk"
DIRECTORY_INDEX, DIRECTORY_PARTITION_KEY, DIRECTORY_SORT_KEY = "directory", "dir_pk", "dir_sk"
DIRECTORY_SHARDS = 32  # index partitions of the directory: docs/capacity.md sizes them
DIRECTORY_STATUS = "status"  # on ``s#match``: the summary's status, projected for GET /matches?status=

# An event item holds its keys, its version and the whole stored event as one JSON string: one
# attribute to write, read and parse instead of a dozen typed ones, and pages splice it in as it is.
EVENT_BODY = "event"
VERSION = "version"
CHANGES = "changes"  # a change item's JSON list of {"change", "event"}
# On ``s#match``: the last change sequence number, and the summary with the live events it is computed
# from (earliest, latest, latest match-level, latest kick_off) and the sequence number it is exact at.
FEED_SEQ, SUMMARY, EDGES, SUMMARY_SEQ, FIRST_DAY = "feed_seq", "summary", "edges", "summary_seq", "first_day"
EVENT_COUNT = "event_count"  # on ``s#match``: the match's live events (chalicelib.stats)
DIRECTORY_PROJECTION = (SUMMARY, EVENT_COUNT, DIRECTORY_STATUS, FIRST_DAY)  # what a directory page shows

EVENT_PREFIX = "e#"
CHANGE_PREFIX = "c#"
STATS_PREFIX = "s#"
MATCH_STATS = "s#match"
ROSTER_PREFIX = "s#roster#"
INDEX_END = "~"  # sorts after every timestamp and event type: the top of an index range
STREAM_VIEW: Final = "NEW_AND_OLD_IMAGES"


def event_key(event_id: str) -> str:
    return f"{EVENT_PREFIX}{event_id}"


def time_sort_key(timestamp: str, event_id: str) -> str:
    return f"{timestamp}#{event_id}"


def type_sort_key(event_type: str, timestamp: str, event_id: str) -> str:
    return f"{event_type}#{timestamp}#{event_id}"


def directory_partition(match_id: str) -> str:
    """The directory index partition of a match's summary: a stable hash, so a match never moves."""
    return f"matches#{zlib.crc32(match_id.encode()) % DIRECTORY_SHARDS:02d}"


def directory_partitions() -> list[str]:
    return [f"matches#{shard:02d}" for shard in range(DIRECTORY_SHARDS)]


def change_key(seq: int) -> str:
    return f"{CHANGE_PREFIX}{seq:012d}"


def change_cursor(seq: int, index: int) -> str:
    """The feed's cursor of the index-th change of change item ``seq`` (the API's and the pushes')."""
    return f"{seq:012d}.{index:03d}"


def stats_key(kind: str, owner_id: str) -> str:
    """``s#match`` for the match; ``s#team#<id>`` and ``s#player#<id>``."""
    return MATCH_STATS if kind == "match" else f"{STATS_PREFIX}{kind}#{owner_id}"


def stats_owner(sort_key: str) -> tuple[str, str]:
    """(kind, id) back from a statistics item's sort key."""
    kind, _, owner_id = sort_key.removeprefix(STATS_PREFIX).partition("#")
    return kind, owner_id


def roster_key(event_id: str) -> str:
    return f"{ROSTER_PREFIX}{event_id}"


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments for DynamoDB ``create_table`` (local stack and tests)."""

    def local_index(name: str, sort_key: str) -> dict[str, Any]:
        return {
            "IndexName": name,
            "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [
                {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": sort_key, "KeyType": "RANGE"},
            ],
        }

    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in (
                PARTITION_KEY,
                SORT_KEY,
                TIME_SORT_KEY,
                TYPE_SORT_KEY,
                PHASE_SORT_KEY,
                DIRECTORY_PARTITION_KEY,
                DIRECTORY_SORT_KEY,
            )
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "LocalSecondaryIndexes": [
            local_index(TIME_INDEX, TIME_SORT_KEY),
            local_index(TYPE_INDEX, TYPE_SORT_KEY),
            local_index(PHASE_INDEX, PHASE_SORT_KEY),
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": DIRECTORY_INDEX,
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(DIRECTORY_PROJECTION)},
                "KeySchema": [
                    {"AttributeName": DIRECTORY_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": DIRECTORY_SORT_KEY, "KeyType": "RANGE"},
                ],
            }
        ],
        # the broadcaster reads each applied change from the stream (new and old images: stats moved?)
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
    }


# -- the subscriptions table (WebSocket) -------------------------------------------------------------------
# One partition per connection (its own item ``#``, with whether it is a producer, and one item ``m#<match>``
# per match it follows) and SUBSCRIBER_SHARDS per match (an item per subscribed connection, in the shard its
# connection id hashes to): a connection's matches are one Query, a match's connections one per shard, so a
# match with a hundred thousand followers spreads its reads over several partitions. Every item expires
# (TTL) after a connection's longest life.

DEFAULT_SUBSCRIPTIONS_TABLE = "football-match-subscriptions"
SUBSCRIPTION_KEY, SUBSCRIPTION_SORT_KEY, EXPIRES_AT = "pk", "sk", "expires_at"
CONNECTION_ITEM = "#"


def connection_key(connection_id: str) -> str:
    return f"c#{connection_id}"


def match_key(match_id: str) -> str:
    """The sort key, in a connection's partition, of a match it follows."""
    return f"m#{match_id}"


SUBSCRIBER_SHARDS = 8  # partitions of one match's followers: docs/capacity.md sizes them


def subscriber_partition(match_id: str, connection_id: str) -> str:
    """The partition of the match's followers that holds this connection (a stable hash of its id)."""
    return f"{match_key(match_id)}#{zlib.crc32(connection_id.encode()) % SUBSCRIBER_SHARDS}"


def subscriber_partitions(match_id: str) -> list[str]:
    return [f"{match_key(match_id)}#{shard}" for shard in range(SUBSCRIBER_SHARDS)]


def subscriptions_table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments for ``create_table``; TTL on EXPIRES_AT is set separately (update_time_to_live)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in (SUBSCRIPTION_KEY, SUBSCRIPTION_SORT_KEY)
        ],
        "KeySchema": [
            {"AttributeName": SUBSCRIPTION_KEY, "KeyType": "HASH"},
            {"AttributeName": SUBSCRIPTION_SORT_KEY, "KeyType": "RANGE"},
        ],
    }
