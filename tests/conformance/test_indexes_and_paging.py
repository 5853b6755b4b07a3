"""Sparse secondary indexes, Query paging and one endpoint-wide account, as DynamoDB documents them
(Developer Guide, "Take advantage of sparse indexes"; API Reference, Query: Limit is applied before
FilterExpression, LastEvaluatedKey marks where a page stopped)."""

from typing import Any

from chalicelib import layout


def item(sort_key: str, **attributes: str) -> dict[str, Any]:
    return {layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": sort_key}} | {
        name: {"S": value} for name, value in attributes.items()
    }


def query_all(client: Any, **request: Any) -> list[dict[str, Any]]:
    return [found for page in client.get_paginator("query").paginate(**request) for found in page["Items"]]


def test_only_items_with_an_index_key_are_in_a_sparse_index_and_leave_it_when_it_is_removed(engine, table):
    client = engine.client()
    client.put_item(TableName=table, Item=item("e#1", time_sk="t1", dir_pk="matches", dir_sk="d1"))
    client.put_item(TableName=table, Item=item("e#2"))
    by_time = {"TableName": table, "IndexName": layout.TIME_INDEX, "KeyConditionExpression": "match_id = :m"}
    by_time["ExpressionAttributeValues"] = {":m": {"S": "m1"}}
    directory = {
        "TableName": table,
        "IndexName": layout.DIRECTORY_INDEX,
        "KeyConditionExpression": "dir_pk = :d",
        "ExpressionAttributeValues": {":d": {"S": "matches"}},
    }
    assert [i["sk"]["S"] for i in query_all(client, **by_time)] == ["e#1"]
    assert [i["sk"]["S"] for i in query_all(client, **directory)] == ["e#1"]
    client.update_item(
        TableName=table,
        Key={layout.PARTITION_KEY: {"S": "m1"}, layout.SORT_KEY: {"S": "e#1"}},
        UpdateExpression="REMOVE time_sk, dir_pk",
    )
    assert query_all(client, **by_time) == []
    assert query_all(client, **directory) == []


def test_a_global_index_query_reads_its_partition_in_sort_key_order_across_table_partitions(engine, table):
    client = engine.client()
    for match, day in (("m1", "2026-01-03"), ("m2", "2026-01-01"), ("m3", "2026-01-02")):
        client.put_item(
            TableName=table,
            Item={"match_id": {"S": match}, "sk": {"S": "s#match"}, "dir_pk": {"S": "matches"}, "dir_sk": {"S": day}},
        )
    client.put_item(
        TableName=table,
        Item={"match_id": {"S": "m4"}, "sk": {"S": "s#match"}, "dir_pk": {"S": "other"}, "dir_sk": {"S": "2026"}},
    )
    found = query_all(
        client,
        TableName=table,
        IndexName=layout.DIRECTORY_INDEX,
        KeyConditionExpression="dir_pk = :d",
        ExpressionAttributeValues={":d": {"S": "matches"}},
        ScanIndexForward=False,
    )
    assert [i["match_id"]["S"] for i in found] == ["m1", "m3", "m2"]


def test_limit_counts_items_evaluated_before_the_filter_and_pages_resume_where_they_stopped(engine, table):
    client = engine.client()
    for n in range(10):
        client.put_item(TableName=table, Item=item(f"e#{n}", kind="goal" if n % 3 == 0 else "pass"))
    request = {
        "TableName": table,
        "KeyConditionExpression": "match_id = :m",
        "FilterExpression": "kind = :goal",
        "ExpressionAttributeValues": {":m": {"S": "m1"}, ":goal": {"S": "goal"}},
        "Limit": 2,
    }
    first = client.query(**request)
    assert first["ScannedCount"] == 2 and first["Count"] == 1
    assert first["LastEvaluatedKey"] == {"match_id": {"S": "m1"}, "sk": {"S": "e#1"}}
    found = query_all(client, **request)
    assert [i["sk"]["S"] for i in found] == ["e#0", "e#3", "e#6", "e#9"]


def test_one_account_and_region_serve_every_client_whatever_its_credentials(engine, table):
    other = engine.client(region_name="eu-west-1", aws_access_key_id="AKIAOTHEROTHEROTHER1", aws_secret_access_key="x")
    assert table in other.list_tables(Limit=100)["TableNames"] or table in [
        name for page in other.get_paginator("list_tables").paginate() for name in page["TableNames"]
    ]


def test_a_key_range_on_a_local_index_pages_in_order_either_way(engine, table):
    client = engine.client()
    for n in range(12):
        client.put_item(TableName=table, Item=item(f"e#{n:02d}", time_sk=f"2026-01-01T00:00:{n % 6:02d}#{n:02d}"))
    client.put_item(TableName=table, Item=item("c#1"))  # not in the index
    request = {
        "TableName": table,
        "IndexName": layout.TIME_INDEX,
        "KeyConditionExpression": "match_id = :m AND time_sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":m": {"S": "m1"},
            ":low": {"S": "2026-01-01T00:00:01"},
            ":high": {"S": "2026-01-01T00:00:04~"},
        },
        "Limit": 3,
    }
    inside = sorted(f"2026-01-01T00:00:{n % 6:02d}#{n:02d}" for n in range(12) if 1 <= n % 6 <= 4)
    forward = [i["time_sk"]["S"] for i in query_all(client, **request)]
    backward = [i["time_sk"]["S"] for i in query_all(client, **request, ScanIndexForward=False)]
    assert forward == inside and backward == inside[::-1]
    assert len(client.query(**request)["Items"]) == 3
