"""Raw limits of Kafka, the DynamoDB engine and a Query, with no pipeline around them: each the best of several
ways to use the part with the project's own payloads, so the system built on it can only come below it (``make
bench`` fails if it does not): the producer over linger_ms/batch_size, writes by BatchWriteItem and
TransactWriteItems at 1 to 16 threads, a whole match read by one paginated Query in a few ways."""

import statistics
import time
import uuid
from functools import partial
from typing import Any

import boto3
from botocore.config import Config
from kafka import KafkaProducer

from bench.report import Summary, summary
from bench.workload import RECEIVED_AT, api_records, events_for, run_all, timed
from chalicelib import layout
from chalicelib.config import Settings
from chalicelib.events import parse_event
from chalicelib.planner import TRANSACTION_ACTIONS
from chalicelib.publishing import producer_config
from chalicelib.repository import event_item
from chalicelib.services import dynamodb_config
from devstack.stack import LOCAL_AWS, ensure_topic

BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem
# (linger_ms, batch_size); --quick: the project's (kafka-python's default batch_size) and one more
PRODUCER_SETTINGS = [(linger_ms, batch_size) for linger_ms in (0, 5, 20) for batch_size in (16 * 1024, 1024 * 1024)]
PRODUCER_SETTINGS_QUICK = [(5, 16 * 1024), (20, 1024 * 1024)]
PRODUCER_EVENTS, PRODUCER_EVENTS_QUICK = 40_000, 4_000  # per trial
# (API, puts per request); --quick: each API at its largest request, at fewer thread counts
WRITE_APIS = [("BatchWriteItem", BATCH_WRITE_ITEMS), ("TransactWriteItems", 25), ("TransactWriteItems", 100)]
WRITE_APIS_QUICK = [("BatchWriteItem", BATCH_WRITE_ITEMS), ("TransactWriteItems", TRANSACTION_ACTIONS)]
WRITE_THREADS, WRITE_THREADS_QUICK = (1, 4, 8, 16), (1, 4)
WRITE_ITEMS, WRITE_ITEMS_QUICK = 4_800, 800  # per trial of each combination


def best(
    what: str, unit: str, combinations: list[dict[str, Any]], figure: str, lowest: bool = False, **extra: Any
) -> dict[str, Any]:
    """A raw limit: the combination whose ``figure`` has the highest median (``lowest``: the lowest, for times)."""
    top = (min if lowest else max)(combinations, key=lambda combination: combination[figure]["median"])
    settings = {name: value for name, value in top.items() if not isinstance(value, dict)}
    return {"what": what, "unit": unit, **extra, "combinations": combinations, "best": settings, "limit": top[figure]}


def raw_producer(bootstrap: str, trials: int, quick: bool) -> dict[str, Any]:
    """Records as the API writes them, each setting on a warm producer of its own: msgs/s and events/s."""
    settings = PRODUCER_SETTINGS_QUICK if quick else PRODUCER_SETTINGS
    count = PRODUCER_EVENTS_QUICK if quick else PRODUCER_EVENTS
    config = producer_config(
        Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_ACK_TIMEOUT_SECONDS": "30"})
    )
    events = events_for(4, count // 4, 1)  # four matches, as batch ingest posts (bench.system.ingest_batches)
    records = api_records(events)
    combinations = []
    for linger_ms, batch_size in settings:
        topic = f"bench-raw-{linger_ms}-{batch_size}-{uuid.uuid4().hex[:6]}"
        ensure_topic(bootstrap, topic)
        producer = KafkaProducer(**config | {"linger_ms": linger_ms, "batch_size": batch_size})
        producer.send(topic, key=records[0][0], value=records[0][1]).get(timeout=60)  # connected, metadata known

        def send_all(producer: KafkaProducer = producer, topic: str = topic) -> None:
            for future in [producer.send(topic, key=key, value=value) for key, value in records]:
                future.get(timeout=60)

        seconds = [timed(send_all) for _ in range(trials)]
        producer.close()
        combinations.append(
            {
                "linger_ms": linger_ms,
                "batch_size": batch_size,
                "msgs_per_s": summary([len(records) / s for s in seconds]),
                "events_per_s": summary([len(events) / s for s in seconds]),
            }
        )
    what = "kafka-python, the project's producer_config (acks=all, idempotent) with linger_ms/batch_size varied; "
    what += "the API's records (chalicelib.records.encode of 500-event requests)"
    return best(what, "events/s", combinations, "events_per_s", events_per_msg=round(len(events) / len(records), 2))


def dynamodb(endpoint: str, threads: int = 1) -> Any:
    """A client configured as the consumer's (chalicelib.services), with a connection for every thread."""
    config = dynamodb_config().merge(Config(max_pool_connections=max(10, threads), read_timeout=60))
    return boto3.client("dynamodb", endpoint_url=endpoint, config=config, **LOCAL_AWS)


def batch_write(client: Any, table: str, chunk: list[dict[str, Any]]) -> None:
    request = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
    while request:
        request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")


def _transact_write(client: Any, table: str, chunk: list[dict[str, Any]]) -> None:
    client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item}} for item in chunk])


