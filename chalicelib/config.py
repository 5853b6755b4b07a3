"""Settings read from the environment, once, into one immutable object."""

from collections.abc import Mapping

import attrs

from chalicelib import layout

DEFAULT_CACHE_ENTRIES = 10_000  # per cache of a process (match heads, producer connections)


@attrs.frozen(kw_only=True)
class Settings:
    bootstrap_servers: str
    topic: str
    dead_letter_topic: str
    table: str
    subscriptions_table: str
    dynamodb_endpoint_url: str | None
    region: str
    kafka_auth: str  # "plaintext" locally, "msk_iam" on Amazon MSK
    ack_timeout_seconds: float
    websocket_api_id: str | None  # in AWS, for the broadcaster (the WebSocket handlers learn it from events)
    websocket_stage: str
    websocket_endpoint_url: str | None  # locally: devstack's Management API
    websocket_url: str | None  # where clients (the match centre page) connect
    cache_entries: int = DEFAULT_CACHE_ENTRIES
    fanout_queue_url: str | None = None  # in AWS: where the broadcaster queues a big match's shards
    fanout_inline_followers: int = 250  # a first shard with more followers than this goes to the sender

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        auth = environ.get("KAFKA_AUTH", "plaintext")
        if auth not in ("plaintext", "msk_iam"):
            raise ValueError(f"KAFKA_AUTH must be plaintext or msk_iam, not {auth!r}")
        topic = environ.get("EVENTS_TOPIC", layout.DEFAULT_TOPIC)
        return cls(
            bootstrap_servers=environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            topic=topic,
            dead_letter_topic=environ.get("EVENTS_DEAD_LETTER_TOPIC", f"{topic}-dlq"),
            table=environ.get("EVENTS_TABLE", layout.DEFAULT_TABLE),
            subscriptions_table=environ.get("SUBSCRIPTIONS_TABLE", layout.DEFAULT_SUBSCRIPTIONS_TABLE),
            dynamodb_endpoint_url=environ.get("DYNAMODB_ENDPOINT_URL") or None,
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            kafka_auth=auth,
            ack_timeout_seconds=float(environ.get("KAFKA_ACK_TIMEOUT_SECONDS", "5")),
            websocket_api_id=environ.get("WEBSOCKET_API_ID") or None,
            websocket_stage=environ.get("WEBSOCKET_STAGE", "api"),
            websocket_endpoint_url=environ.get("WEBSOCKET_ENDPOINT_URL") or None,
            websocket_url=environ.get("WEBSOCKET_URL") or None,
            cache_entries=_positive(environ.get("CACHE_MAX_ENTRIES"), DEFAULT_CACHE_ENTRIES, "CACHE_MAX_ENTRIES"),
            fanout_queue_url=environ.get("FANOUT_QUEUE_URL") or None,
            fanout_inline_followers=int(environ.get("FANOUT_INLINE_FOLLOWERS", "250")),
        )


def _positive(text: str | None, default: int, name: str) -> int:
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number above 0, not {text!r}")
    return int(text)
