"""JSON in and out: a client's nesting bounded before it is parsed (``json.loads`` recurses once a level),
and the compact UTF-8 form the project writes to Kafka and DynamoDB."""

import json
import re
from typing import Any

MAX_DEPTH = 16  # what any request of the API's needs is at most 4 levels
_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)  # an escape is one token, so \" never toggles a string


class TooDeep(ValueError):
    """The text nests deeper than allowed (checked without parsing it)."""


def nesting(text: str | bytes) -> int:
    """How deeply the JSON text's arrays and objects nest, found in one linear scan (strings skipped)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = deepest = 0
    in_string = False
    for token in _TOKENS.findall(text):
        if token == '"':
            in_string = not in_string
        elif in_string or len(token) == 2:
            continue
        elif token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def dumps(value: Any) -> str:
    """Compact JSON in UTF-8: a 4-byte character costs 4 bytes of a record or item, not a 12-byte escape pair."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, refusing (TooDeep, a ValueError) a text nested deeper than ``max_depth`` first."""
    if nesting(text) > max_depth:
        raise TooDeep(f"the JSON nests more than {max_depth} levels")
    return json.loads(text)