WRITERS = {"BatchWriteItem": batch_write, "TransactWriteItems": _transact_write}


def event_items(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` new event items of 40 matches, as the consumer stores them."""
    return [
        event_item(e["match_id"], parse_event(e).to_dict() | {"received_at": RECEIVED_AT, "partition": 0, "offset": i})
        for i, e in enumerate(events_for(40, count // 40, seed))
    ]


def raw_writes(endpoint: str, table: str, trials: int, quick: bool) -> dict[str, Any]:
    """Items/s of every (API, puts per request, threads), each trial writing new items."""
    apis, threads = (WRITE_APIS_QUICK, WRITE_THREADS_QUICK) if quick else (WRITE_APIS, WRITE_THREADS)
    count = WRITE_ITEMS_QUICK if quick else WRITE_ITEMS
    description = dynamodb(endpoint).describe_table(TableName=table)["Table"]
    combinations = []
    for api, size in apis:
        for workers in threads:
            client, rates = dynamodb(endpoint, workers), []
            for trial in range(trials):
                items = event_items(count, 100 + 7 * trial)
                chunks = [items[i : i + size] for i in range(0, len(items), size)]
                write = partial(WRITERS[api], client, table)
                rates.append(len(items) / timed(partial(run_all, workers, write, chunks)))
            combinations.append({"api": api, "puts": size, "threads": workers, "items_per_s": summary(rates)})
    what = "new event items like the consumer's (chalicelib.repository.event_item: key, version, JSON body, "
    what += "three index keys), plain puts, into the stack's table"
    return best(what, "items/s", combinations, "items_per_s", table=table,
                stream=description.get("StreamSpecification", {"StreamEnabled": False}),
                local_secondary_indexes=len(description.get("LocalSecondaryIndexes", [])))  # fmt: skip


def _query_variants(table: str, match_id: str) -> dict[str, dict[str, Any]]:
    names = {"#pk": layout.PARTITION_KEY, "#sk": layout.SORT_KEY, "#e": layout.EVENT_BODY}
    values = {":m": {"S": match_id}, ":e": {"S": layout.EVENT_PREFIX}}

    def query(condition: str, **params: str) -> dict[str, Any]:
        used = condition + params.get("ProjectionExpression", "")  # DynamoDB rejects names and values left unused
        return {
            "TableName": table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {name: value for name, value in names.items() if name in used},
            "ExpressionAttributeValues": {name: value for name, value in values.items() if name in used},
            **params,
        }

    return {
        "by_time index, whole items (as the API reads)": query("#pk = :m", IndexName=layout.TIME_INDEX),
        "by_time index, the event attribute only": query(
            "#pk = :m", IndexName=layout.TIME_INDEX, ProjectionExpression="#e"
        ),
        "table's e# items, the event attribute only (key order)": query(
            "#pk = :m AND begins_with(#sk, :e)", ProjectionExpression="#e"
        ),
    }


def _read_all(client: Any, params: dict[str, Any]) -> int:
    """Every page of one Query; how many items it returned."""
    params, count = dict(params), 0
    while True:
        page = client.query(**params)
        count += len(page["Items"])
        if "LastEvaluatedKey" not in page:
            return count
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def raw_full_query(endpoint: str, table: str, match_id: str, events: int, reads: int) -> dict[str, Any]:
    """Seconds per whole-match read of each variant, taking turns; each read must return the match's ``events``."""
    client = dynamodb(endpoint)
    variants = _query_variants(table, match_id)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(reads):
        for name, params in variants.items():
            started = time.perf_counter()
            count = _read_all(client, params)
            seconds[name].append(time.perf_counter() - started)
            if count != events:
                raise SystemExit(f"raw Query {name!r} read {count} items of match {match_id}, not {events}")
    combinations = [{"read": name, "read_s": summary(values)} for name, values in seconds.items()]
    what = f"one paginated Query (1 MB pages) of a whole {events:,}-event match"
    return best(what, "s", combinations, "read_s", lowest=True)


def per_event(writes: dict[str, Any], items_per_event: list[float]) -> Summary:
    """The write limit (items/s) in events/s at the consumer's median items per event, kept in ``writes`` too."""
    ratio = statistics.median(items_per_event)
    limit = writes["limit"]
    events = {"median": limit["median"] / ratio, "p99": limit["p99"] / ratio, "n": limit["n"]}
    writes |= {
        "items_per_event": ratio,
        "items_per_event_is": "measured: items the consumer's successful DynamoDB write calls put or updated "
        "(event, team, player, match and feed items), over the events it stored (median of trials)",
        "limit_events_per_s": events,
    }
    return events
