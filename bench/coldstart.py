"""Cold start: a new Lambda execution environment per invocation, under AWS's own runtime, per path.

    python -m bench.coldstart [--runs 20] [--package ZIP] [--json FILE]

Each run of each path (the paths taking turns, so the machine's drift spreads evenly) starts a new
execution environment: AWS's runtime interface client (awslambdaric, pinned) behind AWS's runtime
interface emulator (aws-lambda-rie), on the Lambda package the CDK app builds (``infra.app.build``, as
``make synth``), laid out as Lambda runs it (devstack/lambda_runtime.py). It serves one first call of the path:

    ingest       POST /events (10 events of a new match), API Gateway's REST proxy event after the authorizer
    query        GET /matches/{match_id}/stats of a stored match, the REST proxy event
    consumer     the MSK event of one record of 100 events of a new match
    broadcaster  a DynamoDB Streams event of one change of a match with a WebSocket subscriber, who must get it

The figures are the emulator's own, as Lambda reports them: the init (``INIT REPORT``: the interpreter, the
runtime client and ``import app``; Chalice has one module for every function) and the first invocation
(``INVOKE RTDONE``). An empty function's init, run the same way, is the runtime's own; ``import_ms`` is a
path's init less that one's median. Also reported: the package's size.

The first calls need Kafka, DynamoDB with the tables, and a WebSocket gateway with its Management API:
``cold_start`` takes a running ``make run`` stack, or starts a throw-away one.
"""

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.report import summary
from bench.workload import throwaway_stack
from chalicelib import layout
from chalicelib.config import Settings
from chalicelib.events import parse_event
from chalicelib.observability import NAMESPACE, SERVICE
from chalicelib.records import encode
from devstack import lambda_runtime
from devstack.aws_events import REGION, change_record, kafka_record, msk_event, rest_api_event
from devstack.run_process import RunProcess
from matchtools.generate import generate_match

PATHS = ("ingest", "query", "consumer", "broadcaster")
HANDLERS = dict(ingest="app.app", query="app.app", consumer="app.consume_events", broadcaster="app.broadcast_changes")
RUNTIME_ONLY = "empty.handler"  # a function that imports nothing: the runtime's own init
IMPORT_TARGET_MS = 150.0  # issue 14
TOKEN = "coldstart-token"
RECEIVED_AT = "2026-01-01T00:00:00.000Z"
INGEST_EVENTS, CONSUMER_EVENTS, QUERY_MATCH_EVENTS = 10, 100, 400
Log = Callable[[str], None]


