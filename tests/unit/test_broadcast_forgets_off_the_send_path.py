"""A gone connection is forgotten after every push of the batch, within a time budget: one connection that
subscribed to many matches and left never delays the sends to the others."""

from chalice.app import WebsocketDisconnectedError

from chalicelib import broadcast, fanout
from devstack.aws_events import change_record


class Subscriptions:
    def __init__(self, by_match):
        self.by_match, self.forgotten, self.log = by_match, [], []

    def shard_connections(self, match_id, shard):
        return self.by_match.get(match_id, []) if shard == 0 else []

    def forget(self, connection_id):
        self.log.append(("forget", connection_id))
        self.forgotten.append(connection_id)


class NoFanout:
    def dispatch(self, jobs):
        raise AssertionError("a small match is sent by the broadcaster itself")


def test_sends_finish_before_any_gone_connection_is_forgotten_and_each_is_forgotten_once():
    matches = [f"m{n}" for n in range(5)]
    subscriptions = Subscriptions({m: ["gone", f"fan-{m}"] for m in matches})

    def send(connection_id, text):
        if connection_id == "gone":
            raise WebsocketDisconnectedError(connection_id)
        subscriptions.log.append(("send", connection_id))

    records = [
        change_record(m, 1, [{"change": "insert", "event": {"event_id": "e1", "match_id": m}}], 100 + n)
        for n, m in enumerate(matches)
    ]
    answer = broadcast.broadcast(
        {"Records": records}, repository=None, subscriptions=subscriptions, send=send, dispatcher=NoFanout()
    )
    assert answer == {"batchItemFailures": []}
    assert subscriptions.forgotten == ["gone"]
    first_forget = subscriptions.log.index(("forget", "gone"))
    assert all(kind == "send" for kind, _ in subscriptions.log[:first_forget]) and first_forget == len(matches)


def test_forgetting_stops_at_its_budget():
    subscriptions = Subscriptions({})
    assert fanout.forget_gone(["a", "b"], subscriptions, budget_s=-1) == 0
    assert subscriptions.forgotten == []
