"""Exact verification: the ledger, replayed by the contract's version rule, against what the API serves.

Per event (match_id, event_id) the ledger holds every version the client sent, in send order, each
acknowledged (a 202 came back) or not (abandoned after the retry budget; Kafka may or may not have
it). The version rule is applied to those posts independently of the product: a higher version
replaces the event, anything else changes nothing, a void leaves it void. That gives the changes the
feed must show for the event and its final state.

Unacknowledged posts are the honest ambiguity. Each one is tried both ways, as landed and as lost, and
the event is accepted if one combination reproduces the feed exactly; that combination then decides its
final state. An unacknowledged event without an id (the server derives ids from content) is recognised
by its content. Anything acknowledged must be there either way: "lost" counts acknowledged events not
served at their final version; "double-counted" counts events served twice, changes applied twice and
statistics counted above the recomputation; every other difference (statistics below it, the directory,
status, order, the feed's consistency with the timeline, dead-lettered valid records) is a mismatch.
"""

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from chalicelib.records import STAMPS
from matchtools import expected
from soak.ledger import Request
from soak.observe import MatchReads

MAX_COMBINATIONS = 256  # unacknowledged posts of one event tried both ways up to 8; beyond: all-or-none
EXAMPLES = 25  # problems listed per category in the report (all are counted)


def content(event: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in event.items() if name not in STAMPS}


@attrs.frozen
class Post:
    """One version of one event as a request carried it; ``body`` None is a void."""

    seq: int
    index: int
    version: int
    body: dict[str, Any] | None
    acked: bool


Final = tuple[int, dict[str, Any] | None] | None  # (version, live body or None: a tombstone); None: nothing
Change = tuple[str, int, dict[str, Any] | None]  # (insert/update/delete, version, body; None for a delete)


def apply(posts: Iterable[Post]) -> tuple[list[Change], Final]:
    """The contract's version rule over posts in delivery order: the changes it applies and the end state."""
    stored: Final = None
    changes: list[Change] = []
    for post in posts:
        if stored is not None and post.version <= stored[0]:
            continue  # a redelivery or a stale version
        was_live = stored is not None and stored[1] is not None
        stored = (post.version, post.body)
        if post.body is not None:
            changes.append(("update" if was_live else "insert", post.version, post.body))
        elif was_live:
            changes.append(("delete", post.version, None))
    return changes, stored


def resolve(posts: Sequence[Post], observed: list[Change]) -> tuple[Final, int] | None:
    """The end state under the combination of unacknowledged posts (landed or not) that reproduces the
    observed changes, and how many of them landed; None if no combination does."""
    optional = [i for i, post in enumerate(posts) if not post.acked]
    if 2 ** len(optional) <= MAX_COMBINATIONS:
        choices: Iterable[tuple[bool, ...]] = itertools.product((False, True), repeat=len(optional))
    else:
        choices = [(False,) * len(optional), (True,) * len(optional)]
    for choice in choices:
        landed = {i for i, taken in zip(optional, choice, strict=True) if taken}
        changes, final = apply(post for i, post in enumerate(posts) if post.acked or i in landed)
        if changes == observed:
            return final, len(landed)
    return None


@attrs.define
class Verification:
    """Counts for the summary, and a few examples of each problem."""

    matches: int = 0
    requests: int = 0
    requests_acked: int = 0
    requests_abandoned: int = 0
    requests_rejected: int = 0
    events_acked: int = 0  # events in acknowledged requests
    distinct_events_acked: int = 0  # (match_id, event_id) with at least one acknowledged version
    ops_acked: Counter[str] = attrs.field(factory=Counter)
    unacked_landed: int = 0  # unacknowledged posts the feed shows applied
    unacked_not_landed: int = 0
    unacked_derived_matched: int = 0  # unacknowledged events without an id, given theirs by content
    lost: int = 0
    double_counted: int = 0
    mismatches: int = 0
    stats_over_units: int = 0
    stats_under_units: int = 0
    dead_letter_records: int = 0
    dead_letter_valid: int = 0
    poison_found: int = 0
    poison_missing: int = 0
    examples: dict[str, list[str]] = attrs.field(factory=lambda: defaultdict(list))

    def problem(self, category: str, text: str, count: int = 1) -> None:
        if category == "lost":
            self.lost += count
        elif category == "double_counted":
            self.double_counted += count
        else:
            self.mismatches += count
        if len(self.examples[category]) < EXAMPLES:
            self.examples[category].append(text)

    @property
    def passed(self) -> bool:
        return not (self.lost or self.double_counted or self.mismatches or self.dead_letter_valid)


