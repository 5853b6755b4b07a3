"""Fan-out off the hot path: the events table's stream to each match's WebSocket subscribers.

Each change item the consumer commits (``c#<seq>``) becomes ``change``
messages with their feed cursors; a statistics item whose counters moved
becomes one ``stats`` message after them, per match and batch. The matches of
a batch are pushed in parallel, each match's messages in stream order, shard
by shard of its followers (``chalicelib.fanout``): a big match's shards go to
the sender function, to be sent concurrently. If a match fails (DynamoDB
unreachable), the answer names its first record, so Lambda retries from there
and what came before is not pushed again. A connection that fails is skipped
for the rest of the batch (its client fills the gap from the change feed by
cursor); one that is gone is forgotten.
"""

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import layout, messages, stats
from chalicelib.fanout import (
    Fanout,
    Send,
    Sent,
    ShardJob,
    forget_gone,
    jobs,
    send_jobs,
    send_shard,
)
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.repository import EventRepository
from chalicelib.subscriptions import Subscriptions

# The stream event source's settings, in the stack and in devstack's stand-in alike.
BATCH_SIZE = 1000  # stream records: a few per event (its item, statistics items, the change item)
RETRY_ATTEMPTS = 10
SHARDS = layout.SUBSCRIBER_SHARDS
PARALLEL_MATCHES = 16  # matches of a batch pushed at once; each match's messages stay in order
_NOT_STATISTICS = {layout.FEED_SEQ, layout.SUMMARY_SEQ}  # move with every change, counted or not


def broadcast(
    stream_event: Mapping[str, Any],
    repository: EventRepository,
    subscriptions: Subscriptions,
    send: Send,
    dispatcher: Fanout,
    inline_followers: int = 250,
) -> dict[str, Any]:
    """Push a batch of stream records; the answer is Lambda's partial batch response. A match with more than
    ``inline_followers`` in its first shard of followers has its shards queued for the sender."""
    records = stream_event.get("Records", [])
    by_match: dict[str, list[Mapping[str, Any]]] = defaultdict(list)  # stream order kept within a match
    for record in records:
        by_match[record["dynamodb"]["Keys"][layout.PARTITION_KEY]["S"]].append(record)

    def push(match: tuple[str, list[Mapping[str, Any]]]) -> tuple[Sent, int] | str:
        try:
            return _push(*match, repository, subscriptions, send, dispatcher, inline_followers)
        except (BotoCoreError, ClientError, RuntimeError):
            logger.exception("broadcast failed; retrying from this match's first record", extra={"match_id": match[0]})
            return str(match[1][0]["dynamodb"]["SequenceNumber"])

    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_MATCHES, len(by_match)))) as pool:
        results = list(pool.map(push, by_match.items()))
    failed_at = [r for r in results if isinstance(r, str)]
    total, queued = Sent(), 0
    for result in results:
        if not isinstance(result, str):
            total.add(result[0])
            queued += result[1]
    gone = sorted(set(total.gone))
    forgotten = forget_gone(gone, subscriptions)
    metrics.add_metric(name="MessagesPushed", unit=MetricUnit.Count, value=total.pushed)
    metrics.add_metric(name="FailedPushes", unit=MetricUnit.Count, value=total.failed)
    metrics.add_metric(name="FailedBroadcasts", unit=MetricUnit.Count, value=len(failed_at))
    logger.info(
        "batch broadcast",
        extra={
            "records": len(records),
            "matches": len(by_match),
            "pushed": total.pushed,
            "shards_queued": queued,
            "gone": len(gone),
            "forgotten": forgotten,
            "failed": total.failed,
            "failed_matches": len(failed_at),
        },
    )
    if failed_at:  # Lambda retries from the lowest: matches pushed after it are pushed again (at least once)
        return {"batchItemFailures": [{"itemIdentifier": min(failed_at, key=int)}]}
    return {"batchItemFailures": []}


def send_shards(event: Mapping[str, Any], subscriptions: Subscriptions, send: Send) -> dict[str, Any]:
    """The sender function: a batch of shard jobs from the fan-out queue."""
    answer, sent = send_jobs(event, subscriptions, send)
    metrics.add_metric(name="MessagesPushed", unit=MetricUnit.Count, value=sent.pushed)
    metrics.add_metric(name="FailedPushes", unit=MetricUnit.Count, value=sent.failed)
    logger.info(
        "shards sent", extra={"jobs": len(event.get("Records", [])), "pushed": sent.pushed, "failed": sent.failed}
    )
    return answer


def _changes(record: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The applied changes a new change item carries, with their cursors."""
    sort_key = record["dynamodb"]["Keys"][layout.SORT_KEY]["S"]
    if record["eventName"] == "INSERT" and sort_key.startswith(layout.CHANGE_PREFIX):
        seq = int(sort_key[len(layout.CHANGE_PREFIX) :])
        for index, change in enumerate(json.loads(record["dynamodb"]["NewImage"][layout.CHANGES]["S"])):
            yield change | {"cursor": layout.change_cursor(seq, index)}


def _counters_moved(record: Mapping[str, Any]) -> bool:
    if not record["dynamodb"]["Keys"][layout.SORT_KEY]["S"].startswith(layout.STATS_PREFIX):
        return False

    def counters(image: Mapping[str, Any] | None) -> dict[str, str]:
        return {
            name: value["N"] for name, value in (image or {}).items() if "N" in value and name not in _NOT_STATISTICS
        }

    return counters(record["dynamodb"].get("OldImage")) != counters(record["dynamodb"].get("NewImage"))


def _push(
    match_id: str,
    records: Sequence[Mapping[str, Any]],
    repository: EventRepository,
    subscriptions: Subscriptions,
    send: Send,
    dispatcher: Fanout,
    inline_followers: int,
) -> tuple[Sent, int]:
    """(what was sent here, shard jobs queued) for one match's records of a batch. A small match's shards
    are sent here, in turn; a big match's are queued for the sender. A gone connection is only noted:
    forgetting it is left to the end of the batch, off every send."""
    changes = [change for record in records for change in _changes(record)]
    moved = any(_counters_moved(record) for record in records)
    if not changes and not moved:
        return Sent(), 0
    first = subscriptions.shard_connections(match_id, 0)
    big = len(first) > inline_followers
    followers = [first] if big else [first, *(subscriptions.shard_connections(match_id, s) for s in range(1, SHARDS))]
    if not any(followers):
        return Sent(), 0
    outgoing = [messages.change(match_id, change) for change in changes]
    if moved:
        outgoing.append(messages.stats(match_id, stats.render(repository.totals(match_id))))
    if big:
        queued = jobs(match_id, outgoing)
        dispatcher.dispatch(queued)
        return Sent(), len(queued)
    total = Sent()
    for shard, connections in enumerate(followers):
        total.add(send_shard(ShardJob(match_id, shard, tuple(outgoing)), subscriptions, send, connections=connections))
    return total, 0
