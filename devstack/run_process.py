"""`make run` (``python -m devstack.run``) as a child process in a process group of its own.

For tests and benchmarks that need the whole stack as a user runs it (API,
event source, Kafka, the DynamoDB engine), and that may kill all of it at once.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devstack.stack import Endpoints, StackError, free_port
from devstack.websocket_gateway import STAGE

PROJECT_DIR = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat; 0 for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def api_healthy(url: str) -> bool:
    """Whether the API at ``url`` answers GET /health: a started one may not listen yet, a killed one not any more."""
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


class RunProcess:
    """Started and ready (GET /health answers) on construction; data in ``data_dir``, log beside it."""

    def __init__(self, data_dir: Path, port: int, token: str, startup_timeout_s: float = 300.0) -> None:
        self.data_dir, self.url = data_dir, f"http://127.0.0.1:{port}"
        ws_port, cdn_port, management_port = free_port(), free_port(), free_port()
        self.cdn_url = f"http://127.0.0.1:{cdn_port}"  # where nginx is installed (devstack.cdn)
        self.ws_url = f"ws://127.0.0.1:{ws_port}"
        self.management_url = f"http://127.0.0.1:{management_port}/{STAGE}"  # the WebSocket Management API
        self.log_file = data_dir.parent / "runner.log"
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DYNAMODB_ENDPOINT_URL")}
        env |= {
            "DEVSTACK_DATA": str(data_dir),
            "PORT": str(port),
            "INGEST_TOKEN": token,
            "WS_PORT": str(ws_port),
            "WS_MANAGEMENT_PORT": str(management_port),
            "CDN_PORT": str(cdn_port),
        }
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack.run"],
                cwd=PROJECT_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + startup_timeout_s
        while not api_healthy(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise StackError(f"make run did not start; {self.log_file}:\n{self.log_file.read_text()[-3000:]}")
            time.sleep(0.5)
        ports = json.loads((data_dir / "ports.json").read_text())
        self.endpoints = Endpoints(f"127.0.0.1:{ports['kafka']}", f"http://127.0.0.1:{ports['dynamodb']}")

    def pid_of(self, module: str) -> int | None:
        """The stack's process (in the runner's session) that runs ``python -m <module>``, if one does."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                session = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3])
                command = (proc / "cmdline").read_bytes()  # the arguments, each ended by a NUL
            except (OSError, IndexError, ValueError):
                continue
            if session == self.process.pid and f"-m\0{module}\0".encode() in command:
                return int(proc.name)
        return None

    def kill(self) -> None:
        """SIGKILL the whole group: the runner, its event source, Kafka and the DynamoDB engine."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """As Ctrl-C would: the runner stops what it started; SIGKILL if it does not within 90 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.kill()
