"""The chaos: one fault at a time, a short random downtime, then ready again.

Each fault is a SIGKILL and a restart of one target, or ``dynamodb_pause``: the engine frozen with
SIGSTOP for the downtime and thawed with SIGCONT, which its clients meet as an outage of timeouts rather
than refused connections. The engine journals every write before answering it, so a SIGKILL at any
instant loses nothing acknowledged: no writer is paused around it.

The schedule spreads ``count`` faults evenly over the load (one every load/count seconds, +-25 % jitter)
and cycles through the kinds in a freshly shuffled order each round, so every kind is hit once per
round and none twice in a row more than by chance. A fault that runs long (a Kafka restart takes ~30 s
on a slow machine) delays the next one; the run then extends the load until every planned fault has
happened, so the figures always cover the planned number.
"""

import random
import signal
import threading
import time
from collections.abc import Callable, Sequence

import attrs

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
    """``count`` kinds: shuffled rounds of all kinds, no kind twice in a row across rounds."""
    order: list[str] = []
    while len(order) < count:
        round_ = list(kinds)
        rng.shuffle(round_)
        if order and len(round_) > 1 and round_[0] == order[-1]:
            round_.append(round_.pop(0))
        order += round_
    return order[:count]


class FaultInjector(threading.Thread):
    def __init__(
        self,
        topology: Topology,
        kinds: Sequence[str],
        count: int,
        load_s: float,
        downtime_s: tuple[float, float],
        rng: random.Random,
        stop: threading.Event,
        log: Callable[[str], None] = print,
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.topology, self.rng, self.stop, self.log = topology, rng, stop, log
        self.schedule = plan(kinds, count, rng)
        self.interval = load_s / max(1, count)
        self.downtime_s = downtime_s
        self.faults: list[Fault] = []
        self.started = time.monotonic()
        self.error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return len(self.faults) == len(self.schedule)

    def run(self) -> None:
        try:
            self.started = time.monotonic()
            ready_at = self.started
            for index, kind in enumerate(self.schedule):
                due = self.started + self.interval * (index + 0.5 + self.rng.uniform(-0.25, 0.25))
                if self.stop.wait(max(0.0, due - time.monotonic(), ready_at + MIN_GAP_S - time.monotonic())):
                    return
                self.faults.append(self._inject(kind))
                ready_at = time.monotonic()
        except BaseException as error:  # reported by the run
            self.error = error
            raise

    def _inject(self, kind: str) -> Fault:
        topology = self.topology
        name = "dynamodb" if kind == PAUSE else kind
        target = topology.targets[name]
        down = self.rng.uniform(*self.downtime_s)
        number = f"{len(self.faults) + 1}/{len(self.schedule)}"
        with topology.lock(name):
            at = time.monotonic() - self.started
            pid = target.pid()
            if kind == PAUSE:
                target.signal(signal.SIGSTOP)
                self.log(f"soak: fault {number} at {at:.0f}s: SIGSTOP dynamodb (pid {pid}) for {down:.1f}s")
                time.sleep(down)
                target.signal(signal.SIGCONT)
                return Fault(kind, pid, round(at, 1), round(down, 1), 0.0, 0)
            target.kill()
            self.log(f"soak: fault {number} at {at:.0f}s: SIGKILL {kind} (pid {pid})")
            time.sleep(down)
            restarted = time.monotonic()
            failed = topology.start_until_ready(kind, self.stop)
            recovery = time.monotonic() - restarted
        self.log(f"soak: {kind} back after {down:.1f}s down + {recovery:.1f}s to ready (pid {target.pid()})")
        return Fault(kind, pid, round(at, 1), round(down, 1), round(recovery, 1), failed)
