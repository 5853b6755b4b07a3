"""The local stand-in for API Gateway's WebSocket API, and its Management API.

``ws://127.0.0.1:$WS_PORT`` accepts connections and calls the app's
``$connect``, ``$default`` and ``$disconnect`` handlers with API Gateway's
WebSocket event shape, in worker threads (they are blocking Lambda code). A
``$connect`` answer of 4xx refuses the upgrade with that status. ``$default``
is two-way, as the stack configures it with a route response: the handler's
``body`` goes back to the client. The Management API's ``@connections``
endpoints (POST sends, GET describes, DELETE closes; 410 for a connection that
is gone) are served over HTTP on their own port, so ``app.websocket_api.send``
works unchanged against them (WEBSOCKET_ENDPOINT_URL=``management_url``).
"""

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chalice.local import LambdaContext
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

Handler = Callable[[dict[str, Any], Any], Any]
API_ID, STAGE = "local", "local"
SEND_TIMEOUT_S = 10.0


def websocket_event(
    route: str, connection_id: str, *, domain: str, connected_at: float, **extra: Any
) -> dict[str, Any]:
    """A WebSocket API Lambda proxy event for ``route`` ($connect, $default, $disconnect), as API Gateway sends it."""
    now = time.time()
    return {
        "requestContext": {
            "routeKey": route,
            "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "connectionId": connection_id,
            "messageId": uuid.uuid4().hex,
            "domainName": domain,
            "stage": STAGE,
            "apiId": API_ID,
            "requestId": uuid.uuid4().hex,
            "requestTimeEpoch": int(now * 1000),
            "connectedAt": int(connected_at * 1000),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "isBase64Encoded": False,
        **extra,
    }


class LocalWebSocketGateway:
    """Started by ``start()``; ``url`` and ``management_url`` are where clients and the app reach it."""

    def __init__(
        self,
        connect: Handler,
        message: Handler,
        disconnect: Handler,
        *,
        port: int,
        management_port: int,
        log: Callable[[str], None] = print,
    ) -> None:
        self.handlers = {"$connect": connect, "$default": message, "$disconnect": disconnect}
        os.environ.setdefault("AWS_REGION", "us-east-1")  # Lambda sets it for every function; Chalice reads it
        self.port, self.management_port, self.log = port, management_port, log
        self.url = f"ws://127.0.0.1:{port}"
        self.management_url = f"http://127.0.0.1:{management_port}/{STAGE}"
        self._connections: dict[str, tuple[ServerConnection, float]] = {}
        self._ids: dict[ServerConnection, str] = {}
        self._loop = asyncio.new_event_loop()
        self._management_tasks: set[asyncio.Task[None]] = set()  # keep-alive sessions, ended on stop
        self._ready, self._stopped = threading.Event(), threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> "LocalWebSocketGateway":
        threading.Thread(target=self._run, daemon=True, name="websocket-gateway").start()
        if not self._ready.wait(30):
            raise RuntimeError("the local WebSocket gateway did not start")
        return self

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stopped.set)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="ws-handler"))
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        management = await asyncio.start_server(self._management_session, "127.0.0.1", self.management_port)
        async with (
            management,
            serve(self._session, "127.0.0.1", self.port, process_request=self._connect, max_size=128 * 1024),
        ):
            self._ready.set()
            while not self._stopped.is_set():
                await asyncio.sleep(0.1)
            for task in list(self._management_tasks):
                task.cancel()
            await asyncio.gather(*self._management_tasks, return_exceptions=True)

    # -- API Gateway's side of a connection -------------------------------------------------------------

    async def _invoke(self, route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        connected_at = self._connections.get(connection_id, (None, time.time()))[1]
        event = websocket_event(
            route, connection_id, domain=f"127.0.0.1:{self.port}", connected_at=connected_at, **extra
        )
        context = LambdaContext(f"websocket{route.strip('$').title()}", 512)
        result = await asyncio.to_thread(self.handlers[route], event, context)
        return result if isinstance(result, dict) else {"statusCode": 200}

    async def _connect(self, connection: ServerConnection, request: Request) -> Response | None:
        connection_id = uuid.uuid4().hex
        query = dict(parse_qsl(urlsplit(request.path).query))
        headers = {name: value for name, value in request.headers.raw_items()}
        try:
            result = await self._invoke(
                "$connect",
                connection_id,
                headers=headers,
                multiValueHeaders={k: [v] for k, v in headers.items()},
                queryStringParameters=query or None,
            )
        except Exception as error:  # as API Gateway: a failing $connect integration refuses the connection
            self.log(f"websocket: $connect failed ({error!r})")
            return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error\n")
        status = int(result.get("statusCode", 200))
        if status >= 300:
            return connection.respond(HTTPStatus(status), f"{HTTPStatus(status).phrase}\n")
        self._connections[connection_id] = (connection, time.time())
        self._ids[connection] = connection_id
        return None

    async def _session(self, connection: ServerConnection) -> None:
        connection_id = self._ids[connection]
        try:
            async for text in connection:
                body = text if isinstance(text, str) else text.decode(errors="replace")
                try:
                    result = await self._invoke("$default", connection_id, body=body)
                except Exception as error:  # API Gateway answers a failed integration with this message
                    self.log(f"websocket: $default failed ({error!r})")
                    await connection.send(json.dumps({"message": "Internal server error"}))
                    continue
                if result.get("body"):
                    await connection.send(result["body"])
        finally:
            self._connections.pop(connection_id, None)
            self._ids.pop(connection, None)
            try:
                await self._invoke("$disconnect", connection_id)
            except Exception as error:
                self.log(f"websocket: $disconnect failed ({error!r})")

    # -- the Management API: HTTP/1.1 on the gateway's own loop, so a send is one await, not a thread hop

    async def _management_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task:
            self._management_tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = dict(line.split(":", 1) for line in header_lines if ":" in line)
                length = int({k.strip().lower(): v.strip() for k, v in headers.items()}.get("content-length", 0))
                data = await reader.readexactly(length) if length else b""
                status, body, error = await self._management(method, urlsplit(target).path, data)
                payload = json.dumps(body).encode() if body is not None else b""
                extra = f"x-amzn-ErrorType: {error}\r\n" if error else ""
                writer.write(
                    f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n{extra}Content-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass  # the client closed its keep-alive connection, or sent what is not HTTP
        finally:
            writer.close()
            self._management_tasks.discard(task)

    async def _management(self, method: str, path: str, data: bytes) -> tuple[int, Any, str | None]:
        """POST sends, GET describes, DELETE closes; a connection that is gone is 410, as API Gateway's."""
        marker = "/@connections/"
        if marker not in path:
            return 404, {"message": "not found"}, "NotFoundException"
        found = self._connections.get(path.split(marker, 1)[1])
        if found is None:
            return 410, {"message": "the connection is gone"}, "GoneException"
        connection, connected = found
        if method == "GET":
            at = datetime.fromtimestamp(connected, UTC).isoformat().replace("+00:00", "Z")
            return 200, {"ConnectedAt": at, "LastActiveAt": at, "Identity": {"SourceIp": "127.0.0.1"}}, None
        try:
            if method == "POST":
                await asyncio.wait_for(connection.send(data.decode(errors="replace")), SEND_TIMEOUT_S)
                return 200, None, None
            if method == "DELETE":
                await asyncio.wait_for(connection.close(), SEND_TIMEOUT_S)
                return 204, None, None
        except Exception:  # closed meanwhile: gone, as API Gateway answers
            return 410, {"message": "the connection is gone"}, "GoneException"
        return 404, {"message": "not found"}, "NotFoundException"
