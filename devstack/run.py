"""``make run``: the whole product on this machine, stopped by Ctrl-C.

Starts Kafka and the local DynamoDB engine (unless KAFKA_BOOTSTRAP_SERVERS and
DYNAMODB_ENDPOINT_URL point at running ones), creates topics and tables,
serves the Chalice app on 127.0.0.1:$PORT, the local CDN (nginx, with the
stack's CloudFront cache rules: devstack/cdn.py) in front of it on
127.0.0.1:$CDN_PORT (8002) where nginx is installed, and its WebSocket API on
ws://127.0.0.1:$WS_PORT, and runs the local event sources that feed the
consumer Lambda (from Kafka) and the broadcaster (from the table's stream).

EVENT_SOURCES=N (default 1) runs N consumer event sources in one consumer
group, and EVENTS_TOPIC_PARTITIONS (default 3) is the partition count of a
topic this creates (an existing topic keeps its own): Kafka gives each source
a share of the partitions, so more sources than partitions leaves some idle.
"""

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from chalice.local import LocalDevServer

from chalicelib.config import Settings
from chalicelib.security import read_tokens
from devstack import cdn, event_source
from devstack.api_server import local_api_server
from devstack.stack import LocalStack, ensure_subscriptions_table, ensure_table, ensure_topic
from devstack.websocket_gateway import LocalWebSocketGateway

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DEVSTACK_DATA", PROJECT_DIR / ".devstack" / "data"))


def _saved_token() -> str:
    """A generated producer token, kept with the data so it survives restarts."""
    path = DATA_DIR / "ingest-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def serve_api(port: int, ws_port: int) -> tuple[LocalDevServer, LocalWebSocketGateway]:
    """The HTTP API (on a daemon thread) and the WebSocket API in this process, as ``soak.api`` serves them.
    Imports app, so call it once the environment is final: its Services read it lazily."""
    import app

    server = local_api_server(app.app, port)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    return server, serve_websocket(ws_port)


def serve_websocket(ws_port: int) -> LocalWebSocketGateway:
    """The WebSocket API and its Management API, in this process."""
    import app

    return LocalWebSocketGateway(
        app.ws_connect,
        app.ws_message,
        app.ws_disconnect,
        port=ws_port,
        management_port=int(os.environ.get("WS_MANAGEMENT_PORT", ws_port + 2)),  # + 1 is the CDN's (8002)
    ).start()


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack = None
    sources: dict[str, subprocess.Popen[bytes]] = {}
    proxy: cdn.LocalCdn | None = None
    if not (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DYNAMODB_ENDPOINT_URL")):
        print(f"starting Kafka and the DynamoDB engine (data in {DATA_DIR}) ...", flush=True)
        stack = LocalStack(DATA_DIR, persistent=True)
        endpoints = stack.start()
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = endpoints.bootstrap_servers
        os.environ["DYNAMODB_ENDPOINT_URL"] = endpoints.dynamodb_endpoint_url
    try:
        scoped, problems = read_tokens(os.environ.get("INGEST_TOKENS"))
        if problems:
            raise SystemExit("INGEST_TOKENS: " + "; ".join(problems))
        token = os.environ.get("INGEST_TOKEN") or _saved_token()
        os.environ["INGEST_TOKEN"] = token
        settings = Settings.from_env(os.environ)
        ensure_topic(settings.bootstrap_servers, settings.topic, int(os.environ.get("EVENTS_TOPIC_PARTITIONS", "3")))
        ensure_topic(settings.bootstrap_servers, settings.dead_letter_topic)
        ensure_table(settings.dynamodb_endpoint_url or "", settings.table)
        ensure_subscriptions_table(settings.dynamodb_endpoint_url or "", settings.subscriptions_table)

        ws_port = int(os.environ.get("WS_PORT", "8001"))
        os.environ.setdefault("WEBSOCKET_URL", f"ws://127.0.0.1:{ws_port}")  # for the match centre page
        port = int(os.environ.get("PORT", "8000"))
        gateway = serve_websocket(ws_port)
        # The HTTP API, the consumer and the broadcaster run in processes of their own, as each runs in its
        # own Lambda: reads, ingest, consumption and fan-out then share no interpreter lock with the gateway.
        env = os.environ | {"WEBSOCKET_ENDPOINT_URL": gateway.management_url}
        sources["devstack.api_server"] = subprocess.Popen(
            [sys.executable, "-m", "devstack.api_server"], cwd=PROJECT_DIR, env=env | {"PORT": str(port)}
        )
        consumers = event_source.spawn(int(os.environ.get("EVENT_SOURCES", "1")), env, PROJECT_DIR)
        sources |= {f"devstack.event_source #{n + 1}": source for n, source in enumerate(consumers)}
        sources["devstack.stream_source"] = subprocess.Popen(
            [sys.executable, "-m", "devstack.stream_source"], cwd=PROJECT_DIR, env=env
        )
        nginx = cdn.nginx_binary()
        cdn_port = int(os.environ.get("CDN_PORT", cdn.DEFAULT_PORT))
        proxy = cdn.LocalCdn(nginx, port, cdn_port, DATA_DIR.parent / "cdn") if nginx else None
        print(f"Kafka {settings.bootstrap_servers}, DynamoDB {settings.dynamodb_endpoint_url}", flush=True)
        if proxy:
            print(f"Match centre through the CDN on {proxy.url}/ (the API itself on http://127.0.0.1:{port}/)")
        else:
            print(f"Match centre on http://127.0.0.1:{port}/ - no CDN: nginx is not installed ({cdn.INSTALL})")
        print(f"WebSocket on {gateway.url} - Ctrl-C stops everything", flush=True)
        print(f"Producers send: Authorization: Bearer {token}", flush=True)
        for producer in scoped.values():
            print(f"  and a scoped producer: {producer.provider}, matches {producer.match_prefixes}", flush=True)
        while not stop.wait(0.5):
            for module, source in sources.items():
                if source.poll() is not None:
                    raise SystemExit(f"{module} stopped (exit {source.returncode})")
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for source in sources.values():
            if source.poll() is None:
                source.terminate()
        for source in sources.values():
            source.wait(timeout=30)
        if proxy is not None:
            proxy.stop()
        if stack is not None:
            stack.stop()
        print("stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
