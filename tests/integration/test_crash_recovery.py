"""SIGKILL the whole `make run` stack mid-stream, start it again: nothing acknowledged is lost.

This runs the real runner (`python -m devstack.run`, what `make run` starts)
in its own process group with its own Kafka and DynamoDB engine, and kills
the group (runner, API, event source and both JVMs) while a client posts.
"""

import threading

import requests

from devstack.run_process import RunProcess
from devstack.stack import free_port
from matchtools.client import ApiClient
from matchtools.generate import generate_match
from tests.support import TOKEN, eventually, expected_stats

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def test_sigkill_of_the_whole_stack_loses_no_acknowledged_event(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    match_id = "crash-match"
    events = generate_match(match_id, events=1500, seed=3)
    batches = [events[i : i + 50] for i in range(0, len(events), 50)]
    acknowledged: list[dict] = []

    runner = RunProcess(data_dir, port, TOKEN)
    try:

        def producer() -> None:
            for batch in batches:
                try:
                    response = requests.post(
                        f"{runner.url}/events", json={"events": batch}, headers=HEADERS, timeout=10
                    )
                except requests.RequestException:
                    return  # the stack is gone
                if response.status_code == 202:
                    acknowledged.extend(batch)

        client = threading.Thread(target=producer)
        client.start()
        assert eventually(lambda: len(acknowledged) >= 500, timeout=120)
        runner.kill()
        client.join(timeout=60)
    finally:
        runner.stop()
    assert 500 <= len(acknowledged) < len(events)

    runner = RunProcess(data_dir, port, TOKEN)
    reader = ApiClient(runner.url)
    try:
        acked_ids = {e.get("event_id") for e in acknowledged if e.get("event_id")}
        assert eventually(lambda: acked_ids <= {e["event_id"] for e in reader.timeline(match_id)}, timeout=180)

        for batch in batches:  # the client retries everything it sent, acknowledged or not
            response = requests.post(f"{runner.url}/events", json={"events": batch}, headers=HEADERS, timeout=30)
            assert response.status_code == 202, response.text
        assert eventually(lambda: len(reader.timeline(match_id)) >= len(events), timeout=180)
        stored = reader.timeline(match_id)
        assert len(stored) == len({e["event_id"] for e in stored}) == len(events)
        stats = requests.get(f"{runner.url}/matches/{match_id}/stats", timeout=30).json()
        assert stats == expected_stats(match_id, stored)
    finally:
        runner.stop()