class Code:
    """A deployment package laid out as Lambda runs it, with a function added that imports nothing."""

    def __init__(self, work: Path, package: Path | None = None) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.zip = package or _build_package(work)
        self.size = package_size(self.zip) | {"zip": str(package) if package else "built by infra.app.build('dev')"}
        self.python = lambda_runtime.python()
        self.name = f"Lambda package, awslambdaric behind aws-lambda-rie, {self.python}"
        self.task, self.runtime = lambda_runtime.lay_out(self.zip, work)
        (self.task / "empty.py").write_text("def handler(event, context):\n    return None\n")

    def cold(self, environ: Mapping[str, str], handler: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """One invocation in a new execution environment: its result, ``init_ms`` and ``call_ms``."""
        with tempfile.TemporaryFile("w+") as log:
            with contextlib.closing(lambda_runtime.Emulated(self.task, self.runtime, dict(environ), log)) as function:
                answer = function.invoke(handler, dict(event))
            log.seek(0)  # after close: the emulator's last lines are written
            text = log.read()
        if "errorType" in answer:
            raise RuntimeError(f"{handler}: {answer['errorType']}: {answer['errorMessage']}\n{text[-3000:]}")
        init_ms, calls_ms = lambda_runtime.phases(text)
        if init_ms is None or not calls_ms:
            raise RuntimeError(f"{handler}: the emulator reported no init or invocation:\n{text[-3000:]}")
        return {"result": answer["result"], "init_ms": init_ms, "call_ms": calls_ms[0]}


def _build_package(work: Path) -> Path:
    """``chalice package`` through the CDK app, exactly as ``make synth`` builds it (infra/package.py slims it)."""
    from infra.app import build  # aws_cdk: only when a package is built

    with contextlib.chdir(work):
        build("dev", str(work / "cdk.out"))
    (package_zip,) = (work / "chalice.out").glob("*/deployment.zip")
    return package_zip


def package_size(package_zip: Path, largest: int = 6) -> dict[str, Any]:
    """Zipped and unzipped bytes, files, and the largest top-level entries (unzipped bytes)."""
    with zipfile.ZipFile(package_zip) as archive:
        files = [info for info in archive.infolist() if not info.is_dir()]
    by_top: Counter[str] = Counter()
    for info in files:
        by_top[info.filename.split("/")[0]] += info.file_size
    return {
        "zipped_bytes": package_zip.stat().st_size,
        "unzipped_bytes": by_top.total(),
        "files": len(files),
        "largest": [{"name": name, "bytes": size} for name, size in by_top.most_common(largest)],
    }


def _environ(stack: RunProcess, settings: Settings) -> dict[str, str]:
    """A function's environment, as the stack sets it (infra/stack.py), pointed at the running ``stack``."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "KAFKA_BOOTSTRAP_SERVERS": stack.endpoints.bootstrap_servers,
        "DYNAMODB_ENDPOINT_URL": stack.endpoints.dynamodb_endpoint_url,
        "WEBSOCKET_ENDPOINT_URL": stack.management_url,
        "EVENTS_TOPIC": settings.topic,
        "EVENTS_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "EVENTS_TABLE": settings.table,
        "SUBSCRIPTIONS_TABLE": settings.subscriptions_table,
        "INGEST_TOKEN": TOKEN,
        "KAFKA_ACK_TIMEOUT_SECONDS": "10",
        "POWERTOOLS_SERVICE_NAME": SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
    }


def _msk_event(match_id: str, events: int, topic: str, seed: int) -> dict[str, Any]:
    """The MSK event of the records the API publishes for a new match's ``events``."""
    parsed = [parse_event(e) for e in generate_match(match_id, events=events, seed=seed)]
    records = [
        kafka_record(value, n, key=key, topic=topic) for n, (key, value) in enumerate(encode(parsed, RECEIVED_AT))
    ]
    return msk_event(*records)


class Invocations:
    """Each invocation's event, and ``check`` of its answer (for the broadcaster, of the push too)."""

    def __init__(self, ws_url: str, topic: str, prefix: str) -> None:
        from matchtools.live_client import LiveClient  # websockets: only when the broadcaster runs

        self.topic, self.prefix = topic, prefix
        self.query_match, self.live_match = f"{prefix}-query", f"{prefix}-live"
        self.subscriber = LiveClient(ws_url)
        self.subscriber.subscribe(self.live_match)

    def event(self, path: str, n: int) -> dict[str, Any]:
        """The event of invocation ``n``, unique over the measurement: a new match, or the live match's next change."""
        match_id = f"{self.prefix}-{path}-{n}"
        if path == "ingest":
            body = {"events": generate_match(match_id, events=INGEST_EVENTS, seed=n)}
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
            return rest_api_event("POST", "/events", body=body, headers=headers, principal_id="producer")
        if path == "query":
            return rest_api_event("GET", "/matches/{match_id}/stats", {"match_id": self.query_match})
        if path == "consumer":
            return _msk_event(match_id, CONSUMER_EVENTS, self.topic, seed=n)
        event = generate_match(self.live_match, events=1, seed=n)[0] | {"event_id": f"e{n}"}
        change = {"change": "insert", "event": event | {"received_at": RECEIVED_AT, "partition": 0, "offset": n}}
        return {"Records": [change_record(self.live_match, n + 1, [change], n + 1)]}

    def check(self, path: str, n: int, result: Any) -> None:
        """The answer is the path's success, and the broadcaster's change reached the subscriber."""
        expected = {"ingest": 202, "query": 200}
        if path in expected:
            assert result["statusCode"] == expected[path], result
        elif path == "consumer":
            assert result["stored"] == CONSUMER_EVENTS, result
        else:
            assert result == {"batchItemFailures": []}, result
            pushed = self.subscriber.until(lambda m: m["type"] == "change", timeout=30)
            assert pushed["cursor"] == layout.change_cursor(n + 1, 0), pushed


def cold_start(
    runs: int = 20, *, stack: RunProcess | None = None, package: Path | None = None, log: Log = print
) -> dict[str, Any]:
    """Per path, ``runs`` cold starts in new execution environments (the init and the first call, in ms) against a
    running ``make run`` stack (None: a throw-away one); ``package``: a deployment.zip instead of building one."""
    if stack is None:
        with throwaway_stack("coldstart") as new_stack:
            return cold_start(runs, stack=new_stack, package=package, log=log)
    settings = Settings.from_env(os.environ)  # the stack's topics and tables: make run got this environment
    environ = _environ(stack, settings)
    with tempfile.TemporaryDirectory(prefix="coldstart-") as work:
        code = Code(Path(work), package)
        log(f"cold start: {code.name}, {runs} runs of {', '.join(PATHS)}")
        invocations = Invocations(stack.ws_url, settings.topic, f"cs-{uuid.uuid4().hex[:6]}")
        with invocations.subscriber:
            seed = _msk_event(invocations.query_match, QUERY_MATCH_EVENTS, settings.topic, seed=14)  # what query reads
            seeded = code.cold(environ, HANDLERS["consumer"], seed)
            assert seeded["result"]["stored"] == QUERY_MATCH_EVENTS, seeded["result"]
            timings = _rounds(code, environ, invocations, runs, log)
        return _result(code, runs, timings)


def _rounds(
    code: Code, environ: Mapping[str, str], invocations: Invocations, runs: int, log: Log
) -> dict[str, dict[str, list[float]]]:
    """path -> {"init": [ms], "first_call": [ms]} over ``runs`` rounds (after one uncounted round: a fresh
    stack's JVMs are still warming up), the runtime's own init among the paths, which take turns."""
    timings: dict[str, dict[str, list[float]]] = {p: {"init": [], "first_call": []} for p in ("runtime", *PATHS)}
    numbers = itertools.count()
    for n in range(-1, runs):
        answers: dict[str, dict[str, Any]] = {"runtime": code.cold(environ, RUNTIME_ONLY, {})}
        for path in PATHS:
            number = next(numbers)
            answers[path] = code.cold(environ, HANDLERS[path], invocations.event(path, number))
            invocations.check(path, number, answers[path]["result"])
        if n < 0:
            continue
        for path, answer in answers.items():
            timings[path]["init"].append(answer["init_ms"])
            timings[path]["first_call"].append(answer["call_ms"])
        figures = ", ".join(f"{p} {a['init_ms']:.0f} + {a['call_ms']:.0f}" for p, a in answers.items())
        log(f"run {n + 1}/{runs} (init + first call, ms): {figures}")
    return timings


def _result(code: Code, runs: int, timings: Mapping[str, Mapping[str, list[float]]]) -> dict[str, Any]:
    runtime = timings["runtime"]["init"]
    floor = statistics.median(runtime)
    figures_by_path: dict[str, dict[str, Any]] = {
        path: {
            "handler": HANDLERS[path],
            "init_ms": summary(figures["init"], digits=1),
            "import_ms": summary([ms - floor for ms in figures["init"]], digits=1),
            "first_call_ms": summary(figures["first_call"], digits=1),
            "init_plus_first_call_ms": summary(
                [a + b for a, b in zip(figures["init"], figures["first_call"], strict=True)], digits=1
            ),
        }
        for path, figures in timings.items()
        if path != "runtime"
    }
    return {
        "code": code.name,
        "python": subprocess.run([code.python, "-V"], capture_output=True, text=True).stdout.split()[-1],
        "runtime_client": lambda_runtime.pins(),
        "runs": runs,
        "runtime_init_ms": summary(runtime, digits=1),  # an empty function's: the interpreter and awslambdaric
        "paths": figures_by_path,
        "import_target_ms": IMPORT_TARGET_MS,
        "import_target_met": all(p["import_ms"]["median"] <= IMPORT_TARGET_MS for p in figures_by_path.values()),
        "package": code.size,
    }


def print_table(result: Mapping[str, Any]) -> None:
    print(f"\ncold start, {result['code']} (Python {result['python']}), {result['runs']} runs a path: p50 / p99 ms")
    columns = {"init": "init_ms", "import app": "import_ms", "first call": "first_call_ms",
               "init + call": "init_plus_first_call_ms"}  # fmt: skip
    print(f"{'path':<12} " + " ".join(f"{name:>16}" for name in columns))
    for path, figures in result["paths"].items():
        print(
            f"{path:<12} "
            + " ".join(f"{figures[k]['median']:>7.0f} / {figures[k]['p99']:>6.0f}" for k in columns.values())
        )
    floor = result["runtime_init_ms"]
    print(f"{'(runtime)':<12} {floor['median']:>7.0f} / {floor['p99']:>6.0f}  init of an empty function")
    met = "met" if result["import_target_met"] else "NOT met"
    print(f"import app (init less the runtime's) p50 <= {result['import_target_ms']:.0f} ms on every path: {met}")
    size = result["package"]
    largest = ", ".join(f"{e['name']} {e['bytes'] / 1e6:.2f}" for e in size["largest"])
    print(
        f"\npackage: {size['zipped_bytes'] / 1e6:.2f} MB zipped, {size['unzipped_bytes'] / 1e6:.2f} MB unzipped, "
        f"{size['files']} files (MB unzipped: {largest})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.coldstart", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--package", type=Path, help="a deployment.zip to measure instead of building one")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = cold_start(args.runs, package=args.package)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print_table(result)


if __name__ == "__main__":
    main()
