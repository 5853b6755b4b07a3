"""Per-event costs on the running local stack: what one event, one read and one push cost in AWS's units.

    dynamodb     capacity units per event written (consumer) and per API read, by AWS's sizing rules applied to
                 the requests the app makes and the items they read and write (``CapacityMeter``);
                 never from the local engine, which models no capacity; bytes stored per event
    kafka        record bytes per event as the API writes them (chalicelib.records.encode), and what the broker
                 appended to its log for them (record batch headers included)
    consumer     CPU and wall ms per event in the app's consumer Lambda handler (in this process, real clients)
    ingest       CPU and wall ms per POST /events request through Chalice's gateway (authorizer included)
    broadcast    messages each WebSocket subscriber receives per applied change (real sockets on the stack),
                 message sizes, and the broadcaster process's CPU per change and per message (/proc)

AWS's sizing rules, and where AWS states them: ``devstack.capacity``.
"""

import json
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kafka import KafkaProducer

from bench.push import Subscribers
from bench.system import wait_idle
from bench.workload import REQUEST_EVENTS, TOKEN, app_on, events_for
from chalicelib import layout
from chalicelib.config import Settings
from chalicelib.events import parse_event
from chalicelib.publishing import KafkaPublisher, producer_config
from chalicelib.records import DEFAULT_PROVIDER, encode
from chalicelib.repository import event_item
from chalicelib.security import Producer
from devstack.capacity import Ledger, Meter, Units, item_bytes
from devstack.run_process import RunProcess, cpu_seconds
from devstack.stack import dynamodb_client, ensure_topic
from matchtools.client import ApiClient
from matchtools.generate import generate_match

STORAGE_OVERHEAD = 100  # bytes DynamoDB adds to each stored item (devstack.capacity's first source)
INDEX_KEYS = (layout.TIME_SORT_KEY, layout.TYPE_SORT_KEY, layout.PHASE_SORT_KEY)  # the LSIs' sort keys
LIVE_BATCH_RECORDS = 30  # a consumer batch on a busy Saturday: ~180 events/s over 6 partitions, 1 s window


# -- capacity by the rules, from the requests a client makes --------------------------------------------


class CapacityMeter:
    """Sizes every data-plane call of a boto3 DynamoDB client by AWS's rules (``devstack.capacity``), split into
    table, local and global indexes, and per operation. Writes are costed after the measurement (``take``),
    not in the timed calls. ``close`` unregisters the meter, so the client is left as it was."""

    def __init__(self, client: Any, definition: Mapping[str, Any], *others: Mapping[str, Any]) -> None:
        self.meter = Meter(client, Ledger(definition, *others))

    def close(self) -> None:
        self.meter.close()

    def take(self) -> dict[str, Any]:
        """What was counted since the last take, the writes costed by the rules (and start over)."""
        meter = self.meter
        meter.settle()
        parts, calls, failed, by_operation = meter.ledger.units.parts, meter.calls, meter.failed, meter.by_operation
        taken: dict[str, Any] = {
            kind: {"total": float(sum(parts[kind].values()))}
            | {part: float(parts[kind][part]) for part in ("table", "lsi", "gsi")}
            for kind in ("write", "read")
        }
        taken |= {"by_operation": dict(by_operation), "calls": dict(calls), "failed": dict(failed)}
        meter.ledger.units = Units()
        meter.calls, meter.failed, meter.by_operation = Counter(), Counter(), Counter()
        return taken


# -- helpers ---------------------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _interleaved(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events of many matches reordered so consecutive events belong to different matches, each match's
    own order kept: how a Saturday's feeds arrive."""
    by_match: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_match[event["match_id"]].append(event)
    queues = list(by_match.values())
    return [queue[i] for i in range(max(map(len, queues))) for queue in queues if i < len(queue)]


