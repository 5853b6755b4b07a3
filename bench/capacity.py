"""``make capacity``: a matchday's partition heat on AWS, simulated through the app's own code (docs/capacity.md).

Every match's events go through the consumer (``app.consume_events``) in the MSK batches the event source mapping
would compose, and the stream records through the broadcaster (``chalicelib.broadcast``), sending nowhere, against
the local DynamoDB engine. Each viewer request type runs once on the big match and is scaled by the match centre's
rates, REST reads past a CDN. Every request is sized by AWS's rules per partition key (``devstack.capacity``): writes
at their busiest simulated second, reads as steady rates. Writes bench/results/capacity-<UTC timestamp>.json.
"""

import argparse
import json
import math
import re
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import boto3
from chalice.local import LambdaContext
from chalice.test import Client

import app
from bench.bill import quiet_stdout
from bench.limits import batch_write
from chalicelib import broadcast, fanout, layout, live
from chalicelib.events import parse_event
from chalicelib.records import encode
from chalicelib.services import Services
from devstack.aws_events import kafka_record, msk_event
from devstack.capacity import PARTITION_RCU, PARTITION_WCU, Key, Ledger, Meter, Units
from devstack.stack import LOCAL_AWS, engine_service, ensure_subscriptions_table, ensure_table, free_port
from devstack.stream_source import stream_event
from matchtools.generate import generate_match

RESULTS = Path(__file__).resolve().parent / "results"
DOC = Path(__file__).resolve().parents[1] / "docs" / "capacity.md"
PROD = json.loads((Path(__file__).resolve().parents[1] / "infra" / "config" / "prod.json").read_text())
DEFAULT_CDN_HIT_RATIO = 0.95  # an assumption until make audience measures one
DIRECTORY_EVERY_S, RECONNECT_EVERY_S = 10.0, 7200.0  # the match centre's (chalicelib/match_centre/app.js)
TABLE, SUBSCRIPTIONS = "capacity-events", "capacity-subscriptions"
TOP_KEYS = 20
ASSUMED = ("seconds", "partitions", "history_minutes", "join_minutes")  # the result's assumptions, not its scenario
VIEWER = "capacity-viewer"  # the connection the viewers' WebSocket requests are measured on


@attrs.frozen(kw_only=True)
class Scenario:
    matches: int = 1000
    events_per_s_per_match: float = 3.0
    batching_window_s: float = float(PROD["consumer"]["batching_window_seconds"])
    partitions: int = int(PROD["topic"]["partitions"])
    viewers_per_match: int = 100
    big_match_viewers: int = 100_000
    cdn_hit_ratio: float = DEFAULT_CDN_HIT_RATIO
    seconds: float = 10.0  # of live play simulated, after the big match's history
    history_minutes: float = 45.0  # the big match's timeline when the viewers' reads are measured
    join_minutes: float = 30.0


@attrs.frozen
class Reads:
    """What one request of each type costs, per partition key: RCU, and WCU (a subscribe writes)."""

    rcu: dict[str, Counter[Key]]
    wcu: dict[str, Counter[Key]]


THROUGH_CDN = {"directory": True, "timeline": True, "catch_up": True, "subscribe": False}


def viewer_rates(scenario: Scenario, viewers: int, hit_ratio: float) -> dict[str, float]:
    """Requests per second of each type from ``viewers`` match centres on one match that reach the origin."""
    joins = viewers / (scenario.join_minutes * 60)
    rates = {
        "directory": joins + viewers / DIRECTORY_EVERY_S,
        "subscribe": joins + viewers / RECONNECT_EVERY_S,
        "timeline": joins,
        "catch_up": viewers / RECONNECT_EVERY_S,
    }
    return {kind: rate * ((1 - hit_ratio) if THROUGH_CDN[kind] else 1.0) for kind, rate in rates.items()}


