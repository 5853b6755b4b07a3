"""One soak run: start the topology, load and fault it, stop the faults, drain, verify, report; the same
code for ``python -m soak`` and the short tests/integration/test_soak.py, with different sizes."""

import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from kafka import KafkaProducer
from kafka.errors import KafkaError

from matchtools.client import ApiClient
from soak import report
from soak.config import SoakConfig
from soak.faults import FaultInjector
from soak.ledger import Request
from soak.observe import MatchReads, lag, read_match, read_topic, wait_drained
from soak.topology import Topology
from soak.verify import verify_all
from soak.workload import Load, MatchFactory, Mix, Producer, RateLimiter, RetryPolicy, SoakClient

PROGRESS_EVERY_S = 30.0
PRODUCER = {"acks": "all", "max_block_ms": 5000, "request_timeout_ms": 5000}  # the poison writer's: fail fast


@attrs.frozen
class SoakRun:
    """The report, and the evidence it was computed from (for tests that check the checker)."""

    report: dict[str, Any]
    requests: list[Request]
    reads: dict[str, MatchReads]
    directory: list[dict[str, Any]]
    dead_letters: list[tuple[bytes | None, bytes, dict[str, bytes]]]
    poison: dict[bytes, bool]


def _poison(topology: Topology, key: bytes, config: SoakConfig, stop: threading.Event, sent: dict[bytes, bool]) -> None:
    """Records that are not JSON, written straight to the events topic; ``sent``: value -> acknowledged."""
    started, settings = time.monotonic(), topology.settings
    for n in range(config.poison):
        if stop.wait(max(0.0, started + config.load_s * (n + 1) / (config.poison + 1) - time.monotonic())):
            return
        value = f"soak poison {n}: not JSON {{".encode()
        sent[value] = False
        deadline = time.monotonic() + 120
        while not sent[value] and time.monotonic() < deadline and not stop.is_set():
            producer = None
            try:
                producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers.split(","), **PRODUCER)
                producer.send(settings.topic, key=key, value=value).get(timeout=10)
                sent[value] = True
            except KafkaError:
                stop.wait(2.0)
            finally:
                if producer is not None:
                    producer.close(timeout=5)


def _watch_load(
    config: SoakConfig, topology: Topology, load: Load, producers: Sequence[Producer], injector: FaultInjector
) -> None:
    """Until the load's time is up and the faults are done (or far past it), reporting progress."""
    load_started = last_progress = time.monotonic()
    hard_stop = load_started + config.load_s * 1.5 + 600
    watched: list[Producer | FaultInjector] = [*producers, injector]
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        if failed := [thread for thread in watched if thread.error is not None]:
            raise RuntimeError(f"{failed[0].name} failed: {failed[0].error!r}")
        if now - load_started >= config.load_s and (injector.finished or not injector.is_alive()):
            return
        if now > hard_stop:
            topology.log(f"soak: faults still running {now - load_started:.0f}s in; stopping them")
            load.abort.set()
            return
        if now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            try:
                behind = str(lag(topology.settings.bootstrap_servers, topology.settings.topic, topology.group)[0])
            except KafkaError:  # Kafka is down
                behind = "?"
            progress = f"{len(injector.faults)} faults, {load.ledger.progress()}; consumer {behind} records behind"
            topology.log(f"soak: {now - load_started:.0f}s: {progress}")


def _drive(
    config: SoakConfig, topology: Topology, load: Load, helpers: list[threading.Thread]
) -> tuple[float, FaultInjector, dict[bytes, bool]]:
    """The load, the faults and the poison records, until all are over: (seconds of load, faults, poison)."""
    rng = random.Random(config.seed)
    policy = RetryPolicy(give_up_s=config.give_up_s)
    clients = [
        SoakClient(topology.url, topology.token, policy, random.Random(rng.random())) for _ in range(config.clients)
    ]
    producers = [Producer(f"producer-{n}", client, load) for n, client in enumerate(clients)]
    injector = FaultInjector(topology, config, random.Random(rng.random()), load.abort)
    poison: dict[bytes, bool] = {}
    arguments = (topology, f"{load.factory.prefix}-poison".encode(), config, load.abort, poison)
    poisoner = threading.Thread(target=_poison, args=arguments, name="poison", daemon=True)
    started = time.monotonic()
    topology.log(
        f"soak: load {config.rate:g} events/s from {config.clients} clients for {config.minutes:g} min, "
        f"{config.fault_count} faults over {', '.join(config.kinds)}"
    )
    for thread in (*producers, injector, poisoner):
        thread.start()
    helpers.append(injector)
    _watch_load(config, topology, load, producers, injector)
    load_s = time.monotonic() - started
    load.stop.set()
    topology.log("soak: load stopped; finishing requests in flight")
    for producer in producers:
        producer.join(timeout=config.give_up_s + 120)
    injector.join(timeout=600)
    poisoner.join(timeout=180)
    load.abort.set()  # a producer still retrying now gives up: its request is abandoned, and so recorded
    for producer in producers:
        producer.join(timeout=60)
    return load_s, injector, poison


def run(config: SoakConfig, log: Callable[[str], None] = print) -> SoakRun:
    """The whole run: the report (soak.report, with ``passed``) and its evidence."""
    data_dir = config.data_dir or Path(tempfile.mkdtemp(prefix="soak-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    topology = Topology(data_dir, log)
    factory = MatchFactory(f"soak{config.seed}-{started_at:%H%M%S}", config.seed, config.match_events, Mix())
    load = Load(RateLimiter(config.rate, burst=max(config.rate, Mix().max_batch * 3)), factory, config.active_matches)
    watchdog_stop = threading.Event()
    helpers: list[threading.Thread] = []  # joined before anything is stopped: none may start a process after
    passed = False
    try:
        log(f"soak: starting Kafka, the DynamoDB engine, the API and both event sources in {data_dir} ...")
        topology.start()
        helpers.append(threading.Thread(target=topology.watch, args=(watchdog_stop,), daemon=True, name="watchdog"))
        helpers[0].start()
        load_s, injector, poison = _drive(config, topology, load, helpers)
        log("soak: faults over; waiting for the consumer to drain ...")
        settings = topology.settings
        drain_timeout = config.drain_timeout_s or 600 + config.load_s
        quiet = 3 * settings.ack_timeout_seconds + 5  # an abandoned request's records could still land
        drain_s = wait_drained(settings.bootstrap_servers, settings.topic, topology.group, drain_timeout, quiet, log)
        log(f"soak: drained in {drain_s:.0f}s; reading everything back through the API ...")
        requests = load.ledger.snapshot()
        api = ApiClient(topology.url)
        reads = {match_id: read_match(api, match_id) for match_id in sorted({r.match_id for r in requests})}
        directory = api.pages("/matches", "matches", limit=100)
        dead = read_topic(settings.bootstrap_servers, settings.dead_letter_topic)
        verification = verify_all(requests, reads, directory, dead, poison)
        result = report.build(
            config, started_at, load_s, drain_s, requests, injector, topology, verification, poison, data_dir
        )
        passed = bool(result["passed"])
        return SoakRun(result, requests, reads, directory, dead, dict(poison))
    finally:
        load.stop.set()
        load.abort.set()
        watchdog_stop.set()
        for helper in helpers:
            helper.join(timeout=300)
        log("soak: stopping every process it started ...")
        topology.stop()
        if passed and not config.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            log(f"soak: logs and data kept in {data_dir}")
