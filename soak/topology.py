"""The pipeline as five separately killable processes, each known by the PID the soak started it with.

    kafka         Kafka (KRaft, one node)          devstack.stack.Service, log dir kept across restarts
    dynamodb      python -m devstack.dynamodb      devstack.stack.Service, journal and snapshot kept
    api           python -m soak.api               HTTP API + WebSocket gateway, as `make run` serves them
    event_source  python -m devstack.event_source  Kafka -> the consumer Lambda (offsets after the writes)
    broadcaster   python -m devstack.stream_source the table's stream -> the broadcaster Lambda

All are configured with the environment `make run` gives its children. Ports and data directories stay
the same across restarts, so a restarted service is the same service. A watchdog restarts any process
that exits by itself (not killed by the soak) and records it: that is a finding, not a fault.
"""

import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import attrs

from chalicelib.config import Settings
from devstack.run_process import api_healthy
from devstack.stack import (
    LocalStack,
    Service,
    StackError,
    ensure_subscriptions_table,
    ensure_table,
    ensure_topic,
    free_port,
)
from devstack.websocket_gateway import STAGE

PROJECT_DIR = Path(__file__).resolve().parent.parent
# What a fault hits; "dynamodb_pause" freezes the engine (SIGSTOP, then SIGCONT): an outage, not a crash.
KINDS = ("kafka", "dynamodb", "dynamodb_pause", "event_source", "broadcaster", "api")
READY_TIMEOUT_S = 180.0


def _python(
    name: str, module: str, env: dict[str, str], log: Path, ready: Callable[[], bool] = lambda: True
) -> Service:
    """``python -m <module>`` with the stack's environment, in a session of its own."""
    command = [sys.executable, "-m", module]
    return Service(
        name, command, log, ready, env=env, cwd=PROJECT_DIR, new_session=True, ready_timeout_s=READY_TIMEOUT_S
    )


@attrs.frozen
class UnexpectedExit:
    """A process the soak did not kill ended anyway (and was restarted)."""

    target: str
    at_s: float  # seconds since the topology started
    exit_code: int
    log_tail: str


class Topology:
    """Starts, restarts and stops the five targets; ``lock(name)`` is held while a target is being faulted,
    so the watchdog leaves it alone."""

    def __init__(self, data_dir: Path, log: Callable[[str], None] = print) -> None:
        self.data_dir, self.log = data_dir, log
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.stack = LocalStack(data_dir / "stack", persistent=True, log=log)
        port, ws_port, management_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.token = secrets.token_urlsafe(24)
        outside = ("KAFKA_BOOTSTRAP_SERVERS", "DYNAMODB_ENDPOINT_URL")  # make run would use those instead
        inherited = {name: value for name, value in os.environ.items() if name not in outside}
        self.env = inherited | {  # what devstack.run gives its API and event sources
            "KAFKA_BOOTSTRAP_SERVERS": self.stack.endpoints.bootstrap_servers,
            "DYNAMODB_ENDPOINT_URL": self.stack.endpoints.dynamodb_endpoint_url,
            "INGEST_TOKEN": self.token,
            "PORT": str(port),
            "WS_PORT": str(ws_port),
            "WS_MANAGEMENT_PORT": str(management_port),
            "WEBSOCKET_URL": f"ws://127.0.0.1:{ws_port}",
            "WEBSOCKET_ENDPOINT_URL": f"http://127.0.0.1:{management_port}/{STAGE}",
            "PYTHONUNBUFFERED": "1",
            "DEVSTACK_DATA": str(data_dir / "stack"),  # the broadcaster's stream positions, kept across its restarts
        }
        self.settings = Settings.from_env(self.env)
        logs = data_dir / "logs"
        self.targets: dict[str, Service] = {
            "kafka": self.stack.kafka,
            "dynamodb": self.stack.dynamodb,
            "api": _python("api", "soak.api", self.env, logs / "api.log", partial(api_healthy, self.url)),
            "event_source": _python("event_source", "devstack.event_source", self.env, logs / "event_source.log"),
            "broadcaster": _python("broadcaster", "devstack.stream_source", self.env, logs / "broadcaster.log"),
        }
        self._locks = {name: threading.Lock() for name in self.targets}
        self._backoff = dict.fromkeys(self.targets, 0.0)  # the watchdog's wait before restarting a crash loop
        self._started = dict.fromkeys(self.targets, 0.0)
        self.unexpected: list[UnexpectedExit] = []
        self.restart_failures: list[str] = []
        self.started_at = time.monotonic()

    def start(self) -> None:
        """Kafka and the DynamoDB engine, the topics and tables, then the three Python processes."""
        self.stack.start()
        settings = self.settings
        ensure_topic(settings.bootstrap_servers, settings.topic)
        ensure_topic(settings.bootstrap_servers, settings.dead_letter_topic)
        ensure_table(self.stack.endpoints.dynamodb_endpoint_url, settings.table)
        ensure_subscriptions_table(self.stack.endpoints.dynamodb_endpoint_url, settings.subscriptions_table)
        for name in ("api", "event_source", "broadcaster"):
            self.targets[name].start()
        self.started_at = time.monotonic()

    def lock(self, name: str) -> threading.Lock:
        return self._locks[name]

    def start_until_ready(self, name: str, stop: threading.Event | None = None) -> int:
        """Start a target, trying again while it fails to come up; returns how many starts failed."""
        failures = 0
        while True:
            try:
                self.targets[name].start()
                return failures
            except StackError as error:
                failures += 1
                self.restart_failures.append(f"{name}: {str(error)[:500]}")
                self.log(f"soak: {name} did not come back ({failures}); starting it again")
                if stop is not None and stop.wait(2.0):
                    return failures

    def watch(self, stop: threading.Event) -> None:
        """The watchdog: restart any target that exited without being killed by the soak, backing off
        (up to 16 s) while it keeps exiting soon after each start (e.g. while what it needs is down)."""
        while not stop.wait(1.0):
            for name, target in self.targets.items():
                lock = self._locks[name]
                if not lock.acquire(blocking=False):
                    continue  # being faulted
                try:
                    code = target.exit_code()
                    if code is None:
                        continue
                    now = time.monotonic()
                    if now - self._started[name] > 30:
                        self._backoff[name] = 0.0
                    tail = target.log_tail()
                    self.unexpected.append(UnexpectedExit(name, round(now - self.started_at, 1), code, tail))
                    last = tail.splitlines()[-1] if tail else ""
                    self.log(f"soak: {name} exited by itself (code {code}): {last[:200]}; restarting it")
                    if stop.wait(self._backoff[name]):
                        return
                    self._backoff[name] = min(16.0, max(1.0, 2 * self._backoff[name]))
                    self._started[name] = time.monotonic()
                    self.start_until_ready(name, stop)
                finally:
                    lock.release()

    def stop(self) -> None:
        """Python processes first (SIGTERM, then SIGKILL), then the JVMs: every one by its own PID."""
        for name in ("api", "event_source", "broadcaster"):
            self.targets[name].stop()
        self.stack.stop()
