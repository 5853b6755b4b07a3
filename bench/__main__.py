"""``make bench``: the pipeline against the raw limits of its parts, measured the same way every time.

Starts the real `make run` stack (API, local event source, Kafka, DynamoDB Local)
in a subprocess on a throw-away data dir, or uses --url for the system figures
of a running deployment. Each figure is the median and p99 over --trials;
results go to bench/results/<timestamp>.json and .png, and a table prints.

    raw limits    producer msgs/s (the project's producer settings), BatchWriteItem items/s
                  (items like ours, 8 threads), one Query of a whole 3,400-event match
    system        POST /events throughput (batches of 500; single events from 16 clients) and latency,
                  consumer events/s (topic -> table, API idle), freshness (202 -> readable) at
                  500 events/s over 300 matches, full-match read and /stats latency, push latency
                  (202 -> change message) at 500 events/s over 300 matches to 1,000 WebSocket
                  subscribers, and the fan-out rate of a burst (bench/push.py)
"""

import argparse
import json
import os
import platform
import random
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from bench.push import push_latency
from chalicelib import layout
from chalicelib.config import Settings
from chalicelib.events import parse_event
from chalicelib.publishing import producer_config
from chalicelib.records import encode
from chalicelib.repository import event_item
from devstack.run_process import RunProcess
from devstack.stack import LOCAL_AWS, ensure_topic, free_port
from matchtools.client import ApiClient
from matchtools.generate import generate_match

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "bench" / "results"
TOKEN = "bench-token"
RECEIVED_AT = "2026-01-01T00:00:00.000Z"
TARGETS = {  # name: (figure, comparison, bound) -- from the issue that asked for this benchmark
    "consumer / raw BatchWriteItem": ("ratio_consumer", ">=", 0.7),
    "batch ingest / raw producer": ("ratio_ingest", ">=", 0.5),
    "freshness p99 at 500 ev/s (s)": ("freshness_p99_s", "<=", 1.0),
    "/stats p99 (ms)": ("stats_p99_ms", "<=", 20.0),
    "full 3,400-event read p99 (ms)": ("full_read_p99_ms", "<=", 500.0),
    "push p99 at 500 ev/s, 1,000 subscribers (s)": ("push_p99_s", "<=", 0.5),
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {"median": percentile(values, 50), "p99": percentile(values, 99), "n": len(values)}


def run_all(workers: int, work: Callable[[Any], Any], items: list[Any]) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, items))


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def events_for(matches: int, per_match: int, seed: int) -> list[dict[str, Any]]:
    prefix = uuid.uuid4().hex[:6]
    out = []
    for m in range(matches):
        out += generate_match(f"b{prefix}-{m}", events=per_match, seed=seed + m)
    return out


# -- raw limits ---------------------------------------------------------------------------------------


