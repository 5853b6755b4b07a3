"""The local DynamoDB engine alone, as ``make run`` starts it: one per session, a fresh table per test.

Every test here states DynamoDB's documented behaviour and would pass against DynamoDB itself: the
endpoint is the only thing that is local. ``CONFORMANCE_ENDPOINT=<url>`` runs them against another endpoint
instead (DynamoDB, or stock ``moto_server`` to see what the launcher fixes); the tests that restart the
engine are skipped there.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import boto3
import pytest

from chalicelib import layout
from devstack.stack import LOCAL_AWS, Service, dynamodb_client, engine_service, free_port


@attrs.define
class Engine:
    service: Service | None
    url: str

    def restartable(self) -> Service:
        if self.service is None:
            pytest.skip("restarts need the engine this suite starts")
        return self.service

    def client(self, **overrides: Any) -> Any:
        return (
            dynamodb_client(self.url) if not overrides else boto3.client("dynamodb", endpoint_url=self.url, **overrides)
        )

    def streams(self) -> Any:
        return boto3.client("dynamodbstreams", endpoint_url=self.url, **LOCAL_AWS)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if endpoint := os.environ.get("CONFORMANCE_ENDPOINT"):
        yield Engine(None, endpoint)
        return
    data: Path = tmp_path_factory.mktemp("engine")
    port = free_port()
    service = engine_service(data / "dynamodb", port, data / "dynamodb.log")
    service.start()
    yield Engine(service, f"http://127.0.0.1:{port}")
    service.stop()


@pytest.fixture
def table(engine: Engine) -> str:
    """A new table laid out as the app's events table (its three LSIs, the directory GSI, the stream)."""
    name = f"conformance-{uuid.uuid4().hex[:8]}"
    client = engine.client()
    client.create_table(**layout.table_definition(name))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    return name
