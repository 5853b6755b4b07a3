"""The load: generated matches replayed in order, with the corrections a real feed makes along the way.

Each match is a script owned by one producer thread, so a match's requests go out one after the other
(the next only once the previous one was acknowledged or abandoned): the order the contract's version
rule is checked against. Between batches of originals a script amends events (outcome, type, team,
player, time), voids and restores them, voids some for good with DELETE, re-posts stale versions and
whole earlier requests (both must change nothing), and voids an event before its original is sent
(the late original must stay void).
"""

import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from matchtools.generate import generate_match
from soak.client import SoakClient
from soak.ledger import MAX_VERSION, Ledger, Request

MATCH_LEVEL = ("kick_off", "half_time", "full_time")


@attrs.frozen
class Mix:
    """How a script spends its requests. Shares are of requests, not events."""

    max_batch: int = 20  # originals per request: 1 to this
    correction_share: float = 0.25  # requests that only correct (1-3 amend/void/restore/stale ops)
    inline_correction_share: float = 0.15  # batches of originals that also carry one correction
    for_good_share: float = 0.02  # DELETE requests
    redeliver_share: float = 0.03  # an earlier acknowledged request sent again, unchanged
    pre_void_share: float = 0.5  # matches that void an event before its original is sent
    tail_corrections: int = 3  # correction requests at most after a match's last original


@attrs.define
class _EventState:
    """What the script knows of one event with an explicit id."""

    last_version: int = 0  # highest version sent below MAX_VERSION
    live_body: dict[str, Any] | None = None  # the last non-void body sent
    voided: bool = False
    for_good: bool = False
    acked: dict[int, dict[str, Any]] = attrs.field(factory=dict)  # version -> the event as acknowledged


