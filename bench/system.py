"""The pipeline's figures on the running stack: ingest, the consumer, freshness and reads (push: bench/push.py).

ingest       POST /events throughput and latency: batches of 500 from 4 clients, single events from 16
consumer     events/s from a preloaded topic into the table (the app's handler, API idle), and the
             DynamoDB items it wrote per event stored, to hold it against the raw write limit in items/s
freshness    202 -> readable, at 500 events/s over 300 matches
reads        a whole 3,400-event match through the API, and /stats
"""

import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from bench.workload import REQUEST_EVENTS, TOKEN, api_records, events_for, run_all, timed
from devstack.run_process import RunProcess
from devstack.stack import ensure_topic
from matchtools.client import ApiClient
from matchtools.generate import generate_match

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
    bootstrap, dynamodb_url = stack.endpoints.bootstrap_servers, stack.endpoints.dynamodb_endpoint_url
    os.environ.update(
        {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DYNAMODB_ENDPOINT_URL": dynamodb_url, "INGEST_TOKEN": TOKEN}
    )
    import app
    from devstack.event_source import LocalEventSource

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


def freshness(url: str, seconds: float, rate: int = 500, matches: int = 300) -> list[float]:
    """Offer `rate` events/s over `matches` matches; for one event per request, time 202 -> readable."""
    prefix, delays, pending = uuid.uuid4().hex[:6], [], []
    lock, stop = threading.Lock(), threading.Event()
    per_request, interval = 25, 25 / rate
    clock = datetime(2024, 1, 1, tzinfo=UTC)

    def produce() -> None:
        api, n = ApiClient(url, TOKEN), 0
        next_at = time.perf_counter()
        while not stop.is_set():
            batch = []
            for _ in range(per_request):
                n += 1
                stamp = clock.replace(microsecond=0).timestamp() + n / 1000
                batch.append(
                    {
                        "match_id": f"f{prefix}-{random.randrange(matches)}",
                        "event_type": "pass",
                        "team_id": "home",
                        "player_id": "p1",
                        "event_id": f"{prefix}-{n}",
                        "timestamp": datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds"),
                    }
                )
            api.post_events(batch)
            with lock:
                pending.append((batch[-1], time.perf_counter()))
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))

    def check() -> None:
        session = requests.Session()
        while not stop.is_set() or pending:
            with lock:
                item = pending.pop(0) if pending else None
            if item is None:
                time.sleep(0.01)
                continue
            event, acked = item
            while True:
                body = session.get(
                    f"{url}/matches/{event['match_id']}",
                    params={"from": event["timestamp"], "to": event["timestamp"]},
                    timeout=30,
                ).json()
                if any(e["event_id"] == event["event_id"] for e in body["events"]):
                    delays.append(time.perf_counter() - acked)
                    break
                time.sleep(0.02)

    threads = [threading.Thread(target=produce)] + [threading.Thread(target=check) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return delays


def wait_idle(stack: RunProcess, timeout: float = 600) -> None:
    """Until the runner's consumer has committed everything on the topic: reads are measured on an idle system."""
    admin = KafkaAdminClient(bootstrap_servers=stack.endpoints.bootstrap_servers)
    consumer = KafkaConsumer(bootstrap_servers=stack.endpoints.bootstrap_servers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            committed = admin.list_group_offsets("football-consumer").get("football-consumer", {})
            ends = consumer.end_offsets(list(committed)) if committed else {}
            if committed and all(committed[tp].offset >= ends[tp] for tp in committed):
                return
            time.sleep(0.5)
        raise SystemExit("the local consumer did not catch up")
    finally:
        admin.close()
        consumer.close()


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
