"""The load generator replays generated matches and files through the real API."""

import json
import uuid

from matchtools.__main__ import main
from matchtools.client import ApiClient
from matchtools.generate import generate_match
from tests.support import TOKEN, eventually
from tests.unit.test_statsbomb_import import FIXTURE


def test_replaying_concurrent_generated_matches_stores_every_event(api_url, capsys):
    prefix = f"rp-{uuid.uuid4().hex[:6]}"
    main(
        [
            "replay",
            "--matches",
            "3",
            "--events",
            "120",
            "--prefix",
            prefix,
            "--speed",
            "inf",
            "--url",
            api_url,
            "--token",
            TOKEN,
        ]
    )
    assert "replayed 360 events" in capsys.readouterr().out
    client = ApiClient(api_url)
    assert eventually(lambda: all(len(client.timeline(f"{prefix}-{m}")) == 120 for m in range(3)))


def test_replay_keeps_match_time_scaled_by_speed(api_url, tmp_path, capsys):
    match_id = f"rp-{uuid.uuid4().hex[:6]}"
    events = generate_match(match_id, events=30)[:20]  # about 34 s of match time
    path = tmp_path / "match.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    main(["replay", str(path), "--speed", "100", "--url", api_url, "--token", TOKEN])
    rate = float(capsys.readouterr().out.split(" at ")[1].split()[0])
    assert rate < 100  # 20 events over about 0.34 s of wall time, not all at once
    main(
        [
            "replay",
            str(FIXTURE),
            "--statsbomb",
            "--match-id",
            f"{match_id}-sb",
            "--speed",
            "inf",
            "--url",
            api_url,
            "--token",
            TOKEN,
        ]
    )
    assert eventually(lambda: len(ApiClient(api_url).timeline(f"{match_id}-sb")) == 37)
