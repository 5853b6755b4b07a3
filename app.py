"""Football match data processor: the table of contents.

Each route parses its input, calls one function in ``chalicelib`` and shapes
the response. The behaviour lives in ``chalicelib``; see README.md.
"""

from typing import Any, cast

from chalice.app import (
    AuthRequest,
    AuthResponse,
    AuthRoute,
    Chalice,
    Request,
    Response,
    UnauthorizedError,
    WebsocketEvent,
)

from chalicelib import broadcast, caching, consumer, http, ingest, live, queries, security, site, stats, topics
from chalicelib.http import MAX_BODY_BYTES, conditional, conditional_json, page_payload
from chalicelib.observability import lambda_context_logging, metrics
from chalicelib.services import Services

app = Chalice(app_name="football-match-data")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.register_middleware(lambda_context_logging, "all")
services = Services()


def _request() -> Request:
    """The request being served: Chalice sets it before it calls a route."""
    return cast(Request, app.current_request)


@app.route("/", methods=["GET"])
def match_centre() -> Response:
    headers = site.security_headers(services.settings.websocket_url)
    return conditional(
        site.page(),
        _request().headers.get("if-none-match"),
        max_age=caching.PAGE_MAX_AGE,
        content_type=site.PAGE_TYPE,
        extra_headers=headers,
    )


@app.route("/assets/{name}", methods=["GET"])
def match_centre_asset(name: str) -> Response:
    text, content_type = site.asset(name)
    headers = site.security_headers(services.settings.websocket_url)
    return conditional(
        text,
        _request().headers.get("if-none-match"),
        max_age=caching.PAGE_MAX_AGE,
        content_type=content_type,
        extra_headers=headers,
    )


@app.route("/config", methods=["GET"])
def match_centre_config() -> Response:
    return conditional_json(
        site.config(services.settings.websocket_url), _request().headers.get("if-none-match"), max_age=0
    )


@app.route("/health", methods=["GET"])
def health() -> Response:
    return conditional_json({"status": "ok"}, _request().headers.get("if-none-match"), max_age=0)


@app.authorizer()
def producer_token(auth_request: AuthRequest) -> AuthResponse:
    """Producers only: ``Authorization: Bearer <token>``, else 401."""
    _, producer = security.identify(auth_request.token, services.ingest_token.accepted)
    routes: list[str | AuthRoute] = ["/events", AuthRoute("/matches/*/events/*", ["DELETE"])]
    return AuthResponse(routes=routes, principal_id=producer.provider)


def _producer() -> security.Producer:
    """Who sent this request, from its own token: the route's answer never rests on a cached authorization."""
    try:
        return security.identify(_request().headers.get("authorization"), services.ingest_token.accepted)[1]
    except security.Unauthorized:
        raise UnauthorizedError("Unauthorized") from None


@app.route("/events", methods=["POST"], content_types=["application/json"], authorizer=producer_token)
def post_events() -> Response:
    event_ids = ingest.ingest(_request().raw_body, services.publisher, _producer())
    return Response(body={"accepted": len(event_ids), "event_ids": event_ids}, status_code=202)


# API Gateway allows one variable name per path segment: the GET route below names it event_type, so
# here the event id arrives under that name too.
@app.route("/matches/{match_id}/events/{event_type}", methods=["DELETE"], authorizer=producer_token)
def void_event(match_id: str, event_type: str) -> Response:
    event_ids = ingest.void_for_good(match_id, event_type, services.publisher, _producer())
    return Response(body={"accepted": len(event_ids), "event_ids": event_ids}, status_code=202)


@app.route("/matches", methods=["GET"])
def match_directory() -> Response:
    query = queries.directory_query(_request().query_params)
    matches, next_cursor = services.directory.page(query)
    body = {"matches": matches, "count": len(matches), "next_cursor": next_cursor}
    return conditional_json(body, _request().headers.get("if-none-match"), max_age=caching.DIRECTORY_MAX_AGE)