def _posts(
    requests: Sequence[Request], result: Verification
) -> tuple[dict[str, dict[str, list[Post]]], dict[str, list[Post]]]:
    """Per match: posts by event_id in send order, and unacknowledged posts whose id the server derives."""
    by_key: dict[str, dict[str, list[Post]]] = defaultdict(lambda: defaultdict(list))
    derived: dict[str, list[Post]] = defaultdict(list)
    for request in sorted(requests, key=lambda r: r.seq):
        result.requests += 1
        if request.rejected:  # all or nothing: none of it was published
            result.requests_rejected += 1
            result.problem("rejected", f"request {request.seq} ({request.match_id}) refused: {request.rejected}")
            continue
        result.requests_acked += request.acked
        result.requests_abandoned += request.abandoned
        for index, event in enumerate(request.events):
            event_id = event.get("event_id")
            if request.acked:
                assert request.event_ids is not None
                named = request.event_ids[index]
                if event_id is not None and named != event_id:
                    result.problem("api", f"request {request.seq}: sent id {event_id}, the 202 named {named}")
                event_id = named
                result.events_acked += 1
                result.ops_acked[request.ops[index]] += 1
            body = None if event.get("deleted") else content(event) | {"version": event.get("version", 1)}
            if body is not None and event_id is not None:
                body["event_id"] = event_id
            post = Post(request.seq, index, event.get("version", 1), body, request.acked)
            if event_id is None:
                derived[request.match_id].append(post)
            else:
                by_key[request.match_id][event_id].append(post)
    return by_key, derived


def _observed_changes(changes: Sequence[Mapping[str, Any]]) -> dict[str, list[Change]]:
    by_key: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        event = change["event"]
        body = None if change["change"] == "delete" else content(event)
        by_key[event["event_id"]].append((change["change"], int(event["version"]), body))
    return by_key


def _signature(body: Mapping[str, Any]) -> str:
    return json.dumps({name: value for name, value in body.items() if name != "event_id"}, sort_keys=True)


def _adopt_derived(posts: dict[str, list[Post]], derived: list[Post], reads: MatchReads, result: Verification) -> None:
    """Unacknowledged events without an id: the server derives the id from the content, so one belongs to
    the event with the same content, whether the ledger learnt that id from another request's 202 (a
    redelivery) or only the store has it. One matching nothing never landed."""
    by_content: dict[str, str] = {}
    for event_id, event_posts in posts.items():
        for post in event_posts:
            if post.body is not None:
                by_content.setdefault(_signature(post.body), event_id)
    for change in reads.changes:
        if change["change"] != "delete" and change["event"]["event_id"] not in posts:
            by_content.setdefault(_signature(content(change["event"])), change["event"]["event_id"])
    touched: set[str] = set()
    for unknown in derived:
        assert unknown.body is not None  # a void always names its event
        matched = by_content.get(_signature(unknown.body))
        if matched is not None:
            posts[matched].append(attrs.evolve(unknown, body=unknown.body | {"event_id": matched}))
            touched.add(matched)
            result.unacked_derived_matched += 1
    for matched in touched:
        posts[matched].sort(key=lambda post: (post.seq, post.index))


def _check_feed_shape(match_id: str, reads: MatchReads, result: Verification) -> None:
    """Cursors only grow; replaying the feed gives exactly the timeline, positions included."""
    cursors = [change["cursor"] for change in reads.changes]
    if cursors != sorted(set(cursors)) or len(cursors) != len(set(cursors)):
        result.problem("feed", f"{match_id}: change cursors not strictly increasing")
    replay: dict[str, dict[str, Any]] = {}
    for change in reads.changes:
        event, kind = change["event"], change["change"]
        present = event["event_id"] in replay
        if (kind == "insert" and present) or (kind != "insert" and not present):
            result.problem("feed", f"{match_id}: {kind} of {event['event_id']} v{event['version']} out of place")
        if kind == "delete":
            replay.pop(event["event_id"], None)
        else:
            replay[event["event_id"]] = event
    timeline = {event["event_id"]: event for event in reads.timeline}
    if replay != timeline:
        differing = sorted(set(replay) ^ set(timeline)) or sorted(k for k in replay if replay[k] != timeline.get(k))
        result.problem("feed", f"{match_id}: the feed replays to another state than the timeline: {differing[:5]}")


