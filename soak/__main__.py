"""``python -m soak --minutes 20`` (``make soak MINUTES=20``): the chaos soak. Replays generated matches with
corrections against the pipeline while SIGKILLing its processes at random, then verifies exactly through the API;
writes the figures to --results and exits 1 if anything was lost, double-counted or otherwise differs."""

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
PASSED_ON = ("minutes", "rate", "seed", "faults", "clients", "match_events", "data_dir", "keep")  # as given


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
    downtime_s = (min(defaults.downtime_s[0], args.max_downtime), args.max_downtime)
    config = SoakConfig(**{name: getattr(args, name) for name in PASSED_ON}, kinds=kinds, downtime_s=downtime_s)
    result = run(config, log=lambda line: print(line, flush=True)).report
    path = args.results or RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    report.write(result, path)
    print(report.table(result))
    print(f"results in {path}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
