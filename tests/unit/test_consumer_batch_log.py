"""Each batch says where its time went: the offsets it covered, how old its oldest record was when it started,
and how long storing it took (what an operator reads to see where freshness goes).
"""

import json
import time

from chalicelib import consumer
from devstack.aws_events import kafka_record, msk_event

EVENT = {"match_id": "m", "event_type": "foul", "team_id": "t", "player_id": "p", "timestamp": "2023-06-15T14:30:00Z"}


class SlowRepository:
    def save(self, events):
        time.sleep(0.05)
        return len(events)


class RecordingPublisher:
    def dead_letter(self, rejects):
        pass


def value(event_id: str) -> bytes:
    return json.dumps({"received_at": "2023-06-15T14:30:01.000Z", "events": [EVENT | {"event_id": event_id}]}).encode()


def test_a_batch_logs_its_offsets_its_oldest_records_age_and_its_store_time(monkeypatch):
    logged = []
    monkeypatch.setattr(consumer.logger, "info", lambda message, extra: logged.append((message, extra)))
    batch = msk_event(
        kafka_record(value("a"), 7, partition=2), kafka_record(value("b"), 9, partition=2), kafka_record(value("c"), 3)
    )
    created = round(time.time() * 1000)
    for records, age in zip(batch["records"].values(), (1500, 200), strict=True):
        for record in records:
            record["timestamp"] = created - age
    consumer.consume(batch, SlowRepository(), RecordingPublisher())
    ((message, extra),) = logged
    assert message == "batch stored"
    assert extra["offsets"] == {"match-events-2": [7, 9], "match-events-0": [3, 3]}
    assert 1500 <= extra["record_age_ms"] < 1500 + 2000  # the oldest record's, at the batch's start
    assert 50 <= extra["store_ms"] < 5000


def test_records_without_a_timestamp_log_no_age(monkeypatch):
    logged = []
    monkeypatch.setattr(consumer.logger, "info", lambda message, extra: logged.append(extra))
    consumer.consume(msk_event(kafka_record(value("a"))), SlowRepository(), RecordingPublisher())
    assert "record_age_ms" not in logged[0]
    assert logged[0]["offsets"] == {"match-events-0": [0, 0]}
