"""Per-event costs on the running local stack: what one event, one read and one push cost in AWS's units.

dynamodb   capacity units per event written (consumer) and per API read, by AWS's sizing rules
           (``devstack.capacity``) applied to the app's own requests and items, never from the local
           engine, which models no capacity; bytes stored per event
kafka      record bytes per event as the API writes them, and what the broker appended to its log for them
consumer   CPU and wall ms per event in the app's consumer Lambda handler (in this process, real clients)
ingest     CPU and wall ms per POST /events request through Chalice's gateway (authorizer included)
broadcast  messages each WebSocket subscriber receives per applied change (real sockets on the stack),
           message sizes, and the broadcaster process's CPU per change and per message (/proc)
"""

import itertools
import json
import statistics
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

from kafka import KafkaProducer

from bench.push import Subscribers
from bench.system import wait_idle
from bench.workload import RECEIVED_AT, REQUEST_EVENTS, TOKEN, api_records, app_on, consume_preloaded, events_for
from chalicelib import layout
from chalicelib.config import Settings
from chalicelib.events import parse_event
from chalicelib.publishing import KafkaPublisher, producer_config
from chalicelib.records import DEFAULT_PROVIDER, encode
from chalicelib.repository import event_item
from chalicelib.security import Producer
from devstack.capacity import Ledger, Meter, item_bytes
from devstack.run_process import RunProcess, cpu_seconds
from devstack.stack import dynamodb_client, ensure_topic
from matchtools.client import ApiClient
from matchtools.generate import generate_match

STORAGE_OVERHEAD = 100  # bytes DynamoDB adds to each stored item (devstack.capacity's first source)
INDEX_KEYS = (layout.TIME_SORT_KEY, layout.TYPE_SORT_KEY, layout.PHASE_SORT_KEY)  # the LSIs' sort keys
LIVE_BATCH_RECORDS = 30  # a consumer batch on a busy Saturday: ~180 events/s over 6 partitions, 1 s window
KICK_OFF = "2026-01-01T15:00:00.000Z"  # the warm-up push's kick-off, before the measured passes
SIZING_SOURCE = "AWS's sizing rules applied to the app's own requests and items (devstack.capacity)"

Batches = list[list[dict[str, Any]]]  # the events of each request
Requests = dict[str, Batches]  # "single" | "batch500" -> its requests
Phase = dict[str, float]


@contextmanager
def _clock() -> Iterator[list[float]]:
    """[CPU s, wall s] of this process over the block."""
    out = [0.0, 0.0]
    cpu, wall = time.process_time(), time.perf_counter()
    yield out
    out[:] = time.process_time() - cpu, time.perf_counter() - wall


def _request(client: Any, method: str, path: str, status: int = 200, **kwargs: Any) -> tuple[Any, list[float]]:
    """One request through Chalice's local gateway (``chalice.test.Client``): the response, [CPU s, wall s]."""
    with _clock() as clock:
        response = getattr(client.http, method)(path, **kwargs)
    assert response.status_code == status, (path, response.status_code, response.body[:300])
    return response, clock


def _ms(clock: list[float]) -> dict[str, float]:
    return {"cpu_ms": 1000 * clock[0], "wall_ms": 1000 * clock[1]}


