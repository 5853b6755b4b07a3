"""The API's error shape: every 4xx/503 is JSON with a code and a message."""

import functools
from collections.abc import Callable
from typing import Any

from chalice import Response


class ApiError(Exception):
    """A client-facing failure; routes raise it, ``answers_errors`` renders it."""

    def __init__(self, status: int, code: str, message: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
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
