"""The same app over real HTTP (Chalice's local server), as `make run` and `chalice local` serve it."""

import requests

from tests.support import HEADERS, eventually


def test_events_posted_over_http_are_read_back_over_http(api_url):
    event = {
        "match_id": "over-http",
        "event_type": "corner",
        "team_id": "t",
        "player_id": "p",
        "timestamp": "2023-06-15T14:30:00Z",
    }
    assert requests.post(f"{api_url}/events", json=event, headers=HEADERS, timeout=30).status_code == 202
    assert eventually(lambda: requests.get(f"{api_url}/matches/over-http", timeout=30).json()["count"] == 1)
