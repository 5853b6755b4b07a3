"""HTTP at the edge: status codes for the domain's errors, the error shape, and conditional JSON responses."""

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Response

from chalicelib import caching, errors

STATUS: dict[type[errors.RequestError], int] = {
    errors.BodyTooLarge: 413,
    errors.BatchTooLarge: 413,
    errors.ForbiddenMatch: 403,
    errors.NotFound: 404,
    errors.StreamUnavailable: 503,
    errors.RequestError: 400,  # everything else the client can fix: invalid JSON, events, query, cursor
}
HEADERS: dict[type[errors.RequestError], dict[str, str | list[str]]] = {
    errors.StreamUnavailable: {"Retry-After": "2"},
}


def error_response(error: errors.RequestError) -> Response:
    """The one JSON shape of every 4xx/503: ``{"error": code, "message": ..., "errors"?: [...]}``."""
    kind = next(kind for kind in type(error).__mro__ if kind in STATUS)
    body: dict[str, Any] = {"error": error.code, "message": error.message, **error.details}
    if error.errors is not None:
        body["errors"], body["error_count"] = error.errors, error.error_count
    return Response(body=body, status_code=STATUS[kind], headers=HEADERS.get(kind, {}))


def answer_request_errors(app: Chalice) -> None:
    """Every route answers a RequestError with its error response. Chalice turns any exception a view
    raises into a 500 before middleware sees it (aws/chalice#1884), so each view is wrapped here, once."""
    for methods in app.routes.values():
        for route in methods.values():
            route.view_function = _answering_errors(route.view_function)


def _answering_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def answering(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except errors.RequestError as error:
            return error_response(error)

    return answering


MAX_BODY_BYTES = 1_000_000  # no answer grows past this: Lambda's response limit is 6 MB, a CDN's object a few


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def conditional_json(
    body: Any, if_none_match: str | None, *, max_age: int = caching.LIVE_MAX_AGE, cache_control: str | None = None
) -> Response:
    return conditional(
        json.dumps(body, separators=(",", ":")), if_none_match, max_age=max_age, cache_control=cache_control
    )


def page_payload(match_id: str, events: list[str], next_cursor: str | None) -> str:
    """A page's JSON with the stored event objects spliced in as they are, not parsed and re-encoded."""
    head = json.dumps({"match_id": match_id, "count": len(events), "next_cursor": next_cursor}, separators=(",", ":"))
    return head[:-1] + ',"events":[' + ",".join(events) + "]}"


def conditional(
    payload: str,
    if_none_match: str | None,
    *,
    max_age: int = caching.LIVE_MAX_AGE,
    cache_control: str | None = None,
    content_type: str = "application/json",
    extra_headers: dict[str, str | list[str]] | None = None,
) -> Response:
    """A 200 (JSON unless said otherwise) with a strong ETag of its bytes, or a bodiless 304 when the client
    has them. ``cache_control`` overrides the ``max_age`` one (chalicelib.caching)."""
    etag = '"' + hashlib.sha256(payload.encode()).hexdigest()[:32] + '"'
    headers: dict[str, str | list[str]] = {
        "ETag": etag,
        "Cache-Control": cache_control or caching.cache_control(max_age),
    }
    headers |= extra_headers or {}
    if _etag_matches(if_none_match, etag):
        return Response(body="", status_code=304, headers=headers)
    return Response(body=payload, status_code=200, headers=headers | {"Content-Type": content_type})
