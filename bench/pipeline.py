"""Where freshness goes, and how the consumer scales with partitions: both read from the consumer's own logs.

The consumer logs one ``batch stored`` line per batch (chalicelib/consumer.py): the offsets it covered per
``<topic>-<partition>``, ``store_ms`` (handler start to the last transaction committed) and
``record_age_ms`` (handler start minus the oldest record's Kafka timestamp); the line's ``timestamp`` is
written right after the commit. The bench stores nothing extra: it reads these lines where the event
sources write them (`make run`'s log, or a log of its own) and joins them with what the API answers.

freshness_breakdown   at 500 events/s over 300 matches, for one event per request, the stages between the API
                      taking it and a reader seeing it:
                        ack     received_at (the API took the request) -> the 202 at the client (Kafka acks=all)
                        poll    the 202 -> the consumer's batch started (split: waiting for the batch before it
                                to commit, then the poll and the event source's batching window)
                        store   batch start -> its last transaction committed (decode, validate, transactions),
                                or the reader seeing the event if that came first: a batch commits in several
                                transactions, and the event's own may be an early one
                        read    then -> the reader's GET that found it returned (split: the reader's poll
                                interval and queue, then the GET itself)
                      freshness (202 -> readable) = poll + store + read
consumer_scale        events/s from a topic of P partitions into the table, with P event-source processes in
                      one consumer group (devstack.event_source.spawn, as `EVENT_SOURCES=P make run`), the
                      events appended at once as the API writes them, the API idle; and the CPU the machine
                      and each part used meanwhile (``other``: whatever else ran on a shared machine)

``python -m bench.pipeline`` runs both on a throw-away `make run` stack and prints the JSON.
"""

import argparse
import json
import os
import statistics
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from bench.report import Summary, summary
from bench.system import RATE_REQUEST_EVENTS, freshness_samples, load_full_match, wait_idle
from bench.workload import TOKEN, api_records, events_for, throwaway_stack
from chalicelib.config import Settings
from devstack import event_source
from devstack.run_process import PROJECT_DIR, RunProcess, cpu_seconds
from devstack.stack import ensure_topic

STAGES = ("ack", "poll", "store", "read")
LOG_TIME = "%Y-%m-%d %H:%M:%S,%f%z"  # Powertools Logger's default timestamp


# -- the consumer's log ------------------------------------------------------------------------------------


def batches(path: Path, offset: int = 0) -> list[dict[str, Any]]:
    """The ``batch stored`` lines written to ``path`` after byte ``offset``, each with ``committed`` and
    ``started`` (epoch seconds) added: committed is the line's timestamp, started that minus ``store_ms``."""
    out = []
    with path.open("rb") as log:
        log.seek(offset)
        for raw in log:
            if b'"batch stored"' not in raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:  # another process's output interleaved with the line
                continue
            committed = datetime.strptime(line["timestamp"], LOG_TIME).timestamp()
            out.append(line | {"committed": committed, "started": committed - line["store_ms"] / 1000})
    return out


def _batch_of(log: list[dict[str, Any]], topic: str, partition: int, offset: int) -> int | None:
    """The index of the first batch that covered the record at (topic, partition, offset)."""
    key = f"{topic}-{partition}"
    for index, batch in enumerate(log):
        span = batch.get("offsets", {}).get(key)
        if span and span[0] <= offset <= span[1]:
            return index
    return None


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _ms(values: list[float]) -> Summary:
    return {k: round(v * 1000, 1) if k != "n" else v for k, v in summary(values).items()} if values else {"n": 0}


# -- freshness, stage by stage -----------------------------------------------------------------------------