@contextmanager
def _cpu_clock() -> Iterator[list[float]]:
    """[cpu seconds, wall seconds] of this process over the block."""
    out = [0.0, 0.0]
    cpu, wall = time.process_time(), time.perf_counter()
    yield out
    out[0], out[1] = time.process_time() - cpu, time.perf_counter() - wall


# -- 1. the sizing rules and the items they size ---------------------------------------------------------

SIZING_SOURCE = "AWS's sizing rules applied to the app's own requests and items (devstack.capacity)"


def sizing() -> dict[str, Any]:
    """Where every capacity figure comes from, and the event items they size (a generated match's)."""
    match_id = f"costs-probe-{uuid.uuid4().hex[:8]}"
    sample = [
        event_item(match_id, parse_event(e).to_dict() | {"received_at": "2026-01-01T00:00:00.000Z"})
        for e in generate_match(match_id, events=40, seed=11)
    ]
    return {
        "source": SIZING_SOURCE,
        "event_item_bytes": {
            "mean": statistics.mean(item_bytes(i) for i in sample),
            "max": max(item_bytes(i) for i in sample),
        },
    }


# -- 2. the consumer: capacity and CPU per event ---------------------------------------------------------


def consume(
    stack: RunProcess,
    app: Any,
    meter: CapacityMeter,
    records: list[tuple[bytes, bytes]],
    events: int,
    batch_records: int,
) -> dict[str, Any]:
    """Preload a fresh topic with these records, then run the app's consumer over it through the local event
    source (the MSK event Lambda gets), ``batch_records`` records a batch: capacity, CPU and wall per event
    stored, measured around the handler only."""
    from devstack.event_source import LocalEventSource

    bootstrap = stack.endpoints.bootstrap_servers
    topic = f"bench-costs-{uuid.uuid4().hex[:6]}"
    ensure_topic(bootstrap, topic, partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for future in [producer.send(topic, key=key, value=value) for key, value in records]:
        future.get(timeout=60)
    producer.close()
    totals = {"stored": 0, "cpu": 0.0, "wall": 0.0, "invocations": 0}
    done, failures = threading.Event(), []

    def handler(msk_event: dict[str, Any], context: Any) -> None:
        try:
            with _cpu_clock() as clock:
                result = app.consume_events(msk_event, context)
        except Exception as error:  # a measurement, not a pipeline: the first failure ends it
            failures.append(error)
            done.set()
            raise
        totals["cpu"] += clock[0]
        totals["wall"] += clock[1]
        totals["invocations"] += 1
        totals["stored"] += result["stored"]
        if totals["stored"] >= events:
            done.set()

    meter.take()
    source = LocalEventSource(bootstrap, topic, handler, group_id=topic, batch_size=batch_records, log=lambda _: None)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    finished = done.wait(timeout=900)
    stop.set()
    thread.join(timeout=30)
    if failures or not finished:
        raise SystemExit(f"the consumer stored {totals['stored']} of {events} events: {failures[:1]}")
    used = meter.take()
    stored = totals["stored"]
    return {
        "events": stored,
        "records": len(records),
        "invocations": totals["invocations"],
        "events_per_invocation": stored / totals["invocations"],
        "wcu_per_event": used["write"]["total"] / stored,
        "wcu_per_event_table": used["write"]["table"] / stored,
        "wcu_per_event_lsi": used["write"]["lsi"] / stored,
        "wcu_per_event_gsi": used["write"]["gsi"] / stored,
        "rcu_per_event": used["read"]["total"] / stored,
        "cpu_ms_per_event": 1000 * totals["cpu"] / stored,
        "wall_ms_per_event": 1000 * totals["wall"] / stored,
        "calls": used["calls"],
        "failed_calls": used["failed"],
    }


def stored_bytes(client: Any, table: str, match_id: str) -> dict[str, Any]:
    """A match's partition item by item, sized by AWS's storage rule (size + 100 bytes an item), with the
    local index entries (projection ALL: the item again, + 100) and the directory entry (global index)."""
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :m",
        "ExpressionAttributeNames": {"#pk": layout.PARTITION_KEY},
        "ExpressionAttributeValues": {":m": {"S": match_id}},
    }
    collection = global_index = events = 0
    while True:
        page = client.query(**params)
        for item in page["Items"]:
            size = item_bytes(item) + STORAGE_OVERHEAD
            entries = 1 + sum(1 for key in INDEX_KEYS if key in item)
            collection += size * entries
            global_index += size if layout.DIRECTORY_PARTITION_KEY in item else 0
            events += 1 if item[layout.SORT_KEY]["S"].startswith(layout.EVENT_PREFIX) else 0
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {
        "events": events,
        "item_collection_bytes": collection,
        "stored_bytes": collection + global_index,
        "item_collection_bytes_per_event": collection / max(1, events),
        "stored_bytes_per_event": (collection + global_index) / max(1, events),
    }


