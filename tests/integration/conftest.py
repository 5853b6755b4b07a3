"""Real Kafka and DynamoDB Local, started once for the session on free ports in a temp dir."""

import threading
from collections.abc import Iterator

import pytest
from chalice.test import Client

import app
from chalicelib.services import Services
from devstack.event_source import LocalEventSource
from devstack.stack import LocalStack, ensure_table, ensure_topic
from tests.support import TOKEN


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # on disk, so a test can stop DynamoDB Local and start it again with its data
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
        "INGEST_TOKEN": TOKEN,
        "KAFKA_ACK_TIMEOUT_SECONDS": "3",
    }
    ensure_topic(environ["KAFKA_BOOTSTRAP_SERVERS"], environ["EVENTS_TOPIC"], partitions=3)
    ensure_topic(environ["KAFKA_BOOTSTRAP_SERVERS"], environ["EVENTS_DEAD_LETTER_TOPIC"], partitions=1)
    ensure_table(environ["DYNAMODB_ENDPOINT_URL"], environ["EVENTS_TABLE"])
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
