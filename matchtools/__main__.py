"""``python -m matchtools <command>``: tools around the API.

import-statsbomb FILE --match-id ID   convert a StatsBomb events file and post it
smoke --url URL [--token T]           check a running deployment end to end
replay FILE | --matches N [--speed X]  replay matches at real time x speed (load generator)
correct MATCH_ID EVENT_ID field=value  amend an event: its stored version with these fields, version + 1
void MATCH_ID EVENT_ID [--for-good]    void an event (a later version may restore it; --for-good: DELETE)
watch MATCH_ID [--ws-url URL]          print a match's changes as they are pushed over the WebSocket
"""

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from chalicelib.events import normalise_timestamp
from chalicelib.records import STAMPS
from matchtools.client import ApiClient, resolve_token
from matchtools.generate import generate_match
from matchtools.live import WebSocketProducer, watch
from matchtools.replay import replay
from matchtools.smoke import smoke
from matchtools.statsbomb import convert

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_WS_URL = "ws://127.0.0.1:8001"


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
                batch = events[start : start + args.batch_size]
                client.post_events(batch)
                progress.update(len(batch))
    skipped_text = ", ".join(f"{name} {count}" for name, count in skipped.most_common()) or "none"
    destination = args.output or args.url
    print(f"{len(raw)} StatsBomb events -> {len(events)} events to {destination}; without equivalent: {skipped_text}")


def replay_matches(args: argparse.Namespace) -> None:
    if args.file and args.statsbomb:
        events, _ = convert(
            json.loads(Path(args.file).read_text()),
            args.match_id or Path(args.file).stem,
            datetime.fromisoformat(normalise_timestamp(args.kick_off)),
        )
    elif args.file:
        events = [json.loads(line) for line in Path(args.file).read_text().splitlines() if line.strip()]
    elif args.matches:
        events = [
            e for m in range(args.matches) for e in generate_match(f"{args.prefix}-{m}", events=args.events, seed=m)
        ]
    else:
        raise SystemExit("replay needs a FILE or --matches N")
    token = resolve_token(args.token)
    client = WebSocketProducer(args.websocket, token) if args.websocket else ApiClient(args.url, token)
    rate = replay(client, events, args.speed)
    print(f"replayed {len(events)} events at {rate:.0f} events/s (speed x{args.speed:g})")


def _stored(client: ApiClient, match_id: str, event_id: str) -> dict[str, Any] | None:
    """The event's live version, as stored (None: never stored, or voided)."""
    return next((e for e in client.timeline(match_id) if e["event_id"] == event_id), None)


def correct(args: argparse.Namespace) -> None:
    """Post the stored event with the given fields changed and the next version (or --version)."""
    client = ApiClient(args.url, resolve_token(args.token))
    stored = _stored(client, args.match_id, args.event_id) or {"match_id": args.match_id, "event_id": args.event_id}
    changes: dict[str, Any] = {}
    for assignment in args.fields:
        name, separator, text = assignment.partition("=")
        if not separator:
            raise SystemExit(f"{assignment!r}: fields are name=value")
        try:
            changes[name] = json.loads(text)  # numbers and null as JSON; anything else as text
        except ValueError:
            changes[name] = text
    event = {name: value for name, value in stored.items() if name not in STAMPS}
    event |= changes
    event = {name: value for name, value in event.items() if value is not None}
    event["version"] = args.version or stored.get("version", 1) + 1
    client.post_events([event])
    print(f"posted {args.match_id}/{args.event_id} version {event['version']}: {json.dumps(event)}")


