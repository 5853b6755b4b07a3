"""``python -m matchtools <command>``: tools around the API.

    import-statsbomb FILE --match-id ID   convert a StatsBomb events file and post it
    smoke --url URL [--token T]           check a running deployment end to end
    replay FILE | --matches N [--speed X]  replay matches at real time x speed (load generator)
"""

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from chalicelib.events import normalise_timestamp
from matchtools.client import ApiClient, resolve_token
from matchtools.generate import generate_match
from matchtools.replay import replay
from matchtools.smoke import smoke
from matchtools.statsbomb import convert

DEFAULT_URL = "http://127.0.0.1:8000"


def import_statsbomb(args: argparse.Namespace) -> None:
    raw = json.loads(Path(args.file).read_text())
    kick_off = datetime.fromisoformat(normalise_timestamp(args.kick_off))
    events, skipped = convert(raw, args.match_id, kick_off)
    if args.output:
        Path(args.output).write_text("".join(json.dumps(event) + "\n" for event in events))
    else:
        client = ApiClient(args.url, resolve_token(args.token))
        with tqdm(total=len(events), unit="event", desc=f"posting {args.match_id}") as progress:
            for start in range(0, len(events), args.batch_size):
                batch = events[start:start + args.batch_size]
                client.post_events(batch)
                progress.update(len(batch))
    skipped_text = ", ".join(f"{name} {count}" for name, count in skipped.most_common()) or "none"
    destination = args.output or args.url
    print(f"{len(raw)} StatsBomb events -> {len(events)} events to {destination}; without equivalent: {skipped_text}")


def replay_matches(args: argparse.Namespace) -> None:
    if args.file and args.statsbomb:
        events, _ = convert(json.loads(Path(args.file).read_text()), args.match_id or Path(args.file).stem,
                            datetime.fromisoformat(normalise_timestamp(args.kick_off)))
    elif args.file:
        events = [json.loads(line) for line in Path(args.file).read_text().splitlines() if line.strip()]
    elif args.matches:
        events = [e for m in range(args.matches) for e in generate_match(f"{args.prefix}-{m}", events=args.events, seed=m)]
    else:
        raise SystemExit("replay needs a FILE or --matches N")
    rate = replay(ApiClient(args.url, resolve_token(args.token)), events, args.speed)
    print(f"replayed {len(events)} events at {rate:.0f} events/s (speed x{args.speed:g})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m matchtools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    statsbomb = commands.add_parser("import-statsbomb", help="convert a StatsBomb open-data events file and post it")
    statsbomb.add_argument("file", help="StatsBomb events JSON (a list of events)")
    statsbomb.add_argument("--match-id", required=True)
    statsbomb.add_argument("--url", default=DEFAULT_URL, help=f"API base URL (default {DEFAULT_URL})")
    statsbomb.add_argument("--token", help="producer token (default: $INGEST_TOKEN or make run's)")
    statsbomb.add_argument("--kick-off", default="2023-06-15T15:00:00Z", help="when period 1 started (ISO-8601)")
    statsbomb.add_argument("--batch-size", type=int, default=500)
    statsbomb.add_argument("--output", help="write contract JSON lines here instead of posting")
    statsbomb.set_defaults(run=import_statsbomb)

    smoke_test = commands.add_parser("smoke", help="post a few events, read them back, check the stats")
    smoke_test.add_argument("--url", default=DEFAULT_URL, help=f"API base URL (default {DEFAULT_URL})")
    smoke_test.add_argument("--token", help="producer token (default: $INGEST_TOKEN or make run's)")
    smoke_test.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the events to be readable")
    smoke_test.set_defaults(run=lambda args: smoke(args.url, resolve_token(args.token), args.timeout))

    load = commands.add_parser("replay", help="replay a match file, or N generated matches, at real time x speed")
    load.add_argument("file", nargs="?", help="contract events as JSON lines, or a StatsBomb file with --statsbomb")
    load.add_argument("--statsbomb", action="store_true", help="FILE is StatsBomb open data (converted first)")
    load.add_argument("--match-id", help="match id for a StatsBomb file (default: the file name)")
    load.add_argument("--kick-off", default="2023-06-15T15:00:00Z", help="StatsBomb: when period 1 started")
    load.add_argument("--matches", type=int, help="instead of a file: this many generated matches at once")
    load.add_argument("--events", type=int, default=3400, help="events per generated match")
    load.add_argument("--prefix", default="replay", help="generated match ids are <prefix>-<n>")
    load.add_argument("--speed", type=float, default=1.0, help="x real time (60: a match in 1.5 min; inf: flat out)")
    load.add_argument("--url", default=DEFAULT_URL, help=f"API base URL (default {DEFAULT_URL})")
    load.add_argument("--token", help="producer token (default: $INGEST_TOKEN or make run's)")
    load.set_defaults(run=replay_matches)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
