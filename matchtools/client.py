"""A small client of the API for the tools: posts and reads with retries on 503, whole paginated lists."""

import os
import time
from pathlib import Path
from typing import Any

import requests

TOKEN_FILE = Path(".devstack/data/ingest-token")  # what `make run` generates
MAX_ATTEMPTS = 5


def resolve_token(explicit: str | None) -> str:
    """--token, else INGEST_TOKEN, else the token `make run` generated."""
    token = explicit or os.environ.get("INGEST_TOKEN")
    if not token and TOKEN_FILE.exists():
        token = TOKEN_FILE.read_text().strip()
    if not token:
        raise SystemExit("no producer token: pass --token, set INGEST_TOKEN, or start `make run` once")
    return token


class ApiClient:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def post_events(self, events: list[dict[str, Any]]) -> list[str]:
        """One batch; a 503 is retried after its Retry-After, anything else but 202 is an error."""
        return list(self._accepted("POST", "/events", json={"events": events})["event_ids"])

    def delete_event(self, match_id: str, event_id: str) -> None:
        """Void for good (DELETE), retried like a post."""
        self._accepted("DELETE", f"/matches/{match_id}/events/{event_id}")

    def _accepted(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            response = self.session.request(method, f"{self.url}{path}", timeout=60, **kwargs)
            if response.status_code == 202:
                return response.json()
            if response.status_code != 503 or attempt == MAX_ATTEMPTS:
                raise SystemExit(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
            time.sleep(float(response.headers.get("Retry-After", "1")))
        raise AssertionError("unreachable")

    def get(self, path: str, **params: Any) -> Any:
        """One GET's JSON; a dropped connection or a 503 is retried a few times, any other error raised."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self.session.get(f"{self.url}{path}", params=params, timeout=60)
            except requests.ConnectionError:
                if attempt == MAX_ATTEMPTS:
                    raise
            else:
                if response.status_code != 503 or attempt == MAX_ATTEMPTS:
                    response.raise_for_status()
                    return response.json()
            time.sleep(1.0)
        raise AssertionError("unreachable")

    def pages(self, path: str, items: str, cursor_parameter: str = "cursor", **params: Any) -> list[dict[str, Any]]:
        """Every item of every page, following next_cursor until it is null."""
        page = self.get(path, **params)
        found: list[dict[str, Any]] = page[items]
        while page["next_cursor"] is not None:
            page = self.get(path, **params, **{cursor_parameter: page["next_cursor"]})
            found += page[items]
        return found

    def timeline(self, match_id: str, **params: Any) -> list[dict[str, Any]]:
        """Every event of the match."""
        return self.pages(f"/matches/{match_id}", "events", **params)
