"""``python -m soak.api``: the HTTP API and the WebSocket gateway that ``make run`` serves from two processes,
in one the soak can SIGKILL by its PID; configured by the same environment (PORT, WS_PORT, ...); SIGTERM stops it.
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
