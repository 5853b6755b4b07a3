"""A gone connection is forgotten after every push of the batch, within a time budget: one connection that
subscribed to many matches and left never delays the sends to the others."""

from chalice.app import WebsocketDisconnectedError

from chalicelib import broadcast
from tests.support.aws_events import change_record


class Subscriptions:
    def __init__(self, by_match):
        self.by_match, self.forgotten, self.log = by_match, [], []

    def connections(self, match_id):
        return self.by_match[match_id]

    def forget(self, connection_id):
        self.log.append(("forget", connection_id))
        self.forgotten.append(connection_id)


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
    answer = broadcast.broadcast({"Records": records}, repository=None, subscriptions=subscriptions, send=send)
    assert answer == {"batchItemFailures": []}
    assert subscriptions.forgotten == ["gone"]
    first_forget = subscriptions.log.index(("forget", "gone"))
    assert all(kind == "send" for kind, _ in subscriptions.log[:first_forget]) and first_forget == len(matches)


def test_forgetting_stops_at_its_budget():
    subscriptions = Subscriptions({})
    assert broadcast._forget(["a", "b"], subscriptions, budget_s=-1) == 0
    assert subscriptions.forgotten == []