def _interleaved(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive events of different matches, each match's order kept: how a Saturday's feeds arrive."""
    queues: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        queues[event["match_id"]].append(event)
    return [event for turn in itertools.zip_longest(*queues.values()) for event in turn if event is not None]


def _requests(singles: int, batches: int, seed: int) -> Requests:
    """``singles`` one-event requests over 20 matches, and ``batches`` requests of 500 events of 4 matches."""
    single = events_for(20, singles // 20 + 1, seed)[:singles]
    batch = events_for(4, batches * REQUEST_EVENTS // 4, seed + 1)
    return {
        "single": [[event] for event in single],
        "batch500": [batch[i : i + REQUEST_EVENTS] for i in range(0, len(batch), REQUEST_EVENTS)],
    }


def sizing() -> dict[str, Any]:
    """Where every capacity figure comes from, and the sizes of a generated match's event items."""
    match_id = f"costs-probe-{uuid.uuid4().hex[:8]}"
    sizes = [
        item_bytes(event_item(match_id, parse_event(e).to_dict() | {"received_at": RECEIVED_AT}))
        for e in generate_match(match_id, events=40, seed=11)
    ]
    return {"source": SIZING_SOURCE, "event_item_bytes": {"mean": statistics.mean(sizes), "max": max(sizes)}}


def consume(
    stack: RunProcess, app: Any, meter: Meter, records: list[tuple[bytes, bytes]], events: int, batch_records: int
) -> dict[str, Any]:
    """The app's consumer over a fresh topic of ``records`` through the local event source, ``batch_records`` a
    batch: capacity, CPU and wall per event stored, measured around the handler only."""
    totals: dict[str, float] = defaultdict(float)
    done, failures = threading.Event(), []

    def handler(msk_event: dict[str, Any], context: Any) -> None:
        try:
            with _clock() as clock:
                result = app.consume_events(msk_event, context)
        except Exception as error:  # a measurement, not a pipeline: the first failure ends it
            failures.append(error)
            done.set()
            raise
        totals["cpu"], totals["wall"] = totals["cpu"] + clock[0], totals["wall"] + clock[1]
        totals["invocations"] += 1
        totals["stored"] += result["stored"]
        if totals["stored"] >= events:
            done.set()

    meter.take()
    finished = consume_preloaded(stack, records, handler, done, partitions=1, batch_size=batch_records, timeout=900)
    if failures or not finished:
        raise SystemExit(f"the consumer stored {totals['stored']:.0f} of {events} events: {failures[:1]}")
    used, stored = meter.take(), int(totals["stored"])
    return {
        "events": stored,
        "records": len(records),
        "invocations": int(totals["invocations"]),
        "events_per_invocation": stored / totals["invocations"],
        "wcu_per_event": used.wcu.total() / stored,
        **{f"wcu_per_event_{part}": used.parts["write"][part] / stored for part in ("table", "lsi", "gsi")},
        "rcu_per_event": used.rcu.total() / stored,
        "cpu_ms_per_event": 1000 * totals["cpu"] / stored,
        "wall_ms_per_event": 1000 * totals["wall"] / stored,
        "calls": dict(used.calls),
        "failed_calls": dict(used.failed),
    }


def stored_bytes(client: Any, table: str, match_id: str) -> dict[str, Any]:
    """A match's partition by AWS's storage rule (size + 100 bytes an item), with its local index entries
    (projection ALL: the item again, + 100) and its directory entry (the global index)."""
    pages = client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="#pk = :m",
        ExpressionAttributeNames={"#pk": layout.PARTITION_KEY},
        ExpressionAttributeValues={":m": {"S": match_id}},
    )
    collection = global_index = events = 0
    for item in (item for page in pages for item in page["Items"]):
        size = item_bytes(item) + STORAGE_OVERHEAD
        collection += size * (1 + sum(1 for key in INDEX_KEYS if key in item))
        global_index += size if layout.DIRECTORY_PARTITION_KEY in item else 0
        events += item[layout.SORT_KEY]["S"].startswith(layout.EVENT_PREFIX)
    return {
        "events": events,
        "item_collection_bytes": collection,
        "stored_bytes": collection + global_index,
        "item_collection_bytes_per_event": collection / max(1, events),
        "stored_bytes_per_event": (collection + global_index) / max(1, events),
    }


def api_reads(client: Any, meter: Meter, routes: Mapping[str, str], repeats: int) -> dict[str, dict[str, Any]]:
    """Each GET's read units, response bytes, CPU and wall ms (medians of ``repeats``)."""
    out: dict[str, dict[str, Any]] = {}
    for name, path in routes.items():
        samples = []
        for _ in range(repeats):
            meter.take()
            response, (cpu, wall) = _request(client, "get", path)
            samples.append((meter.take().rcu.total(), cpu, wall))
        rcu, cpu, wall = (statistics.median(column) for column in zip(*samples, strict=True))
        out[name] = {"path": path, "rcu": rcu, "bytes": len(response.body)} | _ms([cpu, wall])
    return out


def all_pages(client: Any, meter: Meter, match_id: str) -> dict[str, float]:
    """The whole match as a client reads it: every page of GET /matches/{id}, following next_cursor."""
    path: str | None = f"/matches/{match_id}"
    pages = size = 0
    meter.take()
    with _clock() as clock:
        while path:
            body = client.http.get(path).body
            pages, size = pages + 1, size + len(body)
            cursor = json.loads(body)["next_cursor"]
            path = f"/matches/{match_id}?cursor={cursor}" if cursor else None
    return {"pages": pages, "rcu": meter.take().rcu.total(), "bytes": size} | _ms(clock)


