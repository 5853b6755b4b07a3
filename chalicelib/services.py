"""The process's connections, made once on first use and replaceable in tests.

Nothing connects at import: a Lambda cold start or ``chalice local`` pays for
a client only when a request needs it, and every later request reuses it.
"""

import os
from collections.abc import Mapping
from functools import cached_property

import boto3
from kafka import KafkaProducer

from chalicelib.config import Settings
from chalicelib.publishing import EventPublisher, producer_config
from chalicelib.repository import EventRepository


class Services:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._environ = environ

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env(self._environ)

    @cached_property
    def publisher(self) -> EventPublisher:
        config = producer_config(self.settings)
        return EventPublisher(lambda: KafkaProducer(**config), self.settings.topic, self.settings.ack_timeout_seconds)

    @cached_property
    def repository(self) -> EventRepository:
        settings = self.settings
        endpoint = settings.dynamodb_endpoint_url
        local = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if endpoint else {}
        client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=endpoint, **local)
        return EventRepository(client, settings.table)
