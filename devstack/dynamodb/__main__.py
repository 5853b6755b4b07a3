"""``python -m devstack.dynamodb --port PORT --data-dir DIR``: the local engine in the foreground.

SIGTERM or Ctrl-C snapshots the data and exits; SIGKILL loses nothing that was answered.
"""

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from werkzeug.serving import WSGIRequestHandler, make_server

from devstack.dynamodb.engine import Engine


class KeepAlive(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # one connection per client, not one per request

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # a line per request was a fifth of the engine's CPU under load; errors are still logged


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.dynamodb", description=__doc__)
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, required=True, help="journal and snapshot (created if missing)")
    parser.add_argument("--stream-retention-mb", type=int, default=64, help="stream records kept per table")
    parser.add_argument("--fsync", action="store_true", help="flush each write to disk, not only to the kernel")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s dynamodb %(levelname)s %(message)s")
    engine = Engine(args.data_dir, retention_bytes=args.stream_retention_mb << 20, fsync=args.fsync)
    server = make_server(args.host, args.port, engine, threaded=True, request_handler=KeepAlive)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.info("serving DynamoDB on http://%s:%d, data in %s", args.host, server.port, args.data_dir)
    try:
        server.serve_forever()
    finally:
        engine.close()
        logging.info("stopped; data snapshotted")


if __name__ == "__main__":
    main()
