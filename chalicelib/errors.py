"""Why a request cannot be done, in the domain's words.

The modules that decide raise these; ``chalicelib.http`` alone maps them to
status codes, and the WebSocket API answers them as error messages. ``code`` is
the machine-readable name every client sees (openapi.yaml lists them).
"""

from typing import Any

MAX_LISTED_ERRORS = 50  # keeps any answer far below its carrier's limit (Lambda 6 MB, a WebSocket frame 128 KB)


class RequestError(Exception):
    """Nothing was changed. ``errors`` lists field problems when there are several to report: the first
    MAX_LISTED_ERRORS of them, ``error_count`` says how many there were."""

    code = "invalid_request"

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_count = len(errors) if errors is not None else 0
        self.errors = errors[:MAX_LISTED_ERRORS] if errors is not None else None
        self.details: dict[str, Any] = {}  # more fields of the error's body, beside error and message


class BodyTooLarge(RequestError):
    code = "body_too_large"


class BatchTooLarge(RequestError):
    code = "batch_too_large"


class InvalidJson(RequestError):
    code = "invalid_json"


class InvalidEvents(RequestError):
    """Raised with every problem found, each ``{"field": ..., "message": ...}``, indexed in a batch."""

    code = "invalid_events"
    errors: list[dict[str, Any]]

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("the request has invalid fields; nothing was accepted", errors=errors)


class InvalidQuery(RequestError):
    code = "invalid_query"


class InvalidMatchId(InvalidQuery):
    code = "invalid_match_id"


class UnknownEventType(InvalidQuery):
    code = "invalid_event_type"


class BadCursor(RequestError):
    """A cursor this API did not issue, or issued for another query."""

    code = "invalid_cursor"


class TooManySubscriptions(RequestError):
    """A WebSocket connection already follows as many matches as one may."""

    code = "too_many_subscriptions"


class ForbiddenMatch(RequestError):
    """The producer's token does not cover some of the matches named: nothing was accepted."""

    code = "forbidden_match"

    def __init__(self, provider: str, match_ids: list[str]) -> None:
        listed = match_ids[:MAX_LISTED_ERRORS]
        more = f" (the first {len(listed)} of {len(match_ids)})" if len(listed) < len(match_ids) else ""
        super().__init__(f"producer {provider!r} may not write these matches{more}; nothing was accepted")
        self.details = {"match_ids": listed}


class NotFound(RequestError):
    code = "not_found"


class StreamUnavailable(RequestError):
    """Kafka did not acknowledge in time; nothing may be reported accepted. The client retries."""

    code = "stream_unavailable"