def raw_producer(bootstrap: str, trials: int, count: int) -> list[float]:
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_ACK_TIMEOUT_SECONDS": "30"})
    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    ensure_topic(bootstrap, topic)
    # one event per message: the limit of the client itself, not of how the API packs records
    values = [encode([parse_event(e)], RECEIVED_AT)[0] for e in events_for(30, count // 30, 1)]
    producer = KafkaProducer(**producer_config(settings))
    rates = []
    for _ in range(trials):

        def send_all() -> None:
            for future in [producer.send(topic, key=k, value=v) for k, v in values]:
                future.get(timeout=60)

        rates.append(len(values) / timed(send_all))
    producer.close()
    return rates


def dynamodb(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, **LOCAL_AWS)


def raw_batch_write(endpoint: str, trials: int, count: int, threads: int = 8) -> list[float]:
    client = dynamodb(endpoint)
    rates = []
    for trial in range(trials):
        items = [
            event_item(
                e["match_id"], parse_event(e).to_dict() | {"received_at": RECEIVED_AT, "partition": 0, "offset": i}
            )
            for i, e in enumerate(events_for(40, count // 40, 100 + trial))
        ]
        chunks = [items[i : i + 25] for i in range(0, len(items), 25)]

        def write(chunk: list[dict[str, Any]]) -> None:
            request = {layout.DEFAULT_TABLE: [{"PutRequest": {"Item": item}} for item in chunk]}
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")

        rates.append(len(items) / timed(partial(run_all, threads, write, chunks)))
    return rates


def raw_full_query(endpoint: str, match_id: str, trials: int) -> list[float]:
    client = dynamodb(endpoint)

    def read_all() -> None:
        params: dict[str, Any] = {
            "TableName": layout.DEFAULT_TABLE,
            "IndexName": layout.TIME_INDEX,
            "KeyConditionExpression": "match_id = :m",
            "ExpressionAttributeValues": {":m": {"S": match_id}},
        }
        while True:
            page = client.query(**params)
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    return [timed(read_all) for _ in range(trials)]


# -- the system ---------------------------------------------------------------------------------------


def ingest_batches(url: str, trials: int, batches: int, clients: int = 4) -> tuple[list[float], list[float]]:
    rates, latencies = [], []
    for trial in range(trials):
        events = events_for(clients, batches * 500 // clients, 200 + trial)
        work = [events[i : i + 500] for i in range(0, len(events), 500)]
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


def consumer_throughput(stack: RunProcess, trials: int, count: int) -> list[float]:
    """Preload a topic, then time the app's consumer (via the local event source) draining it."""
    bootstrap, dynamodb_url = stack.endpoints.bootstrap_servers, stack.endpoints.dynamodb_endpoint_url
    os.environ.update(
        {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DYNAMODB_ENDPOINT_URL": dynamodb_url, "INGEST_TOKEN": TOKEN}
    )
    import app
    from devstack.event_source import LocalEventSource

    rates = []
    for trial in range(trials):
        topic = f"bench-consumer-{uuid.uuid4().hex[:6]}"
        ensure_topic(bootstrap, topic)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        events = events_for(50, count // 50, 400 + trial)
        written = [
            record
            for start in range(0, len(events), 500)  # as the API writes 500-event requests
            for record in encode([parse_event(e) for e in events[start : start + 500]], RECEIVED_AT)
        ]
        for future in [producer.send(topic, key=key, value=value) for key, value in written]:
            future.get(timeout=60)
        producer.close()
        stored, started, done = [0], [0.0], threading.Event()

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
    return rates


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


def read_latencies(url: str, match_id: str, full_reads: int, stats_reads: int) -> tuple[list[float], list[float]]:
    api = ApiClient(url)
    full = [timed(lambda: api.timeline(match_id)) for _ in range(full_reads)]
    stats = [timed(lambda: api.get(f"/matches/{match_id}/stats")) for _ in range(stats_reads)]
    return full, stats


# -- report -------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "java": java,
        "os": platform.platform(),
    }


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = result["figures"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    pairs = [
        ("producer (raw)\nvs POST batches", "raw_producer_per_s", "ingest_batch_per_s"),
        ("BatchWriteItem (raw)\nvs consumer", "raw_batch_write_per_s", "consumer_per_s"),
    ]
    for i, (_, raw, system) in enumerate(pairs):
        left.bar(i - 0.2, figures[raw]["median"], 0.4, color="#999999", label="raw limit" if i == 0 else None)
        left.bar(i + 0.2, figures[system]["median"], 0.4, color="#1f77b4", label="system" if i == 0 else None)
        left.text(i + 0.2, figures[system]["median"], f"{result['ratios'][system]:.2f}x", ha="center", va="bottom")
    left.set_xticks(range(len(pairs)), [p[0] for p in pairs])
    left.set_ylabel("per second (median of trials)")
    left.set_title("throughput: system vs the raw limit of its part")
    left.legend()
    lat = [
        ("freshness", "freshness_s", 1000, 1000),
        ("/stats", "stats_s", 1000, 20),
        ("full read", "full_read_s", 1000, 500),
        ("raw Query\n(full match)", "raw_full_query_s", 1000, None),
        ("POST 500", "ingest_batch_latency_s", 1000, None),
        ("POST 1\n(16 clients)", "ingest_single_latency_s", 1000, None),
        ("push", "push_latency_s", 1000, 500),
    ]
    for i, (_, key, scale, target) in enumerate(lat):
        right.bar(i - 0.2, figures[key]["median"] * scale, 0.4, color="#1f77b4", label="p50" if i == 0 else None)
        right.bar(i + 0.2, figures[key]["p99"] * scale, 0.4, color="#ff7f0e", label="p99" if i == 0 else None)
        if target:
            right.hlines(
                target,
                i - 0.45,
                i + 0.45,
                colors="red",
                linestyles="dashed",
                label="target" if key == "freshness_s" else None,
            )
    right.set_xticks(range(len(lat)), [entry[0] for entry in lat], fontsize=8)
    right.set_yscale("log")
    right.set_ylabel("milliseconds (log)")
    right.set_title("latency")
    right.legend()
    fig.suptitle(f"{result['timestamp']} - {result['machine']['cores']} cores, {result['machine']['cpu']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--freshness-seconds", type=float, default=20.0)
    parser.add_argument("--push-seconds", type=float, default=20.0)
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"where the JSON and PNG go (default {RESULTS})")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    trials = 2 if args.quick else args.trials

    stack = RunProcess(Path(tempfile.mkdtemp(prefix="bench-")) / "data", free_port(), TOKEN)
    figures: dict[str, dict[str, float]] = {}
    bootstrap, dynamodb_url = stack.endpoints.bootstrap_servers, stack.endpoints.dynamodb_endpoint_url
    try:
        say = lambda text: print(text, flush=True)  # noqa: E731
        say(f"stack up: API {stack.url}, Kafka {bootstrap}, DynamoDB {dynamodb_url}")
        figures["raw_producer_per_s"] = summary(raw_producer(bootstrap, trials, int(20000 * scale)))
        say(f"raw producer: {figures['raw_producer_per_s']}")
        figures["raw_batch_write_per_s"] = summary(raw_batch_write(dynamodb_url, trials, int(8000 * scale)))
        say(f"raw BatchWriteItem: {figures['raw_batch_write_per_s']}")
        rates, latencies = ingest_batches(stack.url, trials, max(2, int(12 * scale)))
        figures["ingest_batch_per_s"], figures["ingest_batch_latency_s"] = summary(rates), summary(latencies)
        say(f"POST batches of 500: {figures['ingest_batch_per_s']}")
        rates, latencies = ingest_singles(stack.url, trials, max(5, int(40 * scale)))
        figures["ingest_single_per_s"], figures["ingest_single_latency_s"] = summary(rates), summary(latencies)
        say(f"POST single events, 16 clients: {figures['ingest_single_per_s']}")
        full_match = generate_match(f"full-{uuid.uuid4().hex[:6]}")
        match_id = full_match[0]["match_id"]
        for start in range(0, len(full_match), 500):
            ApiClient(stack.url, TOKEN).post_events(full_match[start : start + 500])
        wait_idle(stack)
        full, stats = read_latencies(stack.url, match_id, int(30 * scale) or 3, int(300 * scale) or 30)
        figures["full_read_s"], figures["stats_s"] = summary(full), summary(stats)
        figures["raw_full_query_s"] = summary(raw_full_query(dynamodb_url, match_id, int(30 * scale) or 3))
        say(
            f"full read: {figures['full_read_s']}, raw query: {figures['raw_full_query_s']}, "
            f"/stats: {figures['stats_s']}"
        )
        figures["consumer_per_s"] = summary(consumer_throughput(stack, trials, int(10000 * scale)))
        say(f"consumer: {figures['consumer_per_s']}")
        figures["freshness_s"] = summary(freshness(stack.url, args.freshness_seconds * (0.25 if args.quick else 1)))
        say(f"freshness: {figures['freshness_s']}")
        sizes = {"rate": 50, "matches": 30, "subscribers": 100} if args.quick else {}
        live = push_latency(stack.url, stack.ws_url, TOKEN, args.push_seconds * (0.25 if args.quick else 1), **sizes)
        figures["push_latency_s"] = summary(live["delays"] or [float("inf")])  # inf: nothing arrived in time
        figures["fan_out_per_s"] = summary([live["fan_out_per_s"]])
        say(
            f"push: {figures['push_latency_s']}, {live['delivered']} of {live['due']} deliveries within the drain; "
            f"fan-out {live['fan_out_per_s']:.0f} messages/s"
        )
    finally:
        stack.stop()

    ratios = {
        "ingest_batch_per_s": figures["ingest_batch_per_s"]["median"] / figures["raw_producer_per_s"]["median"],
        "consumer_per_s": figures["consumer_per_s"]["median"] / figures["raw_batch_write_per_s"]["median"],
        "full_read_s": figures["raw_full_query_s"]["median"] / figures["full_read_s"]["median"],
    }
    values = {
        "ratio_consumer": ratios["consumer_per_s"],
        "ratio_ingest": ratios["ingest_batch_per_s"],
        "freshness_p99_s": figures["freshness_s"]["p99"],
        "stats_p99_ms": figures["stats_s"]["p99"] * 1000,
        "full_read_p99_ms": figures["full_read_s"]["p99"] * 1000,
        "push_p99_s": figures["push_latency_s"]["p99"],
    }
    targets = {
        name: {
            "value": round(values[key], 3),
            "target": f"{op} {bound}",
            "met": values[key] >= bound if op == ">=" else values[key] <= bound,
        }
        for name, (key, op, bound) in TARGETS.items()
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "timestamp": stamp,
        "quick": args.quick,
        "trials": trials,
        "machine": machine(),
        "figures": figures,
        "ratios": ratios,
        "targets": targets,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    chart(result, args.results / f"{stamp}.png")
    print(f"\n{'figure':42} {'median':>12} {'p99':>12}")
    for name, value in figures.items():
        scale, unit = (1, "/s") if name.endswith("_per_s") else (1000, "ms")
        print(f"{name:42} {value['median'] * scale:>10.1f}{unit} {value['p99'] * scale:>10.1f}{unit}")
    print(f"\n{'target':42} {'value':>12} {'bound':>12}  met")
    for name, target in targets.items():
        print(f"{name:42} {target['value']:>12} {target['target']:>12}  {'yes' if target['met'] else 'NO'}")
    print(f"\nresults: {args.results / stamp}.json and .png")


if __name__ == "__main__":
    main()
