"""The API's error shape: every 4xx/503 is JSON with a code and a message."""

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from chalice import Response


class ApiError(Exception):
    """A client-facing failure; routes raise it, ``answers_errors`` renders it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors, self.headers = errors, headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return Response(body=body, status_code=self.status, headers=self.headers)


def answers_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ApiError into its JSON response (Chalice has no error hook for routes)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as error:
            return error.response()

    return wrapper


LIVE_MAX_AGE_SECONDS = 2  # long enough for a CDN to absorb a crowd, short enough for a live ticker


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def conditional_json(body: Any, if_none_match: str | None, *, max_age: int = LIVE_MAX_AGE_SECONDS) -> Response:
    return conditional(json.dumps(body, separators=(",", ":")), if_none_match, max_age=max_age)


def page_payload(match_id: str, events: list[str], next_cursor: str | None) -> str:
    """A page's JSON with the stored event objects spliced in as they are, not parsed and re-encoded."""
    head = json.dumps({"match_id": match_id, "count": len(events), "next_cursor": next_cursor}, separators=(",", ":"))
    return head[:-1] + ',"events":[' + ",".join(events) + "]}"


def conditional(
    payload: str,
    if_none_match: str | None,
    *,
    max_age: int = LIVE_MAX_AGE_SECONDS,
    content_type: str = "application/json",
) -> Response:
    """A 200 (JSON unless said otherwise) with a strong ETag of its bytes, or a bodiless 304 when the client
    has them."""
    etag = '"' + hashlib.sha256(payload.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if _etag_matches(if_none_match, etag):
        return Response(body="", status_code=304, headers=headers)
    return Response(body=payload, status_code=200, headers=headers | {"Content-Type": content_type})
