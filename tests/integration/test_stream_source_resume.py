"""The local stream source against the local engine's real stream: it outlives the engine restarting, and a
restarted source hands the broadcaster the changes made while it was down (from its per-shard checkpoint),
as Lambda's DynamoDB Streams event source mapping does."""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib import layout
from devstack.stream_source import LocalStreamSource
from tests.support import eventually, post, wait_for_count


def event(match_id: str, n: int) -> dict[str, Any]:
    return {
        "match_id": match_id,
        "event_id": f"e{n}",
        "event_type": "pass",
        "team_id": "home",
        "player_id": "p1",
        "timestamp": f"2026-05-01T15:00:{n:02d}Z",
    }


class Broadcaster:
    """Stands in for app.broadcast_changes: records the change items of one match it is handed, in order."""

    def __init__(self, match_id: str) -> None:
        self.match_id = match_id
        self.keys: list[str] = []

    def __call__(self, stream_event: dict[str, Any], context: Any) -> dict[str, Any]:
        keys = [r["dynamodb"]["Keys"] for r in stream_event["Records"]]
        self.keys += [
            k[layout.SORT_KEY]["S"]
            for k in keys
            if k[layout.PARTITION_KEY]["S"] == self.match_id
            and k[layout.SORT_KEY]["S"].startswith(layout.CHANGE_PREFIX)
        ]
        return {"batchItemFailures": []}


@contextmanager
def running(settings: Any, handler: Broadcaster, checkpoint_dir: Path | None, logs: list[str]) -> Iterator[Any]:
    source = LocalStreamSource(
        settings.dynamodb_endpoint_url or "", settings.table, handler, checkpoint_dir=checkpoint_dir, log=logs.append
    )
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert source.ready.wait(60), logs
        yield source, thread
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def change_keys(n: int) -> list[str]:
    return [layout.change_key(seq) for seq in range(1, n + 1)]


def test_a_restarted_stream_source_delivers_the_changes_made_while_it_was_down(live_services, api, tmp_path):
    settings, match_id, logs = live_services.settings, f"resume-{uuid.uuid4().hex[:10]}", []
    broadcaster = Broadcaster(match_id)
    with running(settings, broadcaster, tmp_path, logs):  # the first start ever: from the stream's end
        assert post(api, event(match_id, 1)).status_code == 202
        assert eventually(lambda: broadcaster.keys == change_keys(1)), broadcaster.keys
    assert list(tmp_path.glob("stream-source-*.json"))  # the checkpoint
    for n in (2, 3):  # while no stream source runs
        assert post(api, event(match_id, n)).status_code == 202
        assert wait_for_count(api, match_id, n)
    with running(settings, broadcaster, tmp_path, logs):
        assert eventually(lambda: len(broadcaster.keys) >= 3), broadcaster.keys
        assert post(api, event(match_id, 4)).status_code == 202
        assert eventually(lambda: len(broadcaster.keys) >= 4), broadcaster.keys
    assert broadcaster.keys == change_keys(4)  # the missed ones, in order, and nothing delivered twice
    assert any("resuming from" in line for line in logs)


def test_a_first_start_still_begins_at_the_streams_end(live_services, api, tmp_path):
    settings, match_id, logs = live_services.settings, f"fresh-{uuid.uuid4().hex[:10]}", []
    assert post(api, event(match_id, 1)).status_code == 202
    assert wait_for_count(api, match_id, 1)  # in the stream before the source starts
    broadcaster = Broadcaster(match_id)
    with running(settings, broadcaster, tmp_path, logs):
        assert post(api, event(match_id, 2)).status_code == 202
        assert eventually(lambda: broadcaster.keys), broadcaster.keys
    assert broadcaster.keys == [layout.change_key(2)]


def test_the_stream_source_outlives_the_engine_restarting(live_services, api, stack):
    settings, match_id, logs = live_services.settings, f"outage-{uuid.uuid4().hex[:10]}", []
    broadcaster = Broadcaster(match_id)
    with running(settings, broadcaster, None, logs) as (source, thread):
        assert post(api, event(match_id, 1)).status_code == 202
        assert eventually(lambda: broadcaster.keys == change_keys(1)), broadcaster.keys
        stack.dynamodb.stop()
        try:
            assert post(api, event(match_id, 2)).status_code == 202  # ingest does not need the table
            assert eventually(lambda: source.unavailable >= 2, timeout=60), logs
            assert thread.is_alive()
        finally:
            stack.dynamodb.start()
        assert eventually(lambda: len(broadcaster.keys) >= 2), (broadcaster.keys, logs[-5:])
        assert post(api, event(match_id, 3)).status_code == 202
        assert eventually(lambda: len(broadcaster.keys) >= 3), (broadcaster.keys, logs[-5:])
        assert thread.is_alive()
    assert broadcaster.keys == change_keys(3)
    assert any("DynamoDB unavailable" in line for line in logs)
