"""``make cost`` (``python -m bench.bill [--results FILE] [--measure] [--env dev|prod]``): capacity and cost model.

bench/request_costs.py's per-event costs as AWS figures: capacity units, Lambda GB-seconds and dollars per match and
per busy Saturday (polling behind a CDN, or on the WebSocket), and the partitions N events/s need. Every figure prints
as formula, formula with numbers, result; prices, limits and assumptions are named inputs with their sources. Costs
come from the newest ``bench/results/*.json`` with a ``costs`` key; ``--measure`` (or none found) measures them on a
throw-away stack into ``bench/results/costs-<timestamp>.json``.
"""

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

RESULTS = Path(__file__).resolve().parent / "results"
TIMES = " \u00d7 "  # how a formula's * prints

# Prices: AWS list prices, on-demand, one region, looked up on 2026-11-26 with the project's search tool. The
# aws.amazon.com pricing pages render their rate tables client-side, so their stored copies carry no numbers;
# each figure in _prices is quoted exactly as a source that read the page (or the AWS Price List API) gave it,
# with that source's date. Free tiers are left out. Limits and assumptions are in _limits, each with its source.
REGION = "us-east-1"  # US East (N. Virginia); infra/config/*.json deploy to eu-west-1, which these do not price
PRICES_LOOKED_UP = "2026-11-26"
SENSITIVITY_SEND_WAIT_MS = 10  # not measured: a what-if for the broadcaster's wait on each Management API call


@attrs.frozen
class Line:
    section: str
    name: str
    value: float
    unit: str
    formula: str = ""  # empty: an input
    numbers: str = ""
    note: str = ""
    kind: str = "derived"  # derived | measured | price | limit | assumption