def void_event(args: argparse.Namespace) -> None:
    client = ApiClient(args.url, resolve_token(args.token))
    if args.for_good:
        client.delete_event(args.match_id, args.event_id)
        print(f"voided {args.match_id}/{args.event_id} for good")
        return
    stored = _stored(client, args.match_id, args.event_id)
    version = args.version or (stored["version"] + 1 if stored else 2)
    client.post_events([{"match_id": args.match_id, "event_id": args.event_id, "version": version, "deleted": True}])
    print(f"voided {args.match_id}/{args.event_id} as of version {version}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m matchtools", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    api = argparse.ArgumentParser(add_help=False)  # what every command needs to reach the API
    api.add_argument("--url", default=DEFAULT_URL, help=f"API base URL (default {DEFAULT_URL})")
    api.add_argument("--token", help="producer token (default: $INGEST_TOKEN or make run's)")

    statsbomb = commands.add_parser(
        "import-statsbomb", parents=[api], help="convert a StatsBomb open-data events file and post it"
    )
    statsbomb.add_argument("file", help="StatsBomb events JSON (a list of events)")
    statsbomb.add_argument("--match-id", required=True)
    statsbomb.add_argument("--kick-off", default="2023-06-15T15:00:00Z", help="when period 1 started (ISO-8601)")
    statsbomb.add_argument("--batch-size", type=int, default=500)
    statsbomb.add_argument("--output", help="write contract JSON lines here instead of posting")
    statsbomb.set_defaults(run=import_statsbomb)

    smoke_test = commands.add_parser("smoke", parents=[api], help="post a few events, read them back, check the stats")
    smoke_test.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the events to be readable")
    smoke_test.set_defaults(run=lambda args: smoke(args.url, resolve_token(args.token), args.timeout))

    load = commands.add_parser(
        "replay", parents=[api], help="replay a match file, or N generated matches, at real time x speed"
    )
    load.add_argument("file", nargs="?", help="contract events as JSON lines, or a StatsBomb file with --statsbomb")
    load.add_argument("--statsbomb", action="store_true", help="FILE is StatsBomb open data (converted first)")
    load.add_argument("--match-id", help="match id for a StatsBomb file (default: the file name)")
    load.add_argument("--kick-off", default="2023-06-15T15:00:00Z", help="StatsBomb: when period 1 started")
    load.add_argument("--matches", type=int, help="instead of a file: this many generated matches at once")
    load.add_argument("--events", type=int, default=3400, help="events per generated match")
    load.add_argument("--prefix", default="replay", help="generated match ids are <prefix>-<n>")
    load.add_argument("--speed", type=float, default=1.0, help="x real time (60: a match in 1.5 min; inf: flat out)")
    load.add_argument("--websocket", metavar="WS_URL", help=f"publish over the WebSocket API (e.g. {DEFAULT_WS_URL})")
    load.set_defaults(run=replay_matches)

    amend = commands.add_parser(
        "correct", parents=[api], help="amend an event: the stored one with these fields, next version"
    )
    amend.add_argument("match_id")
    amend.add_argument("event_id")
    amend.add_argument("fields", nargs="*", help="name=value (JSON values: minute=12, outcome=incomplete, x=null)")
    amend.add_argument("--version", type=int, help="the version to post (default: the stored one + 1)")
    amend.set_defaults(run=correct)

    cancel = commands.add_parser("void", parents=[api], help="void an event (VAR): it leaves every read and statistic")
    cancel.add_argument("match_id")
    cancel.add_argument("event_id")
    cancel.add_argument("--version", type=int, help="the void's version (default: the stored one + 1)")
    cancel.add_argument("--for-good", action="store_true", help="DELETE: the highest version, never restored")
    cancel.set_defaults(run=void_event)

    follow = commands.add_parser("watch", parents=[api], help="print a match's changes live, as they are pushed")
    follow.add_argument("match_id")
    follow.add_argument("--ws-url", default=DEFAULT_WS_URL, help=f"WebSocket API URL (default {DEFAULT_WS_URL})")
    follow.add_argument("--count", type=int, help="stop after this many changes")
    follow.set_defaults(run=lambda args: watch(args.ws_url, ApiClient(args.url), args.match_id, count=args.count))

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
