"""Real Apache Kafka (KRaft, one node, run with ``java``) and the local DynamoDB engine (``devstack.dynamodb``).

Kafka's jars come from Maven Central through ``mvn dependency:copy-dependencies``
on the pom in ``kafka/`` and are cached in ``~/.cache/football-devstack`` (or
``$DEVSTACK_CACHE``), so only the first start needs the network. Kafka's JVM
gets a small heap; both services are waited on with real requests, not sleeps.
Every process is stopped by the PID this module started it with.
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import attrs
import boto3
from botocore.config import Config
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from chalicelib import layout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HERE = Path(__file__).resolve().parent
KAFKA_MAIN = "kafka.Kafka"
READY_TIMEOUT_S = 120.0


class _LocalCredentials(TypedDict):
    region_name: str
    aws_access_key_id: str
    aws_secret_access_key: str


LOCAL_AWS: _LocalCredentials = {
    "region_name": "us-east-1",
    "aws_access_key_id": "local",
    "aws_secret_access_key": "local",
}


class StackError(RuntimeError):
    """A local service could not be resolved or did not become ready."""


@attrs.frozen
class Endpoints:
    bootstrap_servers: str
    dynamodb_endpoint_url: str


def resolve_kafka(cache_dir: Path | None = None) -> Path:
    """Kafka's jar folder, fetched by mvn once per pom version."""
    cache = cache_dir or Path(os.environ.get("DEVSTACK_CACHE", Path.home() / ".cache" / "football-devstack"))
    pom = HERE / "kafka" / "pom.xml"
    lib = cache / f"kafka-{hashlib.sha256(pom.read_bytes()).hexdigest()[:12]}"
    if not (lib / ".complete").exists():
        command = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        (lib / ".complete").touch()
    return lib


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """One process (Kafka's JVM, the DynamoDB engine, a ``python -m`` module): started, probed until ready,
    signalled, stopped or killed by its own PID. ``new_session``: a Ctrl-C on the caller's terminal is the
    caller's to handle, not the process's."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log_file: Path,
        ready: Callable[[], bool] = lambda: True,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        new_session: bool = False,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.name, self.command, self.log_file, self.ready = name, command, log_file, ready
        self.env, self.cwd, self.new_session, self.ready_timeout_s = env, cwd, new_session, ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=self.new_session,
            )
        deadline = time.monotonic() + self.ready_timeout_s
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {self.process.returncode}" if self.process.poll() is not None else "timed out"
                self.kill()
                tail = self.log_file.read_text(errors="replace")[-4000:]
                raise StackError(f"{self.name} {state} before it was ready; log {self.log_file}:\n{tail}")
            time.sleep(0.25)

    def stop(self, signum: int = signal.SIGTERM, grace_s: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exit_code(self) -> int | None:
        """The exit code if the process ended by itself (None: running, stopped, or not started)."""
        return self.process.poll() if self.process else None

    def signal(self, signum: int) -> None:
        """Send a signal to the process by its own PID (nothing if it is not running)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def log_tail(self, lines: int = 12) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def _kafka_ready(bootstrap_servers: str) -> bool:
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def dynamodb_client(endpoint_url: str, config: Config | None = None) -> "DynamoDBClient":
    return boto3.client("dynamodb", endpoint_url=endpoint_url, config=config, **LOCAL_AWS)


def _dynamodb_ready(endpoint_url: str) -> bool:
    client = dynamodb_client(endpoint_url, Config(connect_timeout=1, read_timeout=3, retries={"max_attempts": 1}))
    try:
        client.list_tables()
        return True
    except Exception:  # any failure to answer is "not yet"
        return False


def engine_service(data_dir: Path, port: int, log_file: Path) -> Service:
    """The local DynamoDB engine, exactly as ``make run`` starts it, with its journal in ``data_dir``."""
    command = [sys.executable, "-m", "devstack.dynamodb", "--port", str(port), "--data-dir", str(data_dir)]
    return Service("DynamoDB engine", command, log_file, lambda: _dynamodb_ready(f"http://127.0.0.1:{port}"))


