"""``make capacity``: a matchday's partition heat on AWS, simulated through the app's own code.

Writes: every match posts its events one request each, as they happen. The consumer (``app.consume_events``)
gets the MSK-shaped batches the event source mapping would compose: one per topic partition per batching
window. The broadcaster (``chalicelib.broadcast``) gets the stream records each window wrote, with a
send that goes nowhere (pushes cost the Management API, not DynamoDB). All of it runs against the local
DynamoDB engine, through a recording wrapper on the DynamoDB client.

Reads: each viewer behaves as the match centre does. It joins once: it reads the directory, subscribes
(the WebSocket answer reads the totals and the feed position) and reads the latest 300 events with every
shot and goal. Then it reads
the directory every 10 s, and it reconnects once per 2 hours (a subscribe and a catch-up from the change
feed). Viewers join evenly over ``--join-minutes``. Each request type is run once, for real, against the
simulated state, and its units are scaled by its rate. REST reads pass a CDN that answers
``cdn_hit_ratio`` of them; WebSocket reads reach DynamoDB every time.

Every request is sized by AWS's rules and attributed to the partition key of the table and of each global
index it touches (``devstack.capacity``). Writes and the broadcaster's reads are per second of simulated time:
their busiest second. Viewer reads are steady rates. The output is
bench/results/capacity-<UTC timestamp>.json; ``--doc`` rewrites the generated table in docs/capacity.md.
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
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import boto3
from chalice.local import LambdaContext
from chalice.test import Client
from kafka.structs import TopicPartition

import app
from bench.bill import quiet_stdout
from chalicelib import broadcast, fanout, layout, live
from chalicelib.events import parse_event
from chalicelib.records import encode
from chalicelib.services import Services
from devstack.capacity import PARTITION_RCU, PARTITION_WCU, Key, Ledger, Meter, Units
from devstack.event_source import msk_event
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


# -- reads: per request type, then scaled by the viewers' rates -------------------------------------------


@attrs.frozen
class Reads:
    """What one request of each type costs, per partition key: RCU, and WCU (a subscribe writes)."""

    rcu: dict[str, Counter[Key]]
    wcu: dict[str, Counter[Key]]


def viewer_rates(scenario: Scenario, viewers: int) -> dict[str, float]:
    """Requests per second of each type from ``viewers`` match centres on one match."""
    joins = viewers / (scenario.join_minutes * 60)
    return {
        "directory": joins + viewers / DIRECTORY_EVERY_S,
        "subscribe": joins + viewers / RECONNECT_EVERY_S,
        "timeline": joins,
        "catch_up": viewers / RECONNECT_EVERY_S,
    }


THROUGH_CDN = {"directory": True, "timeline": True, "catch_up": True, "subscribe": False}


def read_heat(
    scenario: Scenario, reads: Reads, profile_match: str, matches: Iterable[str], big_match: str, hit_ratio: float
) -> Units:
    """The viewers' steady load per key. Every match's viewers cost what the measured match's did, its own
    partition keys standing in for the measured one's; the directory's keys are shared by all."""
    units = Units()
    for match in matches:
        viewers = scenario.big_match_viewers if match == big_match else scenario.viewers_per_match
        for kind, rate in viewer_rates(scenario, viewers).items():
            origin = rate * ((1 - hit_ratio) if THROUGH_CDN[kind] else 1.0)
            for target, measured in ((units.rcu, reads.rcu[kind]), (units.wcu, reads.wcu[kind])):
                for key, value in measured.items():
                    # a connection's partition is its own: it takes one viewer's requests, not the crowd's
                    own = key[2] == layout.connection_key(VIEWER)
                    target[_as_match(key, profile_match, match)] += origin * value / (viewers if own else 1)
    return units


def _as_match(key: Key, profile_match: str, match: str) -> Key:
    """The measured match's key, moved to ``match`` (its follower shards too), and the measured viewer's
    connection to one of ``match``'s viewers; other keys as they are."""
    table, index, partition = key
    if partition == layout.connection_key(VIEWER):
        return (table, index, layout.connection_key(f"{match}-viewer"))
    if partition == profile_match:
        return (table, index, match)
    followers = layout.match_key(profile_match)
    if partition == followers or partition.startswith(followers + "#"):
        return (table, index, layout.match_key(match) + partition[len(followers) :])
    return key


# -- the result ---------------------------------------------------------------------------------------


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
    """Where the hottest key reaches its limit, each figure scaled alone, the rest as in the scenario: the
    write load of shared keys grows with the matches, a match partition's with its events, and the read load
    of the big match's keys and the shared ones with its viewers."""

    def share(key: Key, write_scale: float = 1.0, read_scale: float = 1.0) -> float:
        return max(
            (write_scale * writes.wcu[key] + read_scale * reads.wcu[key]) / PARTITION_WCU,
            (write_scale * writes.rcu[key] + read_scale * reads.rcu[key]) / PARTITION_RCU,
        )

    keys = set(writes.wcu) | set(writes.rcu) | set(reads.wcu) | set(reads.rcu)

    def scale(candidates: Iterable[Key], scaled: Callable[[Key, float], float]) -> float:
        """The largest factor that keeps every candidate key at or below its limit (bisection: loads are linear)."""
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
    newest = sorted(results.glob("audience-*.json"))
    if newest:
        measured = json.loads(newest[-1].read_text()).get("cdn_hit_ratio")
        if isinstance(measured, int | float):
            return float(measured), f"measured: {newest[-1].name}"
    return DEFAULT_CDN_HIT_RATIO, "assumed (no make audience result yet)"


# -- the simulation --------------------------------------------------------------------------------------


