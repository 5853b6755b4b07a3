"""The process's connections, made once on first use and replaceable in tests.

Nothing connects at import: a Lambda cold start or ``chalice local`` pays for
a client only when a request needs it, and every later request reuses it.
Nor does anything load the SDK at import: boto3 and botocore (most of a cold
start's import time) are imported with the first client, by the paths that
make one.
"""

import os
from collections.abc import Callable, Mapping
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from chalice.app import WebsocketAPI

from chalicelib import layout
from chalicelib.config import Settings
from chalicelib.directory import MatchDirectory
from chalicelib.fanout import SEND_THREADS, Fanout, LocalFanout, QueueFanout
from chalicelib.publishing import KafkaPublisher, Publisher, new_producer
from chalicelib.repository import EventRepository
from chalicelib.security import IngestToken
from chalicelib.subscriptions import Subscriptions

if TYPE_CHECKING:  # the stubs are a development requirement, not packaged
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient


@cache
def dynamodb_config() -> "Config":
    """Fail fast and retry a bounded number of times; the event source retries the batch after that.
    parameter_validation off: the repository builds every request itself, and validation was a visible
    share of the consumer's CPU in the profile (make profile)."""
    from botocore.config import Config

    return Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"mode": "standard", "max_attempts": 5},
        parameter_validation=False,
        max_pool_connections=16,
    )


class Services:
    """The process's clients and adapters. Any of the four the HTTP edge uses can be given instead, as a
    unit test gives its fakes (tests/support/fakes.py): they then stand in for the real ones."""

    def __init__(
        self,
        environ: Mapping[str, str] = os.environ,
        *,
        publisher: Publisher | None = None,
        ingest_token: IngestToken | None = None,
        repository: EventRepository | None = None,
        directory: MatchDirectory | None = None,
    ) -> None:
        self._environ = environ
        self._fanout: Fanout | None = None
        given: dict[str, object] = {"publisher": publisher, "ingest_token": ingest_token}
        given |= {"repository": repository, "directory": directory}
        self.__dict__.update({name: value for name, value in given.items() if value is not None})  # over the lazy ones

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env(self._environ)

    @cached_property
    def publisher(self) -> KafkaPublisher:
        settings = self.settings
        return KafkaPublisher(
            lambda: new_producer(settings), settings.topic, settings.dead_letter_topic, settings.ack_timeout_seconds
        )

    @cached_property
    def dynamodb(self) -> "DynamoDBClient":
        import boto3

        settings = self.settings
        endpoint = settings.dynamodb_endpoint_url
        local = "local" if endpoint else None  # the local engine takes any credentials
        return boto3.client(
            "dynamodb",
            region_name=settings.region,
            endpoint_url=endpoint,
            config=dynamodb_config(),
            aws_access_key_id=local,
            aws_secret_access_key=local,
        )

    @cached_property
    def repository(self) -> EventRepository:
        return EventRepository(self.dynamodb, self.settings.table, self.settings.cache_entries)

    @cached_property
    def directory(self) -> MatchDirectory:
        return MatchDirectory(self.dynamodb, self.settings.table)

    @cached_property
    def subscriptions(self) -> Subscriptions:
        return Subscriptions(
            self.dynamodb, self.settings.subscriptions_table, cache_entries=self.settings.cache_entries
        )

    def fanout(self, deliver: Callable[[dict[str, Any]], Any]) -> Fanout:
        """Where a big match's shard jobs go: the sender function's queue in the cloud; locally devstack's
        stand-in, which hands each job to ``deliver`` (the sender function) as the queue would."""
        if self._fanout is None:
            url = self.settings.fanout_queue_url
            if url:
                import boto3

                self._fanout = QueueFanout(boto3.client("sqs", region_name=self.settings.region), url)
            else:
                self._fanout = LocalFanout(deliver)
        return self._fanout

    def fan_out_through(self, fanout: Fanout) -> None:
        """Send big matches' shard jobs to ``fanout`` instead: devstack's sender processes."""
        self._fanout = fanout

    def websocket(self, api: WebsocketAPI) -> WebsocketAPI:
        """The app's WebsocketAPI, ready to send outside a WebSocket event (the broadcaster)."""
        if api.session is None:
            import boto3
            import botocore.session
            from botocore.config import Config

            settings = self.settings
            local = settings.websocket_endpoint_url
            credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if local else {}
            core = botocore.session.get_session()
            # one connection per sending thread, for a process that sends several shards at once
            core.set_default_client_config(Config(max_pool_connections=SEND_THREADS * layout.SUBSCRIBER_SHARDS))
            api.session = boto3.session.Session(botocore_session=core, region_name=settings.region, **credentials)
            if local:
                # Chalice builds https://{domain}/{stage}; devstack's Management API is plain HTTP, so its URL
                # is set as the endpoint (configure keeps an endpoint once set)
                api._endpoint = local
            elif settings.websocket_api_id:
                api.configure_from_api_id(settings.websocket_api_id, settings.websocket_stage)
        return api

    @cached_property
    def ingest_token(self) -> IngestToken:
        def secrets_manager() -> Any:
            import boto3

            return boto3.client("secretsmanager", region_name=self.settings.region)

        return IngestToken(self._environ, secrets_manager)
