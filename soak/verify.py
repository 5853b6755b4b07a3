"""Exact verification: the ledger, replayed by the contract's version rule, against what the API serves. An
unacknowledged post may or may not have landed: an event is accepted if some choice of them reproduces its feed.
"lost": acknowledged, not served at its final version; "double-counted": served twice, a change applied twice,
statistics above the recomputation; any other difference is a mismatch."""

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
Entries = Sequence[Mapping[str, Any]]  # the directory's
DeadLetter = tuple[bytes | None, bytes, Mapping[str, bytes]]  # key, value, headers


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


EventPosts = dict[str, list[Post]]  # by event_id, in send order
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
    """(End state, unacknowledged posts landed) for the first choice of them that gives ``observed``, or None."""
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

    distinct_events_acked: int = 0  # (match_id, event_id) with at least one acknowledged version
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
        counter = category if category in ("lost", "double_counted") else "mismatches"
        setattr(self, counter, getattr(self, counter) + count)
        if len(self.examples[category]) < EXAMPLES:
            self.examples[category].append(text)

    @property
    def passed(self) -> bool:
        return not (self.lost or self.double_counted or self.mismatches or self.dead_letter_valid)


def _posts(requests: Sequence[Request], result: Verification) -> tuple[dict[str, EventPosts], dict[str, list[Post]]]:
    """Per match: posts by event_id in send order, and unacknowledged posts whose id the server derives."""
    by_key: dict[str, EventPosts] = defaultdict(lambda: defaultdict(list))
    derived: dict[str, list[Post]] = defaultdict(list)
    for request in sorted(requests, key=lambda r: r.seq):
        if request.rejected:  # all or nothing: none of it was published
            result.problem("rejected", f"request {request.seq} ({request.match_id}) refused: {request.rejected}")
            continue
        for index, event in enumerate(request.events):
            event_id = event.get("event_id")
            if request.acked:
                assert request.event_ids is not None
                named = request.event_ids[index]
                if event_id is not None and named != event_id:
                    result.problem("api", f"request {request.seq}: sent id {event_id}, the 202 named {named}")
                event_id = named
            version = event.get("version", 1)
            body = content(event) | {"version": version} | ({} if event_id is None else {"event_id": event_id})
            post = Post(request.seq, index, version, None if event.get("deleted") else body, request.acked)
            (derived[request.match_id] if event_id is None else by_key[request.match_id][event_id]).append(post)
    return by_key, derived


def _signature(body: Mapping[str, Any]) -> str:
    return json.dumps({name: value for name, value in body.items() if name != "event_id"}, sort_keys=True)


def _adopt_derived(posts: dict[str, list[Post]], derived: list[Post], reads: MatchReads, result: Verification) -> None:
    """An unacknowledged post without an id belongs to the event of the same content (the server derives ids)."""
    pairs = [(_signature(p.body), event_id) for event_id, ps in posts.items() for p in ps if p.body is not None]
    pairs += [
        (_signature(content(change["event"])), change["event"]["event_id"])
        for change in reads.changes
        if change["change"] != "delete" and change["event"]["event_id"] not in posts
    ]
    by_content = dict(reversed(pairs))  # the first event_id of a content wins
    for unknown in derived:
        assert unknown.body is not None  # a void always names its event
        if (matched := by_content.get(_signature(unknown.body))) is not None:
            posts[matched].append(attrs.evolve(unknown, body=unknown.body | {"event_id": matched}))
            result.unacked_derived_matched += 1
    for event_posts in posts.values():
        event_posts.sort(key=lambda post: (post.seq, post.index))


def _check_feed_shape(match_id: str, reads: MatchReads, result: Verification) -> None:
    """Cursors only grow; replaying the feed gives exactly the timeline, positions included."""
    cursors = [change["cursor"] for change in reads.changes]
    if cursors != sorted(set(cursors)):
        result.problem("feed", f"{match_id}: change cursors not strictly increasing")
    replay: dict[str, dict[str, Any]] = {}
    for change in reads.changes:
        event, kind = change["event"], change["change"]
        if (kind == "insert") == (event["event_id"] in replay):
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
    """The timeline is chronological; changes first sent acknowledged are applied in send order (others may be late)."""
    keys = [expected.timeline_key(event) for event in reads.timeline]
    if keys != sorted(keys):
        result.problem("order", f"{match_id}: timeline not in (timestamp, event_id) order")
    first_sent = dict(reversed([((event_id, p.version), p) for event_id, ps in posts.items() for p in ps]))
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
    pairs = [(int(want["event_count"]), int(got.get("event_count", 0)))]
    for owner in ("teams", "players"):
        for name in set(want.get(owner, {})) | set(got.get(owner, {})):
            mine, theirs = want[owner].get(name, {}), got.get(owner, {}).get(name, {})
            pairs += [(mine.get(field, 0), theirs.get(field, 0)) for field in set(mine) | set(theirs)]
    # not counters (xg, possession, pass_accuracy, formation): a difference there is a mismatch
    differences = [served - wanted for wanted, served in pairs if isinstance(wanted, int) and isinstance(served, int)]
    over, under = sum(max(0, d) for d in differences), sum(max(0, -d) for d in differences)
    result.stats_over_units += over
    result.stats_under_units += under
    others = sorted(k for k in set(want) | set(got) if k not in ("teams", "players") and want.get(k) != got.get(k))
    detail = f"{match_id}: /stats differs (over {over}, under {under}; also {others})"
    if over:
        result.problem("double_counted", detail, over)
    if under or others or not over:
        result.problem("stats", detail)