# -- 3. API reads, ingest, WebSocket sessions: in process, through the app ------------------------------


def api_reads(app: Any, meter: CapacityMeter, routes: Mapping[str, str], repeats: int) -> dict[str, dict[str, Any]]:
    """Each GET through Chalice's local gateway: read units, response bytes, CPU and wall ms (medians)."""
    from chalice.test import Client

    out: dict[str, dict[str, Any]] = {}
    with Client(app.app) as client:
        for name, path in routes.items():
            cpu, wall, rcu, size = [], [], [], 0
            for _ in range(repeats):
                meter.take()
                with _cpu_clock() as clock:
                    response = client.http.get(path)
                assert response.status_code == 200, (path, response.status_code, response.body[:300])
                cpu.append(clock[0])
                wall.append(clock[1])
                rcu.append(meter.take()["read"]["total"])
                size = len(response.body)
            out[name] = {
                "path": path,
                "rcu": _median(rcu),
                "bytes": size,
                "cpu_ms": 1000 * _median(cpu),
                "wall_ms": 1000 * _median(wall),
            }
    return out


def all_pages(app: Any, meter: CapacityMeter, match_id: str) -> dict[str, float]:
    """The whole match as a client reads it: every page of GET /matches/{id}, following next_cursor."""
    from chalice.test import Client

    pages = rcu = size = 0.0
    cursor: str | None = None
    meter.take()
    with Client(app.app) as client, _cpu_clock() as clock:
        while True:
            response = client.http.get(f"/matches/{match_id}" + (f"?cursor={cursor}" if cursor else ""))
            body = json.loads(response.body)
            pages, size = pages + 1, size + len(response.body)
            cursor = body["next_cursor"]
            if not cursor:
                break
    rcu = meter.take()["read"]["total"]
    return {"pages": pages, "rcu": rcu, "bytes": size, "cpu_ms": 1000 * clock[0], "wall_ms": 1000 * clock[1]}