def fmt(value: float) -> str:
    """A number as a person reads it: thousands separated, 4 significant digits from 1, 6 below, no exponent."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 10_000:
        return f"{value:,.0f}"
    if magnitude >= 1000:
        return f"{value:,.1f}".removesuffix(".0")
    if magnitude >= 1:
        return f"{value:.4g}"
    decimals = 5 - math.floor(math.log10(magnitude))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


class Model:
    """Named values and their lines: ``given`` an input, ``let`` a formula over earlier names, evaluated as printed."""

    FUNCTIONS: Mapping[str, Callable[..., float]] = {"ceil": math.ceil, "exp": math.exp, "max": max, "min": min}

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.lines: list[Line] = []
        self.section = ""

    def given(self, name: str, value: float, unit: str, note: str = "", kind: str = "measured") -> float:
        self.values[name] = float(value)
        self.lines.append(Line(self.section, name, float(value), unit, note=note, kind=kind))
        return float(value)

    def let(self, name: str, formula: str, unit: str, note: str = "", *, assumption: bool = False) -> float:
        value = float(eval(formula, {"__builtins__": {}}, {**self.FUNCTIONS, **self.values}))  # our own formulas
        numbers = re.sub(
            r"\b[a-z_][a-z0-9_]*\b", lambda m: fmt(self.values[m[0]]) if m[0] in self.values else m[0], formula
        )
        self.values[name] = value
        self.lines.append(
            Line(self.section, name, value, unit, formula, numbers, note, "assumption" if assumption else "derived")
        )
        return value

    def run(self, table: str) -> None:
        """Each row of ``table`` (``[section]`` or ``name = formula | unit | note``, see DERIVED) a ``let``."""
        for row in re.sub(r"\n +", " ", table).strip().splitlines():
            if row.startswith("["):
                self.section = row.strip("[]")
            elif row:
                let, unit, note = (part.strip() for part in (row + "||").split("|")[:3])
                name, formula = let.split(" = ", 1)
                self.let(name, formula, unit.removesuffix(" !"), note, assumption=unit.endswith("!"))

    def __getitem__(self, name: str) -> float:
        return self.values[name]


def measured_inputs(costs: Mapping[str, Any]) -> dict[str, tuple[float, str, str]]:
    """bench/request_costs.py's result as the model's named inputs: name -> (value, unit, where it comes from)."""
    live, bulk, reads = costs["consumer_live"], costs["consumer_bulk"], costs["api_reads"]
    push, storage, kafka, ingest = costs["broadcast"], costs["storage_full_match"], costs["kafka"], costs["ingest"]
    session, directory = costs["websocket_session"], reads["directory_100"]
    collection, messages = storage["item_collection_bytes_per_event"], push["messages_per_change_per_subscriber_live"]
    broadcast_rcu = push["while_subscribed"]["stats_rcu"] + push["while_subscribed"]["connections_rcu"]
    scale = 100 / max(1, min(100, directory.get("matches", 100)))  # a page of 100 summaries
    out = {
        "wcu_per_event_live": (live["wcu_per_event"], "WCU/event", "consumer, Saturday-like batches"),
        "gsi_wcu_per_event_live": (live["wcu_per_event_gsi"], "WCU/event", "of which the directory index"),
        "wcu_per_event_bulk": (bulk["wcu_per_event"], "WCU/event", "consumer, a whole match in its own batches"),
        "rcu_per_event_consumer": (live["rcu_per_event"], "RCU/event", "consumer reads (heads, edges)"),
        "consumer_cpu_ms_per_event": (live["cpu_ms_per_event"], "ms/event", "consumer handler CPU, this machine"),
        "consumer_wall_ms_per_event": (live["wall_ms_per_event"], "ms/event", "handler wall time, local engine"),
        "consumer_events_per_invocation": (live["events_per_invocation"], "events", "per batch (30 records)"),
        "ingest_cpu_ms_per_request": (ingest["cpu_ms_per_request_single"], "ms/request", "POST /events, 1 event"),
        "ingest_wall_ms_per_request": (ingest["wall_ms_per_request_single"], "ms/request", "acks=all, local Kafka"),
        "kafka_bytes_per_event": (kafka["log_bytes_per_event_single"], "B/event", "broker log, 1-event requests"),
        "stored_bytes_per_event": (storage["stored_bytes_per_event"], "B/event", "table + LSI + GSI, +100 B/item"),
        "collection_bytes_per_event": (collection, "B/event", "item collection: table + LSI entries"),
        "rcu_stats": (reads["stats"]["rcu"], "RCU/request", "GET /matches/{id}/stats, whole match"),
        "bytes_stats": (reads["stats"]["bytes"], "B", "its body"),
        "ms_cpu_stats": (reads["stats"]["cpu_ms"], "ms", "its CPU"),
        "ms_wall_stats": (reads["stats"]["wall_ms"], "ms", "its wall time"),
        "rcu_changes": (reads["changes_poll_one"]["rcu"], "RCU/request", "GET .../changes?after=<cursor>"),
        "bytes_changes_empty": (reads["changes_poll_empty"]["bytes"], "B", "nothing new"),
        "bytes_changes_one": (reads["changes_poll_one"]["bytes"], "B", "one change"),
        "ms_cpu_changes": (reads["changes_poll_one"]["cpu_ms"], "ms", "its CPU"),
        "ms_wall_changes": (reads["changes_poll_one"]["wall_ms"], "ms", "its wall time"),
        "rcu_directory": (directory["rcu"] * scale, "RCU/request", "GET /matches?limit=100 (per 100 summaries)"),
        "bytes_directory": (directory["bytes"] * scale, "B", "its body"),
        "ms_cpu_directory": (directory["cpu_ms"], "ms", "its CPU"),
        "ms_wall_directory": (directory["wall_ms"], "ms", "its wall time"),
        "msgs_per_change_per_subscriber": (messages, "messages", "change + stats, one change a batch"),
        "stats_per_change_per_subscriber": (push["stats_per_change_per_subscriber_live"], "messages", "of which stats"),
        "change_message_bytes": (push["change_message_bytes"]["max"], "B", "largest change message"),
        "stats_message_bytes": (push["stats_message_bytes"]["max"], "B", "largest stats message"),
        "broadcaster_cpu_ms_per_change": (push["broadcaster_cpu_ms_per_change_base"], "ms", "per change, /proc"),
        "broadcaster_cpu_ms_per_message": (push["broadcaster_cpu_ms_per_message"], "ms", "per message sent"),
        "broadcast_rcu_per_change": (broadcast_rcu, "RCU", "totals + connections, per match and batch"),
        "ws_session_wcu": (session["wcu"], "WCU", "connect + subscribe + disconnect"),
        "ws_session_rcu": (session["rcu"], "RCU", "subscribe's stats and feed position, disconnect's query"),
        "ws_session_cpu_ms": (session["cpu_ms"], "ms", "the three handlers' CPU"),
    }
    return {name: (float(value), unit, note) for name, (value, unit, note) in out.items()}


def compute(measured: Mapping[str, tuple[float, str, str]], *, lambda_memory_mb: int, topic_partitions: int) -> Model:
    """Every figure of the capacity and cost model, from the measured inputs, the prices and the limits."""
    m = Model()
    m.section = "Measured per-event costs"
    for name, (value, unit, note) in measured.items():
        m.given(name, value, unit, note)
    _prices(m)
    _limits(m, lambda_memory_mb, topic_partitions)
    _durations(m)
    m.run(DERIVED)
    _partitions_needed(m)
    return m


def _prices(m: Model) -> None:
    m.section = f"Prices ({REGION}, looked up {PRICES_LOOKED_UP}; sources in bench/bill.py)"
    for name, value, unit in (
        # https://aws.amazon.com/dynamodb/pricing/on-demand/ (Standard table class), "checked against the AWS
        # Price List API (us-east-1, August 2026)": "Write request units $0.625 per million (halved from $1.25 in
        # late 2024)", "Read request units $0.125 per million", "Storage $0.25 per GB-month, FIRST 25 GB FREE",
        # "Point-in-time recovery $0.20 per GB-month of table size"; the first three also "checked 2026-10-04 on
        # DynamoDB on-demand pricing". Streams: GetRecords by a Lambda trigger is not billed.
        ("wru_usd_per_million", 0.625, "$ / million WRU"),
        ("rru_usd_per_million", 0.125, "$ / million RRU"),
        ("storage_usd_per_gb_month", 0.25, "$ / GB-month"),
        ("pitr_usd_per_gb_month", 0.20, "$ / GB-month"),
        # https://aws.amazon.com/lambda/pricing/, x86 (the stack sets no architecture) for US-East-1
        # (api-evangelist/aws-lambda plans, reconciled 2026-05-05): "$0.20 per million" requests and
        # "$0.0000166667 per GB-second"; artillery 2.0.28's price table from the same page: 1666670e-11.
        ("lambda_request_usd_per_million", 0.20, "$ / million"),
        ("lambda_usd_per_gb_s", 0.0000166667, "$ / GB-s (x86)"),
        # https://aws.amazon.com/api-gateway/pricing/, worked examples (US regions), read 2026-09-20 verbatim
        # (api-evangelist/amazon-web-services plans): REST APIs "$3.50/million" (first 333 million a month),
        # WebSocket messages "$1.00 (per million)", connection minutes "0.25 (cost per million)"; "Messages are
        # metered in 32KB increments, so a 33KB message is metered as two messages."
        ("rest_usd_per_million", 3.50, "$ / million requests"),
        ("ws_message_usd_per_million", 1.00, "$ / million messages"),
        ("ws_minute_usd_per_million", 0.25, "$ / million conn-minutes"),
        # https://aws.amazon.com/msk/pricing/, MSK Serverless, as its pricing example gives them (quoted alike in
        # 2022 and 2026 sources). The prod config's provisioned brokers are not priced.
        ("msk_cluster_usd_per_hour", 0.75, "$ / cluster-hour"),
        ("msk_partition_usd_per_hour", 0.0015, "$ / partition-hour"),
        ("msk_in_usd_per_gb", 0.10, "$ / GB in"),
        ("msk_out_usd_per_gb", 0.05, "$ / GB out"),
        ("msk_storage_usd_per_gb_month", 0.10, "$ / GB-month"),
        # https://aws.amazon.com/cloudfront/pricing/ (pay as you go), United States, Mexico, and Canada: the stored
        # page's "First 10TB $0.085" per GB (Europe the same); "$0.0100 per 10,000 HTTPS Requests" (the AWS
        # Price List's description string, 2026).
        ("cdn_usd_per_10k_requests", 0.0100, "$ / 10,000 HTTPS requests"),
        ("cdn_usd_per_gb", 0.085, "$ / GB out (first 10 TB)"),
    ):
        m.given(name, value, unit, kind="price")


def _limits(m: Model, lambda_memory_mb: int, topic_partitions: int) -> None:
    m.section = "Limits (documented) and assumptions"
    for name, value, unit, kind, note in (
        # "each partition individually is limited to 1000 write units per second and 3000 read units per second"
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html
        ("partition_wcu_per_s", 1000, "WCU/s", "limit", "DynamoDB, per partition"),
        ("partition_rcu_per_s", 3000, "RCU/s", "limit", "DynamoDB, per partition"),
        # "Tables with one or more local secondary indexes are subject to an item collection size limit, where
        # the amount of data within a given item collection cannot exceed 10 GB"
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html#LSI.ItemCollections
        ("item_collection_bytes", 10 * 2**30, "B", "limit", "10 GB per match (LSIs)"),
        # MSK Serverless: "Maximum ingress throughput per partition 5 MBps", "Maximum ingress throughput 200 MBps"
        # a cluster (MBps taken as 10^6 B/s); retention.ms defaults to 7 days.
        # https://docs.aws.amazon.com/msk/latest/developerguide/limits.html#serverless-quota
        ("msk_partition_ingress", 5_000_000, "B/s", "limit", "MSK Serverless, 5 MBps"),
        ("msk_cluster_ingress", 200_000_000, "B/s", "limit", "MSK Serverless, 200 MBps"),
        ("kafka_retention_days", 7, "days", "assumption", "MSK Serverless default retention"),
        # "At 1,769 MB, a function has the equivalent of one vCPU" (CPU scales with memory below that).
        # https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
        ("lambda_mb_per_vcpu", 1769, "MB", "limit", "one vCPU at 1,769 MB"),
        ("lambda_memory_mb", lambda_memory_mb, "MB", "assumption", "infra/config (stage-wide)"),
        ("topic_partitions", topic_partitions, "partitions", "assumption", "infra/config topic + 1 dead-letter"),
        # the busy Saturday
        ("matches", 300, "matches", "assumption", "a busy Saturday"),
        ("events_per_match", 3500, "events", "assumption", ""),
        ("match_minutes", 115, "min", "assumption", "viewed: 2 x 45 + 15 half time + stoppages"),
        ("kickoff_slots", 3, "slots", "assumption", "matches in 3 slots of 100: the peak rate"),
        ("viewers", 10_000, "viewers", "assumption", "concurrent, one match each, spread evenly"),
        ("poll_seconds", 2, "s", "assumption", "app.js POLL_MS"),
        ("routes_polled", 3, "requests/poll", "assumption", "directory, changes, stats (app.js)"),
        ("directory_poll_socket_s", 20, "s", "assumption", "with the socket up"),
        ("cdn_max_age", 2, "s", "assumption", "Cache-Control max-age=2 (chalicelib/caching.py)"),
        ("edge_locations", 10, "edges", "assumption", "origin fetches scale with edges, not viewers"),
        ("ws_client_messages", 2, "messages/viewer", "assumption", "subscribe + answer"),
        ("ws_session_invocations", 3, "invocations", "assumption", "$connect, subscribe, $disconnect"),
        ("ingest_events_per_request", 1, "events", "assumption", "one POST per event, as a live feed"),
        ("gib", 2**30, "B", "limit", "GB as AWS bills it"),
    ):
        m.given(name, value, unit, note, kind=kind)


def _durations(m: Model) -> None:
    m.section = "Lambda duration per unit of work (this machine's CPU scaled to the function's share of a vCPU)"
    m.let("lambda_gb", "lambda_memory_mb / 1024", "GB")
    m.let("cpu_scale", "max(1, lambda_mb_per_vcpu / lambda_memory_mb)", "x", "CPU ms on Lambda per CPU ms here")
    note = "CPU scaled; the waits as measured on the local stack (not AWS's latencies)"
    for name, cpu, wall in (
        ("consumer_ms_per_event", "consumer_cpu_ms_per_event", "consumer_wall_ms_per_event"),
        ("ingest_ms_per_request", "ingest_cpu_ms_per_request", "ingest_wall_ms_per_request"),
        *((f"ms_{route}", f"ms_cpu_{route}", f"ms_wall_{route}") for route in ("stats", "changes", "directory")),
    ):
        m.let(name, f"{cpu} * cpu_scale + ({wall} - {cpu})", "ms", note)


# The figures derived from the inputs, as ``name = formula | unit | note`` under ``[section]``: an indented line
# continues the row above it, and a unit ending in " !" marks the row an assumption.
DERIVED = f"""
[Per match: ingest, stream, store (no viewers)]
wcu_per_match = events_per_match * wcu_per_event_live | WCU
rcu_per_match = events_per_match * rcu_per_event_consumer | RCU
ingest_requests_per_match = events_per_match / ingest_events_per_request | requests
ingest_gb_s_per_match = ingest_requests_per_match * ingest_ms_per_request / 1000 * lambda_gb | GB-s
consumer_gb_s_per_match = events_per_match * consumer_ms_per_event / 1000 * lambda_gb | GB-s
consumer_invocations_per_match = events_per_match / consumer_events_per_invocation | invocations
kafka_gb_per_match = events_per_match * kafka_bytes_per_event / gib | GB
stored_gb_per_match = events_per_match * stored_bytes_per_event / gib | GB
dynamodb_usd_per_match = wcu_per_match * wru_usd_per_million / 1e6 + rcu_per_match * rru_usd_per_million / 1e6 | $
lambda_usd_per_match = (ingest_gb_s_per_match + consumer_gb_s_per_match) * lambda_usd_per_gb_s
  + (ingest_requests_per_match + consumer_invocations_per_match) * lambda_request_usd_per_million / 1e6 | $
