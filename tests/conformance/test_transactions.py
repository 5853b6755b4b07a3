"""TransactWriteItems and conditional writes as DynamoDB documents them (API Reference, TransactWriteItems:
all-or-nothing, serializable, CancellationReasons; Developer Guide, "Service, account, and table quotas")."""

import threading
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import layout
from tests.support.streams import last_sequence, read_stream

ITEM_LIMIT = 400 * 1024


def key(sort_key: str, match: str = "m1") -> dict[str, Any]:
    return {layout.PARTITION_KEY: {"S": match}, layout.SORT_KEY: {"S": sort_key}}


def put(table: str, sort_key: str, **attributes: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": key(sort_key) | attributes}}


def update(table: str, sort_key: str, expression: str, values: dict[str, Any], **more: str) -> dict[str, Any]:
    request = {"TableName": table, "Key": key(sort_key), "UpdateExpression": expression}
    return {"Update": request | {"ExpressionAttributeValues": values} | more}


def cancellation(error: ClientError) -> list[str]:
    assert error.response["Error"]["Code"] == "TransactionCanceledException"
    return [reason["Code"] for reason in error.response["CancellationReasons"]]


def test_a_failed_condition_cancels_every_action_and_names_its_reason(engine, table):
    client = engine.client()
    client.put_item(TableName=table, Item=key("b") | {"n": {"N": "1"}})
    with pytest.raises(ClientError) as error:
        client.transact_write_items(
            TransactItems=[
                put(table, "a"),
                update(
                    table, "b", "ADD n :one", {":one": {"N": "1"}, ":two": {"N": "2"}}, ConditionExpression="n = :two"
                ),
            ]
        )
    assert cancellation(error.value) == ["None", "ConditionalCheckFailed"]
    assert "Item" not in client.get_item(TableName=table, Key=key("a"))
    assert client.get_item(TableName=table, Key=key("b"))["Item"]["n"] == {"N": "1"}


def test_a_cancelled_transaction_leaves_no_item_index_entry_or_stream_record(engine, table):
    client, streams = engine.client(), engine.streams()
    client.put_item(TableName=table, Item=key("guard"))
    before = last_sequence(client, streams, table)
    indexed = {
        layout.TIME_SORT_KEY: {"S": "2026-01-01T00:00:00.000Z#e1"},
        layout.DIRECTORY_PARTITION_KEY: {"S": "matches"},
        layout.DIRECTORY_SORT_KEY: {"S": "2026-01-01"},
    }
    with pytest.raises(ClientError) as error:
        client.transact_write_items(
            TransactItems=[
                put(table, "e#e1", **indexed),
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key("guard"),
                        "ConditionExpression": "attribute_not_exists(sk)",
                    }
                },
            ]
        )
    assert cancellation(error.value) == ["None", "ConditionalCheckFailed"]
    time_index = client.query(
        TableName=table,
        IndexName=layout.TIME_INDEX,
        KeyConditionExpression="match_id = :m",
        ExpressionAttributeValues={":m": {"S": "m1"}},
    )
    directory = client.query(
        TableName=table,
        IndexName=layout.DIRECTORY_INDEX,
        KeyConditionExpression="dir_pk = :d",
        ExpressionAttributeValues={":d": {"S": "matches"}},
    )
    assert time_index["Items"] == [] and directory["Items"] == []
    assert read_stream(client, streams, table, after=before) == []


def test_an_item_over_400_kb_is_refused_and_a_transaction_growing_one_is_cancelled_as_a_validation_error(engine, table):
    client = engine.client()
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName=table, Item=key("big") | {"body": {"S": "x" * (ITEM_LIMIT + 1)}})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    client.put_item(TableName=table, Item=key("grows") | {"body": {"S": "x" * 300_000}})
    with pytest.raises(ClientError) as error:
        client.transact_write_items(
            TransactItems=[
                put(table, "small"),
                update(table, "grows", "SET more = :more", {":more": {"S": "y" * 200_000}}),
            ]
        )
    assert cancellation(error.value) == ["None", "ValidationError"]
    assert "Item" not in client.get_item(TableName=table, Key=key("small"))
    assert "more" not in client.get_item(TableName=table, Key=key("grows"))["Item"]