def read_heat(
    scenario: Scenario, reads: Reads, profile_match: str, matches: Iterable[str], big_match: str, hit_ratio: float
) -> Units:
    """The viewers' steady load per key: each match's viewers cost the measured match's, on its own keys."""
    units = Units()
    for match in matches:
        viewers = scenario.big_match_viewers if match == big_match else scenario.viewers_per_match
        for kind, origin in viewer_rates(scenario, viewers, hit_ratio).items():
            for target, measured in ((units.rcu, reads.rcu[kind]), (units.wcu, reads.wcu[kind])):
                for key, value in measured.items():
                    # a connection's partition is its own: it takes one viewer's requests, not the crowd's
                    own = key[2] == layout.connection_key(VIEWER)
                    target[_as_match(key, profile_match, match)] += origin * value / (viewers if own else 1)
    return units


def _as_match(key: Key, profile_match: str, match: str) -> Key:
    """The measured match's keys (follower shards too) and viewer's connection moved to ``match``'s."""
    table, index, partition = key
    if partition == layout.connection_key(VIEWER):
        return (table, index, layout.connection_key(f"{match}-viewer"))
    if partition == profile_match:
        return (table, index, match)
    followers = layout.match_key(profile_match)
    if partition == followers or partition.startswith(followers + "#"):
        return (table, index, layout.match_key(match) + partition[len(followers) :])
    return key


def key_rows(writes: Units, reads: Units) -> list[dict[str, Any]]:
    """Every key's load against its partition's limits, hottest first."""
    rows = []
    for key in set(writes.wcu) | set(writes.rcu) | set(reads.wcu) | set(reads.rcu):
        table, index, partition = key
        wcu, rcu = writes.wcu[key] + reads.wcu[key], writes.rcu[key] + reads.rcu[key]
        rows.append(
            {
                "table": table,
                "index": index,
                "partition_key": partition,
                "wcu_per_s": round(wcu, 1),
                "rcu_per_s": round(rcu, 1),
                "wcu_limit": PARTITION_WCU,
                "rcu_limit": PARTITION_RCU,
                "share": round(max(wcu / PARTITION_WCU, rcu / PARTITION_RCU), 4),
            }
        )
    return sorted(rows, key=lambda row: -row["share"])


def _kind(key: Key, matches: set[str]) -> str:
    """Whether a key's load grows with the number of matches (shared), one match's play, or neither."""
    _, index, partition = key
    if index == layout.DIRECTORY_INDEX:
        return "shared"
    if partition in matches or partition.rpartition("#")[0].removeprefix(layout.match_key("")) in matches:
        return "match"
    return "other"


def ceilings(scenario: Scenario, writes: Units, reads: Units, matches: set[str], big_match: str) -> dict[str, Any]:
    """Where the hottest key reaches its limit, each figure scaled alone: the matches scale the shared keys' writes,
    a match's events its partitions' writes, the big match's viewers the reads of its keys and the shared ones."""

    def share(key: Key, write_scale: float = 1.0, read_scale: float = 1.0) -> float:
        return max(
            (write_scale * writes.wcu[key] + read_scale * reads.wcu[key]) / PARTITION_WCU,
            (write_scale * writes.rcu[key] + read_scale * reads.rcu[key]) / PARTITION_RCU,
        )

    keys = set(writes.wcu) | set(writes.rcu) | set(reads.wcu) | set(reads.rcu)

    def scale(candidates: Iterable[Key], scaled: Callable[[Key, float], float]) -> float:
        """The largest factor keeping every candidate at or below its limit (bisection: loads are linear)."""
        low, high = 0.0, 1e6
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if all(scaled(k, middle) <= 1.0 for k in candidates) else (low, middle)
        return low

    shared = [k for k in keys if _kind(k, matches) == "shared"]
    per_match = [k for k in keys if _kind(k, matches) == "match"]
    big = [k for k in keys if k in shared or big_match in k[2]]
    return {
        "live_matches": math.floor(scenario.matches * scale(shared, lambda k, f: share(k, write_scale=f))),
        "events_per_s": round(
            scenario.events_per_s_per_match * scale(per_match, lambda k, f: share(k, write_scale=f)), 1
        ),
        "viewers": math.floor(scenario.big_match_viewers * scale(big, lambda k, f: share(k, read_scale=f))),
    }


QUOTA_SOURCES = {
    "lambda": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    "apigw": "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
    "dynamodb": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html",
}


