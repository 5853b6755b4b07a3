"""Where freshness goes, read from the consumer's own logs.

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
``python -m bench.pipeline`` runs it on a throw-away `make run` stack and prints the JSON.
"""

import argparse
import json
import os
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.report import Summary, summary
from bench.system import RATE_REQUEST_EVENTS, freshness_samples, load_full_match, wait_idle
from bench.workload import throwaway_stack
from chalicelib.config import Settings
from devstack.run_process import RunProcess

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
    return summary(values, scale=1000, digits=1)


# -- freshness, stage by stage -----------------------------------------------------------------------------


def freshness_breakdown(
    stack: RunProcess, seconds: float, rate: int = 500, matches: int = 300, checkers: int = 6
) -> dict[str, Any]:
    """bench.system.freshness_samples (make bench's freshness harness) at ``rate`` events/s over ``matches``
    matches, each sample joined with the consumer's batch log: every stage to readable (ms)."""
    topic = Settings.from_env(os.environ).topic  # the runner's: it gets this environment
    log_start = stack.log_file.stat().st_size
    samples, offered = freshness_samples(stack.url, seconds, rate, matches, checkers)
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
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--freshness-seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, action="append", help="events/s offered (repeatable; default 500)")
    parser.add_argument("--checkers", type=int, default=6, help="reader threads (bench.system.freshness has 6)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"machine_load_before": os.getloadavg()}
    with throwaway_stack("bench-pipeline") as stack:
        print(f"stack up: {stack.url}, log {stack.log_file}", flush=True)
        load_full_match(stack)  # warm: the engine and the consumer's clients, as make bench is by then
        for rate in args.rate or [500]:
            wait_idle(stack)  # no backlog left from the run before
            key = "freshness" if rate == 500 else f"freshness_at_{rate}"
            result[key] = freshness_breakdown(stack, args.freshness_seconds, rate, checkers=args.checkers)
            print(json.dumps(result[key], indent=2), flush=True)
    text = json.dumps(result, indent=2, default=str)
    if args.output:
        args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
