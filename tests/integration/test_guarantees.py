"""Never lose, never double-count: each test breaks something real and checks the exact result.

Every test ends by comparing the stored timeline and /stats with what the
events say, so a lost event, a duplicate or a double-counted statistic fails it.
"""

import json
import random
import threading
import uuid

import pytest
from chalice.local import LambdaContext
from kafka import KafkaConsumer, KafkaProducer

import app
from chalicelib.events import parse_event
from chalicelib.publishing import KafkaPublisher, producer_config
from chalicelib.records import encode
from chalicelib.services import Services
from devstack.aws_events import kafka_record, msk_event
from devstack.event_source import LocalEventSource
from devstack.stack import ensure_topic
from matchtools.generate import generate_match
from tests.support import RECEIVED_AT, eventually, expected_stats, msk_event_of, post, read_all, wait_for_count


def new_match(events: int = 300) -> tuple[str, list[dict]]:
    match_id = f"g-{uuid.uuid4().hex[:10]}"
    return match_id, generate_match(match_id, events=events, seed=len(match_id))


def assert_exactly_once(api, match_id: str, events: list[dict]) -> None:
    stored = read_all(api, f"/matches/{match_id}")
    assert len(stored) == len(events)
    assert len({e["event_id"] for e in stored}) == len(events)
    assert stored == sorted(stored, key=lambda e: (e["timestamp"], e["event_id"]))
    assert api.http.get(f"/matches/{match_id}/stats").json_body == expected_stats(match_id, stored)


def test_redelivering_the_same_batch_three_times_changes_nothing(api):
    match_id, events = new_match()
    batch = msk_event_of(events)
    results = [app.consume_events(batch, LambdaContext("consumer", 512)) for _ in range(3)]
    assert [r["stored"] for r in results] == [len(events), 0, 0]
    assert results[0]["records"] == 3  # 300 events of one match: records of up to 100
    assert [r["duplicates"] for r in results] == [0, len(events), len(events)]
    assert_exactly_once(api, match_id, events)


def test_reposting_the_same_events_is_idempotent(api):
    match_id, events = new_match(200)
    for _ in range(2):
        assert post(api, {"events": events}).status_code == 202
    assert wait_for_count(api, match_id, len(events))
    assert_exactly_once(api, match_id, events)


class Crash(BaseException):
    """Ends the event source's thread like a kill: no except-Exception catches it, nothing is committed."""


