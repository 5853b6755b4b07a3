"""If DynamoDB refuses a batch as invalid, only the events it refuses are dead-lettered; the rest are stored.

The repository and publisher here are stand-ins recording calls: this pins the
consumer's own logic. The real write path is exercised in tests/integration.
"""

import json

from chalicelib.consumer import consume
from chalicelib.repository import RejectedByStorage
from devstack.aws_events import kafka_record, msk_event

EVENT = {"match_id": "m", "event_type": "foul", "team_id": "t", "player_id": "p", "timestamp": "2023-06-15T14:30:00Z"}


class RefusingRepository:
    def __init__(self, refused_event_id):
        self.refused_event_id, self.stored = refused_event_id, []

    def save(self, events):
        if any(e["event_id"] == self.refused_event_id for e in events):
            raise RejectedByStorage("Number underflow")
        self.stored += events
        return len(events)


class RecordingPublisher:
    def __init__(self):
        self.dead = []

    def dead_letter(self, rejects):
        self.dead += rejects


def test_only_the_record_holding_the_refused_event_is_dead_lettered_and_the_rest_is_stored():
    values = [
        json.dumps({"received_at": "2023-06-15T14:30:01.000Z", "events": [EVENT | {"event_id": f"e{i}"}]}).encode()
        for i in range(5)
    ]
    repository, publisher = RefusingRepository("e3"), RecordingPublisher()
    summary = consume(msk_event(*(kafka_record(v, i) for i, v in enumerate(values))), repository, publisher)
    assert [e["event_id"] for e in repository.stored] == ["e0", "e1", "e2", "e4"]
    assert [(record.offset, record.value) for record, _ in publisher.dead] == [(3, values[3])]
    assert publisher.dead[0][1] == "refused by DynamoDB: Number underflow"
    assert summary == {"records": 5, "events": 5, "stored": 4, "duplicates": 0, "dead_lettered": 1}
