"""Fan-out off the hot path: the events table's stream to each match's WebSocket subscribers.

Each change item the consumer commits (``c#<seq>``) becomes ``change``
messages with their feed cursors; a statistics item whose counters moved
becomes one ``stats`` message after them, per match and batch. The matches of
a batch are pushed in parallel, each match's messages in stream order. If a
match fails (DynamoDB unreachable), the answer names its first record, so
Lambda retries from there and what came before is not pushed again. A
connection that fails is skipped for the rest of the batch (its client fills
the gap from the change feed by cursor); one that is gone is forgotten.
"""

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import WebsocketDisconnectedError

from chalicelib import layout, messages, stats
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.repository import EventRepository
from chalicelib.subscriptions import Subscriptions

Send = Callable[[str, str], None]
# The stream event source's settings, in the stack and in devstack's stand-in alike.
BATCH_SIZE = 1000  # stream records: a few per event (its item, statistics items, the change item)
RETRY_ATTEMPTS = 10
PARALLEL_MATCHES = 16  # matches of a batch pushed at once; each match's messages stay in order
FORGET_BUDGET_S = 5.0  # of a batch's time for forgetting gone connections; the rest expire by TTL or go next time
_NOT_STATISTICS = {layout.FEED_SEQ, layout.SUMMARY_SEQ}  # move with every change, counted or not


def broadcast(
    stream_event: Mapping[str, Any], repository: EventRepository, subscriptions: Subscriptions, send: Send
) -> dict[str, Any]:
    """Push a batch of stream records; the answer is Lambda's partial batch response."""
    records = stream_event.get("Records", [])
    by_match: dict[str, list[Mapping[str, Any]]] = defaultdict(list)  # stream order kept within a match
    for record in records:
        by_match[record["dynamodb"]["Keys"][layout.PARTITION_KEY]["S"]].append(record)

    def push(match: tuple[str, list[Mapping[str, Any]]]) -> tuple[int, list[str], int] | str:
        try:
            return _push(*match, repository, subscriptions, send)
        except (BotoCoreError, ClientError):
            logger.exception("broadcast failed; retrying from this match's first record", extra={"match_id": match[0]})
            return str(match[1][0]["dynamodb"]["SequenceNumber"])

    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_MATCHES, len(by_match)))) as pool:
        results = list(pool.map(push, by_match.items()))
    failed_at = [r for r in results if isinstance(r, str)]
    counts = [r for r in results if not isinstance(r, str)]
    pushed, failed = sum(c[0] for c in counts), sum(c[2] for c in counts)
    gone = sorted({connection_id for c in counts for connection_id in c[1]})
    forgotten = _forget(gone, subscriptions)
    metrics.add_metric(name="MessagesPushed", unit=MetricUnit.Count, value=pushed)
    metrics.add_metric(name="FailedPushes", unit=MetricUnit.Count, value=failed)
    metrics.add_metric(name="FailedBroadcasts", unit=MetricUnit.Count, value=len(failed_at))
    logger.info(
        "batch broadcast",
        extra={
            "records": len(records),
            "matches": len(by_match),
            "pushed": pushed,
            "gone": len(gone),
            "forgotten": forgotten,
            "failed": failed,
            "failed_matches": len(failed_at),
        },
    )
    if failed_at:  # Lambda retries from the lowest: matches pushed after it are pushed again (at least once)
        return {"batchItemFailures": [{"itemIdentifier": min(failed_at, key=int)}]}
    return {"batchItemFailures": []}


def _forget(gone: Sequence[str], subscriptions: Subscriptions, budget_s: float = FORGET_BUDGET_S) -> int:
    """Forget the batch's gone connections, after every push and within a time budget: how many were."""
    deadline = time.monotonic() + budget_s
    forgotten = 0
    for connection_id in gone:
        if time.monotonic() > deadline:
            logger.info("gone connections left for later", extra={"left": len(gone) - forgotten})
            break
        try:
            subscriptions.forget(connection_id)
            forgotten += 1
        except (BotoCoreError, ClientError):
            logger.warning("forgetting a gone connection failed", extra={"connection_id": connection_id})
    return forgotten


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
) -> tuple[int, list[str], int]:
    """(messages pushed, connections gone, connections failed) for one match's records of a batch. A gone
    connection is only noted here: forgetting it is left to the end of the batch, off every send."""
    changes = [change for record in records for change in _changes(record)]
    moved = any(_counters_moved(record) for record in records)
    if not changes and not moved:
        return 0, [], 0
    connections = subscriptions.connections(match_id)
    if not connections:
        return 0, [], 0
    outgoing = [messages.change(match_id, change) for change in changes]
    if moved:
        outgoing.append(messages.stats(match_id, stats.render(repository.totals(match_id))))

    pushed = failed = 0
    gone: list[str] = []
    for connection_id in connections:  # the matches of a batch are pushed in parallel, a match's in order
        for text in outgoing:
            try:
                send(connection_id, text)
            except WebsocketDisconnectedError:
                gone.append(connection_id)
                break
            except (BotoCoreError, ClientError) as error:
                logger.warning("push failed", extra={"connection_id": connection_id, "error": str(error)})
                failed += 1
                break
            pushed += 1
    return pushed, gone, failed
