"""Read requests: query-string parameters into a validated EventQuery."""

import re
from collections.abc import Mapping
from datetime import date

from chalicelib import caching
from chalicelib.directory import DirectoryQuery
from chalicelib.errors import InvalidMatchId, InvalidQuery, UnknownEventType
from chalicelib.events import EVENT_TYPES, MATCH_ID, normalise_timestamp
from chalicelib.repository import EventQuery

MAX_LIMIT = 1000
MAX_DIRECTORY_LIMIT = 100
STATUSES = ("pre_match", "live", "half_time", "finished")
_PARAMS = set(caching.PAGE_PARAMS)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _check_known(params: Mapping[str, str], known: set[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidQuery(f"unknown query parameter(s): {', '.join(unknown)}")


_DIGITS = re.compile(r"[0-9]{1,6}")  # ASCII only: str.isdigit() also takes "²", which int() refuses


def _limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    text = params.get("limit", str(default))
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= maximum:
        raise InvalidQuery(f"limit must be an integer from 1 to {maximum}")
    return int(text)


def match_path(match_id: str) -> str:
    """A path's match_id, by the events' rule, so no other string reaches the table."""
    if not MATCH_ID.fullmatch(match_id):
        raise InvalidMatchId("match_id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return match_id


def change_query(params: Mapping[str, str] | None) -> tuple[str | None, int]:
    """GET /matches/{match_id}/changes: (after, limit)."""
    params = params or {}
    _check_known(params, set(caching.CHANGE_PARAMS))
    return params.get("after") or None, _limit(params, MAX_LIMIT, MAX_LIMIT)


_PERIOD = re.compile(r"[1-5]")


def stats_query(params: Mapping[str, str] | None) -> int | None:
    """GET /matches/{match_id}/stats: the period (1-5), or None for the whole match."""
    params = params or {}
    _check_known(params, set(caching.STATS_PARAMS))
    period = params.get("period")
    if period is not None and not _PERIOD.fullmatch(period):
        raise InvalidQuery("period must be an integer from 1 to 5")
    return int(period) if period is not None else None


def directory_query(params: Mapping[str, str] | None) -> DirectoryQuery:
    """GET /matches: status, day, limit and cursor, checked."""
    params = params or {}
    _check_known(params, set(caching.DIRECTORY_PARAMS))
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidQuery(f"status must be one of: {', '.join(STATUSES)}")
    day = params.get("date")
    if day is not None:
        try:
            if not _DAY.fullmatch(day):
                raise ValueError
            date.fromisoformat(day)
        except ValueError:
            raise InvalidQuery("date must be a day, YYYY-MM-DD") from None
    return DirectoryQuery(
        status=status, day=day, limit=_limit(params, 50, MAX_DIRECTORY_LIMIT), cursor=params.get("cursor") or None
    )


def event_query(match_id: str, params: Mapping[str, str] | None, event_type: str | None = None) -> EventQuery:
    """Raise InvalidQuery naming the first bad parameter."""
    params = params or {}
    match_path(match_id)
    _check_known(params, _PARAMS)
    if event_type is not None and event_type not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise UnknownEventType(f"unknown event type {event_type!r}; one of: {known}")
    limit = _limit(params, MAX_LIMIT, MAX_LIMIT)
    order = params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise InvalidQuery("order must be asc or desc")
    bounds = {}
    for name in ("from", "to"):
        if name in params:
            try:
                bounds[name] = normalise_timestamp(params[name])
            except ValueError as problem:
                raise InvalidQuery(f"{name} {problem}") from None
    return EventQuery(
        match_id=match_id,
        event_type=event_type,
        limit=limit,
        cursor=params.get("cursor") or None,
        descending=order == "desc",
        start=bounds.get("from"),
        end=bounds.get("to"),
    )
