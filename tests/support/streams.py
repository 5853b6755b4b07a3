"""Reading a table's DynamoDB stream to its end, for tests of what a write left in it."""

from typing import Any


def stream_shard(dynamodb: Any, streams: Any, table: str) -> tuple[str, dict[str, Any]]:
    """The table's stream ARN and its one shard's description."""
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    return arn, shard


def read_stream(dynamodb: Any, streams: Any, table: str, after: str | None = None) -> list[dict[str, Any]]:
    """Every record of the table's one shard (after sequence number ``after``, if given), oldest first."""
    arn, shard = stream_shard(dynamodb, streams, table)
    position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after else {}
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], **(position or {"ShardIteratorType": "TRIM_HORIZON"})
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        if not page["Records"]:
            return records
        records += page["Records"]
        iterator = page.get("NextShardIterator")
    return records


def last_sequence(dynamodb: Any, streams: Any, table: str) -> str | None:
    records = read_stream(dynamodb, streams, table)
    return records[-1]["dynamodb"]["SequenceNumber"] if records else None
