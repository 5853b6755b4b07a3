"""Live push over real sockets: the local WebSocket gateway calling the app's handlers, the consumer writing
to the DynamoDB engine, its stream feeding the broadcaster, pushes arriving at subscribed clients."""

import os
import signal
import threading
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from websockets.exceptions import InvalidStatus

import app
from chalicelib import broadcast, fanout, messages
from chalicelib.subscriptions import Subscriptions
from devstack.aws_events import change_record
from devstack.run_process import PROJECT_DIR
from devstack.sender import SenderProcesses
from devstack.stream_source import LocalStreamSource
from matchtools.client import ApiClient
from matchtools.live import WebSocketProducer, watch
from matchtools.live_client import LiveClient
from matchtools.replay import replay
from tests.support import HEADERS, TOKEN, eventually, post, read_all, wait_for_count


def new_match() -> str:
    return f"live-{uuid.uuid4().hex[:10]}"


def event(match_id: str, n: int, event_type: str = "pass", **extra: Any) -> dict[str, Any]:
    return {
        "match_id": match_id,
        "event_id": f"e{n}",
        "event_type": event_type,
        "team_id": "home",
        "player_id": f"p{n % 3}",
        "timestamp": f"2026-05-01T15:{n // 60:02d}:{n % 60:02d}Z",
        **extra,
    }


def test_a_subscriber_gets_every_change_in_order_from_http_and_socket_producers(api, ws_url):
    match_id = new_match()
    with LiveClient(ws_url) as fan, LiveClient(ws_url, TOKEN) as producer:
        subscribed = fan.subscribe(match_id)
        assert subscribed["cursor"] is None and subscribed["stats"]["event_count"] == 0
        assert subscribed["stats"]["status"] == "pre_match"
        assert post(api, {"events": [event(match_id, n) for n in range(3)]}).status_code == 202
        answer = producer.ask({"action": "publish", "request_id": "r1", "events": [event(match_id, n) for n in (3, 4)]})
        assert answer == {"type": "accepted", "request_id": "r1", "accepted": 2, "event_ids": ["e3", "e4"]}
        fan.until(lambda m: m["type"] == "stats" and m["stats"]["event_count"] == 5)
        changes = fan.changes()
        assert sorted(c["event"]["event_id"] for c in changes) == [f"e{n}" for n in range(5)]
        assert [c["cursor"] for c in changes] == sorted(c["cursor"] for c in changes)
        assert len({c["cursor"] for c in changes}) == 5
        assert all(
            set(c) == {"type", "match_id", "change", "event", "cursor"}
            and c["change"] == "insert"
            and c["match_id"] == match_id
            for c in changes
        )
        feed = api.http.get(f"/matches/{match_id}/changes").json_body["changes"]
        assert [(c["cursor"], c["event"]["event_id"]) for c in feed] == [
            (c["cursor"], c["event"]["event_id"]) for c in changes
        ]


def test_unsubscribe_stops_the_pushes(api, ws_url):
    match_id = new_match()
    with LiveClient(ws_url) as leaving, LiveClient(ws_url) as staying:
        leaving.subscribe(match_id)
        staying.subscribe(match_id)
        assert leaving.ask({"action": "unsubscribe", "match_id": match_id}) == {
            "type": "unsubscribed",
            "match_id": match_id,
        }
        post(api, event(match_id, 1))
        staying.until(lambda m: m["type"] == "stats")
        assert leaving.quiet(1.0)


def test_a_voided_goal_is_pushed_as_a_delete_and_the_score_drops(api, ws_url):
    match_id = new_match()
    with LiveClient(ws_url) as fan:
        fan.subscribe(match_id)
        post(api, event(match_id, 1, "goal"))
        scored = fan.until(lambda m: m["type"] == "stats")
        assert scored["stats"]["score"] == {"home": 1}
        response = api.http.delete(f"/matches/{match_id}/events/e1", headers=HEADERS)
        assert response.status_code == 202
        voided = fan.until(lambda m: m["type"] == "change" and m["change"] == "delete")
        assert voided["event"]["event_id"] == "e1" and voided["event"]["deleted"] is True
        assert fan.until(lambda m: m["type"] == "stats")["stats"]["score"] == {}
        assert [c["change"] for c in fan.changes()] == ["insert", "delete"]