def read_costs(app: Any, meter: Meter, full_id: str, live_match: str, repeats: int) -> dict[str, Any]:
    """What each read costs: a whole match's pages, a live match's change-feed polls, the directory."""
    from chalice.test import Client

    with Client(app.app) as client:
        feed = _request(client, "get", f"/matches/{live_match}/changes")[0].json_body["changes"]
        routes = {
            "match_page_1000": f"/matches/{full_id}",
            "goals": f"/matches/{full_id}/goals",
            "stats": f"/matches/{full_id}/stats",
            "changes_page_1000": f"/matches/{full_id}/changes",
            "changes_poll_empty": f"/matches/{live_match}/changes?after={feed[-1]['cursor']}",
            "changes_poll_one": f"/matches/{live_match}/changes?after={feed[-2]['cursor']}",
            "directory_100": "/matches?limit=100",
        }
        reads = api_reads(client, meter, routes, repeats)
        reads["match_all_pages"] = all_pages(client, meter, full_id)
        reads["directory_100"]["matches"] = _request(client, "get", routes["directory_100"])[0].json_body["count"]
    return reads


def ingest(app: Any, requests: Requests) -> dict[str, float]:
    """POST /events through Chalice's gateway and the producer authorizer to the stack's topic: CPU and wall
    ms per request, single events and batches of 500 (medians)."""
    from chalice.test import Client

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    bodies = {
        "single": [json.dumps(event) for (event,) in requests["single"]],
        "batch500": [json.dumps({"events": events}) for events in requests["batch500"]],
    }
    out: dict[str, float] = {}
    with Client(app.app) as client:
        _request(client, "post", "/events", 202, headers=headers, body=bodies["single"][0])  # the producer connects
        for name, posts in bodies.items():
            clocks = [_request(client, "post", "/events", 202, headers=headers, body=body)[1] for body in posts]
            out |= {
                f"cpu_ms_per_request_{name}": 1000 * statistics.median(cpu for cpu, _ in clocks),
                f"wall_ms_per_request_{name}": 1000 * statistics.median(wall for _, wall in clocks),
                f"requests_{name}": len(clocks),
            }
    return out


def websocket_session(app: Any, meter: Meter, match_id: str) -> dict[str, float]:
    """One viewer's $connect, subscribe and $disconnect, as the WebSocket handlers do them: units and CPU."""
    from chalicelib import live

    services, connection_id = app.services, f"costs-{uuid.uuid4().hex[:10]}"

    def tokens() -> dict[str, Producer]:
        return {TOKEN: Producer(DEFAULT_PROVIDER)}

    meter.take()
    with _clock() as clock:
        live.connect(connection_id, {}, {}, tokens, services.subscriptions)
        live.message(
            connection_id,
            json.dumps({"action": "subscribe", "match_id": match_id}),
            subscriptions=services.subscriptions,
            repository=services.repository,
            publisher=services.publisher,
            accepted_tokens=tokens,
        )
        services.subscriptions.forget(connection_id)
    used = meter.take()
    return {"invocations": 3, "wcu": used.wcu.total(), "rcu": used.rcu.total()} | _ms(clock)


def broadcast_reads(app: Any, meter: Meter, stats_match: str, subscribed_match: str) -> dict[str, float]:
    """The broadcaster's reads per match and batch with changes: the statistics (for the stats message) and
    the match's connections (the subscriptions table)."""
    meter.take()
    app.services.repository.totals(stats_match)
    stats_rcu = meter.take().rcu.total()
    connections = app.services.subscriptions.connections(subscribed_match)
    return {"stats_rcu": stats_rcu, "connections_rcu": meter.take().rcu.total(), "connections": len(connections)}


def kafka_bytes(stack: RunProcess, requests: Requests) -> dict[str, float]:
    """The API's own publish (chalicelib.ingest) into fresh topics, a request at a time as API Lambdas send them:
    record key + value bytes per event, and what the broker appended to the topic's log per event."""
    from chalicelib import ingest as ingest_module

    bootstrap = stack.endpoints.bootstrap_servers
    config = producer_config(
        Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_ACK_TIMEOUT_SECONDS": "30"})
    )
    out: dict[str, float] = {}
    for name, bodies in requests.items():
        topic = f"bench-costs-bytes-{name}-{uuid.uuid4().hex[:6]}"
        ensure_topic(bootstrap, topic, partitions=1)
        publisher = KafkaPublisher(lambda: KafkaProducer(**config), topic, f"{topic}-dlq", 30)
        records = record_bytes = 0
        for body in bodies:
            ingest_module.ingest(json.dumps({"events": body}).encode(), publisher, Producer(DEFAULT_PROVIDER))
            encoded = encode([parse_event(e) for e in body], RECEIVED_AT)
            records += len(encoded)
            record_bytes += sum(len(key) + len(value) for key, value in encoded)
        publisher.close()
        log = sum(path.stat().st_size for path in (stack.data_dir / "kafka").glob(f"{topic}-*/*.log"))
        count = sum(map(len, bodies))
        out |= {
            f"record_bytes_per_event_{name}": record_bytes / count,
            f"log_bytes_per_event_{name}": log / count,
            f"records_per_event_{name}": records / count,
        }
    return out


