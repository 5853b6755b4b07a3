"""Cold start: a fresh interpreter imports the app and serves one first call, per path, as Lambda runs it.

    python -m bench.coldstart [--runs 20] [--tree] [--package ZIP] [--baseline ZIP] [--json FILE]

For each path, ``runs`` times (the paths taking turns, so the machine's drift spreads evenly), a new
interpreter (devstack/lambda_bootstrap.py, for one invocation) imports the handler's module (``import
app``: Chalice has one module for every function) and then serves the path's first call, timed from inside:

    ingest       POST /events (10 events of a new match), API Gateway's REST proxy event after the authorizer
    query        GET /matches/{match_id}/stats of a stored match, the REST proxy event
    consumer     the MSK event of one record of 100 events of a new match
    broadcaster  a DynamoDB Streams event of one change item of a match with a WebSocket subscriber, who
                 must receive it

The events are devstack/aws_events' builders over devstack's (``event_source.msk_event``,
``stream_source.stream_event``). By default the code is the Lambda package the CDK app builds
(``infra.app.build``, as ``make synth``), unzipped, run by the runtime's Python (infra/package.py's
``runtime_python``, else this one) with ``-I -S -B``, seeing only the package, the standard library and
the SDK that Lambda's Python runtime provides, precompiled as there. ``-B`` because Lambda's /var/task is
read-only: the bytecode the package ships (infra/package.py) is all there is; a package without any is
compiled by every cold start. ``--tree`` runs the source tree with the venv instead (no package build).

The first calls need real services: Kafka, DynamoDB with the tables, and a WebSocket gateway with its
Management API. ``cold_start`` takes the endpoints of a running stack, or starts a throw-away one (Kafka
and the DynamoDB engine, as ``make run`` does). Also reported: the package's size, and ``python -X importtime``'s
costliest imports for ``import app`` (the medians over a few runs), by module and by top-level package.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.report import percentile
from chalicelib import layout
from chalicelib.config import Settings
from chalicelib.events import parse_event
from chalicelib.observability import NAMESPACE, SERVICE
from chalicelib.records import encode
from devstack import lambda_runtime
from devstack.aws_events import REGION, change_record, kafka_record, msk_event, rest_api_event
from devstack.stack import Endpoints, LocalStack, ensure_subscriptions_table, ensure_table, ensure_topic, free_port
from devstack.stream_source import stream_event
from matchtools.generate import generate_match

PROJECT_DIR = Path(__file__).resolve().parent.parent
PATHS = ("ingest", "query", "consumer", "broadcaster")
HANDLERS = {
    "ingest": "app.app",
    "query": "app.app",
    "consumer": "app.consume_events",
    "broadcaster": "app.broadcast_changes",
}
IMPORT_TARGET_MS = 150.0  # issue 14
TOKEN = "coldstart-token"
RECEIVED_AT = "2026-01-01T00:00:00.000Z"
INGEST_EVENTS, CONSUMER_EVENTS, QUERY_MATCH_EVENTS = 10, 100, 400
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:123456789012:table/coldstart/stream/2026-01-01T00:00:00.000"
CALL_TIMEOUT_S = 120.0


class Code:
    """What a run imports: the Lambda package laid out as Lambda runs it, or the source tree."""

    def __init__(self, work: Path, *, tree: bool = False, package: Path | None = None) -> None:
        self.tree, self.zip, self.size = tree, None, None
        work.mkdir(parents=True, exist_ok=True)
        if tree:
            self.python, self.dirs = sys.executable, (PROJECT_DIR, PROJECT_DIR)
            return
        self.zip = package or _build_package(work)
        self.size = package_size(self.zip) | {"zip": str(package) if package else "built by infra.app.build('dev')"}
        self.python, self.dirs = lambda_runtime.python(), lambda_runtime.lay_out(self.zip, work)

    def describe(self) -> str:
        return f"source tree, {self.python} -I" if self.tree else f"Lambda package, {self.python} -I -S -B"

    def command(self, *extra: str) -> list[str]:
        if self.tree:  # the venv's site-packages: no -S
            return [self.python, "-I", *extra, str(lambda_runtime.BOOTSTRAP), str(PROJECT_DIR)]
        return lambda_runtime.command(self.dirs[0], self.dirs[1], *extra)


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
    by_top: dict[str, int] = defaultdict(int)
    for info in files:
        by_top[info.filename.split("/")[0]] += info.file_size
    return {
        "zipped_bytes": package_zip.stat().st_size,
        "unzipped_bytes": sum(info.file_size for info in files),
        "files": len(files),
        "largest": [{"name": name, "bytes": size} for name, size in sorted(by_top.items(), key=lambda i: -i[1])][
            :largest
        ],
    }


class Stack:
    """Kafka, DynamoDB with the tables, a WebSocket gateway: the caller's, or throw-away ones started here."""

    def __init__(
        self,
        exit_stack: contextlib.ExitStack,
        endpoints: Endpoints | None,
        websocket: tuple[str, str] | None,
        settings: Settings,
        log: Callable[[str], None],
    ) -> None:
        if endpoints is None:
            data = Path(tempfile.mkdtemp(prefix="coldstart-stack-"))
            exit_stack.callback(shutil.rmtree, data, ignore_errors=True)
            local = LocalStack(data, persistent=False, log=log)
            endpoints = local.start()
            exit_stack.callback(local.stop)
        ensure_topic(endpoints.bootstrap_servers, settings.topic)
        ensure_topic(endpoints.bootstrap_servers, settings.dead_letter_topic, partitions=1)
        ensure_table(endpoints.dynamodb_endpoint_url, settings.table)
        ensure_subscriptions_table(endpoints.dynamodb_endpoint_url, settings.subscriptions_table)
        self.endpoints, self.settings = endpoints, settings
        self.environ = {  # a function's environment, as the stack sets it (infra/stack.py), pointed at this stack
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "KAFKA_BOOTSTRAP_SERVERS": endpoints.bootstrap_servers,
            "DYNAMODB_ENDPOINT_URL": endpoints.dynamodb_endpoint_url,
            "EVENTS_TOPIC": settings.topic,
            "EVENTS_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
            "EVENTS_TABLE": settings.table,
            "SUBSCRIPTIONS_TABLE": settings.subscriptions_table,
            "INGEST_TOKEN": TOKEN,
            "KAFKA_ACK_TIMEOUT_SECONDS": "10",
            "POWERTOOLS_SERVICE_NAME": SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        }
        if websocket is None:
            websocket = self._gateway(exit_stack)
        self.ws_url, self.environ["WEBSOCKET_ENDPOINT_URL"] = websocket

    def _gateway(self, exit_stack: contextlib.ExitStack) -> tuple[str, str]:
        """devstack's WebSocket gateway in this process, calling the app's handlers (the source tree's)."""
        import app
        from chalicelib.services import Services
        from devstack.websocket_gateway import LocalWebSocketGateway

        original, app.services = app.services, Services(self.environ)
        exit_stack.callback(setattr, app, "services", original)
        gateway = LocalWebSocketGateway(
            app.ws_connect,
            app.ws_message,
            app.ws_disconnect,
            port=free_port(),
            management_port=free_port(),
            log=lambda _: None,
        ).start()
        exit_stack.callback(gateway.stop)
        return gateway.url, gateway.management_url


