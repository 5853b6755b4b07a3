"""SIGKILL the whole `make run` stack mid-stream, start it again: nothing acknowledged is lost.

This runs the real runner (`python -m devstack.run`, what `make run` starts)
in its own process group with its own Kafka and DynamoDB Local, and kills
the group (runner, API, event source and both JVMs) while a client posts.
"""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests

from devstack.stack import free_port
from matchtools.generate import generate_match
from tests.support import TOKEN, eventually, expected_stats

PROJECT = Path(__file__).resolve().parents[2]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


class Runner:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.url = data_dir, f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DYNAMODB_ENDPOINT_URL")}
        env |= {"DEVSTACK_DATA": str(data_dir), "PORT": str(port), "INGEST_TOKEN": TOKEN}
        with (data_dir.parent / "runner.log").open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "devstack.run"], cwd=PROJECT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        assert eventually(self.healthy, timeout=240), (data_dir.parent / "runner.log").read_text()[-3000:]

    def healthy(self) -> bool:
        assert self.process.poll() is None, (self.data_dir.parent / "runner.log").read_text()[-3000:]
        try:
            return requests.get(f"{self.url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill_everything(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)  # the runner's own group: API, event source, both JVMs
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.kill_everything()

    def events(self, match_id: str) -> list[dict]:
        events, cursor = [], None
        while True:
            params = {"cursor": cursor} if cursor else {}
            body = requests.get(f"{self.url}/matches/{match_id}", params=params, timeout=30).json()
            events += body["events"]
            cursor = body["next_cursor"]
            if cursor is None:
                return events


def test_sigkill_of_the_whole_stack_loses_no_acknowledged_event(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    match_id = "crash-match"
    events = generate_match(match_id, events=1500, seed=3)
    batches = [events[i:i + 50] for i in range(0, len(events), 50)]
    acknowledged: list[dict] = []

    runner = Runner(data_dir, port)
    try:
        def producer() -> None:
            for batch in batches:
                try:
                    response = requests.post(f"{runner.url}/events", json={"events": batch}, headers=HEADERS, timeout=10)
                except requests.RequestException:
                    return  # the stack is gone
                if response.status_code == 202:
                    acknowledged.extend(batch)

        client = threading.Thread(target=producer)
        client.start()
        assert eventually(lambda: len(acknowledged) >= 500, timeout=120)
        runner.kill_everything()
        client.join(timeout=60)
    finally:
        runner.stop()
    assert 500 <= len(acknowledged) < len(events)

    runner = Runner(data_dir, port)
    try:
        acked_ids = {e.get("event_id") for e in acknowledged if e.get("event_id")}
        assert eventually(lambda: acked_ids <= {e["event_id"] for e in runner.events(match_id)}, timeout=180)

        for batch in batches:  # the client retries everything it sent, acknowledged or not
            response = requests.post(f"{runner.url}/events", json={"events": batch}, headers=HEADERS, timeout=30)
            assert response.status_code == 202, response.text
        assert eventually(lambda: len(runner.events(match_id)) >= len(events), timeout=180)
        stored = runner.events(match_id)
        assert len(stored) == len({e["event_id"] for e in stored}) == len(events)
        stats = requests.get(f"{runner.url}/matches/{match_id}/stats", timeout=30).json()
        assert stats == expected_stats(match_id, stored)
    finally:
        runner.stop()