api_gateway_usd_per_match = ingest_requests_per_match * rest_usd_per_million / 1e6 | $
msk_usd_per_match = kafka_gb_per_match * (msk_in_usd_per_gb + msk_out_usd_per_gb)
  + kafka_gb_per_match * msk_storage_usd_per_gb_month * kafka_retention_days / 30
  | $ | in, out once (one consumer group), kept for the retention
usd_per_match = dynamodb_usd_per_match + lambda_usd_per_match + api_gateway_usd_per_match + msk_usd_per_match | $
storage_usd_per_match_month = stored_gb_per_match * (storage_usd_per_gb_month + pitr_usd_per_gb_month)
  | $ / month | kept: every month the match stays in the table

[Busy Saturday: common to both ways of watching]
matches_usd = matches * usd_per_match | $
msk_fixed_usd = 24 * (msk_cluster_usd_per_hour + topic_partitions * msk_partition_usd_per_hour) | $
viewer_seconds = viewers * match_minutes * 60 | viewer-s
viewers_per_match = viewers / matches | viewers
events_per_s_match = events_per_match / (match_minutes * 60) | events/s
p_changed = 1 - exp(-events_per_s_match * poll_seconds) | | chance a match has a new event within one poll (Poisson)
directory_windows = kickoff_slots * match_minutes * 60 / cdn_max_age | windows | while any match is live
origin_directory_requests = directory_windows * edge_locations
  | requests ! | each edge refetches the directory once per max-age, whatever the viewers
