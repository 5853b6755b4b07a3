"""``make bench``: the pipeline against the raw limits of its parts, measured the same way every time.

On a throw-away `make run` stack (a subprocess), each figure the median and p99 over --trials:

    raw limits  (bench/limits.py) the best of several ways to use each part with the project's payloads:
                the producer, DynamoDB writes (BatchWriteItem, TransactWriteItems, 1-16 threads), one Query
    system      (bench/system.py) POST /events throughput and latency, the consumer's events/s and items
                written per event, freshness (202 -> readable) at 500 events/s over 300 matches, reads
    cold start  (bench/coldstart.py) the Lambda package under awslambdaric behind aws-lambda-rie
    costs       (bench/request_costs.py) per-event costs, which `make cost` (bench/bill.py) prices
    report      (bench/report.py) a system figure above its part's raw limit is a benchmark bug: the run
                exits non-zero naming it (--quick only warns); then the targets

Results: bench/results/<timestamp>.json. Push latency is `make audience`'s (bench/audience.py).
"""

import argparse
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import limits, report, system
from bench.bill import quiet_stdout
from bench.coldstart import cold_start
from bench.request_costs import per_event_costs
from bench.workload import throwaway_stack
from chalicelib.config import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes and fewer raw-limit settings: a smoke run")
    parser.add_argument("--freshness-seconds", type=float, default=20.0)
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"where the JSON goes (default {RESULTS})")
    args = parser.parse_args(argv)
    quick, scale = args.quick, 0.1 if args.quick else 1.0
    trials = 2 if quick else args.trials

    figures: dict[str, report.Summary] = {}
    raw: dict[str, dict[str, Any]] = {}

    def limit(section: str, figure: str, measure: Callable[[], dict[str, Any]]) -> None:
        raw[section] = measure()
        figures[figure] = raw[section]["limit"]
        say(f"raw limit, {section}: {figures[figure]} ({raw[section]['best']})")

    def measured(**values: list[float]) -> None:
        for name, figure in values.items():
            figures[name] = report.summary(figure)
            say(f"{name}: {figures[name]}")

    with throwaway_stack("bench") as stack:
        bootstrap, dynamodb_url = stack.endpoints.bootstrap_servers, stack.endpoints.dynamodb_endpoint_url
        say(f"stack up: API {stack.url}, Kafka {bootstrap}, DynamoDB {dynamodb_url}")
        limit("producer", "raw_producer_per_s", lambda: limits.raw_producer(bootstrap, trials, quick))
        rates, latencies = system.ingest_batches(stack.url, trials, max(2, int(12 * scale)))
        measured(ingest_batch_per_s=rates, ingest_batch_latency_s=latencies)
        rates, latencies = system.ingest_singles(stack.url, trials, max(5, int(40 * scale)))
        measured(ingest_single_per_s=rates, ingest_single_latency_s=latencies)
        match_id, events = system.load_full_match(stack)
        full, stats = system.read_latencies(stack.url, match_id, int(30 * scale) or 3, int(300 * scale) or 30)
        measured(full_read_s=full, stats_s=stats)
        table = Settings.from_env(os.environ).table  # the stack's: the runner gets this environment
        reads = int(30 * scale) or 3
        limit("query", "raw_full_query_s", lambda: limits.raw_full_query(dynamodb_url, table, match_id, events, reads))
        rates, items_per_event = system.consumer_throughput(stack, trials, int(10000 * scale))
        items_per_s = [rate * ratio for rate, ratio in zip(rates, items_per_event, strict=True)]
        measured(consumer_per_s=rates, consumer_items_per_event=items_per_event, consumer_items_per_s=items_per_s)
        # right after the consumer, which it is held against: a shared machine's load drifts
        limit("writes", "raw_write_items_per_s", lambda: limits.raw_writes(dynamodb_url, table, trials, quick))
        figures["raw_write_events_per_s"] = limits.per_event(raw["writes"], items_per_event)
        measured(freshness_s=system.freshness(stack.url, args.freshness_seconds * (0.25 if quick else 1)))
    # on a new stack: the one above holds a few hundred thousand items
    with throwaway_stack("bench-costs") as stack:
        with quiet_stdout():  # the app's own logs, printed as a Lambda prints them, would bury the progress
            costs = per_event_costs(stack, quick=quick, say=say)
        cold = cold_start(2 if quick else 20, stack=stack, log=say)

    ratios = report.compare(figures, raw)
    import_ms = max(path["import_ms"]["median"] for path in cold["paths"].values())
    result = {
        "timestamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "quick": quick,
        "trials": trials,
        "machine": report.machine(),
        "figures": figures,
        "limits": raw,
        "ratios": ratios,
        "targets": report.targets(figures, ratios, import_ms),
        "costs": costs,
        "cold_start": cold,
    }
    path = report.write(result, args.results)
    report.print_table(result)
    print(f"\nresults: {path}")
    report.enforce(result)


if __name__ == "__main__":
    main()