def test_a_subscriber_that_reconnects_catches_up_from_the_change_feed(api, ws_url):
    match_id = new_match()
    with LiveClient(ws_url) as fan:
        fan.subscribe(match_id)
        post(api, {"events": [event(match_id, n) for n in range(3)]})
        fan.until(lambda m: m["type"] == "stats" and m["stats"]["event_count"] == 3)
        last = fan.changes()[-1]["cursor"]
    post(api, {"events": [event(match_id, n) for n in range(3, 6)]})  # while disconnected
    assert wait_for_count(api, match_id, 6)
    with LiveClient(ws_url) as back:
        subscribed = back.subscribe(match_id)
        missed = api.http.get(f"/matches/{match_id}/changes?after={last}").json_body["changes"]
        assert [c["cursor"] for c in missed][-1] == subscribed["cursor"]
        post(api, event(match_id, 6))
        back.until(lambda m: m["type"] == "stats" and m["stats"]["event_count"] == 7)
        seen = {c["cursor"]: c["event"]["event_id"] for c in missed + back.changes()}  # deduped by cursor
        assert sorted(seen.values()) == [f"e{n}" for n in range(3, 7)]


@pytest.mark.parametrize(
    "message, error",
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ({"action": "dance"}, "unknown_action"),
        ({"match_id": "m1"}, "unknown_action"),
        ({"action": "subscribe"}, "invalid_match_id"),
        ({"action": "subscribe", "match_id": "no spaces allowed"}, "invalid_match_id"),
        ({"action": "unsubscribe", "match_id": 7}, "invalid_match_id"),
        ({"action": "publish", "request_id": "r9", "events": []}, "unauthorized"),
        ("[" * 3000, "invalid_message"),  # refused before parsing: json.loads would recurse 3,000 levels
    ],
)
def test_a_bad_message_gets_an_error_and_the_connection_stays_open(ws_url, message, error):
    with LiveClient(ws_url) as client:
        answer = client.ask(message)
        assert answer["type"] == "error" and answer["error"] == error and answer["message"]
        assert client.subscribe(new_match())["type"] == "subscribed"


def test_ping_is_answered_pong(ws_url):
    with LiveClient(ws_url) as client:
        assert client.ask({"action": "ping"}) == {"type": "pong"}


def test_a_connection_follows_at_most_50_matches_and_resubscribing_is_free(ws_url):
    with LiveClient(ws_url) as client:
        matches = [new_match() for _ in range(50)]
        for match_id in matches:
            assert client.subscribe(match_id)["type"] == "subscribed"
        assert client.subscribe(matches[0])["type"] == "subscribed"  # already followed: not counted again
        refused = client.ask({"action": "subscribe", "match_id": new_match()})
        assert (refused["type"], refused["error"]) == ("error", "too_many_subscriptions")
        assert client.ask({"action": "unsubscribe", "match_id": matches[1]})["type"] == "unsubscribed"
        assert client.subscribe(new_match())["type"] == "subscribed"


def test_a_producer_publishing_invalid_events_hears_every_error_and_nothing_is_stored(api, ws_url):
    match_id = new_match()
    with LiveClient(ws_url, TOKEN) as producer:
        answer = producer.ask(
            {"action": "publish", "request_id": "bad", "events": [event(match_id, 1), event(match_id, 2, "dance")]}
        )
        assert answer["type"] == "error" and answer["error"] == "invalid_events" and answer["request_id"] == "bad"
        assert answer["errors"] and all("field" in e or "index" in e for e in answer["errors"])
        assert producer.ask({"action": "publish", "events": "nope"})["type"] == "error"
    assert read_all(api, f"/matches/{match_id}") == []


@pytest.mark.parametrize("how", ["header", "query"])
def test_a_wrong_producer_token_is_refused_on_the_upgrade(ws_url, how):
    with pytest.raises(InvalidStatus) as refused:
        if how == "header":
            LiveClient(ws_url, "wrong-token")
        else:
            LiveClient(f"{ws_url}/?token=wrong-token")
    assert refused.value.response.status_code == 401


def test_the_producer_token_works_in_the_query_string(ws_url):
    match_id = new_match()
    with LiveClient(f"{ws_url}/?token={TOKEN}") as producer:
        assert producer.ask({"action": "publish", "events": [event(match_id, 1)]})["type"] == "accepted"


def test_matchtools_watch_prints_each_change_that_replay_publishes_over_the_socket(api_url, ws_url):
    match_id = new_match()
    lines: list[str] = []
    watcher = threading.Thread(
        target=watch, args=(ws_url, ApiClient(api_url), match_id), kwargs={"out": lines.append, "count": 3}, daemon=True
    )
    watcher.start()
    assert eventually(lambda: lines, timeout=30)  # subscribed
    replay(WebSocketProducer(ws_url, TOKEN), [event(match_id, n) for n in range(3)], float("inf"), progress=False)
    watcher.join(timeout=60)
    assert not watcher.is_alive()
    assert [line.split()[1:4] for line in lines if line.startswith("0")] == [
        ["insert", "pass", f"e{n}"] for n in range(3)
    ]


