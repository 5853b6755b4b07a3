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


def test_matchtools_corrects_voids_and_voids_for_good(api_url):
    """The imported match, corrected from the command line: a goal becomes a saved shot, then is voided."""
    match_id = f"sb-{uuid.uuid4().hex[:8]}"
    converted, _ = convert(json.loads(FIXTURE.read_text()), match_id, datetime(2023, 6, 15, 15, tzinfo=UTC))
    main(["import-statsbomb", str(FIXTURE), "--match-id", match_id, "--url", api_url, "--token", TOKEN])
    client = ApiClient(api_url)
    assert eventually(lambda: len(client.timeline(match_id)) == len(converted))
    goal = next(e for e in converted if e["event_type"] == "goal" and e["team_id"] == "Northside FC")
    common = ["--url", api_url, "--token", TOKEN]

    main(["correct", match_id, goal["event_id"], "event_type=shot", "outcome=saved", *common])
    assert eventually(lambda: client.get(f"/matches/{match_id}/stats")["score"]["Northside FC"] == 1)
    (amended,) = [e for e in client.timeline(match_id) if e["event_id"] == goal["event_id"]]
    assert (amended["event_type"], amended["outcome"], amended["version"]) == ("shot", "saved", 2)

    main(["void", match_id, goal["event_id"], *common])
    assert eventually(lambda: goal["event_id"] not in {e["event_id"] for e in client.timeline(match_id)})
    main(
        [
            "correct",
            match_id,
            goal["event_id"],
            "event_type=goal",
            "timestamp=" + goal["timestamp"],
            "team_id=Northside FC",
            "player_id=" + goal["player_id"],
            "--version",
            "9",
            *common,
        ]
    )
    assert eventually(lambda: client.get(f"/matches/{match_id}/stats")["score"]["Northside FC"] == 2)  # restored

    main(["void", match_id, goal["event_id"], "--for-good", *common])
    assert eventually(lambda: client.get(f"/matches/{match_id}/stats")["score"]["Northside FC"] == 1)
    changes = client.get(f"/matches/{match_id}/changes")["changes"]
    assert [c["change"] for c in changes if c["event"]["event_id"] == goal["event_id"]] == [
        "insert",
        "update",
        "delete",
        "insert",
        "delete",
    ]
