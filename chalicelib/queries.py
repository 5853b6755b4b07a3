"""Read requests: query-string parameters into a validated EventQuery."""

from collections.abc import Mapping

from chalicelib.events import EVENT_TYPES, normalise_timestamp
from chalicelib.http import ApiError
from chalicelib.repository import EventQuery

MAX_LIMIT = 1000
_PARAMS = {"limit", "cursor", "order", "from", "to"}


def event_query(match_id: str, params: Mapping[str, str] | None, event_type: str | None = None) -> EventQuery:
    """Raise a 400 ApiError naming the first bad parameter."""
    params = params or {}
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise ApiError(400, "invalid_query", f"unknown query parameter(s): {', '.join(unknown)}")
    if event_type is not None and event_type not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise ApiError(400, "invalid_event_type", f"unknown event type {event_type!r}; one of: {known}")
    limit_text = params.get("limit", str(MAX_LIMIT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise ApiError(400, "invalid_query", f"limit must be an integer from 1 to {MAX_LIMIT}")
    order = params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "invalid_query", "order must be asc or desc")
    bounds = {}
    for name in ("from", "to"):
        if name in params:
            try:
                bounds[name] = normalise_timestamp(params[name])
            except ValueError as problem:
                raise ApiError(400, "invalid_query", f"{name} {problem}") from None
    return EventQuery(
        match_id=match_id,
        event_type=event_type,
        limit=int(limit_text),
        cursor=params.get("cursor") or None,
        descending=order == "desc",
        start=bounds.get("from"),
        end=bounds.get("to"),
    )
