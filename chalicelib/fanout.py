"""Sending a match's messages to its followers, one shard at a time.

A match's followers sit in ``layout.SUBSCRIBER_SHARDS`` partitions. A shard
is the unit of sending: its connections are read in one Query, then
SEND_THREADS threads send to them at once, within a time budget. Each
connection gets every message in order.

The broadcaster sends a small match's shards itself. For a big match (more
than ``FANOUT_INLINE_FOLLOWERS``, 250, in its first shard) it queues one job per shard
on a FIFO queue, grouped by match and shard. The sender function then sends
each job while the others are sent concurrently, so the time to reach every
follower does not grow with one function's sends. A shard's jobs stay in
order, so a connection still gets its changes in change order.

A failed shard is retried alone and never resends to the others. Connections
that are gone are forgotten after the sends, within what is left of the
budget.
"""

import functools
import hashlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import attrs
from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import WebsocketDisconnectedError

from chalicelib import layout
from chalicelib.observability import logger
from chalicelib.subscriptions import Subscriptions

Send = Callable[[str, str], None]
SEND_THREADS = 32  # concurrent sends per shard: one sender's share of the account's PostToConnection rate
SEND_BUDGET_S = 40.0  # of a sender's 60 s: what is not sent by then is left to the feed (FailedPushes)
JOB_BYTES = 200_000  # messages per job, at most: SQS takes 256 KB a message


@attrs.frozen
class ShardJob:
    match_id: str
    shard: int
    messages: tuple[str, ...]

    def body(self) -> str:
        return json.dumps({"match_id": self.match_id, "shard": self.shard, "messages": list(self.messages)})

    @classmethod
    def of(cls, body: str) -> "ShardJob":
        raw = json.loads(body)
        return cls(raw["match_id"], int(raw["shard"]), tuple(raw["messages"]))

    def group(self) -> str:
        """The FIFO group: one match's shard, so its jobs are sent in order."""
        return f"{self.match_id}#{self.shard}"

    def dedupe_id(self) -> str:
        """The same job queued twice (a retried broadcaster batch) is sent once."""
        return hashlib.sha256(self.body().encode()).hexdigest()


@attrs.define
class Sent:
    pushed: int = 0
    failed: int = 0
    gone: list[str] = attrs.field(factory=list)

    def add(self, other: "Sent") -> None:
        self.pushed, self.failed = self.pushed + other.pushed, self.failed + other.failed
        self.gone += other.gone


def jobs(match_id: str, outgoing: Sequence[str]) -> list[ShardJob]:
    """One job per shard per JOB_BYTES of messages, in order."""
    chunks: list[list[str]] = [[]]
    size = 0
    for text in outgoing:
        if chunks[-1] and size + len(text) > JOB_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(text)
        size += len(text)
    return [ShardJob(match_id, s, tuple(c)) for c in chunks for s in range(layout.SUBSCRIBER_SHARDS)]


def send_shard(
    job: ShardJob,
    subscriptions: Subscriptions,
    send: Send,
    *,
    connections: Sequence[str] | None = None,
    budget_s: float = SEND_BUDGET_S,
) -> Sent:
    """Send the job's messages to each connection of its shard (read unless given), SEND_THREADS at a time.

    Message by message: every follower gets a change before any gets the statistics after it, so the change
    reaches the last follower in half the time, and each connection still gets its messages in order. A
    gone connection is noted and a failing one skipped for the rest; past the budget the rest are counted
    as failed: their clients catch up from the change feed."""
    followers = subscriptions.shard_connections(job.match_id, job.shard) if connections is None else connections
    deadline = time.monotonic() + budget_s
    total = Sent()
    dropped: set[str] = set()  # gone, failed or past the budget: sent nothing more

    def deliver(text: str, connection_id: str) -> Sent:
        if time.monotonic() > deadline:
            return Sent(failed=1)
        try:
            send(connection_id, text)
        except WebsocketDisconnectedError:
            return Sent(gone=[connection_id])
        except (BotoCoreError, ClientError) as error:
            logger.warning("push failed", extra={"connection_id": connection_id, "error": str(error)})
            return Sent(failed=1)
        return Sent(pushed=1)

    if followers:
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(followers))) as pool:
            for text in job.messages:
                receiving = [c for c in followers if c not in dropped]
                results = pool.map(functools.partial(deliver, text), receiving)
                for connection_id, result in zip(receiving, results, strict=True):
                    total.add(result)
                    if not result.pushed:
                        dropped.add(connection_id)
    return total