def _millis(moment: datetime) -> str:
    """Timestamps as the contract stores them, so the ledger's bodies are already canonical."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _shift(timestamp: str, millis: int) -> str:
    return _millis(datetime.fromisoformat(timestamp.replace("Z", "+00:00")) + timedelta(milliseconds=millis))


class MatchScript:
    """One match: its generated events still to send, and the state its corrections are made from."""

    def __init__(self, match_id: str, seed: int, events: int, mix: Mix) -> None:
        self.match_id, self.mix = match_id, mix
        self.rng = random.Random(seed)
        generated = generate_match(match_id, events=events, seed=seed)
        for event in generated:  # match-level events get ids, so VAR can void a full_time or move a kick_off
            if event["event_type"] in MATCH_LEVEL and "event_id" not in event:
                event["event_id"] = f"{match_id}-{event['event_type']}"
        self.pending = deque(generated)
        self.states: dict[str, _EventState] = {e["event_id"]: _EventState() for e in generated if "event_id" in e}
        self.roster: dict[str, set[str]] = defaultdict(set)
        for event in generated:
            if event.get("team_id"):
                self.roster[event["team_id"]].add(event["player_id"])
        self.acked_requests: deque[list[dict[str, Any]]] = deque(maxlen=20)
        self.tail = self.rng.randint(0, mix.tail_corrections)
        ids = [e["event_id"] for e in list(self.pending)[10:] if "event_id" in e and e["event_type"] not in MATCH_LEVEL]
        self.pre_void = self.rng.choice(ids) if ids and self.rng.random() < mix.pre_void_share else None

    @property
    def done(self) -> bool:
        return not self.pending and self.tail <= 0

    # -- the next request ----------------------------------------------------------------------------

    def next_request(self, ledger: Ledger) -> Request | None:
        """The match's next request, or None when there is nothing left to send."""
        rng, mix = self.rng, self.mix
        if self.pre_void is not None:  # first of all: the void, version 2, for an original still to come
            event_id, self.pre_void = self.pre_void, None
            state = self.states[event_id]
            state.last_version, state.voided = 2, True
            void = {"match_id": self.match_id, "event_id": event_id, "version": 2, "deleted": True}
            return ledger.new(self.match_id, "POST", [void], ["pre_void"])
        if self.done:
            return None
        if not self.pending:
            self.tail -= 1
        roll = rng.random()
        if roll < mix.for_good_share and (target := self._pick(lambda s: s.live_body is not None and not s.for_good)):
            event_id, state = target
            state.for_good, state.voided = True, True
            void = {"match_id": self.match_id, "event_id": event_id, "version": MAX_VERSION, "deleted": True}
            return ledger.new(self.match_id, "DELETE", [void], ["for_good"])
        roll -= mix.for_good_share
        if roll < mix.redeliver_share and self.acked_requests:
            again = [dict(e) for e in rng.choice(self.acked_requests)]
            return ledger.new(self.match_id, "POST", again, ["redeliver"] * len(again))
        roll -= mix.redeliver_share
        events: list[dict[str, Any]] = []
        ops: list[str] = []
        if self.pending and roll >= mix.correction_share:
            for _ in range(min(len(self.pending), rng.randint(1, mix.max_batch))):
                events.append(self._original(self.pending.popleft()))
                ops.append("original")
            corrections = 1 if rng.random() < mix.inline_correction_share else 0
        else:
            corrections = rng.randint(1, 3)
        for _ in range(corrections):
            if (made := self._correction()) is not None:
                events.append(made[0])
                ops.append(made[1])
        if not events and self.pending:  # nothing to correct yet: originals instead
            events, ops = [self._original(self.pending.popleft())], ["original"]
        return ledger.new(self.match_id, "POST", events, ops) if events else None

    def _original(self, event: dict[str, Any]) -> dict[str, Any]:
        if "event_id" in event:
            state = self.states[event["event_id"]]
            state.last_version = max(state.last_version, 1)
            if state.live_body is None:  # (a pre-voided event's original makes it restorable)
                state.live_body = dict(event)
        return dict(event)

    def _pick(self, accept: Callable[[_EventState], bool]) -> tuple[str, _EventState] | None:
        """An acknowledged event the predicate accepts, at random."""
        found = [(event_id, s) for event_id, s in self.states.items() if s.acked and accept(s)]
        return self.rng.choice(found) if found else None

    def _correction(self) -> tuple[dict[str, Any], str] | None:
        """One amend, void, restore or stale re-post of an acknowledged event."""
        rng = self.rng
        kinds = ["amend"] * 8 + ["void"] * 4 + ["restore"] * 3 + ["stale"] * 2
        for kind in rng.sample(kinds, len(kinds)):
            if kind == "amend" and (target := self._pick(lambda s: s.live_body is not None and not s.voided)):
                event_id, state = target
                state.last_version += 1
                assert state.live_body is not None
                state.live_body = self._amended(state.live_body) | {"version": state.last_version}
                return dict(state.live_body), "amend"
            if kind == "void" and (target := self._pick(lambda s: not s.voided)):
                event_id, state = target
                state.last_version += 1
                state.voided = True
                void = {"match_id": self.match_id, "event_id": event_id, "version": state.last_version, "deleted": True}
                return void, "void"
            if kind == "restore" and (
                target := self._pick(lambda s: s.voided and not s.for_good and s.live_body is not None)
            ):
                event_id, state = target
                state.last_version += 1
                state.voided = False
                assert state.live_body is not None
                state.live_body = state.live_body | {"version": state.last_version}
                return dict(state.live_body), "restore"
            if kind == "stale" and (target := self._pick(lambda s: len(s.acked) >= 2)):
                event_id, state = target
                if MAX_VERSION in state.acked and state.live_body is not None and rng.random() < 0.5:
                    # a new version after a DELETE: still below its version, so it must change nothing
                    state.last_version += 1
                    return self._amended(state.live_body) | {"version": state.last_version}, "stale"
                newest = max(state.acked)
                older = [v for v in state.acked if v < newest]
                if older:
                    return dict(state.acked[rng.choice(older)]), "stale"
        return None

    def _amended(self, body: dict[str, Any]) -> dict[str, Any]:
        """The same event, corrected: VAR and data-entry fixes, one or two at a time."""
        rng, new = self.rng, dict(body)
        new.pop("version", None)
        kind = new["event_type"]
        fixes: list[Callable[[], None]] = []
        if kind == "pass":
            fixes.append(lambda: new.update(outcome="incomplete" if new.get("outcome") == "complete" else "complete"))
        if kind == "shot":

            def reviewed() -> None:  # (a no-op if the other fix made it a goal first: goals have no outcome)
                if new["event_type"] == "shot":
                    new["outcome"] = rng.choice(["saved", "off_target", "blocked", "post"])

            fixes.append(reviewed)

            def scored() -> None:
                new.pop("outcome", None)
                new["event_type"] = "goal"

            fixes.append(scored)
        if kind == "goal":
            fixes.append(lambda: new.update(event_type="shot", outcome=rng.choice(["saved", "post"])))  # VAR
        if kind == "foul":
            fixes.append(lambda: new.update(event_type="yellow_card"))
        if kind == "yellow_card":
            fixes.append(lambda: new.update(event_type="red_card"))
        if kind not in MATCH_LEVEL:
            teams = sorted(self.roster)
            fixes.append(lambda: new.update(player_id=rng.choice(sorted(self.roster[new["team_id"]]))))
            if len(teams) > 1:

                def other_team() -> None:
                    team = rng.choice([t for t in teams if t != new["team_id"]])
                    new.update(team_id=team, player_id=rng.choice(sorted(self.roster[team])))

                fixes.append(other_team)
            fixes.append(lambda: new.update(x=round(rng.uniform(0, 100), 1), y=round(rng.uniform(0, 100), 1)))
        else:
            fixes.append(lambda: new.update(period=1 if new.get("period") == 2 else 2))
        fixes.append(lambda: new.update(timestamp=_shift(new["timestamp"], rng.randint(-30_000, 30_000))))
        if "minute" in new:
            fixes.append(lambda: new.update(minute=min(130, max(0, new["minute"] + rng.choice([-1, 1])))))
        for fix in rng.sample(fixes, min(len(fixes), rng.randint(1, 2))):
            fix()
        return new

    # -- the answer ----------------------------------------------------------------------------------

    def settled(self, request: Request) -> None:
        """Remember what was acknowledged: corrections are made of acknowledged events only."""
        if not request.acked:
            return
        if request.method == "POST" and "redeliver" not in request.ops:
            self.acked_requests.append([dict(e) for e in request.events])
        for event in request.events:
            state = self.states.get(event.get("event_id", ""))
            if state is not None:
                state.acked.setdefault(event.get("version", 1), dict(event))


