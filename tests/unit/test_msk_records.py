import json

import pytest

from chalicelib.events import parse_event
from chalicelib.records import (
    MAX_RECORD_BYTES,
    RECORD_BYTES,
    RECORD_EVENTS,
    InvalidRecord,
    StreamRecord,
    decode,
    encode,
    stream_records,
)
from devstack.aws_events import kafka_record, msk_event

EVENT = {
    "match_id": "m1",
    "event_type": "goal",
    "team_id": "t",
    "player_id": "p",
    "timestamp": "2023-06-15T14:30:00.000Z",
    "event_id": "e1",
}
RECEIVED_AT = "2023-06-15T14:30:01.000Z"


def value(*events, received_at=RECEIVED_AT) -> bytes:
    return json.dumps({"received_at": received_at, "events": list(events)}).encode()


def test_every_topic_partition_of_the_batch_is_read():
    event = msk_event(kafka_record(b"a", 5), kafka_record(b"b", 6), kafka_record(b"c", 9, partition=2))
    assert [(r.partition, r.offset, r.value) for r in stream_records(event)] == [
        (0, 5, b"a"),
        (0, 6, b"b"),
        (2, 9, b"c"),
    ]


def test_decoded_events_carry_their_provider_stream_position_and_arrival_time():
    second = EVENT | {"event_id": "e2", "event_type": "corner"}
    written = encode([parse_event(EVENT), parse_event(second)], RECEIVED_AT, "acme")
    (stream_record,) = stream_records(msk_event(kafka_record(written[0][1], 42, partition=1)))
    stamps = {"provider": "acme", "received_at": RECEIVED_AT, "partition": 1, "offset": 42}
    assert decode(stream_record) == [EVENT | {"version": 1} | stamps, second | {"version": 1} | stamps]


def test_a_record_that_names_no_provider_was_sent_by_the_default_producer():
    (stream_record,) = stream_records(msk_event(kafka_record(value(EVENT), 7)))
    assert decode(stream_record)[0]["provider"] == "default"


@pytest.mark.parametrize("provider", ["", "two words", 7, None, "x" * 65])
def test_a_record_with_an_invalid_provider_is_refused(provider):
    record = json.dumps({"received_at": RECEIVED_AT, "provider": provider, "events": [EVENT]}).encode()
    (stream_record,) = stream_records(msk_event(kafka_record(record, 7)))
    with pytest.raises(InvalidRecord):
        decode(stream_record)


def test_the_api_writes_a_requests_events_of_one_match_into_shared_records():
    events = [parse_event(EVENT | {"event_id": f"e{i}", "match_id": f"m{i % 2}"}) for i in range(2 * RECORD_EVENTS + 2)]
    written = encode(events, RECEIVED_AT)
    assert [(key, len(json.loads(v)["events"])) for key, v in written] == [
        (b"m0", RECORD_EVENTS),
        (b"m0", 1),
        (b"m1", RECORD_EVENTS),
        (b"m1", 1),
    ]
    assert json.loads(written[0][1])["events"][:2] == [events[0].to_dict(), events[2].to_dict()]


def test_records_are_split_by_encoded_size_so_the_consumer_takes_every_one():
    face = "\U0001f600"  # 4 bytes in UTF-8; 12 as the JSON escapes of a surrogate pair
    wide = EVENT | {"team_id": face * 64, "player_id": face * 64, "related_player_id": face * 64}
    events = [parse_event(wide | {"event_id": face * 120 + f"{i:03d}"}) for i in range(500)]
    written = encode(events, RECEIVED_AT)
    assert all(len(value) <= RECORD_BYTES for _, value in written)
    decoded = [e for key, value in written for e in decode(StreamRecord("t", 0, 0, key, value))]
    assert [e["event_id"] for e in decoded] == [e.event_id for e in events]


@pytest.mark.parametrize(
    "value",
    [
        b"[" * 100_000,  # nested past json's recursion limit
        b"not json",
        b"[1, 2]",
        json.dumps(EVENT).encode(),
        value(),
        value(EVENT, received_at=5),
        value(EVENT, EVENT | {"event_type": "penalty"}),
        b'{"pad": "' + b"x" * MAX_RECORD_BYTES + b'"}',
    ],
)
def test_records_that_can_never_be_stored_are_invalid(value):
    (stream_record,) = stream_records(msk_event(kafka_record(value)))
    with pytest.raises(InvalidRecord):
        decode(stream_record)
