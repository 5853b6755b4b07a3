"""Durability for the engine: an append-only log of committed write requests plus a snapshot.

Each committed write is appended (one ``write`` to an ``O_APPEND`` file) before its reply is sent, so a
SIGKILL of the engine after the reply cannot lose it: the kernel already holds the bytes. ``fsync=True``
also survives the machine losing power, at a disk flush per write. A start loads the snapshot, replays
its generation's log, and writes the next snapshot; a clean stop writes one too.

Generations make compaction safe at any instant: snapshot ``g`` holds every write of the logs before
``g``, and only ``journal-<g>.log`` is replayed on top of it, so a crash between writing a snapshot and
removing the old log never applies a write twice.
"""

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SNAPSHOT = "snapshot.pickle"


class Journal:
    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        self.directory, self.fsync = directory, fsync
        self.directory.mkdir(parents=True, exist_ok=True)
        self.generation = 0
        self._fd: int | None = None
        self.bytes = 0

    def _log(self, generation: int) -> Path:
        return self.directory / f"journal-{generation}.log"

    def load(self) -> tuple[Any, Iterator[tuple[str, bytes]]]:
        """The snapshot's state (None without one) and the writes logged after it, in order."""
        state = None
        path = self.directory / SNAPSHOT
        if path.exists():
            saved = pickle.loads(path.read_bytes())
            self.generation, state = saved["generation"], saved["state"]
        for old in self.directory.glob("journal-*.log"):
            if int(old.stem.removeprefix("journal-")) < self.generation:
                old.unlink()  # already in the snapshot: the kill came between its rename and this
        return state, self._entries(self._log(self.generation))

    @staticmethod
    def _entries(path: Path) -> Iterator[tuple[str, bytes]]:
        if not path.exists():
            return
        data = path.read_bytes()
        at = 0
        while True:
            header_end = data.find(b"\n", at)
            if header_end < 0:
                return
            operation, _, length = data[at:header_end].decode().partition(" ")
            body_end = header_end + 1 + int(length)
            if body_end + 1 > len(data):
                return  # a write cut short by the kill: it was never answered
            yield operation, data[header_end + 1 : body_end]
            at = body_end + 1

    def append(self, operation: str, body: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(self._log(self.generation), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        entry = memoryview(f"{operation} {len(body)}\n".encode() + body + b"\n")
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            while entry:  # a short write (a full disk) is written on or fails: never answered half-kept
                entry = entry[os.write(self._fd, entry) :]
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            os.ftruncate(self._fd, start)  # no partial entry for the next start to misread
            raise
        self.bytes += os.lseek(self._fd, 0, os.SEEK_END) - start

    def compact(self, state: Any) -> None:
        """Write ``state`` as the next generation's snapshot and start that generation's empty log."""
        following = self.generation + 1
        tmp = self.directory / f"{SNAPSHOT}.tmp"
        with tmp.open("wb") as out:
            pickle.dump({"generation": following, "state": state}, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.directory / SNAPSHOT)
        self.close()
        self._log(self.generation).unlink(missing_ok=True)
        self.generation, self.bytes = following, 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
