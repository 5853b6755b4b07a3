"""Page cursors: a flat key of short strings, as opaque URL-safe base64 JSON, checked on the way back in.

A client's cursor is untrusted input: its length, nesting and every value are bounded before any of it
reaches DynamoDB, and the reader that issued it checks that it belongs to the query it comes back with.
"""

import base64
import binascii
from collections.abc import Mapping

from chalicelib import jsontext
from chalicelib.errors import BadCursor

MAX_CURSOR_CHARS = 2048  # four keys of at most 300 bytes each, in base64: far above any this API issues
MAX_KEY_CHARS = 300  # a sort key holds at most an event type, a timestamp and a 128-character event id


def encode(key: Mapping[str, str]) -> str:
    return base64.urlsafe_b64encode(jsontext.dumps(dict(key)).encode()).decode().rstrip("=")


def decode(cursor: str) -> dict[str, str]:
    """A cursor back into its flat {name: string} key, or BadCursor: bounded length, one flat JSON object of
    short, non-empty strings."""
    if len(cursor) > MAX_CURSOR_CHARS or not cursor.isascii():
        raise BadCursor("cursor is not one this API issued")
    try:
        key = jsontext.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), max_depth=1)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("cursor is not one this API issued") from None
    if not isinstance(key, dict) or not all(
        isinstance(value, str) and 0 < len(value) <= MAX_KEY_CHARS for value in key.values()
    ):
        raise BadCursor("cursor is not one this API issued")
    return key
