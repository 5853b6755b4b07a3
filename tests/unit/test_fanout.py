"""Sending to a match's followers shard by shard: bounded concurrency, a time budget, messages in order per
connection, a failing shard retried alone, and a big match's shards handed to the sender in order."""

import threading
import time

from botocore.exceptions import ClientError
from chalice.app import WebsocketDisconnectedError

from chalicelib import broadcast, fanout, layout
from chalicelib.fanout import LocalFanout, QueueFanout, ShardJob, send_jobs, send_shard, sqs_event
from devstack.aws_events import change_record


class Followers:
    """Subscriptions' shard reads and forget, over a fixed list per (match, shard)."""

    def __init__(self, shards, broken=()):
        self.shards, self.broken, self.forgotten = shards, set(broken), []

    def shard_connections(self, match_id, shard):
        if (match_id, shard) in self.broken:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "Query")
        return self.shards.get((match_id, shard), [])

    def forget(self, connection_id):
        self.forgotten.append(connection_id)


def test_a_shard_is_sent_with_bounded_concurrency_each_connection_getting_every_message_in_order():
    followers = [f"c{n}" for n in range(200)]
    received, lock, in_flight, peak = {}, threading.Lock(), [0], [0]

    def send(connection_id, text):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.001)
        with lock:
            in_flight[0] -= 1
            received.setdefault(connection_id, []).append(text)

    sent = send_shard(ShardJob("m", 3, ("a", "b", "c")), Followers({("m", 3): followers}), send)
    assert (sent.pushed, sent.failed, sent.gone) == (600, 0, [])
    assert all(received[c] == ["a", "b", "c"] for c in followers)
    assert 1 < peak[0] <= fanout.SEND_THREADS


def test_gone_and_failing_connections_are_noted_and_past_the_budget_the_rest_count_as_failed():
    def send(connection_id, text):
        if connection_id == "gone":
            raise WebsocketDisconnectedError(connection_id)
        if connection_id == "broken":
            raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "slow down"}}, "Post")

    shards = Followers({("m", 0): ["gone", "broken", "fine"]})
    sent = send_shard(ShardJob("m", 0, ("a", "b")), shards, send)
    assert (sent.pushed, sent.failed, sent.gone) == (2, 1, ["gone"])
    late = send_shard(ShardJob("m", 0, ("a",)), shards, send, budget_s=-1)
    assert (late.pushed, late.failed) == (0, 3)


def test_a_shard_that_cannot_be_read_is_retried_with_its_later_jobs_and_the_other_shards_are_not_resent():
    shards = Followers({("m", 1): ["x"], ("m", 2): ["y"]}, broken={("m", 1)})
    sent_to = []
    jobs = [ShardJob("m", 1, ("first",)), ShardJob("m", 2, ("first",)), ShardJob("m", 1, ("second",))]
    event = sqs_event(jobs)
    answer, sent = send_jobs(event, shards, lambda c, t: sent_to.append((c, t)))
    ids = [r["messageId"] for r in event["Records"]]
    assert answer == {"batchItemFailures": [{"itemIdentifier": ids[0]}, {"itemIdentifier": ids[2]}]}
    assert sent_to == [("y", "first")] and sent.pushed == 1


def test_a_big_matchs_shards_are_queued_with_every_message_and_a_small_match_is_sent_in_place():
    big = {("big", s): [f"b{s}-{n}" for n in range(251)] for s in range(layout.SUBSCRIBER_SHARDS)}
    followers = Followers(big | {("small", 5): ["s1"]})
    queued, sent_to = [], []

    class Queue:
        def dispatch(self, jobs):
            queued.extend(jobs)

    records = [
        change_record(m, 1, [{"change": "insert", "event": {"event_id": "e1", "match_id": m}}], 100 + n)
        for n, m in enumerate(("big", "small"))
    ]
    answer = broadcast.broadcast({"Records": records}, None, followers, lambda c, t: sent_to.append(c), Queue())  # type: ignore[arg-type]
    assert answer == {"batchItemFailures": []}
    assert sorted(j.shard for j in queued) == list(range(layout.SUBSCRIBER_SHARDS)) and {
        j.match_id for j in queued
    } == {"big"}
    assert all(len(j.messages) == 1 and '"cursor":"000000000001.000"' in j.messages[0] for j in queued)
    assert sent_to == ["s1"]


def test_the_local_stand_in_sends_a_shards_jobs_in_order_and_shards_concurrently():
    seen, lock, both_running = [], threading.Lock(), threading.Barrier(2, timeout=5)

    def deliver(event):
        (record,) = event["Records"]
        job = ShardJob.of(record["body"])
        if job.messages == ("1",):
            both_running.wait()  # the first jobs of two shards run at the same time
        with lock:
            seen.append((job.shard, job.messages[0]))

    local = LocalFanout(deliver)
    local.dispatch([ShardJob("m", s, (str(n),)) for n in (1, 2, 3) for s in (0, 1)])
    assert local.drain(timeout_s=10)
    assert [m for s, m in seen if s == 0] == ["1", "2", "3"] and [m for s, m in seen if s == 1] == ["1", "2", "3"]


def test_the_queue_gets_fifo_entries_grouped_by_match_and_shard_ten_at_a_time():
    batches = []

    class Sqs:
        def send_message_batch(self, QueueUrl, Entries):
            batches.append(Entries)
            return {"Successful": Entries}

    jobs = [ShardJob("m", s, ("x",)) for s in range(12)]
    QueueFanout(Sqs(), "https://sqs/q.fifo").dispatch(jobs)
    assert [len(b) for b in batches] == [10, 2]
    first = batches[0][0]
    assert first["MessageGroupId"] == "m#0" and ShardJob.of(first["MessageBody"]) == jobs[0]
    assert first["MessageDeduplicationId"] == jobs[0].dedupe_id() != jobs[1].dedupe_id()


def test_every_follower_gets_a_change_before_any_gets_the_statistics_after_it():
    order, lock = [], threading.Lock()

    def send(connection_id, text):
        time.sleep(0.0005)
        with lock:
            order.append(text)

    followers = [f"c{n}" for n in range(100)]
    send_shard(ShardJob("m", 0, ("change", "stats")), Followers({("m", 0): followers}), send)
    assert order == ["change"] * 100 + ["stats"] * 100