# -- the broadcaster's faults ---------------------------------------------------------------------------------


def subscribed_clients(ws_url: str, match_id: str, count: int) -> list[LiveClient]:
    clients = [LiveClient(ws_url) for _ in range(count)]
    for client in clients:
        client.subscribe(match_id)
    return clients


def test_a_failing_connection_does_not_stop_the_others_and_a_gone_one_is_forgotten(live_services, ws_url):
    match_id = new_match()
    subscriptions = live_services.subscriptions
    clients = subscribed_clients(ws_url, match_id, 3)
    subscriptions.subscribe("gone-connection", match_id)  # no socket behind it: the Management API answers 410
    failing = min(set(subscriptions.connections(match_id)) - {"gone-connection"})  # one of the three sockets

    def send(connection_id: str, text: str) -> None:
        if connection_id == failing:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "PostToConnection")
        live_services.websocket(app.app.websocket_api).send(connection_id, text)

    changes = [{"change": "insert", "event": event(match_id, n) | {"version": 1}} for n in range(2)]
    answer = broadcast.broadcast(
        {"Records": [change_record(match_id, 1, changes, 100)]},
        live_services.repository,
        subscriptions,
        send,
        live_services.fanout(app.send_fanout),
    )
    assert answer == {"batchItemFailures": []}
    received = []
    for client in clients:
        try:
            received.append([client.next(timeout=5)["cursor"], client.next(timeout=5)["cursor"]])
        except TimeoutError:
            received.append(None)
    assert sorted(received, key=str) == [None] + [["000000000001.000", "000000000001.001"]] * 2
    assert "gone-connection" not in subscriptions.connections(match_id)
    assert len(subscriptions.connections(match_id)) == 3
    for client in clients:
        client.connection.close()


def test_a_batch_whose_match_cannot_be_read_is_retried_from_its_first_record(live_services):
    unreachable = Subscriptions(
        boto3.client(  # nothing listens on port 9
            "dynamodb",
            endpoint_url="http://127.0.0.1:9",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 1}, connect_timeout=1),
        ),
        "subscriptions",
    )
    records = [
        change_record("m-a", 1, [{"change": "insert", "event": event("m-a", 1)}], 200),
        change_record("m-b", 1, [{"change": "insert", "event": event("m-b", 1)}], 201),
    ]
    answer = broadcast.broadcast(
        {"Records": records},
        live_services.repository,
        unreachable,
        lambda *_: None,
        live_services.fanout(app.send_fanout),
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "200"}]}


def test_the_stream_source_retries_a_failing_batch_until_it_succeeds(live_services, api):
    settings = live_services.settings
    seen: list[list[str]] = []
    delivered = threading.Event()

    def flaky(stream_event: dict[str, Any], context: Any) -> dict[str, Any]:
        keys = [
            r["dynamodb"]["Keys"]["sk"]["S"]
            for r in stream_event["Records"]
            if r["dynamodb"]["Keys"]["match_id"]["S"] == match_id
        ]
        if keys:
            seen.append(keys)
            if len(seen) < 3:
                raise RuntimeError("transient")
            delivered.set()
        return {"batchItemFailures": []}

    match_id = new_match()
    source = LocalStreamSource(settings.dynamodb_endpoint_url or "", settings.table, flaky, log=lambda _: None)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert source.ready.wait(60)
        post(api, event(match_id, 1))
        assert delivered.wait(90)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert len(seen) == 3 and seen[0] == seen[1] == seen[2] and "c#000000000001" in seen[0]
    assert source.failed_batches >= 2


def test_the_local_sender_processes_send_each_shard_in_order_to_every_follower(live_services, environ, ws_url):
    match_id = new_match()
    clients = subscribed_clients(ws_url, match_id, 4)
    texts = [
        messages.change(match_id, {"change": "insert", "event": event(match_id, n), "cursor": str(n)}) for n in range(3)
    ]
    senders = SenderProcesses(PROJECT_DIR, os.environ | environ)
    try:
        senders.dispatch(fanout.jobs(match_id, texts[:2]))
        senders.dispatch(fanout.jobs(match_id, texts[2:]))
        for client in clients:
            assert [client.next(timeout=30)["cursor"] for _ in texts] == ["0", "1", "2"]
        assert len(senders.pids()) > 1  # shards spread over processes
        for pid in senders.pids():  # a sender that dies is started again for the next job
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        senders.dispatch(fanout.jobs(match_id, texts[:1]))
        for client in clients:
            assert client.next(timeout=30)["cursor"] == "0"
    finally:
        senders.close()
        for client in clients:
            client.connection.close()
