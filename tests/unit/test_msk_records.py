import base64
import json

import pytest

from chalicelib.records import MAX_RECORD_BYTES, InvalidRecord, decode, stream_records

EVENT = {"match_id": "m1", "event_type": "goal", "team_id": "t", "player_id": "p",
         "timestamp": "2023-06-15T14:30:00.000Z", "event_id": "e1", "received_at": "2023-06-15T14:30:01.000Z"}


def record(value: bytes, partition: int = 0, offset: int = 0) -> dict:
    return {"topic": "events", "partition": partition, "offset": offset, "timestamp": 0, "timestampType": "CREATE_TIME",
            "key": base64.b64encode(b"m1").decode(), "value": base64.b64encode(value).decode(), "headers": []}


def test_every_topic_partition_of_the_batch_is_read():
    event = {"eventSource": "aws:kafka", "records": {
        "events-0": [record(b"a", 0, 5), record(b"b", 0, 6)],
        "events-2": [record(b"c", 2, 9)],
    }}
    assert [(r.partition, r.offset, r.value) for r in stream_records(event)] == [(0, 5, b"a"), (0, 6, b"b"), (2, 9, b"c")]


def test_decoded_record_carries_its_stream_position_and_arrival_time():
    (stream_record,) = stream_records({"records": {"events-1": [record(json.dumps(EVENT).encode(), 1, 42)]}})
    assert decode(stream_record) == EVENT | {"partition": 1, "offset": 42}


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[1, 2]", json.dumps({k: v for k, v in EVENT.items() if k != "received_at"}).encode(),
     json.dumps(EVENT | {"event_type": "penalty"}).encode(), b'{"pad": "' + b"x" * MAX_RECORD_BYTES + b'"}'],
)
def test_records_that_can_never_be_stored_are_invalid(value):
    (stream_record,) = stream_records({"records": {"events-0": [record(value)]}})
    with pytest.raises(InvalidRecord):
        decode(stream_record)
