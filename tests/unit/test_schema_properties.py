"""Properties of the schema that must hold for any input, not just the examples we thought of."""

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import InvalidEvents
from chalicelib.events import (
    BODY_PARTS,
    EVENT_TYPES,
    FIELD_TYPES,
    FIELDS,
    MATCH_LEVEL_TYPES,
    TEAM_LEVEL_TYPES,
    parse_batch,
    parse_event,
)

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=64)
match_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
moments = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2999, 12, 31),
    timezones=st.builds(timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))),
)


formations = st.from_regex(r"[1-9](-[1-9]){1,4}", fullmatch=True)
lineup_player = st.fixed_dictionaries(
    {"player_id": ids, "starter": st.booleans()},
    optional={"position": st.text(min_size=1, max_size=32), "shirt_number": st.integers(0, 99)},
)
lineup_players = st.lists(lineup_player, min_size=1, max_size=30, unique_by=lambda p: p["player_id"])


@st.composite
def valid_events(draw: st.DrawFn) -> dict:
    event_type = draw(st.sampled_from(sorted(EVENT_TYPES)))
    event = {"match_id": draw(match_ids), "event_type": event_type, "timestamp": draw(moments).isoformat()}
    if event_type in TEAM_LEVEL_TYPES:
        event["team_id"] = draw(ids)
    elif event_type not in MATCH_LEVEL_TYPES:
        event |= {"team_id": draw(ids), "player_id": draw(ids)}
    if event_type == "lineup":
        event["players"] = draw(lineup_players)
    if event_type in TEAM_LEVEL_TYPES and (event_type == "formation_change" or draw(st.booleans())):
        event["formation"] = draw(formations)
    shot_fields = {"xg": st.floats(0, 1), "body_part": st.sampled_from(sorted(BODY_PARTS))}
    shot_fields |= {"end_x": st.floats(0, 100), "end_y": st.integers(0, 100)}
    for name, strategy in shot_fields.items():
        if event_type in FIELD_TYPES[name] and draw(st.booleans()):
            event[name] = draw(strategy)
    optional = {
        "event_id": st.text(min_size=1, max_size=128),
        "period": st.integers(1, 5),
        "minute": st.integers(0, 130),
        "second": st.integers(0, 59),
        "x": st.floats(0, 100),
        "y": st.integers(0, 100),
        "related_player_id": ids,
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    if event_type == "pass" and draw(st.booleans()):
        event["outcome"] = draw(st.sampled_from(["complete", "incomplete"]))
    if event_type == "shot" and draw(st.booleans()):
        event["outcome"] = draw(st.sampled_from(["saved", "off_target", "blocked", "post"]))
    return event


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)


@given(valid_events())
def test_every_valid_event_is_accepted_and_normalised_to_utc(raw):
    event = parse_event(raw)
    moment = datetime.fromisoformat(raw["timestamp"]).astimezone(UTC)
    assert event.timestamp == f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    assert datetime.fromisoformat(event.timestamp) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@given(valid_events())
def test_the_canonical_form_parses_to_itself(raw):
    event = parse_event(raw)
    assert parse_event(event.to_dict()) == event


@given(valid_events())
def test_derived_event_id_survives_a_json_round_trip(raw):
    raw.pop("event_id", None)
    assert parse_event(json.loads(json.dumps(raw))).event_id == parse_event(raw).event_id


@given(valid_events(), st.text(min_size=1, max_size=20).filter(lambda name: name not in FIELDS), json_values)
def test_any_unknown_field_rejects_the_event_and_is_named(raw, name, value):
    try:
        parse_event(raw | {name: value})
    except InvalidEvents as invalid:
        assert {"field": name, "message": "is not a known field"} in invalid.errors
    else:
        raise AssertionError("accepted an unknown field")


@given(json_values)
def test_arbitrary_json_is_either_events_or_invalid_never_a_crash(body):
    try:
        events = parse_batch(body)
    except InvalidEvents as invalid:
        assert invalid.errors
    else:
        assert events
