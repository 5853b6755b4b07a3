"""What DynamoDB never does, on a crash of the engine: lose an acknowledged write, or reuse a stream
sequence number (so a reader's checkpoint stays valid across the engine's restart)."""

from chalicelib import layout
from tests.support.streams import read_stream


def test_a_sigkill_right_after_the_acknowledgement_loses_no_write_and_the_stream_continues(engine, table):
    client, streams = engine.client(), engine.streams()
    written = []
    for n in range(20):
        sort_keys = [f"e#{n}-{i}" for i in range(5)]
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": sk}}}}
                for sk in sort_keys
            ]
        )
        written += sort_keys
    checkpoint = read_stream(client, streams, table)[-1]["dynamodb"]["SequenceNumber"]
    service = engine.restartable()
    service.kill()
    service.start()
    client, streams = engine.client(), engine.streams()
    stored = [
        i["sk"]["S"]
        for page in client.get_paginator("query").paginate(
            TableName=table, KeyConditionExpression="match_id = :m", ExpressionAttributeValues={":m": {"S": "m1"}}
        )
        for i in page["Items"]
    ]
    assert sorted(stored) == sorted(written)
    assert read_stream(client, streams, table, after=checkpoint) == []
    client.put_item(TableName=table, Item={layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": "after"}})
    (following,) = read_stream(client, streams, table, after=checkpoint)
    assert int(following["dynamodb"]["SequenceNumber"]) > int(checkpoint)
    assert following["dynamodb"]["Keys"]["sk"] == {"S": "after"}


def test_a_clean_stop_keeps_everything_too(engine, table):
    client = engine.client()
    client.put_item(TableName=table, Item={layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": "kept"}})
    service = engine.restartable()
    service.stop()
    service.start()
    got = engine.client().get_item(
        TableName=table, Key={layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": "kept"}}
    )
    assert "Item" in got