@app.route("/matches/{match_id}/changes", methods=["GET"])
def match_changes(match_id: str) -> Response:
    after, limit = queries.change_query(_request().query_params)
    changes, next_cursor = services.repository.changes(queries.match_path(match_id), after, limit)
    body = {"match_id": match_id, "changes": changes, "count": len(changes), "next_cursor": next_cursor}
    full = caching.IMMUTABLE if next_cursor else None  # a full page never changes; the last one grows
    return conditional_json(body, _request().headers.get("if-none-match"), cache_control=full)


def _events_page(match_id: str, event_type: str | None = None) -> Response:
    query = queries.event_query(match_id, _request().query_params, event_type)
    page = services.repository.page(query)
    payload = page_payload(match_id, page.events, page.next_cursor)
    return conditional(payload, _request().headers.get("if-none-match"))


@app.route("/matches/{match_id}", methods=["GET"])
def match_events(match_id: str) -> Response:
    return _events_page(match_id)


@app.route("/matches/{match_id}/goals", methods=["GET"])
def match_goals(match_id: str) -> Response:
    return _events_page(match_id, "goal")


@app.route("/matches/{match_id}/passes", methods=["GET"])
def match_passes(match_id: str) -> Response:
    return _events_page(match_id, "pass")


@app.route("/matches/{match_id}/events/{event_type}", methods=["GET"])
def match_events_of_type(match_id: str, event_type: str) -> Response:
    return _events_page(match_id, event_type)


@app.route("/matches/{match_id}/stats", methods=["GET"])
def match_stats(match_id: str) -> Response:
    period = queries.stats_query(_request().query_params)
    totals = stats.render(services.repository.totals(queries.match_path(match_id), period))
    return conditional_json(stats.within(totals, MAX_BODY_BYTES), _request().headers.get("if-none-match"))


@app.lambda_function(name="consumer")
@metrics.log_metrics
def consume_events(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Triggered by the MSK event source (in AWS) or devstack's runner (locally)."""
    return consumer.consume(event, services.repository, services.publisher)


@app.lambda_function(name="topic_provisioner")
def provision_topics(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """CloudFormation custom resource (via the CDK provider framework): creates the topics."""
    return topics.on_event(event, services.settings)


# -- live push: the WebSocket API and the broadcaster ---------------------------------------------------------


@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> dict[str, Any]:
    """Subscribers need no credential; a wrong producer token refuses the upgrade (401)."""
    raw = event.to_dict()
    try:
        live.connect(
            event.connection_id,
            raw.get("headers") or {},
            raw.get("queryStringParameters") or {},
            services.ingest_token.accepted,
            services.subscriptions,
        )
    except security.Unauthorized:
        return {"statusCode": 401}
    return {"statusCode": 200}


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> dict[str, Any]:
    """The answer goes back as the route response ($default is two-way; see infra.stack)."""
    answer = live.message(
        event.connection_id,
        event.body,
        subscriptions=services.subscriptions,
        repository=services.repository,
        publisher=services.publisher,
        accepted_tokens=services.ingest_token.accepted,
    )
    return {"statusCode": 200, "body": answer}


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    services.subscriptions.forget(event.connection_id)


@app.lambda_function(name="broadcaster")
@metrics.log_metrics
def broadcast_changes(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Triggered by the events table's DynamoDB stream (in AWS) or devstack's stream source (locally)."""
    send = services.websocket(app.websocket_api).send
    dispatcher = services.fanout(lambda jobs: send_fanout(jobs, None))
    inline = services.settings.fanout_inline_followers
    return broadcast.broadcast(event, services.repository, services.subscriptions, send, dispatcher, inline)


@app.lambda_function(name="sender")
@metrics.log_metrics
def send_fanout(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A big match's shards of followers, from the fan-out queue (SQS FIFO in AWS; devstack's stand-in)."""
    send = services.websocket(app.websocket_api).send
    return broadcast.send_shards(event, services.subscriptions, send)


http.answer_request_errors(app)  # last: after every route is registered
