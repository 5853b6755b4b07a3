"""Real Kafka and the local DynamoDB engine, started once for the session on free ports in a temp dir."""

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from chalice.test import Client

import app
from chalicelib.services import Services
from devstack.api_server import local_api_server
from devstack.cdn import INSTALL, LocalCdn, nginx_binary
from devstack.event_source import LocalEventSource
from devstack.stack import LocalStack, ensure_subscriptions_table, ensure_table, ensure_topic, free_port
from devstack.stream_source import LocalStreamSource
from devstack.websocket_gateway import STAGE, LocalWebSocketGateway
from matchtools.generate import generate_match
from tests.support import SCOPED_TOKENS, TOKEN, post, wait_for_count


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # on disk, so a test can stop the engine and start it again with its data
    local = LocalStack(tmp_path_factory.mktemp("devstack"), persistent=True)
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def environ(stack: LocalStack) -> dict[str, str]:
    environ = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.endpoints.bootstrap_servers,
        "DYNAMODB_ENDPOINT_URL": stack.endpoints.dynamodb_endpoint_url,
        "EVENTS_TOPIC": "match-events",
        "EVENTS_DEAD_LETTER_TOPIC": "match-events-dlq",
        "EVENTS_TABLE": "match-events",
        "SUBSCRIPTIONS_TABLE": "match-subscriptions",
        "INGEST_TOKEN": TOKEN,
        "INGEST_TOKENS": json.dumps(SCOPED_TOKENS),
        "KAFKA_ACK_TIMEOUT_SECONDS": "3",
        "WEBSOCKET_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}/{STAGE}",  # the ws_url fixture's gateway
        "WEBSOCKET_URL": f"ws://127.0.0.1:{free_port()}",
    }
    ensure_topic(environ["KAFKA_BOOTSTRAP_SERVERS"], environ["EVENTS_TOPIC"], partitions=3)
    ensure_topic(environ["KAFKA_BOOTSTRAP_SERVERS"], environ["EVENTS_DEAD_LETTER_TOPIC"], partitions=1)
    ensure_table(environ["DYNAMODB_ENDPOINT_URL"], environ["EVENTS_TABLE"])
    ensure_subscriptions_table(environ["DYNAMODB_ENDPOINT_URL"], environ["SUBSCRIPTIONS_TABLE"])
    return environ


@pytest.fixture(scope="session")
def live_services(environ: dict[str, str]) -> Iterator[Services]:
    """The app's own wiring, pointed at the real local services."""
    services = Services(environ)
    original, app.services = app.services, services
    yield services
    app.services = original


@pytest.fixture(scope="session")
def pipeline(live_services: Services) -> Iterator[LocalEventSource]:
    """The local event source feeding the app's consumer Lambda, as in `make run`."""
    settings = live_services.settings
    source = LocalEventSource(settings.bootstrap_servers, settings.topic, app.consume_events, group_id="pipeline-tests")
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    yield source
    stop.set()
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def api(pipeline: LocalEventSource) -> Iterator[Client]:
    with Client(app.app) as client:
        yield client


@pytest.fixture(scope="session")
def api_url(pipeline: LocalEventSource) -> Iterator[str]:
    """The app served over real HTTP by Chalice's local server, for tools that speak HTTP."""
    port = free_port()
    server = local_api_server(app.app, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="session")
def cdn(api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCdn]:
    """The local CDN (nginx, with the stack's CloudFront cache rules) in front of ``api_url``, as in `make run`."""
    nginx = nginx_binary()
    if nginx is None:
        pytest.skip(f"NO NGINX HERE, the local CDN is untested: {INSTALL} (.ci/run installs it)")
    proxy = LocalCdn(nginx, urlsplit(api_url).port or 80, free_port(), tmp_path_factory.mktemp("cdn"))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def ws_url(pipeline: LocalEventSource, live_services: Services) -> Iterator[str]:
    """The app's WebSocket handlers behind the local gateway, and its broadcaster fed by the table's stream,
    as in `make run`."""
    settings = live_services.settings
    management_port = urlsplit(settings.websocket_endpoint_url).port
    gateway = LocalWebSocketGateway(
        app.ws_connect,
        app.ws_message,
        app.ws_disconnect,
        port=urlsplit(settings.websocket_url).port,
        management_port=management_port,
    ).start()
    source = LocalStreamSource(settings.dynamodb_endpoint_url or "", settings.table, app.broadcast_changes)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    assert source.ready.wait(60), "the stream source did not start"
    yield gateway.url
    stop.set()
    thread.join(timeout=30)
    gateway.stop()


@pytest.fixture(scope="session")
def generated_match(api: Client) -> tuple[str, list[dict[str, Any]], list[str]]:
    """A 3,400-event match posted in batches of 500 and fully consumed: (match_id, events, event_ids)."""
    match_id = f"gen-{uuid.uuid4().hex[:8]}"
    events = generate_match(match_id)
    ids: list[str] = []
    for start in range(0, len(events), 500):
        response = post(api, {"events": events[start : start + 500]})
        assert response.status_code == 202, response.body
        ids += response.json_body["event_ids"]
    assert wait_for_count(api, match_id, len(events))
    return match_id, events, ids