class Fanout(Protocol):
    """Where a big match's shard jobs go: the sender function's queue, or devstack's stand-in for it."""

    def dispatch(self, jobs: Sequence[ShardJob]) -> None: ...


class QueueFanout:
    """The FIFO queue the sender function reads (in the cloud)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs, self.queue_url = sqs, queue_url

    def dispatch(self, jobs: Sequence[ShardJob]) -> None:
        for start in range(0, len(jobs), 10):  # SendMessageBatch's limit
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": job.body(),
                    "MessageGroupId": job.group(),
                    "MessageDeduplicationId": job.dedupe_id(),
                }
                for n, job in enumerate(jobs[start : start + 10])
            ]
            failed = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed")
            if failed:  # the broadcaster's batch fails and is retried; the queue drops what it already has
                raise RuntimeError(f"fan-out jobs not queued: {failed}")


class LocalFanout:
    """A stand-in for the queue in one process (each of devstack's sender processes, and tests): each job
    becomes the SQS event the sender function gets in the cloud, handed to it on a thread of its own per
    shard, so shards are sent concurrently and a shard's jobs in order."""

    def __init__(self, deliver: Callable[[dict[str, Any]], Any]) -> None:
        self.deliver = deliver
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queues: dict[str, list[ShardJob]] = defaultdict(list)
        self._running: set[str] = set()

    def dispatch(self, jobs: Sequence[ShardJob]) -> None:
        with self._lock:
            for job in jobs:
                self._queues[job.group()].append(job)
                if job.group() not in self._running:
                    self._running.add(job.group())
                    threading.Thread(target=self._drain, args=(job.group(),), daemon=True).start()

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Wait until every job dispatched so far is sent: whether they were within ``timeout_s``."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout_s)

    def _drain(self, group: str) -> None:
        while True:
            with self._lock:
                if not self._queues[group]:
                    self._running.discard(group)
                    del self._queues[group]
                    self._idle.notify_all()
                    return
                job = self._queues[group].pop(0)
            try:
                self.deliver(sqs_event([job]))
            except Exception:  # the queue would retry it; here it is logged and left to the feed
                logger.exception("local fan-out job failed", extra={"group": group})


def sqs_event(jobs: Iterable[ShardJob]) -> dict[str, Any]:
    """Jobs in the shape Lambda delivers SQS FIFO messages."""
    return {
        "Records": [
            {
                "messageId": job.dedupe_id()[:32],
                "body": job.body(),
                "attributes": {"MessageGroupId": job.group(), "MessageDeduplicationId": job.dedupe_id()},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for job in jobs
        ]
    }


FORGET_BUDGET_S = 5.0  # for forgetting gone connections after the sends; the rest expire by TTL or go next time


def forget_gone(gone: Sequence[str], subscriptions: Subscriptions, budget_s: float = FORGET_BUDGET_S) -> int:
    """Forget connections found gone, after every send and within a time budget: how many were."""
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


def send_jobs(
    event: Mapping[str, Any], subscriptions: Subscriptions, send: Send, budget_s: float = SEND_BUDGET_S
) -> tuple[dict[str, Any], Sent]:
    """The sender function: each job of the SQS batch in order; a job that fails (DynamoDB unreachable) and
    every later one of its group are reported, so the queue retries them in order. Gone connections are
    forgotten last. Returns Lambda's partial batch response and what was sent."""
    deadline = time.monotonic() + budget_s
    total, failed_groups, failures = Sent(), set(), []
    for record in event.get("Records", []):
        job = ShardJob.of(record["body"])
        if job.group() in failed_groups:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        try:
            total.add(send_shard(job, subscriptions, send, budget_s=max(0.0, deadline - time.monotonic())))
        except (BotoCoreError, ClientError):
            logger.exception("a shard could not be read; it is retried", extra={"group": job.group()})
            failed_groups.add(job.group())
            failures.append({"itemIdentifier": record["messageId"]})
    forget_gone(sorted(set(total.gone)), subscriptions)
    return {"batchItemFailures": failures}, total
