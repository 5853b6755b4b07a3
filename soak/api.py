"""``python -m soak.api``: the API alone, as ``make run`` serves it, so the soak can SIGKILL it by its PID.

``make run`` serves the WebSocket API from its own process and the HTTP API from another, next to Kafka,
the DynamoDB engine and both event sources; here the same two servers (devstack.api_server,
devstack.websocket_gateway) run together in one process, configured by the same environment (PORT,
WS_PORT, WS_MANAGEMENT_PORT, KAFKA_BOOTSTRAP_SERVERS, DYNAMODB_ENDPOINT_URL, INGEST_TOKEN, ...).
SIGTERM stops it.
"""

import os
import signal
import threading

from devstack.run import serve_api


def main() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server, gateway = serve_api(int(os.environ["PORT"]), int(os.environ["WS_PORT"]))
    print(f"API on http://127.0.0.1:{os.environ['PORT']}/, WebSocket on {gateway.url}", flush=True)
    stop.wait()
    server.shutdown()
    gateway.stop()


if __name__ == "__main__":
    main()
