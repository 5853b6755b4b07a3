"""The importer posts a StatsBomb file through the real API; timeline and stats come out as converted."""

import json
import uuid
from datetime import UTC, datetime

from matchtools.__main__ import main
from matchtools.client import ApiClient
from matchtools.statsbomb import convert
from tests.support import TOKEN, eventually, expected_stats
from tests.unit.test_statsbomb_import import FIXTURE


def test_importing_a_statsbomb_file_twice_stores_it_once_with_exact_stats(api_url):
    match_id = f"sb-{uuid.uuid4().hex[:8]}"
    converted, _ = convert(json.loads(FIXTURE.read_text()), match_id, datetime(2023, 6, 15, 15, tzinfo=UTC))
    client = ApiClient(api_url)
    for _ in range(2):
        main(["import-statsbomb", str(FIXTURE), "--match-id", match_id, "--url", api_url, "--token", TOKEN])
        assert eventually(lambda: len(client.timeline(match_id)) == len(converted))
    stored = client.timeline(match_id)
    assert [e["event_id"] for e in stored] == [e["event_id"] for e in converted]
    stats = client.get(f"/matches/{match_id}/stats")
    assert stats == expected_stats(match_id, converted)
    assert stats["score"] == {"Northside FC": 2, "Southbridge United": 1}
