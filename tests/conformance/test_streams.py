"""DynamoDB Streams as documented (Developer Guide, "Change data capture for DynamoDB Streams"; Streams API
Reference, GetShardIterator and GetRecords): one record per changed item with the view type's images, none
for a write that changes nothing, and the four iterator types."""

from typing import Any

from chalicelib import layout
from tests.support.streams import last_sequence, read_stream, stream_shard


def key(sort_key: str) -> dict[str, Any]:
    return {layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": sort_key}}


def test_a_transaction_leaves_one_record_per_item_with_new_and_old_images(engine, table):
    client, streams = engine.client(), engine.streams()
    client.put_item(TableName=table, Item=key("changed") | {"n": {"N": "1"}})
    client.put_item(TableName=table, Item=key("deleted") | {"n": {"N": "9"}})
    before = last_sequence(client, streams, table)
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": key("new") | {"n": {"N": "0"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": key("changed"),
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": table, "Key": key("deleted")}},
        ]
    )
    records = {r["dynamodb"]["Keys"]["sk"]["S"]: r for r in read_stream(client, streams, table, after=before)}
    assert {name: r["eventName"] for name, r in records.items()} == {
        "new": "INSERT",
        "changed": "MODIFY",
        "deleted": "REMOVE",
    }
    assert records["new"]["dynamodb"]["NewImage"]["n"] == {"N": "0"} and "OldImage" not in records["new"]["dynamodb"]
    assert records["changed"]["dynamodb"]["OldImage"]["n"] == {"N": "1"}
    assert records["changed"]["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert (
        records["deleted"]["dynamodb"]["OldImage"]["n"] == {"N": "9"}
        and "NewImage" not in records["deleted"]["dynamodb"]
    )


def test_an_update_that_creates_an_item_is_one_insert_and_a_write_that_changes_nothing_is_none(engine, table):
    client, streams = engine.client(), engine.streams()
    before = last_sequence(client, streams, table)
    client.update_item(
        TableName=table, Key=key("s#match"), UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "5"}}
    )
    client.put_item(TableName=table, Item=key("s#match") | {"n": {"N": "5"}})
    records = read_stream(client, streams, table, after=before)
    assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in records] == [
        ("INSERT", key("s#match") | {"n": {"N": "5"}})
    ]


def test_iterator_types_start_at_the_horizon_the_end_a_record_or_after_it(engine, table):
    client, streams = engine.client(), engine.streams()
    for n in range(3):
        client.put_item(TableName=table, Item=key(f"e#{n}"))
    arn, shard = stream_shard(client, streams, table)
    sequences = [r["dynamodb"]["SequenceNumber"] for r in read_stream(client, streams, table)]
    assert len(sequences) == 3 and [int(s) for s in sequences] == sorted(int(s) for s in sequences)

    def read(kind: str, sequence: str | None = None) -> list[str]:
        extra = {"SequenceNumber": sequence} if sequence else {}
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=kind, **extra)
        page = streams.get_records(ShardIterator=iterator["ShardIterator"])
        return [r["dynamodb"]["Keys"]["sk"]["S"] for r in page["Records"]]

    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")
    client.put_item(TableName=table, Item=key("e#3"))
    assert read("TRIM_HORIZON") == ["e#0", "e#1", "e#2", "e#3"]
    assert read("AT_SEQUENCE_NUMBER", sequences[1]) == ["e#1", "e#2", "e#3"]
    assert read("AFTER_SEQUENCE_NUMBER", sequences[1]) == ["e#2", "e#3"]
    after_latest = streams.get_records(ShardIterator=latest["ShardIterator"])["Records"]
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in after_latest] == ["e#3"]


def test_get_records_follows_next_shard_iterator_in_pages_of_its_limit(engine, table):
    client, streams = engine.client(), engine.streams()
    for n in range(5):
        client.put_item(TableName=table, Item=key(f"e#{n}"))
    arn, shard = stream_shard(client, streams, table)
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    pages = []
    token = iterator["ShardIterator"]
    for _ in range(3):
        page = streams.get_records(ShardIterator=token, Limit=2)
        pages.append([r["dynamodb"]["Keys"]["sk"]["S"] for r in page["Records"]])
        token = page["NextShardIterator"]
    assert pages == [["e#0", "e#1"], ["e#2", "e#3"], ["e#4"]]