def freshness_breakdown(
    stack: RunProcess, seconds: float, rate: int = 500, matches: int = 300, checkers: int = 6
) -> dict[str, Any]:
    """bench.system.freshness_samples (make bench's freshness harness) at ``rate`` events/s over ``matches``
    matches, each sample joined with the consumer's batch log: every stage to readable (ms)."""
    topic = Settings.from_env(os.environ).topic  # the runner's: it gets this environment
    log_start = stack.log_file.stat().st_size
    meter = CpuMeter(_stack_parts(stack))
    cpu: dict[str, Any] = {}  # while offering, not while the readers drain
    samples, offered = freshness_samples(
        stack.url, seconds, rate, matches, checkers, on_offered=lambda: cpu.update(meter.read())
    )
    time.sleep(0.5)  # the last lines are written right after the commit the reader saw; let them land
    log = batches(stack.log_file, log_start)

    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    parts: dict[str, list[float]] = {"behind_previous_batch": [], "poll_and_window": [], "reader_wait": [], "get": []}
    freshness, end_to_end, unmatched, early = [], [], 0, 0
    for sample in samples:
        stored = sample.stored
        index = _batch_of(log, topic, stored["partition"], stored["offset"])
        if index is None:
            unmatched += 1
            continue
        batch, acked, seen = log[index], sample.acked, sample.seen
        stages["ack"].append(acked - _wall(stored["received_at"]))
        stages["poll"].append(batch["started"] - acked)
        # The batch's line marks its last commit; the sample's own transaction may commit earlier (a batch
        # commits in several), so a reader can see it first: store ends at whichever came first.
        committed = min(batch["committed"], seen)
        early += seen < batch["committed"]
        stages["store"].append(committed - batch["started"])
        stages["read"].append(seen - committed)
        # one event source: its batches run one after another, so a record acknowledged while the batch
        # before its own was still storing waited for that commit first
        previous = log[index - 1]["committed"] if index else acked
        behind = max(0.0, min(previous, batch["started"]) - acked)  # 0 when it found the consumer idle
        parts["behind_previous_batch"].append(behind)
        parts["poll_and_window"].append(batch["started"] - acked - behind)
        wait = max(0.0, sample.asked - committed)  # a GET asked before the commit may not have seen it
        parts["reader_wait"].append(wait)
        parts["get"].append(seen - committed - wait)
        freshness.append(seen - acked)
        end_to_end.append(seen - _wall(stored["received_at"]))
    p50 = {stage: statistics.median(values) for stage, values in stages.items() if values}
    p99 = {stage: summary(values)["p99"] for stage, values in stages.items() if values}
    return {
        "what": f"{rate} events/s offered over {matches} matches for {seconds:g} s, requests of {RATE_REQUEST_EVENTS}: "
        "the last event of each request, stage by stage (ms), joined with the consumer's batch log",
        "offered_per_s": round(offered, 1),
        "samples": len(samples),
        "unmatched": unmatched,
        "seen_before_batch_committed": early,
        "stages_ms": {stage: _ms(values) for stage, values in stages.items()},
        "poll_split_ms": {name: _ms(parts[name]) for name in ("behind_previous_batch", "poll_and_window")},
        "read_split_ms": {name: _ms(parts[name]) for name in ("reader_wait", "get")},
        "freshness_ms": _ms(freshness),  # 202 -> readable = poll + store + read
        "received_to_readable_ms": _ms(end_to_end),
        "dominant": {
            "median": max(p50, key=p50.__getitem__, default=None),
            "p99": max(p99, key=p99.__getitem__, default=None),
        },
        "batches": {
            "count": len(log),
            "events": summary([b["events"] for b in log]) if log else {"n": 0},
            "records": summary([b["records"] for b in log]) if log else {"n": 0},
            "store_ms": summary([b["store_ms"] for b in log]) if log else {"n": 0},
            "record_age_ms": summary([b["record_age_ms"] for b in log if "record_age_ms" in b]) if log else {"n": 0},
        },
        "cpu_while_offering": cpu,
    }


# -- consumer scale ------------------------------------------------------------------------------------------


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


# The report's lines: the runner's WebSocket gateway shares the API's.
_LINES = {
    "stream_source": "broadcaster",
    "sender": "broadcaster",
    "event_source": "runner_event_source",
    "api_server": "api",
    "run": "api",
}


def _stack_parts(stack: RunProcess) -> dict[int, str]:
    return {pid: _LINES.get(part, part) for pid, part in stack.parts().items()}