def quotas(scenario: Scenario, writes: Units, reads: Units, request_rates: Mapping[str, float]) -> list[dict[str, Any]]:
    """The account quotas the scenario needs, against their defaults."""
    viewers = scenario.matches * scenario.viewers_per_match + scenario.big_match_viewers
    joins_per_s = viewers / (scenario.join_minutes * 60)
    rest_origin = sum(r for kind, r in request_rates.items() if THROUGH_CDN[kind])
    changes_per_s = scenario.matches * scenario.events_per_s_per_match
    # a change goes to each follower of its match: one message per change, and a stats push per window
    pushes_per_s = viewers * (scenario.events_per_s_per_match + 1 / scenario.batching_window_s)
    table_wcu = sum(v for (t, _, _), v in (writes.wcu + reads.wcu).items() if t == TABLE)
    table_rcu = sum(v for (t, _, _), v in (writes.rcu + reads.rcu).items() if t == TABLE)
    return [
        {"name": "API Gateway REST requests per second (account, region)", "needed": round(rest_origin),
         "default": 10_000, "source": QUOTA_SOURCES["apigw"]},
        {"name": "API Gateway WebSocket new connections per second", "needed": round(joins_per_s),
         "default": 500, "source": QUOTA_SOURCES["apigw"]},
        {"name": "API Gateway WebSocket PostToConnection calls per second (the account's 10,000 requests/s)",
         "needed": round(pushes_per_s), "default": 10_000, "source": QUOTA_SOURCES["apigw"]},
        {"name": "DynamoDB on-demand write request units per second, per table", "needed": round(table_wcu),
         "default": 40_000, "source": QUOTA_SOURCES["dynamodb"]},
        {"name": "DynamoDB on-demand read request units per second, per table", "needed": round(table_rcu),
         "default": 40_000, "source": QUOTA_SOURCES["dynamodb"]},
        {"name": "Lambda concurrent executions (account, region)",
         "needed": round(scenario.partitions + math.ceil(changes_per_s / 1000) + rest_origin * 0.05),
         "default": 1_000, "source": QUOTA_SOURCES["lambda"]},
    ]  # fmt: skip


def cdn_hit_ratio(results: Path) -> tuple[float, str]:
    """The newest measured CDN hit ratio (make audience), else the stated assumption."""
    newest = max(results.glob("audience-*.json"), default=None)
    measured = json.loads(newest.read_text()).get("cdn_hit_ratio") if newest else None
    if newest and isinstance(measured, int | float):
        return float(measured), f"measured: {newest.name}"
    return DEFAULT_CDN_HIT_RATIO, "assumed (no make audience result yet)"