def _check_event(
    key: str, posts: list[Post] | None, seen: list[Change], copies: list[dict[str, Any]], result: Verification
) -> dict[str, Any] | None:
    """One event's feed and served copies against its posts; returns its final body if it is live."""
    if not posts:
        result.problem("phantom", f"{key}: stored or in the feed, but never sent")
        return None
    acked = [post for post in posts if post.acked]
    result.distinct_events_acked += bool(acked)
    if twice := sum(n - 1 for n in Counter(version for _, version, _ in seen).values()):
        result.problem("double_counted", f"{key}: a version applied twice: {seen}", twice)
    if (resolved := resolve(posts, seen)) is None:
        final = apply(acked)[1]
        result.problem("feed", f"{key}: feed {seen} fits no delivery of the posts {posts}")
    else:
        final, landed = resolved
        result.unacked_landed += landed
        result.unacked_not_landed += len(posts) - len(acked) - landed
    if len(copies) > 1:
        result.problem("double_counted", f"{key}: served {len(copies)} times", len(copies) - 1)
    if final is None or final[1] is None:
        if copies:
            result.problem("resurrected", f"{key}: void or never applied, served v{copies[0]}")
        return None
    if not copies or copies[0] != final[1]:
        found = f"v{copies[0].get('version')}" if copies else "nothing"
        result.problem("lost" if acked else "feed", f"{key}: want v{final[0]}, served {found}")
    return final[1]


def _check_directory(
    summaries: Mapping[str, dict[str, Any]], acked_matches: set[str], directory: Entries, result: Verification
) -> None:
    """Every match listed once, with the recomputed summary, latest activity first."""
    for match_id, times in Counter(entry["match_id"] for entry in directory).items():
        if times > 1:
            result.problem("directory", f"{match_id} listed {times} times")
        if match_id not in summaries:
            result.problem("directory", f"{match_id} listed but never sent")
    entries = {entry["match_id"]: dict(entry) for entry in directory}
    for match_id, want in summaries.items():
        if (got := entries.get(match_id)) is None and match_id in acked_matches:
            result.problem("directory", f"{match_id} missing from the directory")
        elif got is not None and got != want:
            fields = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
            wanted, served = _pick(want, fields), _pick(got, fields)
            result.problem("directory", f"{match_id}: {fields} differ: want {wanted}, got {served}")
    latest = [entry.get("last_event_at") or "" for entry in directory]
    if latest != sorted(latest, reverse=True):
        result.problem("directory", "not latest activity first")


def _pick(mapping: Mapping[str, Any], fields: Sequence[str]) -> str:
    return json.dumps({field: mapping.get(field) for field in fields}, sort_keys=True)


def check_dead_letters(
    records: Sequence[DeadLetter], match_ids: set[str], poison: Mapping[bytes, bool], result: Verification
) -> None:
    """Nothing the soak sent may be dead-lettered (all of it was valid); every acknowledged poison record must."""
    result.dead_letter_records = len(records)
    found = {value for _, value, _ in records if value in poison}
    for _, value, headers in records:
        if value in poison:
            continue
        try:
            ours = [e for e in json.loads(value)["events"] if e.get("match_id") in match_ids]
        except (ValueError, TypeError, KeyError, AttributeError):
            ours = []
        reason = headers.get("error", b"").decode(errors="replace")[:200]
        if ours:
            result.dead_letter_valid += 1
            result.problem("dead_letter", f"valid events dead-lettered ({reason}): {json.dumps(ours[:2])[:300]}")
        else:
            result.problem("dead_letter", f"unknown record dead-lettered ({reason}): {value[:100]!r}")
    result.poison_found = len(found)
    for value, acked in poison.items():
        if acked and value not in found:
            result.poison_missing += 1
            result.problem("dead_letter", f"poison record acknowledged by Kafka but not dead-lettered: {value!r}")


def verify_all(
    requests: Sequence[Request],
    reads: Mapping[str, MatchReads],
    directory: Entries,
    dead_letters: Sequence[DeadLetter],
    poison: Mapping[bytes, bool],
) -> Verification:
    """Everything: events, feed, statistics, directory, then the dead-letter topic."""
    result = Verification()
    by_key, derived = _posts(requests, result)
    match_ids = sorted({request.match_id for request in requests})
    summaries: dict[str, dict[str, Any]] = {}
    for match_id in match_ids:
        match_reads, posts = reads[match_id], by_key[match_id]
        _adopt_derived(posts, derived[match_id], match_reads, result)
        observed: dict[str, list[Change]] = defaultdict(list)
        for change in match_reads.changes:
            body = None if change["change"] == "delete" else content(change["event"])
            observed[change["event"]["event_id"]].append((change["change"], int(change["event"]["version"]), body))
        served: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in match_reads.timeline:
            served[event["event_id"]].append(content(event))
        finals = [
            _check_event(f"{match_id}/{key}", posts.get(key), observed.get(key, []), served.get(key, []), result)
            for key in sorted(set(posts) | set(observed) | set(served))
        ]
        live = [body for body in finals if body is not None]
        _check_feed_shape(match_id, match_reads, result)
        _check_order(match_id, posts, match_reads, result)
        _compare_counts(match_id, expected.stats(match_id, live), match_reads.stats, result)
        summaries[match_id] = expected.summary(match_id, live)
    _check_directory(summaries, {request.match_id for request in requests if request.acked}, directory, result)
    check_dead_letters(dead_letters, set(match_ids), poison, result)
    return result