def ingest(app: Any, matches: int, singles: int, batches: int) -> dict[str, float]:
    """POST /events through Chalice's gateway and the producer authorizer to the stack's topic: CPU and wall
    ms per request, single events and batches of 500 (medians)."""
    from chalice.test import Client

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    single_events = events_for(matches, singles // matches + 1, 900)[:singles]
    batch_events = events_for(4, batches * REQUEST_EVENTS // 4, 901)
    out: dict[str, list[float]] = defaultdict(list)
    with Client(app.app) as client:
        client.http.post("/events", headers=headers, body=json.dumps(single_events[0]))  # producer connected
        for name, bodies in (
            ("single", [json.dumps(e) for e in single_events]),
            (
                "batch500",
                [
                    json.dumps({"events": batch_events[i : i + REQUEST_EVENTS]})
                    for i in range(0, len(batch_events), REQUEST_EVENTS)
                ],
            ),
        ):
            for body in bodies:
                with _cpu_clock() as clock:
                    response = client.http.post("/events", headers=headers, body=body)
                assert response.status_code == 202, response.body[:300]
                out[f"{name}_cpu"].append(clock[0])
                out[f"{name}_wall"].append(clock[1])
    return {
        "cpu_ms_per_request_single": 1000 * _median(out["single_cpu"]),
        "wall_ms_per_request_single": 1000 * _median(out["single_wall"]),
        "cpu_ms_per_request_batch500": 1000 * _median(out["batch500_cpu"]),
        "wall_ms_per_request_batch500": 1000 * _median(out["batch500_wall"]),
        "requests_single": len(out["single_cpu"]),
        "requests_batch500": len(out["batch500_cpu"]),
    }


def websocket_session(app: Any, meter: CapacityMeter, match_id: str) -> dict[str, float]:
    """One viewer's $connect, subscribe and $disconnect, as the WebSocket handlers do them: units and CPU."""
    from chalicelib import live

    services = app.services
    connection_id = f"costs-{uuid.uuid4().hex[:10]}"
    meter.take()
    with _cpu_clock() as clock:
        live.connect(connection_id, {}, {}, lambda: {TOKEN: Producer(DEFAULT_PROVIDER)}, services.subscriptions)
        live.message(
            connection_id,
            json.dumps({"action": "subscribe", "match_id": match_id}),
            subscriptions=services.subscriptions,
            repository=services.repository,
            publisher=services.publisher,
            accepted_tokens=lambda: {TOKEN: Producer(DEFAULT_PROVIDER)},
        )
        services.subscriptions.forget(connection_id)
    used = meter.take()
    return {
        "invocations": 3,
        "wcu": used["write"]["total"],
        "rcu": used["read"]["total"],
        "cpu_ms": 1000 * clock[0],
        "wall_ms": 1000 * clock[1],
    }


def broadcast_reads(app: Any, meter: CapacityMeter, stats_match: str, subscribed_match: str) -> dict[str, float]:
    """What the broadcaster reads per match and batch with changes: the statistics (repository.totals, for the
    stats message) and the match's connections (the subscriptions table)."""
    services = app.services
    meter.take()
    services.repository.totals(stats_match)
    stats_rcu = meter.take()["read"]["total"]
    connections = services.subscriptions.connections(subscribed_match)
    return {
        "stats_rcu": stats_rcu,
        "connections_rcu": meter.take()["read"]["total"],
        "connections": len(connections),
    }


# -- 4. Kafka bytes --------------------------------------------------------------------------------------


def kafka_bytes(stack: RunProcess, singles: int, batches: int) -> dict[str, float]:
    """The API's own publish (chalicelib.ingest with the project's producer settings) into fresh topics: record
    key + value bytes per event, and what the broker appended to the topic's log per event (record batch and
    record headers included; one request at a time, as separate API Lambdas send them)."""
    from chalicelib import ingest as ingest_module

    settings = Settings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": stack.endpoints.bootstrap_servers, "KAFKA_ACK_TIMEOUT_SECONDS": "30"}
    )
    config = producer_config(settings)
    out: dict[str, float] = {}
    single_events = events_for(20, singles // 20 + 1, 910)[:singles]
    batch_events = events_for(4, batches * REQUEST_EVENTS // 4, 911)
    for name, bodies, count in (
        ("single", [[e] for e in single_events], len(single_events)),
        (
            "batch500",
            [batch_events[i : i + REQUEST_EVENTS] for i in range(0, len(batch_events), REQUEST_EVENTS)],
            len(batch_events),
        ),
    ):
        topic = f"bench-costs-bytes-{name}-{uuid.uuid4().hex[:6]}"
        ensure_topic(stack.endpoints.bootstrap_servers, topic, partitions=1)
        publisher = KafkaPublisher(lambda: KafkaProducer(**config), topic, f"{topic}-dlq", 30)
        records = 0
        record_bytes = 0
        for body in bodies:
            ingest_module.ingest(json.dumps({"events": body}).encode(), publisher, Producer(DEFAULT_PROVIDER))
            encoded = encode([parse_event(e) for e in body], "2026-01-01T00:00:00.000Z")
            records += len(encoded)
            record_bytes += sum(len(key) + len(value) for key, value in encoded)
        publisher.close()
        log = sum(path.stat().st_size for path in (stack.data_dir / "kafka").glob(f"{topic}-*/*.log"))
        out |= {
            f"record_bytes_per_event_{name}": record_bytes / count,
            f"log_bytes_per_event_{name}": log / count,
            f"records_per_event_{name}": records / count,
        }
    return out


# -- 5. pushes: real WebSocket subscribers on the stack --------------------------------------------------


def _pace(
    listeners: Subscribers,
    api: ApiClient,
    match_id: str,
    subscribers: int,
    requests: list[list[dict[str, Any]]],
    broadcaster: int | None,
    timeout: float = 60,
) -> dict[str, float]:
    """Post each request and wait until every subscriber of the match got its changes: changes applied,
    messages per change per subscriber, and the broadcaster process's CPU seconds over the phase."""
    before = listeners.count_of(match_id)
    cpu = cpu_seconds(broadcaster) if broadcaster else 0.0
    started = time.monotonic()
    for request in requests:
        api.post_events(request)
        deadline = time.monotonic() + timeout
        for event in request:
            key = (event["event_id"], event.get("version", 1))
            while listeners.delivered(match_id, key) < subscribers:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no push of {key} to all {subscribers} subscribers of {match_id} in {timeout} s")
                time.sleep(0.02)
    time.sleep(1.5)  # the stats message follows the last change
    seconds = time.monotonic() - started
    after = listeners.count_of(match_id)
    changes = sum(len(request) for request in requests)
    received = {kind: after[kind] - before[kind] for kind in ("change", "stats")}
    return {
        "changes": changes,
        "subscribers": subscribers,
        "change_messages": received["change"],
        "stats_messages": received["stats"],
        "messages_per_change_per_subscriber": (received["change"] + received["stats"]) / (changes * subscribers),
        "stats_per_change": received["stats"] / (changes * subscribers),
        "seconds": seconds,
        "broadcaster_cpu_s": (cpu_seconds(broadcaster) - cpu) if broadcaster else 0.0,
    }


def _live_changes(match_id: str, changes: int) -> list[list[dict[str, Any]]]:
    """``changes`` changes of a match, one request each: inserts, then an amendment and a void."""
    base = [
        {
            "match_id": match_id,
            "event_type": "pass",
            "team_id": "home",
            "player_id": f"p{i % 11}",
            "event_id": f"{match_id}-{i}",
            "timestamp": f"2026-01-01T15:{i // 60:02d}:{i % 60:02d}.000Z",
        }
        for i in range(changes - 2)
    ]
    amended = base[0] | {"version": 2, "outcome": "incomplete"}
    void = {"match_id": match_id, "event_id": base[1]["event_id"], "version": 2, "deleted": True}
    return [[e] for e in base] + [[amended], [void]]


def _burst(match_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` passes in one request: one stream batch's worth of sends."""
    return [
        {
            "match_id": match_id,
            "event_type": "pass",
            "team_id": "away",
            "player_id": f"a{i % 11}",
            "event_id": f"{match_id}-b{i}",
            "timestamp": f"2026-01-01T16:{i // 60:02d}:{i % 60:02d}.000Z",
        }
        for i in range(count)
    ]


def pushes(
    stack: RunProcess,
    *,
    changes: int,
    few: int,
    many: int,
    burst: int,
    while_subscribed: Callable[[str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Subscribers on two matches (``few`` and ``many`` each); changes posted one at a time at a live pace
    (each its own stream batch), inserts then an amendment and a void; then a burst of ``burst`` events in
    one request. The broadcaster's CPU from /proc, its idle polling subtracted. ``while_subscribed`` runs with
    the busy match's subscribers connected (its answer is under ``while_subscribed``)."""
    prefix = uuid.uuid4().hex[:6]
    quiet, busy = f"push-{prefix}-few", f"push-{prefix}-many"
    broadcaster = stack.pid_of("devstack.stream_source")
    api = ApiClient(stack.url, TOKEN)

    wait_idle(stack)  # what earlier steps left on the topic is consumed first
    with Subscribers(stack.ws_url, [quiet] * few + [busy] * many, few + many) as listeners:
        # one push first, not measured: it arrives once the broadcaster worked off any older stream records
        warm_up = {
            "match_id": quiet,
            "event_type": "kick_off",
            "event_id": f"{quiet}-k",
            "timestamp": "2026-01-01T15:00:00.000Z",
        }
        _pace(listeners, api, quiet, few, [[warm_up]], None, timeout=600)
        idle_cpu = cpu_seconds(broadcaster) if broadcaster else 0.0
        time.sleep(3.0)
        idle_rate = ((cpu_seconds(broadcaster) - idle_cpu) / 3.0) if broadcaster else 0.0
        phases = {
            "live_few": _pace(listeners, api, quiet, few, _live_changes(quiet, changes), broadcaster),
            "live_many": _pace(listeners, api, busy, many, _live_changes(busy, changes), broadcaster),
        }
        phases["burst_many"] = _pace(listeners, api, busy, many, [_burst(busy, burst)], broadcaster)
        change_bytes, stats_bytes = listeners.sizes("change"), listeners.sizes("stats")
        extra = while_subscribed(busy) if while_subscribed else {}
    for phase in phases.values():
        phase["broadcaster_busy_cpu_s"] = max(0.0, phase["broadcaster_cpu_s"] - idle_rate * phase["seconds"])
        phase["broadcaster_cpu_ms_per_change"] = 1000 * phase["broadcaster_busy_cpu_s"] / phase["changes"]
        phase["messages"] = phase["change_messages"] + phase["stats_messages"]
    # per message: the burst, where one batch's fixed work (reads, the stats message's render) is spread over
    # hundreds of sends (an upper bound); per change at a live pace: what the live phases spent beyond that
    burst_phase = phases["burst_many"]
    per_message = 1000 * burst_phase["broadcaster_busy_cpu_s"] / max(1, burst_phase["messages"])
    live_phases = [phases["live_few"], phases["live_many"]]
    base = statistics.mean(
        max(0.0, p["broadcaster_cpu_ms_per_change"] - per_message * p["messages"] / p["changes"]) for p in live_phases
    )
    return {
        "phases": phases,
        "subscribers_few": few,
        "subscribers_many": many,
        "messages_per_change_per_subscriber_live": phases["live_many"]["messages_per_change_per_subscriber"],
        "stats_per_change_per_subscriber_live": phases["live_many"]["stats_per_change"],
        "messages_per_change_per_subscriber_burst": phases["burst_many"]["messages_per_change_per_subscriber"],
        "change_message_bytes": {"mean": statistics.mean(change_bytes), "max": max(change_bytes)},
        "stats_message_bytes": {"mean": statistics.mean(stats_bytes), "max": max(stats_bytes)},
        "broadcaster_idle_cpu_per_s": idle_rate,
        "broadcaster_cpu_ms_per_message": per_message,
        "broadcaster_cpu_ms_per_change_base": base,
        "broadcaster_found": broadcaster is not None,
        "while_subscribed": extra,
    }


# -- all of it -------------------------------------------------------------------------------------------


def per_event_costs(stack: RunProcess, *, quick: bool = False, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every per-event figure against the running stack (takes 2-4 minutes; ``quick``: smaller samples).

    Writes scratch matches into the stack's table and records into fresh topics; the app in this process is
    left with services pointed at this stack (bench.workload.app_on)."""
    app = app_on(stack)
    settings = app.services.settings
    client = dynamodb_client(stack.endpoints.dynamodb_endpoint_url)
    meter = CapacityMeter(
        app.services.dynamodb,
        layout.table_definition(settings.table),
        layout.subscriptions_table_definition(settings.subscriptions_table),
    )
    scale = 0.3 if quick else 1.0
    try:
        check = sizing()
        say(f"costs: capacity from {check['source']}")

        # live: single-event records of many matches, interleaved, in batches as a Saturday partition sees them
        live_matches, per_match = max(40, int(120 * scale)), 15
        live_events = _interleaved(events_for(live_matches, per_match, 700))
        live_records = [record for e in live_events for record in encode([parse_event(e)], "2026-01-01T00:00:00.000Z")]
        say(f"costs: consumer, live ({len(live_events):,} single-event records of {live_matches} matches) ...")
        live = consume(stack, app, meter, live_records, len(live_events), LIVE_BATCH_RECORDS)
        # bulk: one whole match posted in requests of 500 (records of 100 events): a match's own batches
        full_match = generate_match(f"costs-full-{uuid.uuid4().hex[:6]}", events=3400 if not quick else 1000, seed=5)
        full_id = str(full_match[0]["match_id"])
        bulk_records = [
            record
            for i in range(0, len(full_match), REQUEST_EVENTS)
            for record in encode(
                [parse_event(e) for e in full_match[i : i + REQUEST_EVENTS]], "2026-01-01T00:00:00.000Z"
            )
        ]
        say(f"costs: consumer, bulk (one {len(full_match):,}-event match in {len(bulk_records)} records) ...")
        bulk = consume(stack, app, meter, bulk_records, len(full_match), 500)
        storage = stored_bytes(client, settings.table, full_id)

        say("costs: API reads ...")
        reads = _reads(app, meter, full_id, str(live_events[0]["match_id"]), quick)

        say("costs: ingest (POST /events in process) ...")
        ingest_costs = ingest(app, 20, int(200 * scale), 2 if quick else 6)
        session = websocket_session(app, meter, full_id)

        say("costs: Kafka bytes ...")
        kafka = kafka_bytes(stack, int(200 * scale), 2 if quick else 4)

        say("costs: pushes over WebSocket ...")
        push = pushes(
            stack,
            changes=8 if quick else 12,
            few=1,
            many=4 if quick else 8,
            burst=50 if quick else 100,
            while_subscribed=lambda busy: broadcast_reads(app, meter, full_id, busy),
        )
    finally:
        meter.close()
    return {
        "what": "per-event costs on the local stack (bench/request_costs.py); capacity by AWS's sizing rules",
        "sizing": check,
        "consumer_live": live,
        "consumer_bulk": bulk,
        "storage_full_match": storage,
        "api_reads": reads,
        "ingest": ingest_costs,
        "websocket_session": session,
        "kafka": kafka,
        "broadcast": push,
    }


def _reads(app: Any, meter: CapacityMeter, full_id: str, live_match: str, quick: bool) -> dict[str, Any]:
    """What each read costs: a whole match's pages, a live match's change-feed polls, the directory."""
    feed = json.loads(_get(app, f"/matches/{live_match}/changes"))["changes"]
    reads = api_reads(
        app,
        meter,
        {
            "match_page_1000": f"/matches/{full_id}",
            "goals": f"/matches/{full_id}/goals",
            "stats": f"/matches/{full_id}/stats",
            "changes_page_1000": f"/matches/{full_id}/changes",
            "changes_poll_empty": f"/matches/{live_match}/changes?after={feed[-1]['cursor']}",
            "changes_poll_one": f"/matches/{live_match}/changes?after={feed[-2]['cursor']}",
            "directory_100": "/matches?limit=100",
        },
        repeats=3 if quick else 7,
    )
    reads["match_all_pages"] = all_pages(app, meter, full_id)
    reads["directory_100"]["matches"] = json.loads(_get(app, "/matches?limit=100"))["count"]
    return reads


def _get(app: Any, path: str) -> str:
    from chalice.test import Client

    with Client(app.app) as client:
        response = client.http.get(path)
    return response.body.decode()