origin_directory_usd = origin_directory_requests * ((rest_usd_per_million + lambda_request_usd_per_million) / 1e6
  + rcu_directory * rru_usd_per_million / 1e6 + ms_directory / 1000 * lambda_gb * lambda_usd_per_gb_s) | $

[Busy Saturday: viewers polling every 2 s behind the CDN]
cdn_requests = viewer_seconds / poll_seconds * routes_polled | requests
bytes_per_poll = bytes_directory + p_changed * bytes_stats + bytes_changes_empty
  + p_changed * (bytes_changes_one - bytes_changes_empty)
  | B ! | the directory always changed (300 live matches); a 304 for an unchanged /stats counted as 0 B
cdn_gb = viewer_seconds / poll_seconds * bytes_per_poll / gib | GB
cdn_usd = cdn_requests / 10000 * cdn_usd_per_10k_requests + cdn_gb * cdn_usd_per_gb | $
edges_per_match = min(edge_locations, viewers_per_match) | edges
change_urls_per_window = 1 + events_per_s_match * cdn_max_age
  | URLs ! | viewers' after=<cursor> differ by the changes of one window
match_windows = matches * match_minutes * 60 / cdn_max_age * edges_per_match | edge-windows
origin_match_requests = match_windows * (1 + change_urls_per_window) | requests | stats + changes
origin_rcu = match_windows * (rcu_stats + change_urls_per_window * rcu_changes) | RCU
origin_gb_s = match_windows * (ms_stats + change_urls_per_window * ms_changes) / 1000 * lambda_gb | GB-s
origin_usd = origin_match_requests * (rest_usd_per_million + lambda_request_usd_per_million) / 1e6
  + origin_rcu * rru_usd_per_million / 1e6 + origin_gb_s * lambda_usd_per_gb_s + origin_directory_usd | $
