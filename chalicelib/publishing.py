"""Kafka publishing: durable (acks=all, idempotent) and keyed by match_id.

The same code talks plaintext to the local broker and SASL/OAUTHBEARER (IAM)
over TLS to Amazon MSK; only ``producer_config`` knows the difference.
"""

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.net.sasl.oauth import AbstractTokenProvider

from chalicelib.config import Settings
from chalicelib.events import Event


class StreamUnavailable(Exception):
    """Kafka did not acknowledge in time; nothing may be reported accepted."""


class MSKIamTokens(AbstractTokenProvider):
    """Signs a short-lived MSK IAM token from the Lambda role's credentials."""

    def __init__(self, region: str) -> None:
        self.region = region

    def token(self) -> str:
        token, _expiry_ms = MSKAuthTokenProvider.generate_auth_token(self.region)
        return token


def producer_config(settings: Settings) -> dict[str, Any]:
    """KafkaProducer keyword arguments for the configured cluster."""
    timeout_ms = int(settings.ack_timeout_seconds * 1000)
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_block_ms": timeout_ms,
        "request_timeout_ms": timeout_ms,
        "delivery_timeout_ms": max(timeout_ms + 5, 2 * timeout_ms),
        "max_request_size": 4 * 1024 * 1024,
    }
    if settings.kafka_auth == "msk_iam":
        config |= {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": MSKIamTokens(settings.region),
        }
    return config


def message(event: Event, received_at: str) -> bytes:
    """What travels on the topic: the canonical event plus when the API took it."""
    return json.dumps(event.to_dict() | {"received_at": received_at}, separators=(",", ":")).encode()


class EventPublisher:
    """Publishes a batch and returns only once Kafka acknowledged all of it."""

    def __init__(self, make_producer: Callable[[], KafkaProducer], topic: str, ack_timeout_seconds: float) -> None:
        self._make_producer = make_producer
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self.topic = topic
        self.ack_timeout_seconds = ack_timeout_seconds

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = self._make_producer()
            return self._producer

    def publish(self, events: Sequence[Event], received_at: str) -> None:
        try:
            producer = self._get_producer()
            futures = [producer.send(self.topic, key=e.match_id.encode(), value=message(e, received_at)) for e in events]
            producer.flush(timeout=self.ack_timeout_seconds)
            for future in futures:
                future.get(timeout=0)
        except KafkaError as error:
            raise StreamUnavailable(str(error)) from error
