"""Chalice's local HTTP server, tuned: what `make run` and the HTTP tests serve the app with."""

import functools
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.local import (
    ChaliceRequestHandler,
    LocalDevServer,
    LocalGateway,
    MatchResult,
    RouteMatcher,
    create_local_server,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
LISTEN_BACKLOG = 128


class _DecodingRouteMatcher(RouteMatcher):
    """API Gateway hands path parameters URL-decoded (``a%3Ab`` arrives as ``a:b``); Chalice's local
    matcher hands them as sent."""

    def match_route(self, url: str) -> MatchResult:
        result = super().match_route(url)
        return result._replace(captured={name: unquote(value) for name, value in result.captured.items()})


class _RequestHandler(ChaliceRequestHandler):
    """Buffered writes with TCP_NODELAY: http.server's unbuffered small writes otherwise wait for
    the client's delayed ACK, adding ~40 ms to every small response (seen in make bench)."""

    wbufsize = -1
    disable_nagle_algorithm = True

    def __init__(
        self, request: Any, client_address: tuple[str, int], server: HTTPServer, app_object: Chalice, config: Any
    ) -> None:
        self.local_gateway = LocalGateway(app_object, config)
        self.local_gateway.event_converter._route_matcher = _DecodingRouteMatcher(list(app_object.routes))
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)  # handles the request


def local_api_server(chalice_app: Chalice, port: int, host: str = "127.0.0.1") -> LocalDevServer:
    config = CLIFactory(str(PROJECT_DIR)).create_config_obj(chalice_stage_name="dev")
    server = create_local_server(chalice_app, config, host, port)  # also makes the app's request thread-local
    server.server.RequestHandlerClass = functools.partial(_RequestHandler, app_object=chalice_app, config=config)
    server.server.socket.listen(LISTEN_BACKLOG)  # socketserver's 5 drops connections when many clients connect at once
    return server


def main() -> None:
    """``python -m devstack.api_server``: the HTTP API alone on ``PORT``, as ``make run`` starts it in a process
    of its own (the API is its own Lambda: it shares no interpreter lock with the WebSocket gateway)."""
    import os
    import signal
    import threading

    import app

    server = local_api_server(app.app, int(os.environ.get("PORT", "8000")))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