polling_viewers_usd = cdn_usd + origin_usd | $
polling_rcu_per_match = origin_rcu / matches | RCU | viewers' reads, per match
polling_gb_s_per_match = origin_gb_s / matches | GB-s | the API Lambda behind the CDN, per match
saturday_polling_usd = matches_usd + msk_fixed_usd + polling_viewers_usd | $

[Busy Saturday: the same viewers on the WebSocket]
ws_connection_minutes = viewers * match_minutes | conn-min
ws_units_per_change = (msgs_per_change_per_subscriber - stats_per_change_per_subscriber)
  * ceil(change_message_bytes / 32768) + stats_per_change_per_subscriber * ceil(stats_message_bytes / 32768)
  | metered messages | per change and subscriber, 32 KB each
ws_messages = viewers * (events_per_match * ws_units_per_change + ws_client_messages) | messages
ws_api_usd = ws_messages / 1e6 * ws_message_usd_per_million
  + ws_connection_minutes / 1e6 * ws_minute_usd_per_million | $
broadcaster_ms_per_change = (broadcaster_cpu_ms_per_change
  + broadcaster_cpu_ms_per_message * msgs_per_change_per_subscriber * viewers_per_match) * cpu_scale
  | ms | CPU only: the wait on each Management API call is not measured (see the what-if)
