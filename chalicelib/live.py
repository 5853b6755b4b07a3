"""The WebSocket API's doors: connect, the three actions, disconnect.

Subscribers connect with no credential; producers show the same token as
POST /events (``Authorization: Bearer`` or ``?token=``), and a wrong one
refuses the upgrade. ``publish`` is POST /events through another door: the
same validation and durable publish (``ingest.ingest``).
"""

from collections.abc import Callable, Mapping

from chalicelib import ingest, messages, security, stats
from chalicelib.errors import RequestError, TooManySubscriptions
from chalicelib.publishing import KafkaPublisher
from chalicelib.repository import EventRepository
from chalicelib.subscriptions import Subscriptions


def connect(
    connection_id: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    accepted_tokens: Callable[[], security.Tokens],
    subscriptions: Subscriptions,
) -> None:
    """Record the connection; raise security.Unauthorized for a token that is no producer's."""
    header = next((value for name, value in headers.items() if name.lower() == "authorization"), None)
    if header is None and "token" in query:
        header = f"Bearer {query['token']}"
    token = security.identify(header, accepted_tokens)[0] if header is not None else None
    subscriptions.connect(connection_id, token_fingerprint=security.fingerprint(token) if token else None)


def message(
    connection_id: str,
    body: str | None,
    *,
    subscriptions: Subscriptions,
    repository: EventRepository,
    publisher: KafkaPublisher,
    accepted_tokens: Callable[[], security.Tokens],
) -> str:
    """The answer to one client message (always one: an error never closes the connection). A publish is
    taken while the token the connection showed is still accepted: a rotation ends it within minutes."""
    try:
        action = messages.decode(body)
    except messages.BadMessage as bad:
        return messages.error(bad.code, bad.message, request_id=bad.request_id, publish=bad.request_id is not None)
    if isinstance(action, messages.Ping):
        return messages.pong()
    if isinstance(action, messages.Subscribe):
        try:
            subscriptions.subscribe(connection_id, action.match_id)  # first: no change after the cursor is missed
        except TooManySubscriptions as refused:
            return messages.error(refused.code, refused.message)
        return messages.subscribed(
            action.match_id, stats.render(repository.totals(action.match_id)), repository.feed_position(action.match_id)
        )
    if isinstance(action, messages.Unsubscribe):
        subscriptions.unsubscribe(connection_id, action.match_id)
        return messages.unsubscribed(action.match_id)
    shown = subscriptions.producer_token(connection_id)
    producer = security.still_accepted(shown, accepted_tokens) if shown is not None else None
    if producer is None:
        return messages.error(
            "unauthorized",
            "publish needs a valid producer token on connect",
            request_id=action.request_id,
            publish=True,
        )
    try:
        event_ids = ingest.ingest(action.body, publisher, producer)
    except RequestError as refused:
        return messages.error(
            refused.code,
            refused.message,
            request_id=action.request_id,
            errors=refused.errors,
            error_count=refused.error_count,
            publish=True,
            details=refused.details,
        )
    return messages.accepted(action.request_id, event_ids)