class MatchFactory:
    """Numbered matches, each with its own seed: the same --seed replays the same matches."""

    def __init__(self, prefix: str, seed: int, events: int, mix: Mix) -> None:
        self.prefix, self.seed, self.events, self.mix = prefix, seed, events, mix
        self._lock = threading.Lock()
        self.match_ids: list[str] = []

    def next(self) -> MatchScript:
        with self._lock:
            number = len(self.match_ids)
            match_id = f"{self.prefix}-{number:05d}"
            self.match_ids.append(match_id)
        return MatchScript(match_id, self.seed * 1_000_003 + number, self.events, self.mix)


class RateLimiter:
    """A token bucket shared by the producers: the offered load is ``rate`` events per second at most."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, amount: int, stop: threading.Event) -> bool:
        """Wait for ``amount`` tokens; False if ``stop`` was set first."""
        while not stop.is_set():
            with self._lock:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= amount:
                    self.tokens -= amount
                    return True
                wait = (amount - self.tokens) / self.rate
            stop.wait(min(wait, 0.5))
        return False


class Producer(threading.Thread):
    """Keeps ``active`` matches going, round robin, until ``stop`` is set; a request in flight is still
    retried to its end (acknowledged or abandoned), so nothing is left half-known."""

    def __init__(
        self,
        name: str,
        client: SoakClient,
        ledger: Ledger,
        limiter: RateLimiter,
        factory: MatchFactory,
        active: int,
        stop: threading.Event,
        abort: threading.Event,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.client, self.ledger, self.limiter, self.factory = client, ledger, limiter, factory
        self.active, self.stop, self.abort = active, stop, abort
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            scripts = [self.factory.next() for _ in range(self.active)]
            turn = 0
            while not self.stop.is_set():
                slot = turn % len(scripts)
                turn += 1
                if scripts[slot].done:
                    scripts[slot] = self.factory.next()
                request = scripts[slot].next_request(self.ledger)
                if request is None:
                    continue
                if not self.limiter.acquire(len(request.events), self.stop):
                    return  # never sent: not in the ledger
                self.client.send(request, self.abort)
                scripts[slot].settled(request)
                self.ledger.settle(request)
        except BaseException as error:  # reported by the run, never swallowed
            self.error = error
            raise
