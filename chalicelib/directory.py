"""GET /matches: the match directory, read from the sharded ``directory`` index.

Every match's summary sits in one of ``layout.DIRECTORY_SHARDS`` index
partitions, sorted by latest activity, with what a page shows projected. A
page merges the partitions' heads, latest first, reading each a few entries at
a time, so one request reads about ``limit`` small entries in all, not a page
per partition, and nothing from the matches' own partitions. The cursor is the
last entry's sort key: every partition resumes below it.
"""

import json
import math
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

from chalicelib import cursors, layout
from chalicelib.errors import BadCursor
from chalicelib.events import MATCH_ID

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

PARALLEL_READS = 8


@attrs.frozen(kw_only=True)
class DirectoryQuery:
    """One page of the match directory; ``day`` is a checked YYYY-MM-DD."""

    status: str | None = None
    day: str | None = None
    limit: int = 50
    cursor: str | None = None


@attrs.define
class _Shard:
    """One index partition's read position: the entries read and not yet merged, and where to go on."""

    partition: str
    entries: list[dict[str, Any]] = attrs.field(factory=list)
    start: dict[str, Any] | None = None
    done: bool = False


class MatchDirectory:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self.client, self.table = client, table

    def page(self, query: DirectoryQuery) -> tuple[list[dict[str, Any]], str | None]:
        """Match summaries, latest activity first, optionally of one status and first day."""
        below = decode_cursor(query.cursor) if query.cursor else None
        if below is not None and query.day and below < query.day:
            raise BadCursor("cursor does not belong to this query")  # issued for another day
        # matches spread evenly over the shards: a page takes about limit / shards from each
        chunk = math.ceil((query.limit + 1) / layout.DIRECTORY_SHARDS) + 1
        shards = [_Shard(partition) for partition in layout.directory_partitions()]
        merged: list[dict[str, Any]] = []
        with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
            while len(merged) <= query.limit:  # one more than asked tells whether a next page exists
                # a shard that ran dry is read before it may lose the merge, and read on while a filter empties
                # its reads: only a shard with an entry in hand, or none left, can be compared
                while dry := [s for s in shards if not s.entries and not s.done]:
                    list(pool.map(lambda s: self._read(s, query, below, chunk), dry))
                ready = [s for s in shards if s.entries]
                if not ready:
                    break
                latest = max(ready, key=lambda s: s.entries[0][layout.DIRECTORY_SORT_KEY]["S"])
                merged.append(latest.entries.pop(0))
        page = merged[: query.limit]
        more = len(merged) > query.limit
        matches = [
            {
                "match_id": entry[layout.PARTITION_KEY]["S"],
                **json.loads(entry[layout.SUMMARY]["S"]),
                "event_count": int(entry.get(layout.EVENT_COUNT, {"N": "0"})["N"]),
            }
            for entry in page
        ]
        return matches, encode_cursor(page[-1][layout.DIRECTORY_SORT_KEY]["S"]) if more else None

    def _read(self, shard: _Shard, query: DirectoryQuery, below: str | None, chunk: int) -> None:
        if shard.done:
            return
        names = {"#pk": layout.DIRECTORY_PARTITION_KEY}
        values: dict[str, Any] = {":pk": {"S": shard.partition}}
        condition = "#pk = :pk"
        if query.day or below:
            names["#sk"] = layout.DIRECTORY_SORT_KEY
        # a match's latest activity is never before its first day: the day bounds the range from below
        if query.day and below:
            condition += " AND #sk BETWEEN :day AND :below"
            values |= {":day": {"S": query.day}, ":below": {"S": below}}
        elif query.day:
            condition += " AND #sk >= :day"
            values[":day"] = {"S": query.day}
        elif below:
            condition += " AND #sk < :below"
            values[":below"] = {"S": below}
        filters = []
        if query.day:
            names["#day"], values[":dayv"] = layout.FIRST_DAY, {"S": query.day}
            filters.append("#day = :dayv")
        if query.status:
            names["#status"], values[":status"] = layout.DIRECTORY_STATUS, {"S": query.status}
            filters.append("#status = :status")
        params: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": layout.DIRECTORY_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": chunk,
        }
        if filters:
            params["FilterExpression"] = " AND ".join(filters)
        if shard.start:
            params["ExclusiveStartKey"] = shard.start
        response = self.client.query(**params)
        shard.entries = [e for e in response["Items"] if e[layout.DIRECTORY_SORT_KEY]["S"] != below]
        shard.start = response.get("LastEvaluatedKey")
        shard.done = shard.start is None


def encode_cursor(sort_key: str) -> str:
    return cursors.encode({"below": sort_key})


def decode_cursor(cursor: str) -> str:
    """The sort key a cursor resumes below, or BadCursor."""
    key = cursors.decode(cursor)
    below = key.get("below", "") if set(key) == {"below"} else ""
    if "#" not in below or not MATCH_ID.fullmatch(below.rpartition("#")[2]):
        raise BadCursor("cursor does not belong to this query")
    return below
