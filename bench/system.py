"""The pipeline's figures on the running stack: ingest, the consumer, freshness and reads (push: bench/push.py).

ingest       POST /events throughput and latency: batches of 500 from 4 clients, single events from 16
consumer     events/s from a preloaded topic into the table (the app's handler, API idle), and the
             DynamoDB items it wrote per event stored, to hold it against the raw write limit in items/s
freshness    202 -> readable, at 500 events/s over 300 matches
reads        a whole 3,400-event match through the API, and /stats
"""

import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import requests
from kafka import KafkaProducer

from bench.workload import REQUEST_EVENTS, TOKEN, api_records, app_on, events_for, run_all, timed
from chalicelib.layout import DEFAULT_TOPIC
from devstack.run_process import RunProcess
from devstack.stack import ensure_topic
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
        sessions = [requests.Session() for _ in range(clients)]

        def post_all(client: int, events: list[dict[str, Any]] = events, sessions: list[Any] = sessions) -> None:
            for event in events[client::clients]:
                started = time.perf_counter()
                for attempt in range(3):  # a reset connection is retried, as a client would: same event, same id
                    try:
                        response = sessions[client].post(
                            f"{url}/events", json=event, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}
                        )
                        break
                    except requests.ConnectionError:
                        if attempt == 2:
                            raise
                assert response.status_code == 202, response.text
                latencies.append(time.perf_counter() - started)

        rates.append(len(events) / timed(partial(run_all, clients, post_all, list(range(clients)))))
    return rates, latencies


def _items_written(operation: str, params: dict[str, Any]) -> int:
    """DynamoDB items a write call puts, updates or deletes (0: not a write)."""
    if operation == "TransactWriteItems":
        return sum(1 for action in params["TransactItems"] if {"Put", "Update", "Delete"} & set(action))
    if operation == "BatchWriteItem":
        return sum(len(requests_) for requests_ in params["RequestItems"].values())
    return 1 if operation in ("PutItem", "UpdateItem", "DeleteItem") else 0


class WriteCounter:
    """Counts the items a boto3 DynamoDB client wrote, in the calls that succeeded."""

    def __init__(self, client: Any) -> None:
        self.items = 0
        self._lock = threading.Lock()
        client.meta.events.register("before-parameter-build.dynamodb", self._request)
        client.meta.events.register("after-call.dynamodb", self._response)

    @staticmethod
    def _request(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_items"] = _items_written(model.name, params)

    def _response(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code < 300:
            with self._lock:
                self.items += context.get("bench_items", 0)

    def take(self) -> int:
        """The items counted since the last take."""
        with self._lock:
            items, self.items = self.items, 0
        return items


def consumer_throughput(stack: RunProcess, trials: int, count: int) -> tuple[list[float], list[float]]:
    """Preload a topic with the API's records, then time the app's consumer (via the local event source)
    draining it into the stack's table: events stored per second, and items written per event stored."""
    from devstack.event_source import LocalEventSource

    bootstrap, app = stack.endpoints.bootstrap_servers, app_on(stack)

    counter = WriteCounter(app.services.dynamodb)
    rates, items_per_event = [], []
    for trial in range(trials):
        topic = f"bench-consumer-{uuid.uuid4().hex[:6]}"
        ensure_topic(bootstrap, topic)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        events = events_for(50, count // 50, 400 + trial)
        for future in [producer.send(topic, key=key, value=value) for key, value in api_records(events)]:
            future.get(timeout=60)
        producer.close()
        stored, started, done = [0], [0.0], threading.Event()
        counter.take()

        def handler(
            msk_event: dict[str, Any],
            context: Any,
            started: list[float] = started,
            stored: list[int] = stored,
            events: list[dict[str, Any]] = events,
            done: threading.Event = done,
        ) -> None:
            started[0] = started[0] or time.perf_counter()  # from the first batch: group join is not consuming
            stored[0] += app.consume_events(msk_event, context)["stored"]
            if stored[0] >= len(events):
                done.set()

        source = LocalEventSource(bootstrap, topic, handler, group_id=topic, log=lambda _: None)
        thread = threading.Thread(target=source.run, args=(done,), daemon=True)
        thread.start()
        done.wait(timeout=600)
        rates.append(stored[0] / (time.perf_counter() - started[0]))
        thread.join(timeout=30)
        items_per_event.append(counter.take() / max(1, stored[0]))
    return rates, items_per_event


RATE_REQUEST_EVENTS = 25  # events per request when offering at a steady rate


def post_at(
    api: ApiClient,
    rate: float,
    seconds: float,
    match_ids: list[str],
    prefix: str,
    per_request: int = RATE_REQUEST_EVENTS,
) -> Iterator[tuple[list[dict[str, Any]], float]]:
    """Offer ``rate`` events/s over ``match_ids`` for ``seconds``: each request's events and the wall time its
    202 came back (wall, not monotonic: it joins with the stack's own timestamps and logs)."""
    clock = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    interval = per_request / rate
    started = next_at = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        first, n = n + 1, n + per_request
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
        yield batch, time.time()
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))


@dataclass
class Sample:
    """One request's last event, on the wall clock: its 202 (``acked``), when the GET that found it was sent
    (``asked``) and returned (``seen``), and the event as the API read it back (``stored``)."""

    event: dict[str, Any]
    acked: float
    asked: float
    seen: float
    stored: dict[str, Any]


def freshness_samples(
    url: str,
    seconds: float,
    rate: int = 500,
    matches: int = 300,
    readers: int = 6,
) -> tuple[list[Sample], float]:
    """Offer ``rate`` events/s over ``matches`` matches while ``readers`` threads poll the API for the last event
    of each request until it is readable: the samples and the events/s offered."""
    prefix = uuid.uuid4().hex[:6]
    todo: queue.Queue[tuple[dict[str, Any], float] | None] = queue.Queue()
    samples: list[Sample] = []

    def read() -> None:
        session = requests.Session()
        while (item := todo.get()) is not None:
            event, acked = item
            while True:
                asked = time.time()
                body = session.get(
                    f"{url}/matches/{event['match_id']}",
                    params={"from": event["timestamp"], "to": event["timestamp"]},
                    timeout=30,
                ).json()
                stored = next((e for e in body["events"] if e["event_id"] == event["event_id"]), None)
                if stored is not None:
                    samples.append(Sample(event, acked, asked, time.time(), stored))
                    break
                time.sleep(0.02)

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    api, match_ids = ApiClient(url, TOKEN), [f"f{prefix}-{m}" for m in range(matches)]
    began, posted = time.perf_counter(), 0
    for batch, acked in post_at(api, rate, seconds, match_ids, prefix):
        posted += len(batch)
        todo.put((batch[-1], acked))
    offered = posted / (time.perf_counter() - began)
    for _ in threads:
        todo.put(None)
    for thread in threads:
        thread.join()
    return samples, offered


def freshness(url: str, seconds: float, rate: int = 500, matches: int = 300) -> list[float]:
    """202 -> readable (s) per sample of freshness_samples: make bench's freshness figure."""
    return [sample.seen - sample.acked for sample in freshness_samples(url, seconds, rate, matches)[0]]


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
