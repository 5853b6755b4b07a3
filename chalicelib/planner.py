"""The correction planner: which writes, counter moves and feed entries a match's pending events make.

Pure: no botocore, no I/O. The repository reads what is stored, asks for a plan, turns it into one
transaction and, when a condition fails, reads again and asks for a new plan. So every rule about
versions (a higher one replaces the event whole, anything else changes nothing, a void is a version
too) lives here, with unit tests of its own.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from chalicelib import football, jsontext, layout, records, stats
from chalicelib.events import FIELDS, MATCH_LEVEL_TYPES

EVENT_FIELDS = (*FIELDS, "deleted", *records.STAMPS)  # the order events are returned in
TRANSACTION_ACTIONS = 100  # DynamoDB's limit per TransactWriteItems
# A feed item's changes, at most: DynamoDB's item limit is 400 KB (409,600 B); the rest is margin for its keys
# and for the 4 MB a transaction may write in all (97 event items of at most ~8 KB each beside it).
CHANGES_ITEM_BYTES = 300_000


@attrs.frozen
class Stored:
    """What the table holds for an event: its version and body (``deleted`` in the body: a tombstone)."""

    version: int
    body: Mapping[str, Any]

    @property
    def live(self) -> Mapping[str, Any] | None:
        return None if self.body.get("deleted") else self.body


def stored_body(event: Mapping[str, Any]) -> dict[str, Any]:
    return {name: event[name] for name in EVENT_FIELDS if name in event}


@attrs.define
class Plan:
    """One transaction's worth of a match's pending events, applied in order over what is stored."""

    taken: int = 0  # how many pending events it covers (applied or found to change nothing)
    writes: dict[str, Stored] = attrs.field(factory=dict)  # event_id -> the version to store
    changes: list[dict[str, Any]] = attrs.field(factory=list)
    change_bytes: int = 0  # of ``changes`` as the feed item stores them
    deltas: dict[stats.Owner, Counter[str]] = attrs.field(factory=lambda: defaultdict(Counter))
    roster: dict[str, Mapping[str, Any] | None] = attrs.field(factory=dict)  # event_id -> its live roster body

    def actions(self) -> int:
        """Event puts, an ADD per team or player item that moves, the ``s#match`` update, a put or delete
        per roster event and, with changes, the feed item."""
        moved = sum(1 for owner, c in self.deltas.items() if owner != stats.MATCH and any(c.values()))
        extra = (1 if self.writes else 0) + (1 if self.changes else 0)
        return len(self.writes) + moved + len(self.roster) + extra


EDGE_NAMES = ("first", "latest", "phase", "kick_off")
Edges = dict[str, dict[str, Any] | None]


@attrs.frozen
class Head:
    """A match as of its last change: the feed's sequence number, each team's ``events`` and ``goals``,
    and the live edge events its summary comes from (``exact``: the stored summary is of ``seq``)."""

    seq: int
    exact: bool
    edges: Edges
    teams: Mapping[str, Counter[str]]

    def after(self, plan: Plan) -> "Head":
        """This head once the plan is committed: edges advanced while they can be without a read."""
        teams = {team: Counter(counters) for team, counters in self.teams.items()}
        for (kind, owner_id), counters in plan.deltas.items():
            if kind == "team":
                teams.setdefault(owner_id, Counter()).update({n: counters[n] for n in ("events", "goals")})
        edges = advance(self.edges, plan.changes) if self.exact else None
        return Head(self.seq + (1 if plan.changes else 0), edges is not None, edges or self.edges, teams)

    def summary(self) -> dict[str, Any]:
        return stats.summary(**self.edges, goals={t: c["goals"] for t, c in self.teams.items() if c["events"]})


def time_key(event: Mapping[str, Any]) -> str:
    return layout.time_sort_key(event["timestamp"], event["event_id"])


def advance(edges: Edges, changes: Iterable[Mapping[str, Any]]) -> Edges | None:
    """The edges after these changes, in order; None when one moves or removes an edge event, since
    only the indexes can tell which event takes its place."""
    edges = dict(edges)
    for change in changes:
        event = change["event"]
        if change["change"] != "insert" and any(e and e["event_id"] == event["event_id"] for e in edges.values()):
            return None
        if change["change"] == "delete":
            continue
        key = time_key(event)
        later = {
            "latest": True,
            "phase": event["event_type"] in MATCH_LEVEL_TYPES,
            "kick_off": event["event_type"] == "kick_off",
        }
        first = edges["first"]
        if first is None or key < time_key(first):
            edges["first"] = event
        for name, applies in later.items():
            edge = edges[name]
            if applies and (edge is None or key > time_key(edge)):
                edges[name] = event
    return edges


def change_of(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str | None:
    """The feed's name for a swap of live versions (None: not live); None when no reader could see it."""
    if new is not None:
        return "update" if old is not None else "insert"
    return "delete" if old is not None else None


def in_roster(event: Mapping[str, Any] | None) -> bool:
    return event is not None and event["event_type"] in football.ROSTER_TYPES


def plan_next(pending: Sequence[Mapping[str, Any]], known: Mapping[str, Stored | None]) -> Plan:
    """The pending events (in stream order) over what is stored (``known``; an id not in it was never
    stored), applied in order while one transaction can hold them: its share of a transaction."""
    plan = Plan()
    for event in pending:
        event_id, version = event["event_id"], event["version"]
        current = plan.writes.get(event_id) or known.get(event_id)
        if current is not None and version <= current.version:
            plan.taken += 1  # a redelivery or a stale version: nothing to do
            continue
        new = Stored(version, stored_body(event))
        old_live = current.live if current else None
        difference = stats.difference(old_live, new.live)
        change = change_of(old_live, new.live)
        previous = plan.writes.get(event_id)
        plan.writes[event_id] = new
        rostered, roster_before = event_id in plan.roster, plan.roster.get(event_id)
        if in_roster(old_live) or in_roster(new.live):
            plan.roster[event_id] = new.live if in_roster(new.live) else None
        for owner, counters in difference.items():
            plan.deltas[owner].update(counters)
        entry_bytes = len(jsontext.dumps({"change": change, "event": new.body}).encode()) + 1 if change else 0
        if change:
            plan.changes.append({"change": change, "event": new.body})
            plan.change_bytes += entry_bytes
        over = plan.actions() > TRANSACTION_ACTIONS or plan.change_bytes > CHANGES_ITEM_BYTES
        if over and plan.taken:  # over a limit: leave it to the next one
            if previous is None:
                del plan.writes[event_id]
            else:
                plan.writes[event_id] = previous
            for owner, counters in difference.items():
                plan.deltas[owner].subtract(counters)
            if rostered:
                plan.roster[event_id] = roster_before
            else:
                plan.roster.pop(event_id, None)
            if change:
                plan.changes.pop()
                plan.change_bytes -= entry_bytes
            break
        plan.taken += 1
    return plan