def _check_order(match_id: str, posts: Mapping[str, list[Post]], reads: MatchReads, result: Verification) -> None:
    """The timeline is chronological (timestamp, then event_id); changes first sent in an acknowledged
    request are applied in the order they were sent (a match's requests go out one after another; an
    unacknowledged one may land late, so its changes are left out of this check)."""
    keys = [expected.timeline_key(event) for event in reads.timeline]
    if keys != sorted(keys):
        result.problem("order", f"{match_id}: timeline not in (timestamp, event_id) order")
    first_sent: dict[tuple[str, int], Post] = {}
    for event_id, event_posts in posts.items():
        for post in event_posts:
            first_sent.setdefault((event_id, post.version), post)
    sent_order = [
        (first.seq, first.index)
        for change in reads.changes
        if (first := first_sent.get((change["event"]["event_id"], int(change["event"]["version"])))) and first.acked
    ]
    if sent_order != sorted(sent_order):
        result.problem("order", f"{match_id}: changes applied in another order than the acknowledged requests")


def _compare_counts(match_id: str, want: Mapping[str, Any], got: Mapping[str, Any], result: Verification) -> None:
    """/stats against the recomputation: counters above it are double counting, anything else a mismatch."""
    if want == got:
        return
    over = under = 0
    for owner in ("teams", "players"):
        for name in set(want.get(owner, {})) | set(got.get(owner, {})):
            mine, theirs = want[owner].get(name, {}), got.get(owner, {}).get(name, {})
            for field in set(mine) | set(theirs):
                served, expected = theirs.get(field, 0), mine.get(field, 0)
                if not (isinstance(served, int) and isinstance(expected, int)):
                    continue  # not a counter (xg, possession, pass_accuracy, formation): a difference is a mismatch
                difference = served - expected
                over, under = over + max(0, difference), under + max(0, -difference)
    count_difference = int(got.get("event_count", 0)) - int(want["event_count"])
    over, under = over + max(0, count_difference), under + max(0, -count_difference)
    result.stats_over_units += over
    result.stats_under_units += under
    others = sorted(k for k in set(want) | set(got) if k not in ("teams", "players") and want.get(k) != got.get(k))
    detail = f"{match_id}: /stats differs (over {over}, under {under}; also {others})"
    if over:
        result.problem("double_counted", detail, over)
    if under or others or not over:
        result.problem("stats", detail)


def verify(
    requests: Sequence[Request],
    reads: Mapping[str, MatchReads],
    directory: Sequence[Mapping[str, Any]],
) -> Verification:
    result = Verification()
    by_key, derived = _posts(requests, result)
    match_ids = sorted({request.match_id for request in requests})
    result.matches = len(match_ids)
    summaries: dict[str, dict[str, Any]] = {}
    for match_id in match_ids:
        match_reads, posts = reads[match_id], by_key[match_id]
        _adopt_derived(posts, derived[match_id], match_reads, result)
        observed = _observed_changes(match_reads.changes)
        served: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in match_reads.timeline:
            served[event["event_id"]].append(content(event))
        live: list[dict[str, Any]] = []
        for event_id in sorted(set(posts) | set(observed) | set(served)):
            event_posts = posts.get(event_id)
            seen = observed.get(event_id, [])
            if not event_posts:
                result.problem("phantom", f"{match_id}/{event_id}: stored or in the feed, but never sent")
                continue
            acked = [post for post in event_posts if post.acked]
            result.distinct_events_acked += bool(acked)
            versions = Counter(version for _, version, _ in seen)
            twice = sum(n - 1 for n in versions.values() if n > 1)
            if twice:
                result.problem("double_counted", f"{match_id}/{event_id}: a version applied twice: {seen}", twice)
            resolved = resolve(event_posts, seen)
            if resolved is None:
                final = apply(acked)[1]
                result.problem(
                    "feed", f"{match_id}/{event_id}: feed {seen} fits no delivery of the posts {event_posts}"
                )
            else:
                final, landed = resolved
                unacked = sum(1 for post in event_posts if not post.acked)
                result.unacked_landed += landed
                result.unacked_not_landed += unacked - landed
            copies = served.get(event_id, [])
            if len(copies) > 1:
                result.problem("double_counted", f"{match_id}/{event_id}: served {len(copies)} times", len(copies) - 1)
            if final is not None and final[1] is not None:
                live.append(final[1])
                if not copies or copies[0] != final[1]:
                    found = f"v{copies[0].get('version')}" if copies else "nothing"
                    category = "lost" if acked else "feed"
                    result.problem(category, f"{match_id}/{event_id}: want v{final[0]}, served {found}")
            elif copies:
                result.problem("resurrected", f"{match_id}/{event_id}: void or never applied, served v{copies[0]}")
        _check_feed_shape(match_id, match_reads, result)
        _check_order(match_id, posts, match_reads, result)
        _compare_counts(match_id, expected.stats(match_id, live), match_reads.stats, result)
        summaries[match_id] = expected.summary(match_id, live)
    _check_directory(summaries, by_key, requests, directory, result)
    return result


