"""One soak run: start the topology, load and fault it, stop the faults, drain, verify, report.

Used by ``python -m soak`` and by tests/integration/test_soak.py, so the short test and the 20-minute
soak are the same code with different sizes.
"""

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

from soak import report
from soak.client import RetryPolicy, SoakClient
from soak.config import SoakConfig
from soak.faults import FaultInjector
from soak.ledger import Ledger, Request
from soak.observe import CONSUMER_GROUP, MatchReads, Reader, lag, read_all, read_topic, wait_drained
from soak.topology import Topology
from soak.verify import verify_all
from soak.workload import MatchFactory, Mix, Producer, RateLimiter

PROGRESS_EVERY_S = 30.0


@attrs.frozen
class SoakRun:
    """The report, and the evidence it was computed from (for tests that check the checker)."""

    report: dict[str, Any]
    requests: list[Request]
    reads: dict[str, MatchReads]
    directory: list[dict[str, Any]]
    dead_letters: list[tuple[bytes | None, bytes, dict[str, bytes]]]
    poison: dict[bytes, bool]


class PoisonInjector(threading.Thread):
    """Writes ``count`` records that are not JSON straight to the events topic, spread over the load."""

    def __init__(
        self, bootstrap_servers: str, topic: str, key: bytes, count: int, load_s: float, stop: threading.Event
    ) -> None:
        super().__init__(name="poison", daemon=True)
        self.bootstrap_servers, self.topic, self.key = bootstrap_servers, topic, key
        self.count, self.load_s, self.stop = count, load_s, stop
        self.sent: dict[bytes, bool] = {}  # value -> acknowledged by Kafka

    def run(self) -> None:
        started = time.monotonic()
        for n in range(self.count):
            if self.stop.wait(max(0.0, started + self.load_s * (n + 1) / (self.count + 1) - time.monotonic())):
                return
            value = f"soak poison {n}: not JSON {{".encode()
            self.sent[value] = False
            deadline = time.monotonic() + 120
            while not self.sent[value] and time.monotonic() < deadline and not self.stop.is_set():
                try:
                    producer = KafkaProducer(
                        bootstrap_servers=self.bootstrap_servers.split(","),
                        acks="all",
                        max_block_ms=5000,
                        request_timeout_ms=5000,
                    )
                except KafkaError:
                    self.stop.wait(2.0)
                    continue
                try:
                    producer.send(self.topic, key=self.key, value=value).get(timeout=10)
                    self.sent[value] = True
                except KafkaError:
                    self.stop.wait(2.0)
                finally:
                    producer.close(timeout=5)


def _behind(settings: Any, group: str) -> str:
    """How many records the consumer group is behind, or ? while Kafka is down."""
    try:
        return str(lag(settings.bootstrap_servers, settings.topic, group)[0])
    except KafkaError:
        return "?"


def _watch_load(
    config: SoakConfig,
    producers: Sequence[Producer],
    injector: FaultInjector,
    ledger: Ledger,
    behind: Callable[[], str],
    abort: threading.Event,
    log: Callable[[str], None],
) -> None:
    """Until the load's time is up and the faults are done (or far past it), reporting progress."""
    load_started = time.monotonic()
    hard_stop = load_started + config.load_s * 1.5 + 600
    last_progress = load_started
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        failed = [t for t in (*producers, injector) if getattr(t, "error", None) is not None]
        if failed:
            raise RuntimeError(f"{failed[0].name} failed: {failed[0].error!r}")  # type: ignore[attr-defined]
        if now - load_started >= config.load_s and (injector.finished or not injector.is_alive()):
            return
        if now > hard_stop:
            log(f"soak: faults still running {now - load_started:.0f}s in; stopping them")
            abort.set()
            return
        if now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            progress = ledger.progress()
            log(
                f"soak: {now - load_started:.0f}s: {len(injector.faults)} faults, {progress['requests']} requests, "
                f"{progress['events_acked']} events acknowledged, {progress['retried_requests']} retried, "
                f"{progress['abandoned']} abandoned; consumer {behind()} records behind"
            )


def _finish_load(
    config: SoakConfig,
    producers: Sequence[Producer],
    injector: FaultInjector,
    poisoner: PoisonInjector,
    abort: threading.Event,
) -> None:
    """Requests in flight finish, then the faults and the poison; a producer still retrying gives up."""
    for producer in producers:
        producer.join(timeout=config.give_up_s + 120)
    injector.join(timeout=600)
    poisoner.join(timeout=180)
    abort.set()  # a producer still retrying now gives up: its request is abandoned, and so recorded
    for producer in producers:
        producer.join(timeout=60)