class Matchday:
    """The local engine with the scenario's tables and followers, the app wired to it, a meter on its client."""

    def __init__(self, scenario: Scenario, data_dir: Path, say: Callable[[str], None]) -> None:
        self.scenario, self.say = scenario, say
        port = free_port()
        self.engine = engine_service(data_dir / "engine", port, data_dir / "engine.log")
        self.engine.start()
        endpoint = f"http://127.0.0.1:{port}"
        ensure_table(endpoint, TABLE)
        ensure_subscriptions_table(endpoint, SUBSCRIPTIONS)
        environ = {
            "DYNAMODB_ENDPOINT_URL": endpoint,
            "EVENTS_TABLE": TABLE,
            "SUBSCRIPTIONS_TABLE": SUBSCRIPTIONS,
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # the consumer publishes only dead letters: none here
            "INGEST_TOKEN": "capacity",
        }
        self._app_services = app.services
        self.services = app.services = Services(environ)
        self.meter: Meter | None = None
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, **LOCAL_AWS)
        self.matches = [f"match-{n:04d}" for n in range(scenario.matches)]
        self.big_match = self.matches[0]
        self.offsets: Counter[int] = Counter()
        self.clock = datetime(2026, 5, 16, 15, 0, tzinfo=UTC)
        live = math.ceil(scenario.seconds * scenario.events_per_s_per_match) + 1
        history = math.ceil(scenario.history_minutes * 60 * scenario.events_per_s_per_match)
        self._scripts = {  # generate_match makes about as many events as asked: a margin, so none runs dry
            m: generate_match(m, events=math.ceil(1.1 * (live + (history if m == self.big_match else 0))) + 20, seed=n)
            for n, m in enumerate(self.matches)
        }
        self._played: Counter[str] = Counter()

    def close(self) -> None:
        if self.meter is not None:
            self.meter.close()
        app.services = self._app_services
        self.engine.stop()

    def followers(self) -> None:
        """Every viewer's follower item, as a subscribe writes it (written directly: setup, not measured)."""
        client, expires = self.services.dynamodb, {"N": str(int(time.time()) + 7200)}  # the app reads real time
        for match in self.matches:
            viewers = self.scenario.big_match_viewers if match == self.big_match else self.scenario.viewers_per_match
            items = [
                {
                    layout.SUBSCRIPTION_KEY: {"S": layout.subscriber_partition(match, connection)},
                    layout.SUBSCRIPTION_SORT_KEY: {"S": layout.connection_key(connection)},
                    layout.EXPIRES_AT: expires,
                }
                for connection in (f"{match}-viewer-{v}" for v in range(viewers))
            ]
            for start in range(0, len(items), 25):
                batch_write(client, SUBSCRIPTIONS, items[start : start + 25])

    def events(self, match: str, count: int, at: datetime) -> list[dict[str, Any]]:
        """The match's next ``count`` events, stamped over the window starting ``at``."""
        start = self._played[match]
        script = self._scripts[match][start : start + count]
        self._played[match] += len(script)
        step = self.scenario.batching_window_s / max(1, len(script))

        def stamp(i: int) -> str:
            return (at + timedelta(seconds=i * step)).isoformat().replace("+00:00", "Z")

        return [e | {"timestamp": stamp(i), "event_id": f"{match}-{start + i}"} for i, e in enumerate(script)]

    def consume(self, events: list[dict[str, Any]]) -> None:
        """One consumer invocation per topic partition, each with its share of the events, a record each."""
        by_partition: dict[int, list[Any]] = {}
        for event in events:
            ((key, value),) = encode([parse_event(event)], self.clock.isoformat().replace("+00:00", "Z"))
            partition = zlib.crc32(key) % self.scenario.partitions
            self.offsets[partition] += 1
            record = kafka_record(value, self.offsets[partition], partition=partition, key=key, topic="events")
            by_partition.setdefault(partition, []).append(record)
        for _, records in sorted(by_partition.items()):
            app.consume_events(msk_event(*records), LambdaContext("consumer", 1769))

    def history(self) -> None:
        """The big match's first ``history_minutes``, unmeasured: the timeline its viewers read."""
        count = int(self.scenario.history_minutes * 60 * self.scenario.events_per_s_per_match)
        past = self.clock - timedelta(minutes=self.scenario.history_minutes)
        for start in range(0, count, 500):
            self.consume(self.events(self.big_match, min(500, count - start), past + timedelta(seconds=start / 3)))

    def play(self) -> Units:
        """The live windows, measured: writes and broadcaster reads per second, each key's busiest second kept."""
        stream = self._stream_position()
        tables = layout.table_definition(TABLE), layout.subscriptions_table_definition(SUBSCRIPTIONS)
        self.meter = Meter(self.services.dynamodb, Ledger(*tables))
        window = self.scenario.batching_window_s
        per_window = self.scenario.events_per_s_per_match * window
        peak = Units()
        owed: Counter[str] = Counter()
        for n in range(max(1, round(self.scenario.seconds / window))):
            events = []
            for match in self.matches:
                owed[match] += per_window
                events += self.events(match, int(owed[match]), self.clock)
                owed[match] -= int(owed[match])
            self.consume(events)
            stream = self._broadcast(stream)
            taken = self.meter.take()
            for peaks, units in ((peak.wcu, taken.wcu), (peak.rcu, taken.rcu)):
                for key, value in units.items():
                    peaks[key] = max(peaks[key], value / window)
            self.clock += timedelta(seconds=window)
            self.say(f"  window {n + 1}: {len(events)} events, {sum(taken.wcu.values()):,.0f} WCU")
        return peak

    def dispatch(self, jobs: Sequence[fanout.ShardJob]) -> None:
        """As the fan-out queue and sender in one: a big match's shards are sent in the window that queued them."""
        fanout.send_jobs(fanout.sqs_event(jobs), self.services.subscriptions, lambda *_: None)

    def _stream_position(self) -> dict[str, str]:
        arn = self.services.dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        latest = partial(self.streams.get_shard_iterator, StreamArn=arn, ShardIteratorType="LATEST")
        return {shard["ShardId"]: latest(ShardId=shard["ShardId"])["ShardIterator"] for shard in shards}

    def _broadcast(self, iterators: dict[str, str]) -> dict[str, str]:
        """The broadcaster, on what the window wrote to the stream, sending nowhere."""
        for shard, iterator in list(iterators.items()):
            records: list[Any] = []
            while True:
                page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                records += page["Records"]
                iterator = page["NextShardIterator"]
                if not page["Records"]:
                    break
            iterators[shard] = iterator
            for start in range(0, len(records), broadcast.BATCH_SIZE):
                event = stream_event(records[start : start + broadcast.BATCH_SIZE], "capacity", "eu-west-1")
                broadcast.broadcast(event, self.services.repository, self.services.subscriptions, lambda *_: None, self)
        return iterators

    def reads(self) -> Reads:
        """Each viewer request type, once, on the big match as it stands now."""
        meter = self.meter
        assert meter is not None
        client = Client(app.app)
        match = self.big_match
        rcu: dict[str, Counter[Key]] = {}
        wcu: dict[str, Counter[Key]] = {}

        def measure(kind: str, run: Callable[[], object]) -> None:
            meter.take()
            run()
            taken = meter.take()
            rcu[kind], wcu[kind] = taken.rcu, taken.wcu

        def timeline() -> None:  # the match centre's loadEvents: the latest events, every shot and goal
            for path in ("?order=desc&limit=300", "/goals?limit=1000", "/events/shot?limit=1000"):
                assert client.http.get(f"/matches/{match}{path}").status_code == 200

        def subscribe() -> None:
            live.connect(VIEWER, {}, {}, self.services.ingest_token.accepted, self.services.subscriptions)
            live.message(
                VIEWER,
                json.dumps({"action": "subscribe", "match_id": match}),
                subscriptions=self.services.subscriptions,
                repository=self.services.repository,
                publisher=self.services.publisher,
                accepted_tokens=self.services.ingest_token.accepted,
            )

        def catch_up() -> None:
            changes = client.http.get(f"/matches/{match}/changes?limit=1").json_body
            after = changes["next_cursor"] or ""
            client.http.get(f"/matches/{match}/changes?limit=1000&after={after}")
            client.http.get(f"/matches/{match}/stats")

        measure("directory", lambda: client.http.get("/matches?limit=100"))
        measure("timeline", timeline)
        measure("subscribe", subscribe)
        measure("catch_up", catch_up)
        self.services.subscriptions.forget(VIEWER)
        return Reads(rcu, wcu)


