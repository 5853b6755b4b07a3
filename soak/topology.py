"""The pipeline as five separately killable processes (KINDS), each known by the PID the soak started it with,
given the environment `make run` gives its children and the same ports and data directories across restarts.
A watchdog restarts any process that exits by itself and records it: that is a finding, not a fault."""

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
from devstack import stack
from devstack.run_process import api_healthy
from devstack.websocket_gateway import STAGE
from soak.observe import CONSUMER_GROUP

PROJECT_DIR = Path(__file__).resolve().parent.parent
# What a fault hits; "dynamodb_pause" freezes the engine (SIGSTOP, then SIGCONT): an outage, not a crash.
KINDS = ("kafka", "dynamodb", "dynamodb_pause", "event_source", "broadcaster", "api")
# The API (HTTP and WebSocket, as `make run` serves them), Kafka -> the consumer, the table's stream -> push.
PYTHON = {"api": "soak.api", "event_source": "devstack.event_source", "broadcaster": "devstack.stream_source"}
READY_S = 180.0  # for any process to be ready after a start


@attrs.frozen
class UnexpectedExit:
    """A process the soak did not kill ended anyway (and was restarted)."""

    target: str
    at_s: float  # seconds since the topology started
    exit_code: int
    log_tail: str


class Topology:
    """Starts, restarts and stops the targets; ``locks[name]`` is held while one is faulted (the watchdog waits)."""

    def __init__(self, data_dir: Path, log: Callable[[str], None] = print) -> None:
        self.data_dir, self.log = data_dir, log
        logs = data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.stack = stack.LocalStack(data_dir / "stack", persistent=True, log=log)
        port, ws_port, management_port = stack.free_port(), stack.free_port(), stack.free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.token = secrets.token_urlsafe(24)
        outside = ("KAFKA_BOOTSTRAP_SERVERS", "DYNAMODB_ENDPOINT_URL")  # make run would use those instead
        self.env = {name: value for name, value in os.environ.items() if name not in outside} | {
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
        self.group = self.env.get("EVENT_SOURCE_GROUP", CONSUMER_GROUP)  # devstack.event_source reads the same
        python = partial(stack.Service, env=self.env, cwd=PROJECT_DIR, new_session=True, ready_timeout_s=READY_S)
        ready = {"api": partial(api_healthy, self.url)}
        self.targets: dict[str, stack.Service] = {"kafka": self.stack.kafka, "dynamodb": self.stack.dynamodb} | {
            name: python(name, [sys.executable, "-m", module], logs / f"{name}.log", ready.get(name, lambda: True))
            for name, module in PYTHON.items()
        }
        self.locks = {name: threading.Lock() for name in self.targets}
        self._backoff = dict.fromkeys(self.targets, 0.0)  # the watchdog's wait before restarting a crash loop
        self._started = dict.fromkeys(self.targets, 0.0)
        self.unexpected: list[UnexpectedExit] = []
        self.restart_failures: list[str] = []
        self.started_at = time.monotonic()

    def start(self) -> None:
        """Kafka and the DynamoDB engine, the topics and tables, then the three Python processes."""
        self.stack.start()
        settings, dynamodb = self.settings, self.stack.endpoints.dynamodb_endpoint_url
        stack.ensure_topic(settings.bootstrap_servers, settings.topic)
        stack.ensure_topic(settings.bootstrap_servers, settings.dead_letter_topic)
        stack.ensure_table(dynamodb, settings.table)
        stack.ensure_subscriptions_table(dynamodb, settings.subscriptions_table)
        for name in PYTHON:
            self.targets[name].start()
        self.started_at = time.monotonic()

    def start_until_ready(self, name: str, stop: threading.Event | None = None) -> int:
        """Start a target, trying again while it fails to come up; returns how many starts failed."""
        failures = 0
        while True:
            try:
                self.targets[name].start()
                return failures
            except stack.StackError as error:
                failures += 1
                self.restart_failures.append(f"{name}: {str(error)[:500]}")
                self.log(f"soak: {name} did not come back ({failures}); starting it again")
                if stop is not None and stop.wait(2.0):
                    return failures

    def watch(self, stop: threading.Event) -> None:
        """Restart any target that exited by itself, backing off up to 16 s while it keeps exiting soon after."""
        while not stop.wait(1.0):
            for name, target in self.targets.items():
                lock = self.locks[name]
                if not lock.acquire(blocking=False):
                    continue  # being faulted
                try:
                    if (code := target.exit_code()) is None:
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
        for name in PYTHON:
            self.targets[name].stop()
        self.stack.stop()
