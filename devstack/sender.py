"""The local stand-in for the fan-out queue and its sender function: one process per shard.

On AWS each shard job of a big match goes through an SQS FIFO queue to a
sender Lambda of its own, so the shards are sent at once, each by its own
interpreter. Here ``SenderProcesses`` plays the queue: it hands each job to
one of ``layout.SUBSCRIBER_SHARDS`` processes (``python -m devstack.sender``),
the same one for every job of a FIFO group (a match's shard), so a shard's
jobs stay in order while the shards are sent on every core, not behind one
interpreter lock. A process starts with the first job it gets, as a Lambda
cold-starts, and ends with its broadcaster. Inside, each job becomes the SQS
event the sender function gets.
"""

import contextlib
import subprocess
import sys
import threading
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from chalicelib import layout
from chalicelib.fanout import LocalFanout, ShardJob


class SenderProcesses:
    """A ``chalicelib.fanout.Fanout``: each job down the pipe of the process its group maps to."""

    def __init__(self, cwd: Path, env: Mapping[str, str], count: int = layout.SUBSCRIBER_SHARDS) -> None:
        self.cwd, self.env, self.count = cwd, dict(env), count
        self._lock = threading.Lock()
        self._processes: dict[int, subprocess.Popen[str]] = {}

    def dispatch(self, jobs: Sequence[ShardJob]) -> None:
        with self._lock:  # one writer a pipe: a job is one whole line
            for job in jobs:
                # a match's shards on consecutive processes: each shard its own, a shard's jobs on the same one
                slot = (zlib.crc32(job.match_id.encode()) + job.shard) % self.count
                try:
                    self._send(slot, job)
                except BrokenPipeError:  # it died since it was started: a new one takes the job
                    dead = self._processes.pop(slot)
                    with contextlib.suppress(BrokenPipeError):
                        dead.stdin.close()  # type: ignore[union-attr]  # stdin=PIPE
                    dead.wait()
                    self._send(slot, job)

    def _send(self, slot: int, job: ShardJob) -> None:
        pipe = self._pipe(slot)
        pipe.write(job.body() + "\n")
        pipe.flush()

    def _pipe(self, slot: int) -> IO[str]:
        process = self._processes.get(slot)
        if process is None or process.poll() is not None:
            process = subprocess.Popen(
                [sys.executable, "-m", "devstack.sender"], cwd=self.cwd, env=self.env, stdin=subprocess.PIPE, text=True
            )
            self._processes[slot] = process
        assert process.stdin is not None  # stdin=PIPE
        return process.stdin

    def pids(self) -> list[int]:
        """The sender processes started so far."""
        return [process.pid for process in self._processes.values()]

    def close(self) -> None:
        for process in self._processes.values():
            if process.stdin is not None:
                process.stdin.close()  # the sender finishes what it has, then ends
        for process in self._processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    """Read job bodies, one a line, and send each through the app's sender function, a shard's jobs in order."""
    import app

    fanout = LocalFanout(lambda event: app.send_fanout(event, None))
    for line in sys.stdin:
        fanout.dispatch([ShardJob.of(line)])
    fanout.drain()


if __name__ == "__main__":
    main()
