"""The chaos: one fault at a time (a SIGKILL and restart, or the engine frozen with SIGSTOP for a while:
``dynamodb_pause``), spread evenly over the load with +-25 % jitter; one that runs long delays the next,
and the run then extends the load until every planned fault has happened."""

import random
import signal
import threading
import time
from collections.abc import Sequence

import attrs

from soak.config import SoakConfig
from soak.topology import Topology

MIN_GAP_S = 2.0  # between one target being ready again and the next kill
PAUSE = "dynamodb_pause"


@attrs.frozen
class Fault:
    kind: str
    pid: int | None  # the PID that was SIGKILLed (or paused)
    at_s: float  # seconds into the load
    down_s: float  # chosen downtime between the kill and the restart
    recovery_s: float  # from the restart to ready
    failed_starts: int  # restarts that did not come up and were tried again


def plan(kinds: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` kinds: shuffled rounds of all kinds, so each is hit once per round, never twice in a row."""
    order: list[str] = []
    while len(order) < count:
        round_ = list(kinds)
        rng.shuffle(round_)
        if order and len(round_) > 1 and round_[0] == order[-1]:
            round_.append(round_.pop(0))
        order += round_
    return order[:count]


class FaultInjector(threading.Thread):
    def __init__(self, topology: Topology, config: SoakConfig, rng: random.Random, stop: threading.Event) -> None:
        super().__init__(name="faults", daemon=True)
        self.topology, self.config, self.rng, self.stop, self.log = topology, config, rng, stop, topology.log
        self.schedule = plan(config.kinds, config.fault_count, rng)
        self.faults: list[Fault] = []
        self.started = time.monotonic()
        self.error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return len(self.faults) == len(self.schedule)

    def run(self) -> None:
        try:
            self.started = ready_at = time.monotonic()
            interval = self.config.load_s / max(1, len(self.schedule))
            for index, kind in enumerate(self.schedule):
                due = self.started + interval * (index + 0.5 + self.rng.uniform(-0.25, 0.25))
                if self.stop.wait(max(0.0, due - time.monotonic(), ready_at + MIN_GAP_S - time.monotonic())):
                    return
                self.faults.append(self._inject(kind))
                ready_at = time.monotonic()
        except BaseException as error:  # reported by the run
            self.error = error
            raise

    def _inject(self, kind: str) -> Fault:
        name = "dynamodb" if kind == PAUSE else kind
        target, down = self.topology.targets[name], self.rng.uniform(*self.config.downtime_s)
        number = f"{len(self.faults) + 1}/{len(self.schedule)}"
        failed, recovery = 0, 0.0
        with self.topology.locks[name]:
            at, pid = time.monotonic() - self.started, target.pid()
            if kind == PAUSE:
                target.signal(signal.SIGSTOP)
                self.log(f"soak: fault {number} at {at:.0f}s: SIGSTOP dynamodb (pid {pid}) for {down:.1f}s")
                time.sleep(down)
                target.signal(signal.SIGCONT)
            else:
                target.kill()
                self.log(f"soak: fault {number} at {at:.0f}s: SIGKILL {kind} (pid {pid})")
                time.sleep(down)
                restarted = time.monotonic()
                failed = self.topology.start_until_ready(kind, self.stop)
                recovery = time.monotonic() - restarted
                self.log(f"soak: {kind} back after {down:.1f}s down + {recovery:.1f}s to ready (pid {target.pid()})")
        return Fault(kind, pid, round(at, 1), round(down, 1), round(recovery, 1), failed)
