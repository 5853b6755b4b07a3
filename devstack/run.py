"""``make run``: the whole product on this machine, stopped by Ctrl-C.

Starts Kafka and DynamoDB Local (unless KAFKA_BOOTSTRAP_SERVERS and
DYNAMODB_ENDPOINT_URL point at running ones), creates topic and table, serves
the Chalice app on 127.0.0.1:$PORT and runs the local event source that feeds
the consumer Lambda.
"""

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from chalicelib.config import Settings
from devstack.api_server import local_api_server
from devstack.stack import LocalStack, ensure_table, ensure_topic

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


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack = None
    consumer: subprocess.Popen[bytes] | None = None
    if not (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DYNAMODB_ENDPOINT_URL")):
        print(f"starting Kafka and DynamoDB Local (data in {DATA_DIR}) ...", flush=True)
        stack = LocalStack(DATA_DIR, persistent=True)
        endpoints = stack.start()
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = endpoints.bootstrap_servers
        os.environ["DYNAMODB_ENDPOINT_URL"] = endpoints.dynamodb_endpoint_url
    try:
        token = os.environ.get("INGEST_TOKEN") or _saved_token()
        os.environ["INGEST_TOKEN"] = token
        settings = Settings.from_env(os.environ)
        ensure_topic(settings.bootstrap_servers, settings.topic)
        ensure_topic(settings.bootstrap_servers, settings.dead_letter_topic)
        ensure_table(settings.dynamodb_endpoint_url or "", settings.table)

        import app  # after the environment is final: its Services read it lazily

        port = int(os.environ.get("PORT", "8000"))
        server = local_api_server(app.app, port)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        # The consumer runs in its own process, as it runs in its own Lambda: ingest and consumption
        # then share no interpreter lock, and the machine's second core does the consuming.
        consumer = subprocess.Popen([sys.executable, "-m", "devstack.event_source"], cwd=PROJECT_DIR)
        print(f"Kafka {settings.bootstrap_servers}, DynamoDB {settings.dynamodb_endpoint_url}", flush=True)
        print(f"API on http://127.0.0.1:{port} - Ctrl-C stops everything", flush=True)
        print(f"Producers send: Authorization: Bearer {token}", flush=True)
        while not stop.wait(0.5):
            if consumer.poll() is not None:
                raise SystemExit(f"the local event source stopped (exit {consumer.returncode})")
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if consumer is not None and consumer.poll() is None:
            consumer.terminate()
            consumer.wait(timeout=30)
        if stack is not None:
            stack.stop()
        print("stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