def test_a_transaction_over_100_actions_or_4_mb_is_refused_whole(engine, table):
    client = engine.client()
    with pytest.raises(ClientError) as too_many:
        client.transact_write_items(TransactItems=[put(table, f"n{i}") for i in range(101)])
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as too_big:
        client.transact_write_items(
            TransactItems=[put(table, f"b{i}", body={"S": "x" * 390_000}) for i in range(11)]  # 4.3 MB
        )
    assert too_big.value.response["Error"]["Code"] == "ValidationException"
    assert (
        client.query(
            TableName=table, KeyConditionExpression="match_id = :m", ExpressionAttributeValues={":m": {"S": "m1"}}
        )["Items"]
        == []
    )


def test_two_actions_on_one_item_are_refused(engine, table):
    with pytest.raises(ClientError) as error:
        engine.client().transact_write_items(TransactItems=[put(table, "same"), put(table, "same")])
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_concurrent_conditional_updates_commit_each_value_once(engine, table):
    """Optimistic locking from 8 threads: every acknowledged update saw the value it replaced."""
    engine.client().put_item(TableName=table, Item=key("counter") | {"v": {"N": "0"}})
    commits: list[int] = []

    def race() -> None:
        client = engine.client()
        for _ in range(15):
            current = int(client.get_item(TableName=table, Key=key("counter"), ConsistentRead=True)["Item"]["v"]["N"])
            try:
                client.update_item(
                    TableName=table,
                    Key=key("counter"),
                    UpdateExpression="SET v = :next",
                    ConditionExpression="v = :seen",
                    ExpressionAttributeValues={":next": {"N": str(current + 1)}, ":seen": {"N": str(current)}},
                )
                commits.append(current + 1)
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = int(engine.client().get_item(TableName=table, Key=key("counter"), ConsistentRead=True)["Item"]["v"]["N"])
    assert sorted(commits) == list(range(1, final + 1))


def test_acknowledged_transactions_survive_concurrent_cancelled_ones(engine, table):
    """8 writers, half of whose transactions are cancelled by a failing check: every acknowledged one is whole."""
    client = engine.client()
    client.put_item(TableName=table, Item=key("guard"))
    acknowledged: list[str] = []

    def write(writer: int) -> None:
        own = engine.client()
        for n in range(12):
            ids = [uuid.uuid4().hex for _ in range(5)]
            check = "attribute_exists(sk)" if n % 2 else "attribute_not_exists(sk)"
            try:
                own.transact_write_items(
                    TransactItems=[put(table, f"w{writer}#{i}") for i in ids]
                    + [{"ConditionCheck": {"TableName": table, "Key": key("guard"), "ConditionExpression": check}}]
                )
                acknowledged.extend(ids)
            except ClientError as error:
                assert cancellation(error)[-1] == "ConditionalCheckFailed"

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = set()
    pages = client.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="match_id = :m", ExpressionAttributeValues={":m": {"S": "m1"}}
    )
    for page in pages:
        stored |= {item["sk"]["S"].partition("#")[2] for item in page["Items"] if item["sk"]["S"].startswith("w")}
    assert len(acknowledged) == 8 * 6 * 5
    assert stored == set(acknowledged)


def test_a_cancelled_transaction_that_moved_an_item_in_a_global_index_leaves_it_where_it_was(engine, table):
    client = engine.client()
    summary = key("s#match") | {"dir_pk": {"S": "matches"}, "dir_sk": {"S": "2026-01-01"}}
    client.put_item(TableName=table, Item=summary)
    client.put_item(TableName=table, Item=key("grows") | {"body": {"S": "x" * 300_000}})
    with pytest.raises(ClientError) as error:  # the second write fails after the first moved the summary
        client.transact_write_items(
            TransactItems=[
                update(table, "s#match", "SET dir_pk = :elsewhere", {":elsewhere": {"S": "archive"}}),
                update(table, "grows", "SET more = :more", {":more": {"S": "y" * 200_000}}),
            ]
        )
    assert cancellation(error.value) == ["None", "ValidationError"]

    def directory(partition: str) -> list[dict[str, Any]]:
        return client.query(
            TableName=table,
            IndexName=layout.DIRECTORY_INDEX,
            KeyConditionExpression="dir_pk = :d",
            ExpressionAttributeValues={":d": {"S": partition}},
        )["Items"]

    assert directory("matches") == [summary] and directory("archive") == []