broadcaster_gb_s_per_match = events_per_match * broadcaster_ms_per_change / 1000 * lambda_gb | GB-s
broadcaster_invocations = matches * events_per_match | invocations | one per change, an upper bound
broadcaster_rcu_per_match = events_per_match * broadcast_rcu_per_change | RCU
ws_lambda_usd = (matches * broadcaster_gb_s_per_match + viewers * ws_session_cpu_ms * cpu_scale / 1000 * lambda_gb)
  * lambda_usd_per_gb_s
  + (broadcaster_invocations + viewers * ws_session_invocations) * lambda_request_usd_per_million / 1e6 | $
ws_dynamodb_usd = (matches * broadcaster_rcu_per_match + viewers * ws_session_rcu) * rru_usd_per_million / 1e6
  + viewers * ws_session_wcu * wru_usd_per_million / 1e6 | $
ws_cdn_requests = viewer_seconds / directory_poll_socket_s | requests | the directory every 20 s
ws_cdn_usd = ws_cdn_requests / 10000 * cdn_usd_per_10k_requests
  + ws_cdn_requests * bytes_directory / gib * cdn_usd_per_gb | $
ws_viewers_usd = ws_api_usd + ws_lambda_usd + ws_dynamodb_usd + ws_cdn_usd + origin_directory_usd | $
saturday_websocket_usd = matches_usd + msk_fixed_usd + ws_viewers_usd | $
what_if_send_wait_usd = matches * events_per_match * msgs_per_change_per_subscriber * viewers_per_match
  * {SENSITIVITY_SEND_WAIT_MS} / 1000 * lambda_gb * lambda_usd_per_gb_s
  | $ ! | each {SENSITIVITY_SEND_WAIT_MS} ms the broadcaster waits per send would add this

[Partitions needed]
peak_events_per_s = matches / kickoff_slots * events_per_s_match | events/s | Saturday's busiest slot
max_events_per_match = item_collection_bytes / collection_bytes_per_event | events | 10 GB per match
"""

# Kafka and DynamoDB partitions for an event rate; which key runs hot first is ``make capacity``'s.
PARTITIONS = """
kafka_partitions_bytes_{n} = ceil(n_events_per_s * kafka_bytes_per_event / msk_partition_ingress) | partitions
kafka_partitions_consumer_{n} = ceil(n_events_per_s * consumer_ms_per_event / 1000)
  | partitions | one concurrent consumer batch per partition