def _cpu(pid: int | None) -> float:
    return cpu_seconds(pid) if pid else 0.0


def _passes(match_id: str, count: int, team: str, hour: int, tag: str = "") -> list[dict[str, Any]]:
    """``count`` passes of ``team``, a second apart from ``hour``:00."""
    return [
        {
            "match_id": match_id,
            "event_type": "pass",
            "team_id": team,
            "player_id": f"{team[0]}{i % 11}",
            "event_id": f"{match_id}-{tag}{i}",
            "timestamp": f"2026-01-01T{hour}:{i // 60:02d}:{i % 60:02d}.000Z",
        }
        for i in range(count)
    ]


def _live_changes(match_id: str, changes: int) -> Batches:
    """``changes`` changes of a match, one request each: inserts, then an amendment and a void."""
    base = _passes(match_id, changes - 2, "home", 15)
    void = {"match_id": match_id, "event_id": base[1]["event_id"], "version": 2, "deleted": True}
    return [[event] for event in base] + [[base[0] | {"version": 2, "outcome": "incomplete"}], [void]]


def _pace(listeners: Subscribers, api: ApiClient, match_id: str, requests: Batches, cpu: Callable[[], float]) -> Phase:
    """Post each request and wait until every subscriber of the match got its changes: changes applied, messages
    (of which stats) per change and subscriber, the phase's seconds and the broadcaster's CPU seconds over it."""
    subscribers = listeners.assigned.count(match_id)
    before, cpu_before, started = listeners.count_of(match_id), cpu(), time.monotonic()
    for request in requests:
        api.post_events(request)
        deadline = time.monotonic() + 600
        for key in [(event["event_id"], event.get("version", 1)) for event in request]:
            while listeners.delivered(match_id, key) < subscribers:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no push of {key} to all {subscribers} subscribers of {match_id} in 600 s")
                time.sleep(0.02)
    time.sleep(1.5)  # the stats message follows the last change
    after, changes = listeners.count_of(match_id), sum(map(len, requests))
    change, stats = (after[kind] - before[kind] for kind in ("change", "stats"))
    return {
        "changes": changes,
        "subscribers": subscribers,
        "messages": change + stats,
        "messages_per_change_per_subscriber": (change + stats) / (changes * subscribers),
        "stats_per_change": stats / (changes * subscribers),
        "seconds": time.monotonic() - started,
        "broadcaster_cpu_s": cpu() - cpu_before,
    }


