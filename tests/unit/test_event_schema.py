import pytest

from chalicelib.errors import InvalidEvents
from chalicelib.events import parse_batch, parse_event

GOAL = {
    "match_id": "match123",
    "event_type": "goal",
    "player_id": "player456",
    "team_id": "team789",
    "timestamp": "2023-06-15T14:30:00Z",
}


def errors_of(raw):
    with pytest.raises(InvalidEvents) as caught:
        parse_batch(raw)
    return caught.value.errors


def test_timestamp_is_stored_in_utc_milliseconds():
    assert parse_event(GOAL | {"timestamp": "2023-06-15T16:30:00.123456+02:00"}).timestamp == "2023-06-15T14:30:00.123Z"
    assert parse_event(GOAL).timestamp == "2023-06-15T14:30:00.000Z"


@pytest.mark.parametrize(
    "timestamp",
    [
        "0223-06-15T14:30:00Z",
        "1899-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
    ],
)
def test_implausible_years_are_rejected(timestamp):
    assert errors_of(GOAL | {"timestamp": timestamp}) == [
        {"field": "timestamp", "message": "must be in the years 1900-2999"}
    ]


def test_coordinates_are_rounded_to_what_storage_can_hold():
    event = parse_event(GOAL | {"x": 5e-324, "y": 33.33333333})
    assert (event.x, event.y) == (0.0, 33.333)


def test_timestamp_without_zone_is_rejected():
    assert errors_of(GOAL | {"timestamp": "2023-06-15T14:30:00"}) == [
        {"field": "timestamp", "message": "must carry Z or a UTC offset"}
    ]


def test_identical_retry_without_event_id_is_the_same_event():
    first = parse_event(GOAL)
    assert first.event_id == parse_event(dict(GOAL) | {"timestamp": "2023-06-15T14:30:00.000+00:00"}).event_id
    assert first.event_id != parse_event(GOAL | {"player_id": "someone_else"}).event_id


def test_client_event_id_is_kept():
    assert parse_event(GOAL | {"event_id": "feed-42"}).event_id == "feed-42"


def test_unknown_and_server_fields_are_rejected():
    errors = errors_of(GOAL | {"colour": "red", "received_at": "2023-06-15T14:30:00Z"})
    assert {e["field"] for e in errors} == {"colour", "received_at"}


def test_match_level_events_need_no_team_or_player():
    assert parse_event({"match_id": "m", "event_type": "kick_off", "timestamp": "2023-06-15T14:00:00Z"})


def test_team_and_player_are_required_for_player_events():
    errors = errors_of({"match_id": "m", "event_type": "foul", "timestamp": "2023-06-15T14:00:00Z"})
    assert {e["field"] for e in errors} == {"team_id", "player_id"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("match_id", "has space"),
        ("match_id", "x" * 65),
        ("match_id", 5),
        ("event_type", "penalty"),
        ("period", 6),
        ("period", True),
        ("minute", 131),
        ("second", 60),
        ("second", 1.5),
        ("x", 100.5),
        ("y", "50"),
        ("x", False),
        ("team_id", ""),
        ("player_id", "p" * 65),
        ("event_id", "e" * 129),
        ("timestamp", "yesterday"),
        ("timestamp", 1686839400),
        ("player_id", "\ud800"),
        ("team_id", "x\udfff"),
    ],
)
def test_each_field_rule_names_the_field(field, value):
    assert [e["field"] for e in errors_of(GOAL | {field: value})] == [field]


def test_outcome_must_fit_the_event_type():
    shot = GOAL | {"event_type": "shot"}
    assert parse_event(shot | {"outcome": "post"}).outcome == "post"
    assert errors_of(shot | {"outcome": "incomplete"})[0]["field"] == "outcome"
    assert errors_of(GOAL | {"outcome": "saved"})[0]["message"] == "is not used for goal"


def test_pass_outcome_defaults_to_complete():
    assert parse_event(GOAL | {"event_type": "pass"}).outcome == "complete"


def test_batch_is_all_or_nothing_and_errors_carry_their_index():
    errors = errors_of({"events": [GOAL, GOAL | {"minute": -1}, GOAL, GOAL | {"period": 0, "x": "left"}]})
    assert [(e["index"], e["field"]) for e in errors] == [(1, "minute"), (3, "period"), (3, "x")]


def test_explicit_nulls_are_rejected_not_treated_as_absent():
    assert errors_of(GOAL | {"outcome": None, "team_id": None}) == [
        {"field": "team_id", "message": "must not be null; leave the field out instead"},
        {"field": "outcome", "message": "must not be null; leave the field out instead"},
    ]


@pytest.mark.parametrize(
    "body", [{"events": []}, {"events": "all"}, {"events": [GOAL], "extra": 1}, [GOAL], "goal", None]
)
def test_malformed_batches_are_rejected(body):
    assert errors_of(body)


def test_batch_returns_events_in_order():
    events = parse_batch({"events": [GOAL, GOAL | {"event_type": "shot", "outcome": "saved"}]})
    assert [e.event_type for e in events] == ["goal", "shot"]