msk_cluster_share_{n} = n_events_per_s * kafka_bytes_per_event / msk_cluster_ingress | | of 200 MBps
dynamodb_partitions_{n} = ceil(n_events_per_s * wcu_per_event_live / partition_wcu_per_s) | partitions
"""


def _partitions_needed(m: Model) -> None:
    for n, rate in (("peak", None), ("1k", 1000.0), ("5k", 5000.0)):
        m.section = f"Partitions needed for N events/s (N = {n})"
        if rate is None:
            m.let("n_events_per_s", "peak_events_per_s", "events/s")
        else:
            m.given("n_events_per_s", rate, "events/s", kind="assumption")
        m.run(PARTITIONS.format(n=n))


SUMMARY = (
    "wcu_per_match consumer_gb_s_per_match ingest_gb_s_per_match usd_per_match storage_usd_per_match_month"
    " saturday_polling_usd saturday_websocket_usd peak_events_per_s max_events_per_match"
).split()


def render(model: Model, source: str) -> str:
    out = [f"Capacity and cost model ({source})", ""]
    section = None
    for line in model.lines:
        if line.section != section:
            section = line.section
            out += ["", section, "-" * len(section)]
        mark = " [assumption]" if line.kind == "assumption" else ""
        result = f"{fmt(line.value)} {line.unit}{mark}" + (f"  ({line.note})" if line.note else "")
        if line.formula:
            out.append(f"  {line.name} = {line.formula.replace(' * ', TIMES)}")
        head = f"      = {line.numbers.replace(' * ', TIMES)}" if line.formula else f"  {line.name}"
        out.append(f"{head} = {result}")
    units = {line.name: line.unit for line in model.lines}
    out += ["", "Summary", "-------"]
    out += [f"  {name:32} {fmt(model[name]):>14} {units[name]}" for name in SUMMARY if name in model.values]
    out.append(
        "  not included: CloudWatch logs/metrics/alarms, VPC interface endpoints, Secrets Manager, cross-AZ "
        "transfer, free tiers, eu-west-1's own prices"
    )
    return "\n".join(out)


def latest_costs(directory: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest results JSON in ``directory`` that has a ``costs`` key."""
    for path in sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        if "costs" in (data := json.loads(path.read_text())):
            return path, data["costs"]
    return None


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Fd 1 to /dev/null: the app's logs and metrics are still written (their CPU counts) but do not bury the output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def measure(directory: Path, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Per-event costs on a throw-away stack, kept as ``costs-<timestamp>.json``."""
    from bench.report import machine
    from bench.request_costs import per_event_costs
    from bench.workload import throwaway_stack

    with throwaway_stack("cost") as stack, quiet_stdout():
        costs = per_event_costs(stack, quick=quick, say=lambda text: print(text, file=sys.stderr, flush=True))
    timestamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"costs-{timestamp}.json"
    result = {"timestamp": timestamp, "quick": quick, "machine": machine(), "costs": costs}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path, costs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bill", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, help="a results JSON with a costs key (default: the newest)")
    parser.add_argument("--measure", action="store_true", help="measure on a throw-away stack now")
    parser.add_argument("--quick", action="store_true", help="with --measure: smaller samples")
    parser.add_argument("--env", default="dev", help="infra/config/<env>.json: Lambda memory and partitions")
    args = parser.parse_args(argv)
    if args.results:
        found: tuple[Path, dict[str, Any]] | None = (args.results, json.loads(args.results.read_text())["costs"])
    else:
        found = None if args.measure else latest_costs(RESULTS)
    if found is None:
        reason = "--measure" if args.measure else "no measured costs in bench/results"
        print(f"{reason}: measuring on a throw-away stack (2-4 minutes) ...", file=sys.stderr, flush=True)
        found = measure(RESULTS, args.quick)
    path, costs = found
    from infra.config import StackConfig

    config = StackConfig.load(args.env)
    model = compute(
        measured_inputs(costs),
        lambda_memory_mb=int(config.functions["memory_mb"]),
        topic_partitions=int(config.topic["partitions"]) + 1,
    )
    source = costs.get("sizing", {}).get("source", "AWS's sizing rules")
    header = f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}, env {args.env}; {source}"
    print(render(model, header))


if __name__ == "__main__":
    main()