class LocalStack:
    """Kafka and the DynamoDB engine under ``data_dir``; ``persistent`` keeps data across starts."""

    def __init__(self, data_dir: Path, *, persistent: bool, log: Callable[[str], None] = print) -> None:
        self.data_dir, self.persistent, self.log = Path(data_dir), persistent, log
        self.data_dir.mkdir(parents=True, exist_ok=True)
        kafka_lib = resolve_kafka()
        ports = self._ports()
        self.endpoints = Endpoints(f"127.0.0.1:{ports['kafka']}", f"http://127.0.0.1:{ports['dynamodb']}")
        self.kafka = Service(
            "Kafka",
            self._kafka_command(kafka_lib, ports),
            self.data_dir / "kafka.log",
            lambda: _kafka_ready(self.endpoints.bootstrap_servers),
        )
        if not persistent:
            shutil.rmtree(self.data_dir / "dynamodb", ignore_errors=True)
        self.dynamodb = engine_service(self.data_dir / "dynamodb", ports["dynamodb"], self.data_dir / "dynamodb.log")

    def _ports(self) -> dict[str, int]:
        """Kafka's controller address is written into its log at format time: keep ports with the data."""
        saved = self.data_dir / "ports.json"
        if self.persistent and saved.exists():
            return dict(json.loads(saved.read_text()))
        ports = {"kafka": free_port(), "controller": free_port(), "dynamodb": free_port()}
        saved.write_text(json.dumps(ports))
        return ports

    def _kafka_command(self, lib: Path, ports: dict[str, int]) -> list[str]:
        log_dir = self.data_dir / "kafka"
        properties = self.data_dir / "server.properties"
        properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{ports['controller']}",
                    f"listeners=PLAINTEXT://127.0.0.1:{ports['kafka']},CONTROLLER://127.0.0.1:{ports['controller']}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{ports['kafka']},"
                    f"CONTROLLER://127.0.0.1:{ports['controller']}",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={log_dir}",
                    "num.partitions=3",
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "",
                ]
            )
        )
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(
            "appender.out.type=Console\nappender.out.name=out\nappender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\nrootLogger.level=WARN\nrootLogger.appenderRef.out.ref=out\n"
            "logger.server.name=kafka.server.KafkaRaftServer\nlogger.server.level=INFO\n"
        )
        java = [
            "java",
            "-Xmx512m",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            f"{lib}/*",
        ]
        if not (log_dir / "meta.properties").exists():
            cluster_id = "-"
            while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid: a leading "-" reads as an option
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            result = subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties), "--standalone"],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
        return [*java, KAFKA_MAIN, str(properties)]

    def start(self) -> Endpoints:
        started = time.monotonic()
        self.dynamodb.start()
        self.kafka.start()
        self.log(
            f"Kafka on {self.endpoints.bootstrap_servers}, DynamoDB engine on "
            f"{self.endpoints.dynamodb_endpoint_url} (ready in {time.monotonic() - started:.1f}s)"
        )
        return self.endpoints

    def stop(self) -> None:
        self.kafka.stop()
        self.dynamodb.stop()

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_topic(bootstrap_servers: str, topic: str, partitions: int = 3) -> None:
    """Create the topic if missing and wait until every partition has a leader."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        try:
            admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        except TopicAlreadyExistsError:
            pass
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            (described,) = admin.describe_topics([topic])
            leaders = [p for p in described.get("partitions", []) if p.get("leader_id", -1) >= 0]
            if not described.get("error_code") and len(leaders) == len(described["partitions"]) > 0:
                return
            if time.monotonic() > deadline:
                raise StackError(f"topic {topic} has no leaders: {described}")
            time.sleep(0.2)
    finally:
        admin.close()


def ensure_table(dynamodb_endpoint_url: str, table_name: str) -> None:
    """Create the events table (layout from chalicelib.layout) if missing, with its stream on."""
    client = dynamodb_client(dynamodb_endpoint_url)
    try:
        client.create_table(**layout.table_definition(table_name))
    except client.exceptions.ResourceInUseException:
        if "LatestStreamArn" not in client.describe_table(TableName=table_name)["Table"]:  # made before streams
            client.update_table(
                TableName=table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": layout.STREAM_VIEW}
            )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1})


def ensure_subscriptions_table(dynamodb_endpoint_url: str, table_name: str) -> None:
    """Create the WebSocket subscriptions table, with TTL on its expiry attribute, if missing."""
    client = dynamodb_client(dynamodb_endpoint_url)
    try:
        client.create_table(**layout.subscriptions_table_definition(table_name))
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1})
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": layout.EXPIRES_AT}
    )
