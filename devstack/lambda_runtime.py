"""A deployment package laid out as Lambda runs it, for the package's tests and bench/coldstart.py.

``lay_out`` unzips it into ``task`` (Lambda's /var/task) beside ``runtime`` (/var/runtime: the SDK that
every Lambda Python runtime provides, and AWS's runtime interface client, awslambdaric, copied from this
venv and precompiled, as there).

- ``Emulated`` runs each handler as Lambda does: AWS's runtime interface client behind AWS's runtime
  interface emulator (``aws-lambda-rie``, built with ``go install`` and cached in Go's bin directory),
  invoked over the emulator's HTTP API; ``phases`` reads the init and invocation durations it logs.
- ``importing`` runs one statement in a bare interpreter that sees what the runtime sees (the package's
  tests check what ``import app`` loads with it).

Both use the runtime's Python (infra/package.py's ``runtime_python``, else this one).
"""

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path
from typing import IO, Any

RUNTIME_CLIENT = ("awslambdaric", "simplejson", "snapshot-restore-py")  # in /var/runtime of AWS's images
EMULATOR = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
EMULATOR_VERSION = "v0.0.0-20261030222936-bef5c4ba774d"
INVOCATIONS = "/2015-03-31/functions/function/invocations"
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")  # the emulator's log of Lambda's phases
INVOKE_DONE = re.compile(r"INVOKE RTDONE\(status: \w+, produced bytes: \d+, duration: ([0-9.]+)ms\)")


def python() -> str:
    from infra.package import runtime_python  # with chalice.cdk: aws_cdk, only where a package is laid out

    return runtime_python() or sys.executable


def lay_out(package_zip: Path, work: Path) -> tuple[Path, Path]:
    """(task, runtime) under ``work``."""
    from infra.package import RUNTIME_PROVIDED

    task, runtime = work / "task", work / "runtime"
    with zipfile.ZipFile(package_zip) as archive:
        archive.extractall(task)
    _runtime_client(runtime)
    for name in RUNTIME_PROVIDED:
        for file in metadata.distribution(name).files or []:
            source = Path(str(file.locate()))
            if source.is_file() and not str(file).startswith(".."):
                (runtime / str(file)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, runtime / str(file))
    subprocess.run([python(), "-m", "compileall", "-q", "-j", "0", str(runtime)], check=True)
    return task, runtime


def importing(task: Path, runtime: Path, *flags: str, statement: str = "import app") -> list[str]:
    """``statement`` in the runtime's Python with only the task, then the runtime, before the standard
    library (Lambda's order), and nothing written: /var/task is read-only."""
    setup = f"import sys; sys.path[:0] = [{str(task)!r}, {str(runtime)!r}]; "
    return [python(), "-I", "-S", "-B", *flags, "-c", setup + statement]


def phases(log: str) -> tuple[float | None, list[float]]:
    """(the init's ms, each invocation's ms) from an emulator's log, as Lambda's REPORT lines give them."""
    init = INIT_REPORT.search(log)
    return (float(init.group(1)) if init else None), [float(ms) for ms in INVOKE_DONE.findall(log)]


def pins() -> dict[str, str]:
    """The runtime client's packages and their versions (this venv's, pinned by requirements-dev.txt)."""
    return {name: metadata.version(name) for name in RUNTIME_CLIENT}


def _runtime_client(runtime: Path) -> None:
    """awslambdaric (a C extension) and what it needs, as wheels for the runtime's Python, unpacked into
    ``runtime``: this venv's copy may be built for another Python. Their versions are this venv's; the
    wheels are downloaded once from PyPI and cached."""
    version = subprocess.run(
        [python(), "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    wheels = Path.home() / ".cache" / "football-devstack" / "wheels" / version
    pinned = pins()

    def wheel(name: str) -> list[Path]:
        return list(wheels.glob(f"{name.replace('-', '_')}-{pinned[name]}-*.whl"))

    if not all(wheel(name) for name in pinned):
        download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        download += ["--python-version", version, "--platform", "manylinux2014_x86_64", "-d", str(wheels)]
        subprocess.run([*download, *(f"{name}=={v}" for name, v in pinned.items())], check=True, capture_output=True)
    for name in pinned:
        with zipfile.ZipFile(wheel(name)[0]) as archive:
            archive.extractall(runtime)


def emulator() -> Path:
    """AWS's runtime interface emulator: on the PATH, else built once with ``go install`` (Go's bin dir)."""
    found = shutil.which("aws-lambda-rie")
    if found:
        return Path(found)
    go = shutil.which("go")
    if go is None:
        raise FileNotFoundError(f"aws-lambda-rie: install Go, then go install {EMULATOR}@{EMULATOR_VERSION}")
    gobin = subprocess.run([go, "env", "GOBIN"], capture_output=True, text=True, check=True).stdout.strip()
    gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, check=True).stdout.strip()
    binary = Path(gobin or Path(gopath) / "bin") / "aws-lambda-rie"
    if not binary.exists():
        subprocess.run([go, "install", f"{EMULATOR}@{EMULATOR_VERSION}"], check=True, capture_output=True)
    return binary


class Emulated:
    """The package's functions, each in an execution environment of its own as Lambda runs them: awslambdaric
    behind aws-lambda-rie, started on first use and kept warm. ``invoke`` answers ``{"result": ...}`` or
    Lambda's ``{"errorType", "errorMessage"}``; the runtimes' logs (START, END, REPORT) go to ``log``."""

    def __init__(self, task: Path, runtime: Path, environ: dict[str, str], log: IO[str]) -> None:
        self.task, self.runtime, self.environ, self.log = task, runtime, environ, log
        self.invoked: set[str] = set()
        self._functions: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        self._lock = threading.Lock()  # one invocation at a time per function, as in one environment

    def _start(self, handler: str) -> int:
        from devstack.stack import free_port  # here: .ci/run reads this module's constants without the venv

        port, api_port = free_port(), free_port()
        command = [
            str(emulator()),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{port}",
            "--runtime-api-address",
            f"127.0.0.1:{api_port}",
            python(),
            "-S",  # nothing but the task, the runtime and the standard library is importable
            "-B",  # /var/task is read-only
            "-m",
            "awslambdaric",
            handler,
        ]
        env = self.environ | {"PYTHONPATH": str(self.runtime), "LAMBDA_TASK_ROOT": str(self.task)}
        env |= {"_HANDLER": handler, "AWS_LAMBDA_FUNCTION_NAME": handler.rpartition(".")[2]}
        process = subprocess.Popen(command, cwd=self.task, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        self._functions[handler] = (process, port)
        return port

    def invoke(self, handler: str, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            port = self._functions[handler][1] if handler in self._functions else self._start(handler)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{INVOCATIONS}", data=json.dumps(event).encode(), method="POST"
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                answer = json.loads(response.read() or b"null")
                failed = response.headers.get("X-Amz-Function-Error")
            self.invoked.add(handler)
        if failed or (isinstance(answer, dict) and {"errorType", "errorMessage"} <= set(answer)):
            return {"errorType": answer.get("errorType"), "errorMessage": answer.get("errorMessage")}
        return {"result": answer}

    def function(self, handler: str) -> Any:
        """The handler as a callable (event, context) -> result, for devstack's gateways."""
        return lambda event, context: self.invoke(handler, event)["result"]

    def close(self) -> None:
        for process, _ in self._functions.values():
            process.terminate()
        for process, _ in self._functions.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
