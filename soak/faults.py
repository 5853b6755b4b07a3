"""The chaos: SIGKILL one target at a time, keep it down for a short random while, restart it, wait until ready.

DynamoDB Local is killed "quiesced" by default: the table's only writer, the event source, is paused
(SIGSTOP) for QUIESCE_S before the SIGKILL and resumed (SIGCONT) right after, so it meets the outage as
connection errors. The reason: DynamoDB Local 3.x answers a TransactWriteItems before the write is on
disk, and loses it if its JVM dies within a few milliseconds of that answer (reproduced: SIGKILL right
after an acknowledged transaction loses it in most tries; 50 ms later, never), while DynamoDB proper
never loses an acknowledged write. A raw kill (``quiesce=False``, ``--raw-dynamodb-kill``) shows that
gap as lost events.

The schedule spreads ``count`` faults evenly over the load (one every load/count seconds, +-25 % jitter)
and cycles through the kinds in a freshly shuffled order each round, so every kind is hit once per
round of five and none twice in a row more than by chance. A fault that runs long (a Kafka restart
takes ~30 s on a slow machine) delays the next one; the run then extends the load until every planned
fault has happened, so the figures always cover the planned number.
"""

import contextlib
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence

import attrs

from soak.topology import Topology

MIN_GAP_S = 2.0  # between one target being ready again and the next kill
QUIESCE_S = 0.5  # the writer's pause before DynamoDB Local is killed: ten times the window it loses writes in
WRITERS = ("event_source",)  # what writes to DynamoDB Local (the API and the broadcaster only read the events)


@attrs.frozen
class Fault:
    kind: str
    pid: int | None  # the PID that was SIGKILLed
    at_s: float  # seconds into the load
    down_s: float  # chosen downtime between the kill and the restart
    recovery_s: float  # from the restart to ready
    failed_starts: int  # restarts that did not come up and were tried again
    paused: tuple[str, ...] = ()  # writers held (SIGSTOP) around the kill: DynamoDB Local, quiesced


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
        quiesce: bool = True,
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.quiesce = quiesce
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
        target = topology.targets[kind]
        down = self.rng.uniform(*self.downtime_s)
        paused = WRITERS if kind == "dynamodb" and self.quiesce else ()
        with topology.lock(kind), contextlib.ExitStack() as held:
            for writer in paused:  # the watchdog must not restart a writer while it is stopped
                held.enter_context(topology.lock(writer))
                topology.targets[writer].signal(signal.SIGSTOP)
            if paused:
                time.sleep(QUIESCE_S)
            at = time.monotonic() - self.started
            pid = target.pid()
            target.kill()
            for writer in paused:
                topology.targets[writer].signal(signal.SIGCONT)
            held.close()
            number = f"{len(self.faults) + 1}/{len(self.schedule)}"
            quiesced = f", {'+'.join(paused)} paused {QUIESCE_S:g}s before" if paused else ""
            self.log(f"soak: fault {number} at {at:.0f}s: SIGKILL {kind} (pid {pid}{quiesced})")
            time.sleep(down)
            restarted = time.monotonic()
            failed = topology.start_until_ready(kind, self.stop)
            recovery = time.monotonic() - restarted
        self.log(f"soak: {kind} back after {down:.1f}s down + {recovery:.1f}s to ready (pid {target.pid()})")
        return Fault(kind, pid, round(at, 1), round(down, 1), round(recovery, 1), failed, paused)
