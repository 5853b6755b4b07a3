"""``python -m soak.dynamodb_durability``: does the DynamoDB engine keep a write it acknowledged if killed right after?

Each round writes transactions of 10 items to a table laid out as the app's (its LSIs, directory index and
stream), SIGKILLs the engine ``--delay`` seconds after the last acknowledgement, restarts it on the same
data dir and counts the acknowledged items that are gone. DynamoDB never loses an acknowledged write; the
engine journals each write before answering it, so every round should count 0 (the soak's exact check
relies on it).
"""

import argparse
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from botocore.config import Config

from chalicelib import layout
from devstack.stack import LocalStack, dynamodb_client, ensure_table

TABLE = "durability-probe"


def probe(data_dir: Path, rounds: int, transactions: int, delay_s: float) -> list[int]:
    """Items lost per round."""
    stack = LocalStack(data_dir, persistent=True)
    service = stack.dynamodb
    service.start()
    url = stack.endpoints.dynamodb_endpoint_url
    lost = []
    try:
        ensure_table(url, TABLE)
        for round_ in range(rounds):
            client = dynamodb_client(url, Config(retries={"max_attempts": 1}))
            written: list[str] = []
            for _ in range(transactions):
                keys = [uuid.uuid4().hex for _ in range(10)]
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": TABLE,
                                "Item": {
                                    layout.PARTITION_KEY: {"S": "probe"},
                                    layout.SORT_KEY: {"S": layout.event_key(key)},
                                    layout.TIME_SORT_KEY: {"S": layout.time_sort_key("2023-06-15T14:00:00.000Z", key)},
                                },
                            }
                        }
                        for key in keys
                    ]
                )
                written += keys
            time.sleep(delay_s)
            assert service.process is not None
            os.kill(service.process.pid, signal.SIGKILL)  # by the PID it was started with
            service.process.wait()
            service.process = None
            service.start()
            client = dynamodb_client(url)
            gone = sum(
                "Item"
                not in client.get_item(
                    TableName=TABLE,
                    Key={layout.PARTITION_KEY: {"S": "probe"}, layout.SORT_KEY: {"S": layout.event_key(key)}},
                    ConsistentRead=True,
                )
                for key in written
            )
            print(f"round {round_ + 1}: {gone} of {len(written)} acknowledged items lost", flush=True)
            lost.append(gone)
    finally:
        service.stop()
    return lost


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.dynamodb_durability", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--transactions", type=int, default=30, help="acknowledged transactions before each kill")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between the last acknowledgement and kill")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="dynamodb-durability-"))
    try:
        lost = probe(data_dir, args.rounds, args.transactions, args.delay)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"{sum(lost)} acknowledged items lost in {sum(1 for n in lost if n)} of {len(lost)} kills")
    return 1 if any(lost) else 0


if __name__ == "__main__":
    raise SystemExit(main())
