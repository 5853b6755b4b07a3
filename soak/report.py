"""The run's figures: a JSON document (soak/results/<timestamp>.json) and the table printed at the end."""

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from soak.config import SoakConfig
from soak.faults import FaultInjector
from soak.ledger import Request
from soak.topology import Topology
from soak.verify import Verification

AMBIGUITY = (
    "An event counts as acknowledged only when a 202 answered its request. Requests that got a 503, a timeout or a "
    "dropped connection were retried unchanged (same event ids and versions) until a 202; the copies Kafka may have "
    "got from the failed attempts are duplicates the version rule must ignore. A request still unacknowledged after "
    "the retry budget was abandoned: each of its events was tried as landed and as lost, and accepted if one of the "
    "two reproduces the change feed exactly (events without an id are recognised by content). Such events are "
    "counted as 'unacknowledged: landed' or 'not' and never as lost or double-counted; acknowledged ones must be "
    "stored at their final version."
)


def _config(config: SoakConfig) -> dict[str, Any]:
    shown = ("minutes", "rate", "seed", "clients", "active_matches", "match_events", "downtime_s", "give_up_s", "kinds")
    named = {"rate": "rate_events_per_s", "active_matches": "active_matches_per_client"}
    values = {named.get(name, name): getattr(config, name) for name in shown}
    return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


def build(
    config: SoakConfig,
    started_at: datetime,
    load_s: float,
    drain_s: float,
    requests: Sequence[Request],
    injector: FaultInjector,
    topology: Topology,
    verification: Verification,
    poison: Mapping[bytes, bool],
    data_dir: Path,
) -> dict[str, Any]:
    acked = [request for request in requests if request.acked]
    retried = [request for request in requests if request.attempts > 1]
    # an attempt that got no answer (dropped connection, timeout) may have reached Kafka: its retry is a duplicate
    unanswered = [request for request in retried if request.failures.keys() & {"connection", "timeout"}]
    v, faults, events_acked = verification, injector.faults, sum(len(request.events) for request in acked)
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "config": _config(config),
        "load_s": round(load_s, 1),
        "drain_s": round(drain_s, 1),
        "faults": {
            "planned": len(injector.schedule),
            "injected": len(faults),
            "by_kind": dict(Counter(fault.kind for fault in faults)),
            "list": [attrs.asdict(fault) for fault in faults],
        },
        "unexpected_exits": [attrs.asdict(exit_) for exit_ in topology.unexpected],
        "restart_failures": topology.restart_failures,
        "requests": {
            "sent": len(requests),
            "acknowledged": len(acked),
            "abandoned": sum(request.abandoned for request in requests),
            "rejected": sum(bool(request.rejected) for request in requests),
            "retried": len(retried),
            "retried_after_no_answer": len(unanswered),
            "attempts": sum(request.attempts for request in requests),
            "failed_attempts": dict(sum((request.failures for request in requests), Counter[str]())),
        },
        "events": {
            "acknowledged": events_acked,
            "distinct_acknowledged": v.distinct_events_acked,
            "by_op": dict(Counter(op for request in acked for op in request.ops)),
            "retried": sum((request.attempts - 1) * len(request.events) for request in retried),
            "achieved_rate_per_s": round(events_acked / load_s, 1) if load_s else 0.0,
            "matches": len({request.match_id for request in requests}),
        },
        "ambiguity": {
            "treatment": AMBIGUITY,
            "unacknowledged_landed": v.unacked_landed,
            "unacknowledged_not_landed": v.unacked_not_landed,
            "unacknowledged_without_id_matched_by_content": v.unacked_derived_matched,
        },
        "verification": {
            "lost": v.lost,
            "double_counted": v.double_counted,
            "mismatches": v.mismatches,
            "stats_over_counted_units": v.stats_over_units,
            "stats_under_counted_units": v.stats_under_units,
            "examples": dict(v.examples),
        },
        "dead_letter": {
            "records": v.dead_letter_records,
            "valid": v.dead_letter_valid,
            "poison_injected": len(poison),
            "poison_acknowledged": sum(poison.values()),
            "poison_found": v.poison_found,
            "poison_missing": v.poison_missing,
        },
        "data_dir": str(data_dir),
        "passed": v.passed,
    }


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"


def table(result: Mapping[str, Any]) -> str:
    """The summary a person reads at the end of the run."""
    faults, requests, events = result["faults"], result["requests"], result["events"]
    check, dead, ambiguity = result["verification"], result["dead_letter"], result["ambiguity"]
    exits = Counter(exit_["target"] for exit_ in result["unexpected_exits"])
    ops = ", ".join(f"{op} {n}" for op, n in sorted(events["by_op"].items()))
    rows = {
        "load": f"{result['load_s']:.0f}s at {result['config']['rate_events_per_s']:g} events/s offered, "
        f"{events['achieved_rate_per_s']:g}/s acknowledged; drained in {result['drain_s']:.0f}s",
        "faults injected": f"{faults['injected']} of {faults['planned']} planned ({_counts(faults['by_kind'])})",
        "unexpected exits": f"{sum(exits.values())} ({_counts(exits)})",
        "matches": f"{events['matches']}",
        "requests": f"{requests['sent']} sent, {requests['acknowledged']} acknowledged, {requests['retried']} retried "
        f"({requests['retried_after_no_answer']} after an attempt with no answer), "
        f"{requests['abandoned']} abandoned, {requests['rejected']} rejected",
        "failed attempts": _counts(requests["failed_attempts"]),
        "events acknowledged": f"{events['acknowledged']} ({events['distinct_acknowledged']} distinct events; {ops})",
        "events retried": f"{events['retried']}",
        "unacknowledged": f"{ambiguity['unacknowledged_landed']} landed, {ambiguity['unacknowledged_not_landed']} not",
        "LOST": f"{check['lost']}",
        "DOUBLE-COUNTED": f"{check['double_counted']} (statistics over by {check['stats_over_counted_units']})",
        "other mismatches": f"{check['mismatches']} (statistics under by {check['stats_under_counted_units']})",
        "dead-letter topic": f"{dead['records']} records: {dead['valid']} valid, {dead['poison_found']} of "
        f"{dead['poison_acknowledged']} acknowledged poison records",
        "result": "PASSED" if result["passed"] else "FAILED",
    }
    width = max(map(len, rows))
    lines = [f"{name:<{width}}  {value}" for name, value in rows.items()]
    for category, examples in check["examples"].items():
        lines += [f"{category}:", *(f"  {example}" for example in examples[:10])]
    return "\n".join(lines)


def write(result: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
