"""Kafka publishing: durable (acks=all, idempotent) and keyed by match_id.

The same code talks plaintext to the local broker and SASL/OAUTHBEARER (IAM)
over TLS to Amazon MSK; only ``producer_config`` knows the difference.

kafka-python, and on MSK the IAM signer (which loads boto3), are imported when
the first producer is made, not with the app: every function imports the app,
and only the publishing routes and the consumer's dead letters need a producer.
"""

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.config import Settings
from chalicelib.errors import StreamUnavailable
from chalicelib.events import Event, Void
from chalicelib.observability import logger
from chalicelib.records import StreamRecord, encode

if TYPE_CHECKING:
    from kafka import KafkaProducer


class MSKIamTokens:
    """Signs a short-lived MSK IAM token from the Lambda role's credentials.

    A kafka-python ``AbstractTokenProvider``: ``connection_config`` registers it as one (an ABC's virtual
    subclass), so that defining it needs no kafka import.
    """

    def __init__(self, region: str) -> None:
        self.region = region

    def token(self) -> str:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        token: str = MSKAuthTokenProvider.generate_auth_token(self.region)[0]
        return token

    def extensions(self) -> dict[str, str]:
        """No SASL extensions (AbstractTokenProvider's default)."""
        return {}


def connection_config(settings: Settings) -> dict[str, Any]:
    """How any Kafka client (producer, admin) reaches the configured cluster."""
    config: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers.split(",")}
    if settings.kafka_auth == "msk_iam":
        from kafka.net.sasl.oauth import AbstractTokenProvider

        AbstractTokenProvider.register(MSKIamTokens)  # kafka-python accepts only its subclasses
        config |= {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": MSKIamTokens(settings.region),
        }
    return config


def producer_config(settings: Settings) -> dict[str, Any]:
    """KafkaProducer keyword arguments for the configured cluster."""
    timeout_ms = int(settings.ack_timeout_seconds * 1000)
    config: dict[str, Any] = connection_config(settings) | {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_block_ms": timeout_ms,
        "request_timeout_ms": timeout_ms,
        "delivery_timeout_ms": max(timeout_ms + 5, 2 * timeout_ms),
        "max_request_size": 4 * 1024 * 1024,
    }
    return config


def new_producer(settings: Settings) -> "KafkaProducer":
    """A producer for the configured cluster."""
    from kafka import KafkaProducer

    return KafkaProducer(**producer_config(settings))


class Publisher(Protocol):
    """What the producer routes need: publish a batch, acknowledged or raising (tests/support/fakes.py)."""

    def publish(self, events: Sequence[Event | Void], received_at: str, provider: str) -> None: ...


class KafkaPublisher:
    """The process's one producer: publishes and waits until Kafka acknowledged.

    A producer that failed (broker gone, a Lambda thawed with dead sockets,
    an idempotence sequence out of step) is thrown away and the next call
    makes a fresh one, so the API recovers by itself when Kafka returns.
    """

    def __init__(
        self,
        make_producer: Callable[[], "KafkaProducer"],
        topic: str,
        dead_letter_topic: str,
        ack_timeout_seconds: float,
    ) -> None:
        self._make_producer = make_producer
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self.topic, self.dead_letter_topic = topic, dead_letter_topic
        self.ack_timeout_seconds = ack_timeout_seconds

    def publish(self, events: Sequence[Event | Void], received_at: str, provider: str) -> None:
        """Keyed by match_id, so a match keeps its order in one partition."""
        self._send_all([(self.topic, key, value, []) for key, value in encode(events, received_at, provider)])

    def dead_letter(self, rejects: Sequence[tuple[StreamRecord, str]]) -> None:
        """The original bytes, with why and where they came from in the headers."""
        self._send_all(
            [
                (
                    self.dead_letter_topic,
                    record.key,
                    record.value,
                    [
                        ("error", error.encode()),
                        ("source_topic", record.topic.encode()),
                        ("source_partition", str(record.partition).encode()),
                        ("source_offset", str(record.offset).encode()),
                    ],
                )
                for record, error in rejects
            ]
        )

    def _send_all(self, messages: Sequence[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]) -> None:
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.ack_timeout_seconds
        producer = None
        try:
            with self._lock:
                if self._producer is None:
                    self._producer = self._make_producer()
                producer = self._producer
            futures = [
                producer.send(topic, key=key, value=value, headers=headers) for topic, key, value, headers in messages
            ]
            for future in futures:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
        except KafkaError as error:
            self._discard(producer)
            logger.warning("kafka did not acknowledge", extra={"error": f"{type(error).__name__}: {error}"})
            raise StreamUnavailable("the event stream did not acknowledge in time; retry") from error

    def close(self) -> None:
        """Release the producer; everything published was already acknowledged."""
        self._discard(self._producer)

    def _discard(self, producer: "KafkaProducer | None") -> None:
        if producer is None:
            return
        close = producer.close
        with self._lock:
            if self._producer is not producer:
                return
            self._producer = None
        # close() flushes first and cannot finish while records are pending; they expire after
        # delivery_timeout_ms, so close in the background with a timeout beyond that.
        threading.Thread(
            target=_close_quietly, args=(close,), kwargs={"timeout": 3 * self.ack_timeout_seconds}, daemon=True
        ).start()


def _close_quietly(close: Callable[..., None], **kwargs: Any) -> None:
    """A discarded producer's close fails while Kafka is out (its flush times out); that is expected then,
    so it gets one log line rather than a background thread's traceback on every failed publish."""
    try:
        close(**kwargs)
    except Exception as error:
        logger.warning("discarded kafka producer did not close", extra={"error": f"{type(error).__name__}: {error}"})
