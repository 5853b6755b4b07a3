"""``python -m soak --minutes 20`` (``make soak MINUTES=20``): the chaos soak.

Starts Kafka, the DynamoDB engine, the API, the event source and the broadcaster as five processes on a
throw-away data dir; replays generated matches with corrections and voids at a steady rate from
several clients that retry as documented; SIGKILLs one process at a time, at random, and restarts it;
then stops the faults, lets the consumer drain and verifies exactly, through the API: every
acknowledged event stored once at its final version, /stats, the directory and the change feed equal
to an independent recomputation, nothing valid in the dead-letter topic. Prints the figures, writes
them to soak/results/<timestamp>.json (or --results) and exits 1 if anything was lost, double-counted
or otherwise differs.
"""

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from soak import report
from soak.config import SoakConfig
from soak.runner import run
from soak.topology import KINDS

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = SoakConfig()
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="length of the load (default 20)")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="offered events/s, all clients together")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="matches, corrections and fault schedule")
    parser.add_argument("--faults", type=int, help="faults to inject (default: one per 20 s of load)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"what may be killed (default {','.join(KINDS)})")
    parser.add_argument("--clients", type=int, default=defaults.clients, help="producer threads")
    parser.add_argument("--match-events", type=int, default=defaults.match_events, help="generated events per match")
    parser.add_argument("--max-downtime", type=float, default=defaults.downtime_s[1], help="seconds down, at most")
    parser.add_argument("--results", type=Path, help="the JSON file to write (default soak/results/<timestamp>.json)")
    parser.add_argument("--data-dir", type=Path, help="where the stack lives (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and logs even if the run passed")
    args = parser.parse_args(argv)
    kinds = tuple(kind for kind in args.kinds.split(",") if kind)
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds {sorted(unknown)}; choose from {','.join(KINDS)}")
    config = SoakConfig(
        minutes=args.minutes,
        rate=args.rate,
        seed=args.seed,
        faults=args.faults,
        kinds=kinds,
        clients=args.clients,
        match_events=args.match_events,
        downtime_s=(min(defaults.downtime_s[0], args.max_downtime), args.max_downtime),
        data_dir=args.data_dir,
        keep=args.keep,
    )
    result = run(config, log=lambda line: print(line, flush=True)).report
    path = args.results or RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    report.write(result, path)
    print(report.table(result))
    print(f"results in {path}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