def run(scenario: Scenario, say: Callable[[str], None] = print, top: int = TOP_KEYS) -> dict[str, Any]:
    """Simulate the scenario on a throw-away engine; the contract's result."""
    with (
        tempfile.TemporaryDirectory(prefix="capacity-") as scratch,
        closing(Matchday(scenario, Path(scratch), say)) as day,
    ):
        say(f"followers: {scenario.matches * scenario.viewers_per_match + scenario.big_match_viewers:,}")
        day.followers()
        say(f"the big match's first {scenario.history_minutes:g} minutes")
        day.history()
        say(f"{scenario.seconds:g} s of {scenario.matches} live matches")
        writes = day.play()
        reads = day.reads()
    matches = set(day.matches)
    with_cdn = read_heat(scenario, reads, day.big_match, day.matches, day.big_match, scenario.cdn_hit_ratio)
    no_cdn = read_heat(scenario, reads, day.big_match, day.matches, day.big_match, 0.0)
    rows, rows_no_cdn = key_rows(writes, with_cdn), key_rows(writes, no_cdn)
    rates: Counter[str] = Counter()
    for match in day.matches:
        viewers = scenario.big_match_viewers if match == day.big_match else scenario.viewers_per_match
        rates.update(viewer_rates(scenario, viewers, scenario.cdn_hit_ratio))
    return {
        "scenario": attrs.asdict(scenario, filter=attrs.filters.exclude(*ASSUMED)),
        "keys": rows[:top],
        "hottest_share": rows[0]["share"],
        "ceilings": ceilings(scenario, writes, with_cdn, matches, day.big_match),
        "quotas": quotas(scenario, writes, with_cdn, rates),
        "no_cdn": {"keys": rows_no_cdn[:5], "hottest_share": rows_no_cdn[0]["share"]},
        "assumptions": {
            "seconds_simulated": scenario.seconds,
            "partitions": scenario.partitions,
            "history_minutes": scenario.history_minutes,
            "join_minutes": scenario.join_minutes,
            "origin_requests_per_s": {kind: round(rate, 1) for kind, rate in rates.items()},
        },
    }