def test_event_source_killed_mid_batch_then_restarted_stores_everything_once(api, environ, live_services):
    topic = f"crash-{uuid.uuid4().hex[:6]}"
    ensure_topic(environ["KAFKA_BOOTSTRAP_SERVERS"], topic, partitions=3)
    settings = live_services.settings
    publisher = KafkaPublisher(
        lambda: KafkaProducer(**producer_config(settings)), topic, settings.dead_letter_topic, 10
    )
    match_id, events = new_match(600)
    publisher.publish([parse_event(e) for e in events], RECEIVED_AT, "default")
    publisher.close()

    def write_half_then_die(batch, context):
        half = {key: records[: len(records) // 2] for key, records in batch["records"].items()}
        app.consume_events(batch | {"records": half}, context)
        raise Crash

    crashing = LocalEventSource(settings.bootstrap_servers, topic, write_half_then_die, group_id=topic)
    with pytest.raises(Crash):
        crashing.run(threading.Event())
    assert 0 < len(read_all(api, f"/matches/{match_id}")) < len(events)

    stop = threading.Event()
    restarted = LocalEventSource(settings.bootstrap_servers, topic, app.consume_events, group_id=topic)
    thread = threading.Thread(target=restarted.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for_count(api, match_id, len(events))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert_exactly_once(api, match_id, events)


def test_kafka_down_answers_503_then_recovers_by_itself(api, stack):
    match_id, events = new_match(100)
    stack.kafka.stop()
    try:
        response = post(api, {"events": events})
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert response.json_body["error"] == "stream_unavailable"
    finally:
        stack.kafka.start()
    assert eventually(lambda: post(api, {"events": events}).status_code == 202)
    assert wait_for_count(api, match_id, len(events))
    assert_exactly_once(api, match_id, events)


def test_dynamodb_down_the_consumer_retries_and_catches_up(api, stack, pipeline):
    match_id, events = new_match(300)
    failures_before = pipeline.failed_batches
    stack.dynamodb.stop()
    try:
        assert post(api, {"events": events}).status_code == 202  # ingest does not need the table
        assert eventually(lambda: pipeline.failed_batches > failures_before)
    finally:
        stack.dynamodb.start()
    assert wait_for_count(api, match_id, len(events))
    assert_exactly_once(api, match_id, events)


def test_poison_records_are_dead_lettered_and_the_partition_keeps_flowing(api, environ, pipeline):
    match_id, (good,) = f"p-{uuid.uuid4().hex[:10]}", generate_match("x", events=3)[1:2]
    good = good | {"match_id": match_id}
    poison = [
        b"not json at all",
        json.dumps(
            {
                "match_id": match_id,
                "event_type": "penalty",
                "timestamp": "2023-06-15T14:30:00Z",
                "received_at": RECEIVED_AT,
            }
        ).encode(),
        json.dumps({"match_id": match_id, "pad": "x" * 300_000}).encode(),
    ]
    producer = KafkaProducer(bootstrap_servers=environ["KAFKA_BOOTSTRAP_SERVERS"], acks="all")
    sent = [
        producer.send(environ["EVENTS_TOPIC"], key=match_id.encode(), value=value).get(timeout=30) for value in poison
    ]
    ((key, value),) = encode([parse_event(good)], RECEIVED_AT)
    producer.send(environ["EVENTS_TOPIC"], key=key, value=value).get(timeout=30)
    producer.close()

    assert wait_for_count(api, match_id, 1)  # the good record behind the poison got through
    assert_exactly_once(api, match_id, [good])

    consumer = KafkaConsumer(
        environ["EVENTS_DEAD_LETTER_TOPIC"],
        bootstrap_servers=environ["KAFKA_BOOTSTRAP_SERVERS"],
        group_id=f"dlq-{match_id}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    dead: dict[int, tuple[bytes, dict[str, bytes]]] = {}

    def collect() -> bool:
        for record in consumer:
            headers = dict(record.headers)
            if headers.get("source_partition") == str(sent[0].partition).encode():
                dead[int(headers["source_offset"])] = (record.value, headers)
        return all(meta.offset in dead for meta in sent)

    assert eventually(collect)
    consumer.close()
    for value, meta in zip(poison, sent, strict=True):
        original, headers = dead[meta.offset]
        assert original == value
        assert headers["source_topic"] == environ["EVENTS_TOPIC"].encode()
        assert headers["error"]


def test_dead_lettered_records_are_counted_in_a_metric(api, capsys):
    capsys.readouterr()
    summary = app.consume_events(msk_event(kafka_record(b"{broken", 10**9)), LambdaContext("consumer", 512))
    assert summary == {"records": 1, "events": 0, "stored": 0, "duplicates": 0, "dead_lettered": 1}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["DeadLetteredRecords"] for m in emf] == [[1.0]]


def test_services_are_created_once_per_process(live_services: Services):
    assert live_services.publisher is live_services.publisher
    assert live_services.repository is live_services.repository


def test_a_batch_spanning_many_matches_is_stored_once_with_exact_stats_per_match(api):
    """Matches share transactions (up to 100 actions); one over 99 events continues in a second round."""
    matches = [
        generate_match(f"many-{uuid.uuid4().hex[:8]}", events=size, seed=size) for size in (3, 5, 40, 150, 7, 60)
    ]
    events = [event for match in matches for event in match]
    random.Random(1).shuffle(events)
    batch = msk_event_of(events)
    results = [app.consume_events(batch, LambdaContext("consumer", 512)) for _ in range(2)]
    assert [r["stored"] for r in results] == [len(events), 0]
    for match in matches:
        assert_exactly_once(api, match[0]["match_id"], match)
