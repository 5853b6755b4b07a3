"""``make profile``: pyinstrument profiles of the hot paths, on a throw-away local stack.

    ingest    POST /events with a 500-event batch, through chalice's test client (validate + publish)
    consume   the consumer Lambda on a 500-record MSK batch (decode + transactional writes)
    query     a whole 3,400-event match read, page by page

HTML reports go to bench/results/profile-<path>.html; the top frames print.
"""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from devstack.aws_events import kafka_record, msk_event
from devstack.stack import LocalStack, ensure_table, ensure_topic
from matchtools.generate import generate_match

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "profile-token"


def main() -> None:
    with tempfile.TemporaryDirectory() as data, LocalStack(Path(data), persistent=False) as endpoints:
        os.environ |= {"KAFKA_BOOTSTRAP_SERVERS": endpoints.bootstrap_servers, "INGEST_TOKEN": TOKEN,
                       "DYNAMODB_ENDPOINT_URL": endpoints.dynamodb_endpoint_url, "EVENTS_TOPIC": "profile",
                       "EVENTS_TABLE": "profile"}  # fmt: skip
        ensure_topic(endpoints.bootstrap_servers, "profile")
        ensure_topic(endpoints.bootstrap_servers, "profile-dlq", partitions=1)
        ensure_table(endpoints.dynamodb_endpoint_url, "profile")
        from chalice.local import LambdaContext
        from chalice.test import Client

        import app
        from chalicelib.events import parse_batch
        from chalicelib.records import encode

        events = generate_match("profiled", events=3400)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        with Client(app.app) as client:
            client.http.post("/events", headers=headers, body=json.dumps({"events": events[:10]}))  # warm up
            profile(
                "ingest",
                lambda: [
                    client.http.post("/events", headers=headers, body=json.dumps({"events": events[i : i + 500]}))
                    for i in range(0, 3000, 500)
                ],
            )
            written = encode([parse_batch(e)[0] for e in events], "2026-01-01T00:00:00.000Z")
            records = [kafka_record(value, i, topic="profile") for i, (_, value) in enumerate(written)]
            batches = [msk_event(*records[i : i + 5]) for i in range(0, len(records), 5)]
            profile("consume", lambda: [app.consume_events(b, LambdaContext("consumer", 512)) for b in batches])
            profile("query", lambda: _pages(client))  # every page of the match, read once


def _pages(client: Any) -> None:
    path = "/matches/profiled"
    while cursor := client.http.get(path).json_body["next_cursor"]:
        path = f"/matches/profiled?cursor={cursor}"


def profile(name: str, work: Callable[[], object]) -> None:
    profiler = Profiler(interval=0.0005)
    profiler.start()
    work()
    profiler.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"profile-{name}.html").write_text(profiler.output_html())
    print(f"===== {name}\n" + profiler.output_text(unicode=False, color=False, show_all=False)[:6000])


if __name__ == "__main__":
    main()