class _Sender:
    """The fan-out queue and the sender function in one: a big match's shards are read and sent (nowhere)
    at once, so their reads count in the window that queued them."""

    def __init__(self, subscriptions: Any) -> None:
        self.subscriptions = subscriptions

    def dispatch(self, jobs: Any) -> None:
        fanout.send_jobs(fanout.sqs_event(jobs), self.subscriptions, lambda *_: None)


class Matchday:
    """The local engine with the scenario's tables and followers, the app wired to it, and a meter on its
    DynamoDB client."""

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
        self.ledger = Ledger(layout.table_definition(TABLE), layout.subscriptions_table_definition(SUBSCRIPTIONS))
        self.meter: Meter | None = None
        self.fanout = _Sender(self.services.subscriptions)
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
                pending: Any = {SUBSCRIPTIONS: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
                while pending:
                    pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems")

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
            record = SimpleNamespace(
                topic="events", partition=partition, offset=self.offsets[partition], timestamp=0,
                timestamp_type=0, key=key, value=value, headers=[],
            )  # fmt: skip
            by_partition.setdefault(partition, []).append(record)
        for partition, records in sorted(by_partition.items()):
            batch = {TopicPartition("events", partition): records}
            app.consume_events(msk_event(batch, "capacity"), LambdaContext("consumer", 1769))

    def history(self) -> None:
        """The big match's first ``history_minutes``, unmeasured: the timeline its viewers read."""
        count = int(self.scenario.history_minutes * 60 * self.scenario.events_per_s_per_match)
        past = self.clock - timedelta(minutes=self.scenario.history_minutes)
        for start in range(0, count, 500):
            self.consume(self.events(self.big_match, min(500, count - start), past + timedelta(seconds=start / 3)))

    def play(self) -> Units:
        """The live windows, measured: each window's writes and broadcaster reads, per second, the busiest
        second kept per key."""
        stream = self._stream_position()
        self.meter = Meter(self.services.dynamodb, self.ledger)
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
            self.meter.settle()
            taken, self.ledger.units = self.ledger.units, Units()
            for key, value in taken.wcu.items():
                peak.wcu[key] = max(peak.wcu[key], value / window)
            for key, value in taken.rcu.items():
                peak.rcu[key] = max(peak.rcu[key], value / window)
            self.clock += timedelta(seconds=window)
            self.say(f"  window {n + 1}: {len(events)} events, {sum(taken.wcu.values()):,.0f} WCU")
        return peak

    def _stream_position(self) -> dict[str, str]:
        arn = self.services.dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        return {
            s["ShardId"]: self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for s in shards
        }

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
                broadcast.broadcast(
                    event, self.services.repository, self.services.subscriptions, lambda *_: None, self.fanout
                )
        return iterators

    def reads(self) -> Reads:
        """Each viewer request type, once, on the big match as it stands now."""
        assert self.meter is not None
        client = Client(app.app)
        match = self.big_match
        rcu: dict[str, Counter[Key]] = {}
        wcu: dict[str, Counter[Key]] = {}

        def measure(kind: str, run: Callable[[], object]) -> None:
            self.meter.settle()  # type: ignore[union-attr]
            self.ledger.units = Units()
            run()
            self.meter.settle()  # type: ignore[union-attr]
            rcu[kind], wcu[kind] = Counter(self.ledger.units.rcu), Counter(self.ledger.units.wcu)

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
    with tempfile.TemporaryDirectory(prefix="capacity-") as scratch:
        day = Matchday(scenario, Path(scratch), say)
        try:
            say(f"followers: {scenario.matches * scenario.viewers_per_match + scenario.big_match_viewers:,}")
            day.followers()
            say(f"the big match's first {scenario.history_minutes:g} minutes")
            day.history()
            say(f"{scenario.seconds:g} s of {scenario.matches} live matches")
            writes = day.play()
            reads = day.reads()
        finally:
            day.close()
    matches = set(day.matches)
    with_cdn = read_heat(scenario, reads, day.big_match, day.matches, day.big_match, scenario.cdn_hit_ratio)
    no_cdn = read_heat(scenario, reads, day.big_match, day.matches, day.big_match, 0.0)
    rows, rows_no_cdn = key_rows(writes, with_cdn), key_rows(writes, no_cdn)
    rates: Counter[str] = Counter()
    for match in day.matches:
        viewers = scenario.big_match_viewers if match == day.big_match else scenario.viewers_per_match
        for kind, rate in viewer_rates(scenario, viewers).items():
            rates[kind] += rate * ((1 - scenario.cdn_hit_ratio) if THROUGH_CDN[kind] else 1.0)
    return {
        "scenario": {
            name: getattr(scenario, name)
            for name in (
                "matches",
                "events_per_s_per_match",
                "batching_window_s",
                "viewers_per_match",
                "big_match_viewers",
                "cdn_hit_ratio",
            )
        },
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
    text = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    defaults = Scenario()
    for field in attrs.fields(Scenario):
        if field.name != "cdn_hit_ratio":
            parser.add_argument("--" + field.name.replace("_", "-"), type=type(field.default), default=field.default)
    parser.add_argument("--cdn-hit-ratio", type=float, help="default: the newest make audience result, else 0.95")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, help=f"rewrite the generated table in this file (make capacity: {DOC})")
    args = parser.parse_args(argv)
    measured, source = cdn_hit_ratio(args.results)
    hit_ratio = args.cdn_hit_ratio if args.cdn_hit_ratio is not None else measured
    source = "given" if args.cdn_hit_ratio is not None else source
    values: dict[str, Any] = {
        f.name: getattr(args, f.name, None) for f in attrs.fields(Scenario) if f.name != "cdn_hit_ratio"
    }
    scenario = attrs.evolve(defaults, **values, cdn_hit_ratio=hit_ratio)
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