def _check_directory(
    summaries: Mapping[str, dict[str, Any]],
    by_key: Mapping[str, Mapping[str, list[Post]]],
    requests: Sequence[Request],
    directory: Sequence[Mapping[str, Any]],
    result: Verification,
) -> None:
    """Every match listed once, with the recomputed summary, latest activity first."""
    listed = Counter(entry["match_id"] for entry in directory)
    for match_id, times in listed.items():
        if times > 1:
            result.problem("directory", f"{match_id} listed {times} times")
        if match_id not in summaries:
            result.problem("directory", f"{match_id} listed but never sent")
    acked_matches = {request.match_id for request in requests if request.acked}
    entries = {entry["match_id"]: dict(entry) for entry in directory}
    for match_id, want in summaries.items():
        got = entries.get(match_id)
        if got is None:
            if match_id in acked_matches:
                result.problem("directory", f"{match_id} missing from the directory")
        elif got != want:
            fields = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
            wanted, served = _pick(want, fields), _pick(got, fields)
            result.problem("directory", f"{match_id}: {fields} differ: want {wanted}, got {served}")
    latest = [entry.get("last_event_at") or "" for entry in directory]
    if latest != sorted(latest, reverse=True):
        result.problem("directory", "not latest activity first")


def _pick(mapping: Mapping[str, Any], fields: Sequence[str]) -> str:
    return json.dumps({field: mapping.get(field) for field in fields}, sort_keys=True)


def verify_all(
    requests: Sequence[Request],
    reads: Mapping[str, MatchReads],
    directory: Sequence[Mapping[str, Any]],
    dead_letters: Sequence[tuple[bytes | None, bytes, Mapping[str, bytes]]],
    poison: Mapping[bytes, bool],
) -> Verification:
    """Everything: events, feed, statistics, directory, then the dead-letter topic."""
    result = verify(requests, reads, directory)
    by_match: dict[str, list[Request]] = defaultdict(list)
    for request in requests:
        by_match[request.match_id].append(request)
    check_dead_letters(dead_letters, by_match, poison, result)
    return result


def check_dead_letters(
    records: Sequence[tuple[bytes | None, bytes, Mapping[str, bytes]]],
    by_match: Mapping[str, Sequence[Request]],
    poison: Mapping[bytes, bool],
    result: Verification,
) -> None:
    """Nothing the soak sent may be dead-lettered (it was all valid); every poison record acknowledged by
    Kafka must be (and the partitions went on, which the drain showed)."""
    result.dead_letter_records = len(records)
    found: set[bytes] = set()
    for _, value, headers in records:
        if value in poison:
            found.add(value)
            continue
        try:
            payload = json.loads(value)
            events = payload["events"]
            ours = [e for e in events if e.get("match_id") in by_match]
        except (ValueError, TypeError, KeyError, AttributeError):
            ours = []
        reason = headers.get("error", b"").decode(errors="replace")[:200]
        if ours:
            result.dead_letter_valid += 1
            result.problem("dead_letter", f"valid events dead-lettered ({reason}): {json.dumps(ours[:2])[:300]}")
        else:
            result.problem("dead_letter", f"unknown record dead-lettered ({reason}): {value[:100]!r}")
    for value, acked in poison.items():
        if value in found:
            result.poison_found += 1
        elif acked:
            result.poison_missing += 1
            result.problem("dead_letter", f"poison record acknowledged by Kafka but not dead-lettered: {value!r}")