class CpuMeter:
    """The machine's CPU and each part's over an interval: cores kept busy on average (of ``os.cpu_count()``),
    ``other`` being whatever else ran on the machine (a shared machine's other work)."""

    def __init__(self, parts: dict[int, str]) -> None:
        self.parts = parts | {os.getpid(): "bench"}
        self.machine, self.by_part, self.wall = _cpu_ticks(), self._by_part(), time.monotonic()

    def _by_part(self) -> dict[str, float]:
        """CPU seconds per part, summed over its processes."""
        out: dict[str, float] = {}
        for pid, part in self.parts.items():
            out[part] = out.get(part, 0.0) + cpu_seconds(pid)
        return out

    def read(self) -> dict[str, Any]:
        machine, by_part, wall = _cpu_ticks(), self._by_part(), time.monotonic()
        elapsed = wall - self.wall
        cores = os.cpu_count() or 1
        busy = cores * (machine[0] - self.machine[0]) / max(1, machine[1] - self.machine[1])
        used = {part: (by_part.get(part, 0) - seconds) / elapsed for part, seconds in self.by_part.items()}
        return {
            "machine_cpu_percent": round(100 * busy / cores, 1),
            "cores": cores,
            "cpu_cores_by_part": {part: round(v, 2) for part, v in used.items()}
            | {"other": round(max(0.0, busy - sum(used.values())), 2)},
            "cpu_seconds_by_part": {part: round(v * elapsed, 2) for part, v in used.items()},
        }


def _wait_for_group(bootstrap: str, group: str, members: int, processes: list[Any], timeout: float = 120) -> list[str]:
    """Until the group is Stable with ``members`` members: the partitions are spread before data arrives.
    Each member's assignment, as the coordinator describes it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    deadline, described = time.monotonic() + timeout, {}
    try:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"an event source of group {group} exited")
            try:
                described = admin.describe_groups([group]).get(group, {})
            except KafkaError:  # no coordinator yet: a new cluster creates its offsets topic on first use
                described = {}
            state = described.get("group_state") or described.get("state")
            if str(state).lower() == "stable" and len(described.get("members") or []) == members:
                return [str(member.get("member_assignment")) for member in described["members"]]
            time.sleep(0.5)
        raise RuntimeError(f"group {group} did not settle with {members} members: {described}")
    finally:
        admin.close()


def _wait_for_batches(log_path: Path, count: int, timeout: float) -> int:
    """Until ``count`` batches are logged; how many there are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logged = len(batches(log_path))
        if logged >= count:
            return logged
        time.sleep(0.2)
    raise RuntimeError(f"{log_path}: fewer than {count} batches within {timeout:g} s")


def _stop(processes: list[Any]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _scale_run(stack: RunProcess, partitions: int, count: int, matches: int, timeout: float) -> dict[str, Any]:
    bootstrap = stack.endpoints.bootstrap_servers
    run = f"bench-scale-p{partitions}-{uuid.uuid4().hex[:6]}"
    ensure_topic(bootstrap, run, partitions)
    settings = Settings.from_env(os.environ)  # the runner's table and dead-letter topic
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DYNAMODB_ENDPOINT_URL": stack.endpoints.dynamodb_endpoint_url,
        "INGEST_TOKEN": TOKEN,
        "EVENTS_TOPIC": run,
        "EVENTS_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "EVENT_SOURCE_GROUP": run,
    }
    log_path = stack.log_file.parent / f"{run}.log"
    events = events_for(matches, count // matches, 500 + partitions)
    records = api_records(events)
    with log_path.open("ab") as log_file:  # appending: the processes' lines land whole, one after another
        processes = event_source.spawn(partitions, env, PROJECT_DIR, stdout=log_file)
    try:
        assignments = _wait_for_group(bootstrap, run, partitions, processes)
        # A first batch on every partition: each process's cold start (imports, clients) is not timed.
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        for partition, (key, value) in enumerate(api_records(events_for(partitions, 1, 600))):
            producer.send(run, key=key, value=value, partition=partition).get(timeout=60)
        warm = _wait_for_batches(log_path, partitions, timeout)
        meter = CpuMeter(_stack_parts(stack) | {p.pid: "event_sources" for p in processes})
        # Then the load, appended in as few produce requests as the broker takes (1 MB each), so the
        # consumers find it there as if preloaded rather than trickling in.
        producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=500, batch_size=900_000, max_request_size=1_000_000
        )
        for future in [producer.send(run, key=key, value=value) for key, value in records]:
            future.get(timeout=60)
        producer.close()
        deadline, log = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            log = batches(log_path)[warm:]
            if sum(b["stored"] for b in log) >= len(events):
                break
            time.sleep(0.2)
        cpu = meter.read()
    finally:
        _stop(processes)
    stored = sum(b["stored"] for b in log)
    window = max(b["committed"] for b in log) - min(b["started"] for b in log) if log else float("nan")
    consumed: dict[str, int] = {}  # <topic>-<partition> -> batches that covered it
    for b in log:
        for key in b.get("offsets", {}):
            consumed[key] = consumed.get(key, 0) + 1
    return {
        "partitions": partitions,
        "processes": partitions,
        "events": len(events),
        "records": len(records),
        "stored": stored,
        "complete": stored >= len(events),
        "events_per_s": round(stored / window, 1) if log else 0.0,
        "seconds": round(window, 2),
        "batches": len(log),
        "batches_per_partition": dict(sorted(consumed.items())),
        "assignments": assignments,
        "store_ms": summary([b["store_ms"] for b in log]) if log else {"n": 0},
        **cpu,  # from the first record sent to the last commit seen
        "event_source_cpu_ms_per_event": round(1000 * cpu["cpu_seconds_by_part"]["event_sources"] / max(1, stored), 2),
        "log": str(log_path),
    }


