"""Real Kafka and DynamoDB Local, started once for the session on free ports in a temp dir."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice.test import Client

import app
from chalicelib.services import Services
from devstack.event_source import LocalEventSource
from devstack.stack import Endpoints, LocalStack, ensure_table, ensure_topic

TOPIC = "match-events"
TABLE = "match-events"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(tmp_path_factory.mktemp("devstack"), persistent=False)
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def endpoints(stack: LocalStack) -> Endpoints:
    return stack.endpoints


@pytest.fixture(scope="session")
def environ(endpoints: Endpoints) -> dict[str, str]:
    ensure_topic(endpoints.bootstrap_servers, TOPIC, partitions=3)
    ensure_table(endpoints.dynamodb_endpoint_url, TABLE)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": endpoints.bootstrap_servers,
        "DYNAMODB_ENDPOINT_URL": endpoints.dynamodb_endpoint_url,
        "EVENTS_TOPIC": TOPIC,
        "EVENTS_TABLE": TABLE,
    }


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


@pytest.fixture
def api(pipeline: LocalEventSource) -> Iterator[Client]:
    with Client(app.app) as client:
        yield client


def eventually(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until check() is truthy; generous timeout for a slow shared CI machine."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)
