"""The engine's own parts without a server: stream retention and iterators, the journal, partition-local Query."""

import json
from pathlib import Path

import pytest

from chalicelib import layout
from devstack.dynamodb.engine import Engine
from devstack.dynamodb.journal import Journal
from devstack.dynamodb.streams import FIRST_SEQUENCE, ITERATOR_TTL_S, StreamLog, StreamsError

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def record(size: int = 100) -> dict:
    return {"eventName": "INSERT", "dynamodb": {"Keys": {}, "SizeBytes": size}}


def test_stream_keeps_only_the_retained_bytes_and_refuses_an_iterator_before_the_trim_horizon():
    log = StreamLog(retention_bytes=250)
    for _ in range(5):
        log.append(ARN, record())
    shard = log.shard(ARN)
    assert [seq for seq, _, _ in shard.records] == [FIRST_SEQUENCE + 3, FIRST_SEQUENCE + 4]
    with pytest.raises(StreamsError) as trimmed:
        log.iterator(ARN, shard.shard_id, "AFTER_SEQUENCE_NUMBER", str(FIRST_SEQUENCE))
    assert trimmed.value.code == "TrimmedDataAccessException"
    horizon = log.iterator(ARN, shard.shard_id, "TRIM_HORIZON", None)
    assert [r["dynamodb"]["SequenceNumber"] for r in log.records(horizon, 10)["Records"]] == [
        str(FIRST_SEQUENCE + 3),
        str(FIRST_SEQUENCE + 4),
    ]


def test_an_iterator_expires_after_15_minutes_and_holds_no_memory():
    clock = Clock()
    log = StreamLog(retention_bytes=1 << 20, clock=clock)
    log.append(ARN, record())
    token = log.iterator(ARN, log.shard(ARN).shard_id, "TRIM_HORIZON", None)
    clock.now += ITERATOR_TTL_S + 1
    with pytest.raises(StreamsError) as expired:
        log.records(token, 10)
    assert expired.value.code == "ExpiredIteratorException"
    with pytest.raises(StreamsError) as garbage:
        log.records("not-an-iterator", 10)
    assert garbage.value.code == "ValidationException"


def test_the_journal_replays_whole_entries_and_ignores_one_cut_short(tmp_path: Path):
    journal = Journal(tmp_path)
    journal.append("PutItem", b'{"a": 1}')
    journal.append("PutItem", b'{"b":\n 2}')
    journal.close()
    with (tmp_path / "journal-0.log").open("ab") as log:
        log.write(b"PutItem 50\n{partial")
    state, entries = Journal(tmp_path).load()
    assert state is None
    assert list(entries) == [("PutItem", b'{"a": 1}'), ("PutItem", b'{"b":\n 2}')]


def test_a_snapshot_replaces_the_logs_it_holds_so_nothing_is_applied_twice(tmp_path: Path):
    journal = Journal(tmp_path)
    journal.append("PutItem", b"{}")
    journal.compact({"n": 1})
    stale = tmp_path / "journal-0.log"
    stale.write_bytes(b"PutItem 2\n{}\n")  # as if the kill came between the snapshot's rename and this unlink
    state, entries = Journal(tmp_path).load()
    assert state == {"n": 1} and list(entries) == [] and not stale.exists()


def request(engine: Engine, operation: str, body: dict) -> dict:
    status, _, payload = engine.execute(operation, json.dumps(body).encode())
    assert status.startswith("200"), payload
    return json.loads(payload) if payload else {}


def test_a_query_reads_only_the_partition_it_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    engine = Engine(tmp_path)
    request(engine, "CreateTable", layout.table_definition("t"))
    for match in ("m1", "m2", "m3"):
        for n in range(3):
            item = {"match_id": {"S": match}, "sk": {"S": f"e#{n}"}, "time_sk": {"S": f"t{n}"}}
            item |= {"dir_pk": {"S": f"d{match}"}, "dir_sk": {"S": "x"}}
            request(engine, "PutItem", {"TableName": "t", "Item": item})
    seen: list[int] = []
    table = engine.backend.get_table("t")
    original = type(table).all_items

    def counting(self):
        items = original(self)
        seen.append(len(items))
        return items

    monkeypatch.setattr(type(table), "all_items", counting)
    values = {":m": {"S": "m2"}}
    base = {"TableName": "t", "KeyConditionExpression": "match_id = :m", "ExpressionAttributeValues": values}
    assert len(request(engine, "Query", base)["Items"]) == 3
    assert len(request(engine, "Query", base | {"IndexName": layout.TIME_INDEX})["Items"]) == 3
    directory = {"TableName": "t", "IndexName": layout.DIRECTORY_INDEX, "KeyConditionExpression": "dir_pk = :d"}
    assert len(request(engine, "Query", directory | {"ExpressionAttributeValues": {":d": {"S": "dm3"}}})["Items"]) == 3
    assert seen == [3, 3, 3]  # of the table's 9 items
    assert len(table.all_items()) == 9


def test_a_restart_rebuilds_the_global_index_from_the_snapshot(tmp_path: Path):
    engine = Engine(tmp_path)
    request(engine, "CreateTable", layout.table_definition("t"))
    item = {"match_id": {"S": "m1"}, "sk": {"S": "s#match"}, "dir_pk": {"S": "matches"}, "dir_sk": {"S": "x"}}
    request(engine, "PutItem", {"TableName": "t", "Item": item})
    engine.close()
    again = Engine(tmp_path)
    query = {"TableName": "t", "IndexName": layout.DIRECTORY_INDEX, "KeyConditionExpression": "dir_pk = :d"}
    found = request(again, "Query", query | {"ExpressionAttributeValues": {":d": {"S": "matches"}}})
    assert found["Items"] == [item]


def test_a_stream_keeps_its_arn_across_a_kill_so_readers_keep_their_checkpoints(tmp_path: Path):
    engine = Engine(tmp_path)
    request(engine, "CreateTable", layout.table_definition("t"))
    arn = request(engine, "DescribeTable", {"TableName": "t"})["Table"]["LatestStreamArn"]
    request(engine, "PutItem", {"TableName": "t", "Item": {"match_id": {"S": "m1"}, "sk": {"S": "a"}}})
    again = Engine(tmp_path)  # as after SIGKILL: no clean stop, the journal replayed
    assert request(again, "DescribeTable", {"TableName": "t"})["Table"]["LatestStreamArn"] == arn
    assert len(again.streams.shard(arn).records) == 1


def test_a_journal_write_that_fails_is_undone_and_answered_500(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    engine = Engine(tmp_path)
    request(engine, "CreateTable", layout.table_definition("t"))
    item = {"match_id": {"S": "m1"}, "sk": {"S": "a"}}

    def full_disk(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("devstack.dynamodb.journal.os.write", full_disk)
    status, _, _ = engine.execute("PutItem", json.dumps({"TableName": "t", "Item": item}).encode())
    assert status.startswith("500")
    monkeypatch.undo()
    assert request(engine, "GetItem", {"TableName": "t", "Key": item}) == {}
    assert list(Journal(tmp_path).load()[1]) == []