def consumer_scale(
    stack: RunProcess,
    partitions: tuple[int, ...] = (1, 2, 4),
    count: int = 10_000,
    matches: int = 100,
    trials: int = 1,
    timeout: float = 600,
) -> dict[str, Any]:
    """For each P: a fresh topic with P partitions, P event-source processes in one group of their own
    (joined, and each through a first small batch, before the load: no rebalance or cold start is timed),
    ``count`` events of ``matches`` matches sent as the API writes them, then events/s stored from the first
    batch's start to the last commit (from the consumer's batch log), and the machine's CPU meanwhile."""
    runs = [_scale_run(stack, p, count, matches, timeout) for _ in range(trials) for p in partitions]
    by_partitions: dict[str, Any] = {}
    for p in partitions:
        mine = [r for r in runs if r["partitions"] == p]
        by_partitions[str(p)] = {
            "events_per_s": summary([r["events_per_s"] for r in mine]),
            "machine_cpu_percent": summary([r["machine_cpu_percent"] for r in mine]),
        }
    return {
        "what": f"{count:,} events of {matches} matches, appended at once per run to a topic of P partitions and "
        "consumed by P event-source processes in one consumer group into the stack's table (API idle)",
        "by_partitions": by_partitions,
        "runs": runs,
    }


def _idle(stack: RunProcess) -> None:
    """bench.system.wait_idle, once the group has a coordinator (a new cluster finds one on first use)."""
    for _ in range(60):
        try:
            return wait_idle(stack)
        except KafkaError:
            time.sleep(1)
    wait_idle(stack)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--freshness-seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, action="append", help="events/s offered (repeatable; default 500)")
    parser.add_argument("--checkers", type=int, default=6, help="reader threads (bench.system.freshness has 6)")
    parser.add_argument("--count", type=int, default=10_000, help="events per scale run")
    parser.add_argument("--trials", type=int, default=1, help="scale runs per partition count")
    parser.add_argument("--skip", choices=("freshness", "scale"), action="append", default=[])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"machine_load_before": os.getloadavg()}
    with throwaway_stack("bench-pipeline") as stack:
        print(f"stack up: {stack.url}, log {stack.log_file}", flush=True)
        if "freshness" not in args.skip:
            load_full_match(stack)  # warm: the engine and the consumer's clients, as make bench is by then
            for rate in args.rate or [500]:
                _idle(stack)  # no backlog left from the run before
                key = "freshness" if rate == 500 else f"freshness_at_{rate}"
                result[key] = freshness_breakdown(stack, args.freshness_seconds, rate, checkers=args.checkers)
                print(json.dumps(result[key], indent=2), flush=True)
        if "scale" not in args.skip:
            result["scale"] = consumer_scale(stack, count=args.count, trials=args.trials)
    text = json.dumps(result, indent=2, default=str)
    if args.output:
        args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
