"""What a soak run is asked to do: its length, load, faults and seed."""

from collections.abc import Sequence
from pathlib import Path

import attrs

from soak.topology import KINDS


@attrs.frozen(kw_only=True)
class SoakConfig:
    minutes: float = 20.0
    rate: float = 60.0  # offered events per second, all producers together
    seed: int = 1
    faults: int | None = None  # default: one every 20 s of load
    kinds: Sequence[str] = KINDS
    clients: int = 4  # producer threads
    active_matches: int = 3  # matches each producer keeps going at once
    match_events: int = 300  # generated events per match (corrections come on top)
    downtime_s: tuple[float, float] = (1.0, 6.0)
    poison: int = 3  # invalid records written straight to the topic: the dead-letter check's control group
    give_up_s: float = 180.0
    drain_timeout_s: float | None = None  # default: 10 minutes plus the load's length
    data_dir: Path | None = None
    keep: bool = False  # keep the data dir (logs, Kafka, DynamoDB) even when the run passed

    @property
    def load_s(self) -> float:
        return self.minutes * 60

    @property
    def fault_count(self) -> int:
        return self.faults if self.faults is not None else max(len(self.kinds), round(self.load_s / 20))
