"""The WebSocket wire format: what clients may send, and what they read back."""

import json

import pytest

from chalicelib import messages


def test_actions_decode_to_what_they_ask_for():
    assert messages.decode('{"action": "subscribe", "match_id": "m-1"}') == messages.Subscribe("m-1")
    assert messages.decode('{"action": "unsubscribe", "match_id": "m-1"}') == messages.Unsubscribe("m-1")
    publish = messages.decode('{"action": "publish", "request_id": "r", "events": [{"a": 1}]}')
    assert publish == messages.Publish("r", json.dumps({"events": [{"a": 1}]}).encode())


@pytest.mark.parametrize(
    "text, code",
    [
        (None, "invalid_message"),
        ("x" * (messages.MAX_MESSAGE_BYTES + 1), "invalid_message"),
        ("{", "invalid_json"),
        ('"subscribe"', "invalid_message"),
        ('{"action": "publish"}', "invalid_message"),
        ('{"action": "publish", "request_id": 5, "events": []}', "invalid_message"),
        ('{"action": "subscribe", "match_id": ""}', "invalid_match_id"),
        ('{"action": "SUBSCRIBE", "match_id": "m"}', "unknown_action"),
    ],
)
def test_anything_else_is_a_bad_message_with_its_code(text, code):
    with pytest.raises(messages.BadMessage) as bad:
        messages.decode(text)
    assert bad.value.code == code


def test_a_publish_error_names_its_request_and_other_errors_do_not():
    assert json.loads(messages.error("invalid_events", "no", request_id="r1", errors=[{"index": 0}], publish=True)) == {
        "type": "error",
        "error": "invalid_events",
        "message": "no",
        "request_id": "r1",
        "errors": [{"index": 0}],
        "error_count": 1,
    }
    assert json.loads(messages.error("invalid_json", "no")) == {
        "type": "error",
        "error": "invalid_json",
        "message": "no",
    }


def test_clients_read_every_message_the_server_writes_and_nothing_else():
    written = [
        messages.subscribed("m", {"score": {}}, None),
        messages.unsubscribed("m"),
        messages.change("m", {"change": "insert", "event": {"event_id": "e"}, "cursor": "000000000001.000"}),
        messages.stats("m", {}),
        messages.accepted(None, ["e"]),
        messages.error("x", "y"),
    ]
    assert [messages.read(text)["type"] for text in written] == [
        "subscribed",
        "unsubscribed",
        "change",
        "stats",
        "accepted",
        "error",
    ]
    with pytest.raises(ValueError):
        messages.read('{"type": "surprise"}')


def test_server_messages_fit_one_frame_by_dropping_players_or_event_ids():
    crowd = {"match_id": "m1", "players": {f"player-{n:05d}": {"events": 1, "goals": 0} for n in range(2000)}}
    for message in (messages.stats("m1", crowd), messages.subscribed("m1", crowd, None)):
        assert len(message.encode()) <= messages.MAX_SERVER_MESSAGE_BYTES
        sent = json.loads(message)["stats"]
        assert "players" not in sent and sent["players_truncated"] is True
    small = {"match_id": "m1", "players": {"p1": {"events": 1}}}
    assert json.loads(messages.stats("m1", small))["stats"] == small
    many = [f"event-{'x' * 100}-{n}" for n in range(500)]
    reply = json.loads(messages.accepted("r1", many))
    assert reply == {"type": "accepted", "request_id": "r1", "accepted": 500}
    assert json.loads(messages.accepted("r1", ["e1"]))["event_ids"] == ["e1"]