def summary(values: Sequence[float]) -> dict[str, float]:
    """As bench.report's summary (its percentile), rounded to 0.1."""
    return {
        "median": round(percentile(list(values), 50), 1),
        "p99": round(percentile(list(values), 99), 1),
        "n": len(values),
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

    def __init__(self, stack: Stack, prefix: str) -> None:
        from matchtools.live_client import LiveClient  # websockets: only when the broadcaster runs

        self.stack, self.prefix = stack, prefix
        self.query_match, self.live_match = f"{prefix}-query", f"{prefix}-live"
        self.subscriber = LiveClient(stack.ws_url)
        self.subscriber.subscribe(self.live_match)

    def close(self) -> None:
        self.subscriber.__exit__()

    def seed(self) -> dict[str, Any]:
        """The consumer's event that stores the match the query path reads."""
        return _msk_event(self.query_match, QUERY_MATCH_EVENTS, self.stack.settings.topic, seed=14)

    def event(self, path: str, n: int) -> dict[str, Any]:
        """The event of invocation ``n`` (unique over the whole measurement: new matches, new changes)."""
        match_id = f"{self.prefix}-{path}-{n}"
        if path == "ingest":
            body = {"events": generate_match(match_id, events=INGEST_EVENTS, seed=n)}
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
            return rest_api_event("POST", "/events", body=body, headers=headers, principal_id="producer")
        if path == "query":
            return rest_api_event("GET", "/matches/{match_id}/stats", {"match_id": self.query_match})
        if path == "consumer":
            return _msk_event(match_id, CONSUMER_EVENTS, self.stack.settings.topic, seed=n)
        event = generate_match(self.live_match, events=1, seed=n)[0] | {"event_id": f"e{n}"}
        change = {"change": "insert", "event": event | {"received_at": RECEIVED_AT, "partition": 0, "offset": n}}
        return stream_event([change_record(self.live_match, n + 1, [change], n + 1)], STREAM_ARN, REGION)

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


def _invoke(code: Code, environ: Mapping[str, str], invocation: Mapping[str, Any], *flags: str) -> dict[str, Any]:
    """One fresh interpreter: its answer, and what it wrote to stderr under ``stderr``."""
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            code.command(*flags),
            env=dict(environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=tempfile.gettempdir(),
        )
        try:
            out, _ = process.communicate(json.dumps(invocation) + "\n", timeout=CALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        stderr.seek(0)
        log = stderr.read()
    lines = out.splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"the cold start failed (exit {process.returncode}):\n{log[-3000:]}")
    answer: dict[str, Any] = json.loads(lines[-1])
    if "errorType" in answer:
        raise RuntimeError(
            f"{invocation.get('handler')}: {answer['errorType']}: {answer['errorMessage']}\n{log[-3000:]}"
        )
    answer["stderr"] = log
    return answer


def _app_imports(log: str) -> list[tuple[str, int, float, float]]:
    """(module, depth, self ms, cumulative ms) of ``import app`` and what it imported, from -X importtime's
    lines: a module's line follows those of the imports it made, indented one level deeper."""
    lines = []
    for line in log.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
            level = (len(name) - len(name.lstrip()) - 1) // 2
            lines.append((name.strip(), level, int(self_us) / 1000, int(cumulative_us) / 1000))
    end = max(i for i, (module, level, _, _) in enumerate(lines) if module == "app" and level == 0)
    start = end
    while start > 0 and lines[start - 1][1] > 0:
        start -= 1
    return lines[start : end + 1]


def importtime(code: Code, environ: Mapping[str, str], runs: int = 5, top: int = 15) -> dict[str, Any]:
    """``python -X importtime`` of ``import app``: the costliest imports by cumulative time, and self time
    summed by top-level package; each figure the median over ``runs`` fresh interpreters. importtime's own
    overhead inflates the figures: compare them with each other, the timed imports with ``cold_start``'s."""
    cumulative: dict[str, list[float]] = defaultdict(list)
    own: dict[str, list[float]] = defaultdict(list)
    depth: dict[str, int] = {}
    packages: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        per_package: dict[str, float] = defaultdict(float)
        for module, level, self_ms, cumulative_ms in _app_imports(
            _invoke(code, environ, {"module": "app"}, "-X", "importtime")["stderr"]
        ):
            depth[module] = level
            cumulative[module].append(cumulative_ms)
            own[module].append(self_ms)
            per_package[module.split(".")[0]] += self_ms
        for package, ms in per_package.items():
            packages[package].append(ms)
    ranked = sorted(cumulative, key=lambda m: -statistics.median(cumulative[m]))[:top]
    by_package = sorted(packages, key=lambda p: -statistics.median(packages[p]))[:top]
    return {
        "runs": runs,
        "top": [
            {
                "module": module,
                "depth": depth[module],
                "cumulative_ms": round(statistics.median(cumulative[module]), 1),
                "self_ms": round(statistics.median(own[module]), 1),
            }
            for module in ranked
        ],
        "by_package": [{"package": p, "self_ms": round(statistics.median(packages[p]), 1)} for p in by_package],
    }


def cold_start(
    runs: int = 20,
    *,
    endpoints: Endpoints | None = None,
    websocket: tuple[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    tree: bool = False,
    package: Path | None = None,
    baseline: Path | None = None,
    paths: Sequence[str] = PATHS,
    warmup: int = 1,
    importtime_runs: int = 5,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Per path, ``runs`` cold starts: the import of the handler's module and its first call, in ms.

    endpoints   Kafka and DynamoDB of a running stack (e.g. ``RunProcess(...).endpoints``); None starts a
                throw-away LocalStack. The topics and tables named by ``environ`` (Settings; default
                os.environ, as ``make run`` reads it) are created there if missing.
    websocket   (ws_url, management_url) of a running WebSocket gateway; None starts devstack's gateway in
                this process on the app's handlers, pointed at ``endpoints``.
    tree        run the source tree (venv) instead of the Lambda package; ``package``: a deployment.zip to
                use instead of building one.
    baseline    another deployment.zip, measured in the same runs (taking turns with the code measured), so
                a before/after comparison shares the machine's state; its figures go under "baseline".
    warmup      rounds of every path run first and not counted (a fresh stack's JVMs are still warming up).
    """
    settings = Settings.from_env(os.environ if environ is None else environ)
    work = Path(tempfile.mkdtemp(prefix="coldstart-"))
    try:
        codes = {"measured": Code(work / "measured", tree=tree, package=package)}
        if baseline:
            codes["baseline"] = Code(work / "baseline", package=baseline)
        log(f"cold start: {codes['measured'].describe()}, {runs} runs of {', '.join(paths)}")
        with contextlib.ExitStack() as exit_stack:
            stack = Stack(exit_stack, endpoints, websocket, settings, log)
            invocations = Invocations(stack, f"cs-{uuid.uuid4().hex[:6]}")
            exit_stack.callback(invocations.close)
            seeded = _invoke(
                codes["measured"], stack.environ, {"handler": HANDLERS["consumer"], "event": invocations.seed()}
            )
            assert seeded["result"]["stored"] == QUERY_MATCH_EVENTS, seeded["result"]
            kinds = ("import", "import_cpu", "first_call", "first_call_cpu")
            timings: dict[str, dict[str, dict[str, list[float]]]] = {
                name: {p: {kind: [] for kind in kinds} for p in paths} for name in codes
            }
            loaded: dict[str, dict[str, dict[str, list[str]]]] = {name: {} for name in codes}
            count = 0
            for n in range(-warmup, runs):
                for path in paths:
                    for name, code in codes.items():
                        environ_n = stack.environ | {"AWS_LAMBDA_FUNCTION_NAME": f"coldstart-{path}"}
                        answer = _invoke(
                            code, environ_n, {"handler": HANDLERS[path], "event": invocations.event(path, count)}
                        )
                        invocations.check(path, count, answer["result"])
                        loaded[name][path] = {"import": answer["imported"], "first_call": answer["call_imported"]}
                        count += 1
                        if n >= 0:
                            for kind, key in zip(
                                kinds, ("import_s", "import_cpu_s", "call_s", "call_cpu_s"), strict=True
                            ):
                                timings[name][path][kind].append(answer[key] * 1000)
                if n >= 0:
                    figures = timings["measured"]
                    log(
                        f"run {n + 1}/{runs} (import + first call, ms): "
                        + ", ".join(
                            f"{p} {figures[p]['import'][-1]:.0f} + {figures[p]['first_call'][-1]:.0f}" for p in paths
                        )
                    )
            profiles = {name: importtime(code, stack.environ, importtime_runs) for name, code in codes.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {name: _result(code, runs, timings[name], loaded[name], profiles[name]) for name, code in codes.items()}
    result = results["measured"]
    if baseline:
        result["baseline"] = results["baseline"]
    return result


def _result(
    code: Code,
    runs: int,
    timings: Mapping[str, Mapping[str, list[float]]],
    loaded: Mapping[str, Mapping[str, list[str]]],
    profile: dict[str, Any],
) -> dict[str, Any]:
    figures_by_path: dict[str, dict[str, Any]] = {
        path: {
            "handler": HANDLERS[path],
            "import_ms": summary(figures["import"]),
            "first_call_ms": summary(figures["first_call"]),
            "import_plus_first_call_ms": summary(
                [a + b for a, b in zip(figures["import"], figures["first_call"], strict=True)]
            ),
            "import_cpu_ms": summary(figures["import_cpu"]),
            "first_call_cpu_ms": summary(figures["first_call_cpu"]),
            # top-level packages (not the standard library's) that the import, then the first call, loaded
            "import_loads": loaded[path]["import"],
            "first_call_loads": loaded[path]["first_call"],
        }
        for path, figures in timings.items()
    }
    return {
        "code": code.describe(),
        "python": subprocess.run([code.python, "-V"], capture_output=True, text=True).stdout.split()[-1],
        "runs": runs,
        "paths": figures_by_path,
        "import_target_ms": IMPORT_TARGET_MS,
        "import_target_met": all(p["import_ms"]["median"] <= IMPORT_TARGET_MS for p in figures_by_path.values()),
        "importtime": profile,
        "package": code.size,
    }


def print_table(result: Mapping[str, Any]) -> None:
    print(f"\ncold start, {result['code']} (Python {result['python']}), {result['runs']} runs a path: p50 / p99 ms")
    columns = {
        "import app": "import_ms",
        "first call": "first_call_ms",
        "import + call": "import_plus_first_call_ms",
        "import, CPU": "import_cpu_ms",
        "first call, CPU": "first_call_cpu_ms",
    }
    print(f"{'path':<12} " + " ".join(f"{name:>16}" for name in columns))
    for path, figures in result["paths"].items():
        print(
            f"{path:<12} "
            + " ".join(f"{figures[k]['median']:>7.0f} / {figures[k]['p99']:>6.0f}" for k in columns.values())
        )
    for path, figures in result["paths"].items():
        print(f"{path:<12} first call loads: {', '.join(figures['first_call_loads']) or 'nothing new'}")
    print(f"{'':<12} import app loads: {', '.join(next(iter(result['paths'].values()))['import_loads'])}")
    met = "met" if result["import_target_met"] else "NOT met"
    print(f"import p50 <= {result['import_target_ms']:.0f} ms on every path: {met}")
    size = result["package"]
    if size:
        largest = ", ".join(f"{e['name']} {e['bytes'] / 1e6:.2f}" for e in size["largest"])
        print(
            f"\npackage: {size['zipped_bytes'] / 1e6:.2f} MB zipped, {size['unzipped_bytes'] / 1e6:.2f} MB unzipped, "
            f"{size['files']} files (MB unzipped: {largest})"
        )
    profile = result["importtime"]
    print(f"\npython -X importtime, import app (medians of {profile['runs']}): costliest by cumulative time")
    print(f"{'cumulative ms':>14} {'self ms':>8}  module")
    for entry in profile["top"]:
        print(f"{entry['cumulative_ms']:>14.1f} {entry['self_ms']:>8.1f}  {'  ' * entry['depth']}{entry['module']}")
    print(
        "self time by top-level package (ms): "
        + ", ".join(f"{e['package']} {e['self_ms']:.0f}" for e in profile["by_package"])
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.coldstart", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tree", action="store_true", help="the source tree with the venv, not the Lambda package")
    parser.add_argument("--package", type=Path, help="a deployment.zip to measure instead of building one")
    parser.add_argument("--baseline", type=Path, help="a deployment.zip measured in the same runs, for comparison")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (default 1)")
    parser.add_argument("--importtime-runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = cold_start(
        args.runs,
        tree=args.tree,
        package=args.package,
        baseline=args.baseline,
        warmup=args.warmup,
        importtime_runs=args.importtime_runs,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.baseline:
        print(f"\nBASELINE ({args.baseline})")
        print_table(result["baseline"])
        print("\nMEASURED")
    print_table(result)


if __name__ == "__main__":
    main()
