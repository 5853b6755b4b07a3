"""Client JSON is refused for its nesting before json.loads recurses into it (chalicelib.jsontext)."""

import pytest

from chalicelib import jsontext, messages
from chalicelib.errors import InvalidJson
from chalicelib.ingest import ingest


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"events": [{"x": 1}]}', 3),
        ('{"a": "[[[[{{{{"}', 1),  # brackets inside a string do not nest
        ('{"a": "\\"[[[["}', 1),  # nor after an escaped quote
        ("[" * 3000, 3000),
        ('"unterminated [[[[', 0),
    ],
)
def test_nesting_is_measured_without_parsing(text, depth):
    assert jsontext.nesting(text) == depth


def test_a_deep_body_is_invalid_json_not_a_recursion_error():
    with pytest.raises(InvalidJson):
        ingest(b"[" * 100_000, publisher=None, producer=None)  # type: ignore[arg-type]  # refused before any publish


def test_a_deep_websocket_frame_is_refused_before_parsing():
    with pytest.raises(messages.BadMessage) as refused:
        messages.decode('{"action": "publish", "events": ' + "[" * 20 + "]" * 20 + "}")
    assert refused.value.code == "invalid_message"
    assert isinstance(messages.decode('{"action": "ping"}'), messages.Ping)