def pushes(
    stack: RunProcess, *, changes: int, few: int, many: int, burst: int, while_subscribed: Callable[[str], Any]
) -> dict[str, Any]:
    """Subscribers on two matches (``few``, ``many``); changes posted one at a time (each its own stream batch), then
    ``burst`` events in one request; ``while_subscribed`` runs with the busy match's subscribers connected."""
    prefix = uuid.uuid4().hex[:6]
    quiet, busy = f"push-{prefix}-few", f"push-{prefix}-many"
    cpu, api = partial(_cpu, stack.pid_of("devstack.stream_source")), ApiClient(stack.url, TOKEN)
    wait_idle(stack)  # what earlier steps left on the topic is consumed first
    with Subscribers(stack.ws_url, [quiet] * few + [busy] * many, few + many) as listeners:
        # one push first, not measured: it arrives once the broadcaster worked off any older stream records
        warm_up = {"match_id": quiet, "event_type": "kick_off", "event_id": f"{quiet}-k", "timestamp": KICK_OFF}
        _pace(listeners, api, quiet, [[warm_up]], lambda: 0.0)
        idle_cpu = cpu()
        time.sleep(3.0)
        idle_rate = (cpu() - idle_cpu) / 3.0
        phases = {
            "live_few": _pace(listeners, api, quiet, _live_changes(quiet, changes), cpu),
            "live_many": _pace(listeners, api, busy, _live_changes(busy, changes), cpu),
            "burst_many": _pace(listeners, api, busy, [_passes(busy, burst, "away", 16, "b")], cpu),
        }
        change_bytes, stats_bytes = listeners.sizes("change"), listeners.sizes("stats")
        extra = while_subscribed(busy)
    for phase in phases.values():
        phase["broadcaster_busy_cpu_s"] = max(0.0, phase["broadcaster_cpu_s"] - idle_rate * phase["seconds"])
    # per message from the burst, where one batch's fixed work (reads, the stats render) is spread over hundreds
    # of sends (an upper bound); per change at a live pace: what the live phases spent beyond that
    burst_phase, live = phases["burst_many"], (phases["live_few"], phases["live_many"])
    per_message = 1000 * burst_phase["broadcaster_busy_cpu_s"] / max(1, burst_phase["messages"])
    base = statistics.mean(max(0.0, 1000 * p["broadcaster_busy_cpu_s"] - per_message * p["messages"]) / p["changes"]
                           for p in live)  # fmt: skip
    return {
        "phases": phases,
        "messages_per_change_per_subscriber_live": phases["live_many"]["messages_per_change_per_subscriber"],
        "stats_per_change_per_subscriber_live": phases["live_many"]["stats_per_change"],
        "messages_per_change_per_subscriber_burst": burst_phase["messages_per_change_per_subscriber"],
        "change_message_bytes": {"mean": statistics.mean(change_bytes), "max": max(change_bytes)},
        "stats_message_bytes": {"mean": statistics.mean(stats_bytes), "max": max(stats_bytes)},
        "broadcaster_idle_cpu_per_s": idle_rate,
        "broadcaster_cpu_ms_per_message": per_message,
        "broadcaster_cpu_ms_per_change_base": base,
        "while_subscribed": extra,
    }


def per_event_costs(stack: RunProcess, *, quick: bool = False, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every per-event figure against the running stack (2-4 minutes; ``quick``: smaller samples). Writes
    scratch matches to the stack's table and records to fresh topics; leaves the app's services on this stack."""
    app = app_on(stack)
    settings, scale = app.services.settings, 0.3 if quick else 1.0
    subscriptions = layout.subscriptions_table_definition(settings.subscriptions_table)
    meter = Meter(app.services.dynamodb, Ledger(layout.table_definition(settings.table), subscriptions))
    costs: dict[str, Any] = {"what": "per-event costs on the local stack (bench/request_costs.py)"}
    try:
        costs["sizing"] = sizing()
        say(f"costs: capacity from {SIZING_SOURCE}")
        # live: single-event records of many matches, interleaved, in batches as a Saturday partition sees them
        live_matches = max(40, int(120 * scale))
        live_events = _interleaved(events_for(live_matches, 15, 700))
        live_records = [record for e in live_events for record in encode([parse_event(e)], RECEIVED_AT)]
        say(f"costs: consumer, live ({len(live_events):,} single-event records of {live_matches} matches) ...")
        costs["consumer_live"] = consume(stack, app, meter, live_records, len(live_events), LIVE_BATCH_RECORDS)
        # bulk: one whole match posted in requests of 500 (records of 100 events): a match's own batches
        full_match = generate_match(f"costs-full-{uuid.uuid4().hex[:6]}", events=1000 if quick else 3400, seed=5)
        full_id, bulk_records = str(full_match[0]["match_id"]), api_records(full_match)
        say(f"costs: consumer, bulk (one {len(full_match):,}-event match in {len(bulk_records)} records) ...")
        costs["consumer_bulk"] = consume(stack, app, meter, bulk_records, len(full_match), 500)
        client = dynamodb_client(stack.endpoints.dynamodb_endpoint_url)
        costs["storage_full_match"] = stored_bytes(client, settings.table, full_id)
        say("costs: API reads ...")
        costs["api_reads"] = read_costs(app, meter, full_id, str(live_events[0]["match_id"]), repeats=3 if quick else 7)
        say("costs: ingest (POST /events in process) ...")
        costs["ingest"] = ingest(app, _requests(int(200 * scale), 2 if quick else 6, 900))
        costs["websocket_session"] = websocket_session(app, meter, full_id)
        say("costs: Kafka bytes ...")
        costs["kafka"] = kafka_bytes(stack, _requests(int(200 * scale), 2 if quick else 4, 910))
        say("costs: pushes over WebSocket ...")
        reads = partial(broadcast_reads, app, meter, full_id)
        sizes = {"changes": 8, "many": 4, "burst": 50} if quick else {"changes": 12, "many": 8, "burst": 100}
        costs["broadcast"] = pushes(stack, few=1, while_subscribed=reads, **sizes)
    finally:
        meter.close()
    return costs
