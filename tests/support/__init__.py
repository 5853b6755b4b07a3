"""Helpers the integration tests share: posting, reading every page, waiting, expected stats."""

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.events import parse_event
from chalicelib.records import encode
from devstack.aws_events import kafka_record, msk_event
from matchtools import expected

TOKEN = "integration-test-token"
RECEIVED_AT = "2026-01-01T00:00:00.000Z"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
SCOPED_TOKEN = "integration-acme-token"  # a producer named acme that may write matches named acme-...
SCOPED_TOKENS = {SCOPED_TOKEN: {"provider": "acme", "match_prefixes": ["acme-"]}}


def post(api: Any, body: Any) -> Any:
    return api.http.post("/events", headers=HEADERS, body=json.dumps(body))


def read_all(api: Any, path: str, items: str = "events", cursor_parameter: str = "cursor") -> list[dict[str, Any]]:
    """Follow next_cursor to the end: every item of the route's pages (``items`` names them in a page,
    ``cursor_parameter`` is the query parameter that takes next_cursor back)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        separator = "&" if "?" in path else "?"
        response = api.http.get(path + (f"{separator}{cursor_parameter}={cursor}" if cursor else ""))
        assert response.status_code == 200, response.body
        found += response.json_body[items]
        cursor = response.json_body["next_cursor"]
        if cursor is None:
            return found


def msk_event_of(events: list[dict[str, Any]], *, partition: int = 0, first_offset: int = 0) -> dict[str, Any]:
    """The Lambda MSK event that delivers these events as the API would have published them."""
    written = encode([parse_event(e) for e in events], RECEIVED_AT)
    return msk_event(
        *(kafka_record(value, first_offset + i, partition=partition, key=key) for i, (key, value) in enumerate(written))
    )


def eventually(check: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Poll until check() is truthy; generous timeout for a slow shared CI machine."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def wait_for_count(api: Any, match_id: str, count: int, timeout: float = 90.0) -> bool:
    return bool(eventually(lambda: len(read_all(api, f"/matches/{match_id}")) >= count, timeout))


def final_versions(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The contract's corrections, applied in delivery order: per event_id the highest version wins (one at
    or below the stored one changes nothing), and a void (``deleted``) is kept as such."""
    final: dict[str, dict[str, Any]] = {}
    for event in events:
        key = event.get("event_id") or json.dumps(event, sort_keys=True)
        if key not in final or event.get("version", 1) > final[key].get("version", 1):
            final[key] = event
    return final


def expected_changes(events: Iterable[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """The change feed the contract implies, as (change, event_id, version), for events in delivery order."""
    stored: dict[str, dict[str, Any]] = {}
    changes = []
    for event in events:
        key, version = event["event_id"], event.get("version", 1)
        old = stored.get(key)
        if old is not None and version <= old.get("version", 1):
            continue
        stored[key] = event
        was_live, is_live = old is not None and not old.get("deleted"), not event.get("deleted")
        if was_live or is_live:
            changes.append(("update" if was_live and is_live else "insert" if is_live else "delete", key, version))
    return changes


def live_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in final_versions(events).values() if not e.get("deleted")]


def _live_as_stored(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The live final versions, each with the event_id the API derives if none was posted (the tie-break)."""
    return [e if "event_id" in e else parse_event(e).to_dict() for e in live_events(events)]


def expected_status(events: Iterable[dict[str, Any]]) -> str:
    """The status the final versions imply (matchtools.expected, independent of chalicelib.stats)."""
    return expected.status(_live_as_stored(events))


def expected_stats(match_id: str, events: Iterable[dict[str, Any]], period: int | None = None) -> dict[str, Any]:
    """The /stats body (of ``period``, if given) the final versions imply (matchtools.expected, independent of
    chalicelib.stats and chalicelib.football)."""
    return expected.stats(match_id, _live_as_stored(events), period)