def _load(
    config: SoakConfig,
    topology: Topology,
    ledger: Ledger,
    prefix: str,
    rng: random.Random,
    stop_load: threading.Event,
    abort: threading.Event,
    log: Callable[[str], None],
) -> tuple[list[Producer], FaultInjector, PoisonInjector]:
    """The load's threads, not started: the producers, the fault injector and the poison writer."""
    settings = topology.settings
    factory = MatchFactory(prefix, config.seed, config.match_events, Mix())
    limiter = RateLimiter(config.rate, burst=max(config.rate, Mix().max_batch * 3))
    policy = RetryPolicy(give_up_s=config.give_up_s)
    producers = [
        Producer(
            f"producer-{n}",
            SoakClient(topology.url, topology.token, policy, random.Random(rng.random())),
            ledger,
            limiter,
            factory,
            config.active_matches,
            stop_load,
            abort,
        )
        for n in range(config.clients)
    ]
    injector = FaultInjector(
        topology,
        config.kinds,
        config.fault_count,
        config.load_s,
        config.downtime_s,
        random.Random(rng.random()),
        abort,
        log,
    )
    poisoner = PoisonInjector(
        settings.bootstrap_servers, settings.topic, f"{prefix}-poison".encode(), config.poison, config.load_s, abort
    )
    return producers, injector, poisoner


def run(config: SoakConfig, log: Callable[[str], None] = print) -> SoakRun:
    """The whole run: the report (soak.report, with ``passed``) and its evidence."""
    data_dir = config.data_dir or Path(tempfile.mkdtemp(prefix="soak-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    rng = random.Random(config.seed)
    topology = Topology(data_dir, log)
    watchdog_stop, stop_load, abort = threading.Event(), threading.Event(), threading.Event()
    helpers: list[threading.Thread] = []  # joined before anything is stopped: none may start a process after
    passed = False
    try:
        log(f"soak: starting Kafka, the DynamoDB engine, the API and both event sources in {data_dir} ...")
        topology.start()
        watchdog = threading.Thread(target=topology.watch, args=(watchdog_stop,), daemon=True, name="watchdog")
        watchdog.start()
        helpers.append(watchdog)
        settings = topology.settings
        group = topology.env.get("EVENT_SOURCE_GROUP", CONSUMER_GROUP)  # devstack.event_source reads the same

        ledger = Ledger()
        prefix = f"soak{config.seed}-{started_at:%H%M%S}"
        producers, injector, poisoner = _load(config, topology, ledger, prefix, rng, stop_load, abort, log)
        load_started = time.monotonic()
        log(
            f"soak: load {config.rate:g} events/s from {config.clients} clients for {config.minutes:g} min, "
            f"{config.fault_count} faults over {', '.join(config.kinds)}"
        )
        for thread in (*producers, injector, poisoner):
            thread.start()
        helpers.append(injector)
        _watch_load(config, producers, injector, ledger, lambda: _behind(settings, group), abort, log)
        load_s = time.monotonic() - load_started
        stop_load.set()
        log("soak: load stopped; finishing requests in flight")
        _finish_load(config, producers, injector, poisoner, abort)

        log("soak: faults over; waiting for the consumer to drain ...")
        drain_timeout = config.drain_timeout_s or 600 + config.load_s
        quiet = 3 * settings.ack_timeout_seconds + 5  # an abandoned request's records could still land
        drain_s = wait_drained(settings.bootstrap_servers, settings.topic, group, drain_timeout, quiet, log)
        log(f"soak: drained in {drain_s:.0f}s; reading everything back through the API ...")
        requests_ = ledger.snapshot()
        reader = Reader(topology.url)
        match_ids = sorted({request.match_id for request in requests_})
        reads = read_all(reader, match_ids)
        directory = reader.directory()
        dead = read_topic(settings.bootstrap_servers, settings.dead_letter_topic)
        verification = verify_all(requests_, reads, directory, dead, poisoner.sent)
        result = report.build(
            config=config,
            started_at=started_at,
            load_s=load_s,
            drain_s=drain_s,
            requests=requests_,
            faults=injector.faults,
            planned_faults=len(injector.schedule),
            topology=topology,
            verification=verification,
            poison=poisoner.sent,
            data_dir=data_dir,
        )
        passed = bool(result["passed"])
        return SoakRun(result, requests_, reads, directory, dead, dict(poisoner.sent))
    finally:
        stop_load.set()
        abort.set()
        watchdog_stop.set()
        for helper in helpers:
            helper.join(timeout=300)
        log("soak: stopping every process it started ...")
        topology.stop()
        if passed and not config.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            log(f"soak: logs and data kept in {data_dir}")
