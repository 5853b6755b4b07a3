"""The pipeline's figures on the running stack: ingest, the consumer (events/s and items written per event, held
against the raw write limit in items/s), freshness (202 -> readable) and reads."""

import queue
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from bench.workload import REQUEST_EVENTS, TOKEN, api_records, app_on, consume_preloaded, events_for, run_all, timed
from chalicelib.layout import DEFAULT_TOPIC, table_definition
from devstack.capacity import Ledger, Meter
from devstack.run_process import RunProcess
from matchtools.client import ApiClient
from matchtools.generate import generate_match
from soak.observe import CONSUMER_GROUP, wait_drained

FULL_MATCH_EVENTS = 3400  # matchtools.generate's default: a whole match


def ingest_batches(url: str, trials: int, batches: int, clients: int = 4) -> tuple[list[float], list[float]]:
    rates, latencies = [], []
    for trial in range(trials):
        events = events_for(clients, batches * REQUEST_EVENTS // clients, 200 + trial)
        work = [events[i : i + REQUEST_EVENTS] for i in range(0, len(events), REQUEST_EVENTS)]
        api = [ApiClient(url, TOKEN) for _ in range(clients)]

        def post(index_batch: tuple[int, list[dict[str, Any]]], api: list[ApiClient] = api) -> None:
            client, batch = api[index_batch[0] % clients], index_batch[1]
            latencies.append(timed(partial(client.post_events, batch)))

        rates.append(len(events) / timed(partial(run_all, clients, post, list(enumerate(work)))))
    return rates, latencies


def ingest_singles(url: str, trials: int, per_client: int, clients: int = 16) -> tuple[list[float], list[float]]:
    rates, latencies = [], []
    for trial in range(trials):
        events = events_for(clients, per_client, 300 + trial)

        def post_all(client: int, events: list[dict[str, Any]] = events) -> None:
            session = requests.Session()
            # a reset connection is retried, as a client would: the same event, the same id
            session.mount("http://", HTTPAdapter(max_retries=Retry(total=2, allowed_methods=None)))
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            for event in events[client::clients]:
                started = time.perf_counter()
                response = session.post(f"{url}/events", json=event, timeout=60)
                assert response.status_code == 202, response.text
                latencies.append(time.perf_counter() - started)

        rates.append(len(events) / timed(partial(run_all, clients, post_all, list(range(clients)))))
    return rates, latencies


def consumer_throughput(stack: RunProcess, trials: int, count: int) -> tuple[list[float], list[float]]:
    """The app's consumer draining a preloaded topic of the API's records into the stack's table: events stored
    per second, and items its successful calls wrote per event stored."""
    app = app_on(stack)
    settings = app.services.settings
    meter = Meter(app.services.dynamodb, Ledger(table_definition(settings.table)))
    rates, items_per_event = [], []
    for trial in range(trials):
        meter.take()
        stored, rate = _drain(stack, app, events_for(50, count // 50, 400 + trial))
        rates.append(rate)
        items_per_event.append(meter.take().writes / max(1, stored))
    meter.close()
    return rates, items_per_event


def _drain(stack: RunProcess, app: Any, events: list[dict[str, Any]]) -> tuple[int, float]:
    """Events stored, and per second from the first batch (a group join is not consuming) to the last."""
    stored, started, ended, done = 0, 0.0, 0.0, threading.Event()

    def handler(msk_event: dict[str, Any], context: Any) -> None:
        nonlocal stored, started, ended
        started = started or time.perf_counter()
        stored += app.consume_events(msk_event, context)["stored"]
        ended = time.perf_counter()
        if stored >= len(events):
            done.set()

    consume_preloaded(stack, api_records(events), handler, done)
    return stored, stored / (ended - started)


RATE_REQUEST_EVENTS = 25  # events per request when offering at a steady rate


def freshness(url: str, seconds: float, rate: int = 500, matches: int = 300, readers: int = 6) -> list[float]:
    """Offer ``rate`` events/s over ``matches`` matches while ``readers`` threads poll the API for the last event
    of each request: its 202 to readable (s), per request."""
    prefix = uuid.uuid4().hex[:6]
    todo: queue.Queue[tuple[dict[str, Any], float] | None] = queue.Queue()
    delays: list[float] = []

    def read() -> None:
        session = requests.Session()
        while (item := todo.get()) is not None:
            event, acked = item
            window = {"from": event["timestamp"], "to": event["timestamp"]}
            while True:
                page = session.get(f"{url}/matches/{event['match_id']}", params=window, timeout=30).json()
                if any(e["event_id"] == event["event_id"] for e in page["events"]):
                    break
                time.sleep(0.02)
            delays.append(time.time() - acked)

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    api, match_ids = ApiClient(url, TOKEN), [f"f{prefix}-{m}" for m in range(matches)]
    clock, interval = datetime(2024, 1, 1, tzinfo=UTC).timestamp(), RATE_REQUEST_EVENTS / rate
    started = next_at = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        first, n = n + 1, n + RATE_REQUEST_EVENTS
        batch = [
            {
                "match_id": random.choice(match_ids),
                "event_type": "pass",
                "team_id": "home",
                "player_id": "p1",
                "event_id": f"{prefix}-{i}",
                "timestamp": datetime.fromtimestamp(clock + i / 1000, UTC).isoformat(timespec="milliseconds"),
            }
            for i in range(first, n + 1)
        ]
        api.post_events(batch)
        todo.put((batch[-1], time.time()))
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    for _ in threads:
        todo.put(None)
    for thread in threads:
        thread.join()
    return delays


def wait_idle(stack: RunProcess, timeout: float = 600) -> None:
    """Until the runner's consumer has committed everything on the topic: reads are measured on an idle system."""
    wait_drained(stack.endpoints.bootstrap_servers, DEFAULT_TOPIC, CONSUMER_GROUP, timeout, 0.0, log=lambda _: None)


def load_full_match(stack: RunProcess) -> tuple[str, int]:
    """Post a whole generated match through the API and wait until it is stored: its match_id, and how many
    events the API reads of it."""
    full_match = generate_match(f"full-{uuid.uuid4().hex[:6]}", events=FULL_MATCH_EVENTS)
    for start in range(0, len(full_match), REQUEST_EVENTS):
        ApiClient(stack.url, TOKEN).post_events(full_match[start : start + REQUEST_EVENTS])
    wait_idle(stack)
    match_id = str(full_match[0]["match_id"])
    return match_id, len(ApiClient(stack.url).timeline(match_id))


def read_latencies(url: str, match_id: str, full_reads: int, stats_reads: int) -> tuple[list[float], list[float]]:
    api = ApiClient(url)
    full = [timed(lambda: api.timeline(match_id)) for _ in range(full_reads)]
    stats = [timed(lambda: api.get(f"/matches/{match_id}/stats")) for _ in range(stats_reads)]
    return full, stats