def doc_table(result: Mapping[str, Any], results_file: str) -> str:
    """The generated part of docs/capacity.md."""
    s, c = result["scenario"], result["ceilings"]
    lines = [
        f"From `{results_file}`: {s['matches']:,} matches at {s['events_per_s_per_match']:g} events/s, "
        f"{s['viewers_per_match']} viewers each and one match with {s['big_match_viewers']:,}, "
        f"a {s['batching_window_s']:g} s batching window, CDN hit ratio {s['cdn_hit_ratio']:g} "
        f"({result.get('cdn_hit_ratio_source', 'assumed')}).",
        "",
        f"**Hottest key: {result['hottest_share']:.0%} of its partition's limit** "
        f"(without a CDN: {result['no_cdn']['hottest_share']:.0%}).",
        "",
        "| table | index | partition key | WCU/s | RCU/s | share |",
        "|---|---|---|---|---|---|",
        *(
            f"| {k['table']} | {k['index'] or ''} | `{k['partition_key']}` | {k['wcu_per_s']:,.0f} | "
            f"{k['rcu_per_s']:,.0f} | {k['share']:.0%} |"
            for k in result["keys"][:8]
        ),
        "",
        "| ceiling (each figure alone, the rest as above) | value |",
        "|---|---|",
        f"| live matches | {c['live_matches']:,} |",
        f"| events/s per match | {c['events_per_s']:,} |",
        f"| viewers of one match | {c['viewers']:,} |",
        "",
        "| quota | needed | default |",
        "|---|---|---|",
        *(f"| [{q['name']}]({q['source']}) | {q['needed']:,} | {q['default']:,} |" for q in result["quotas"]),
    ]
    return "\n".join(lines)


BEGIN, END = "<!-- capacity: generated by make capacity -->", "<!-- capacity: end -->"


def write_doc(path: Path, table: str) -> None:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", path.read_text()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    fields = [field for field in attrs.fields(Scenario) if field.name != "cdn_hit_ratio"]
    for field in fields:
        parser.add_argument("--" + field.name.replace("_", "-"), type=type(field.default), default=field.default)
    parser.add_argument("--cdn-hit-ratio", type=float, help="default: the newest make audience result, else 0.95")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, help=f"rewrite the generated table in this file (make capacity: {DOC})")
    args = parser.parse_args(argv)
    hit_ratio, source = (args.cdn_hit_ratio, "given") if args.cdn_hit_ratio is not None else cdn_hit_ratio(args.results)
    scenario = Scenario(**{field.name: getattr(args, field.name) for field in fields}, cdn_hit_ratio=hit_ratio)
    with quiet_stdout():  # the app's logs and metrics, as a Lambda prints them
        result = run(scenario, say=lambda text: print(text, file=sys.stderr, flush=True))
    result |= {"cdn_hit_ratio_source": source}
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"capacity-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    table = doc_table(result, f"bench/results/{out.name}")
    print(table)
    print(f"\nwrote {out}")
    if args.doc:
        write_doc(args.doc, table)
        print(f"rewrote the table in {args.doc}")


if __name__ == "__main__":
    main()
