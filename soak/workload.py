"""The load: generated matches replayed in order with the corrections a real feed makes (amend, void,
restore, DELETE for good, stale versions and whole requests re-sent, a void before its original); a
match's requests go out one after the other, the order the version rule is checked against. Clients retry
as the contract says: the identical body (which makes retrying safe) after ``Retry-After`` for a 503, a
jittered backoff otherwise; a 4xx is final; past the retry budget a request is abandoned."""

import itertools
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import attrs
import requests

from chalicelib.events import iso_millis
from matchtools.generate import generate_match
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


CORRECTABLE: dict[str, Callable[[_EventState], bool]] = {
    "amend": lambda s: s.live_body is not None and not s.voided,
    "void": lambda s: not s.voided,
    "restore": lambda s: s.voided and not s.for_good and s.live_body is not None,
    "stale": lambda s: len(s.acked) >= 2,
}


def _shift(timestamp: str, millis: int) -> str:
    """As the contract stores timestamps, so the ledger's bodies are already canonical."""
    return iso_millis(datetime.fromisoformat(timestamp) + timedelta(milliseconds=millis))


class MatchScript:
    """One match: its generated events still to send, and the state its corrections are made from."""

    def __init__(self, match_id: str, seed: int, events: int, mix: Mix) -> None:
        self.match_id, self.mix, self.rng = match_id, mix, random.Random(seed)
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

    def _void(self, event_id: str, version: int) -> dict[str, Any]:
        return {"match_id": self.match_id, "event_id": event_id, "version": version, "deleted": True}

    def next_request(self, ledger: Ledger) -> Request | None:
        """The match's next request, or None when there is nothing left to send."""
        rng, mix = self.rng, self.mix
        if self.pre_void is not None:  # first of all: the void, version 2, for an original still to come
            event_id, self.pre_void = self.pre_void, None
            state = self.states[event_id]
            state.last_version, state.voided = 2, True
            return ledger.new(self.match_id, "POST", [self._void(event_id, 2)], ["pre_void"])
        if self.done:
            return None
        if not self.pending:
            self.tail -= 1
        roll = rng.random()
        if roll < mix.for_good_share and (target := self._pick(lambda s: s.live_body is not None and not s.for_good)):
            event_id, state = target
            state.for_good, state.voided = True, True
            return ledger.new(self.match_id, "DELETE", [self._void(event_id, MAX_VERSION)], ["for_good"])
        roll -= mix.for_good_share
        if roll < mix.redeliver_share and self.acked_requests:
            again = [dict(e) for e in rng.choice(self.acked_requests)]
            return ledger.new(self.match_id, "POST", again, ["redeliver"] * len(again))
        roll -= mix.redeliver_share
        made: list[tuple[dict[str, Any], str]] = []
        if self.pending and roll >= mix.correction_share:
            batch = min(len(self.pending), rng.randint(1, mix.max_batch))
            made += [(self._original(self.pending.popleft()), "original") for _ in range(batch)]
            corrections = 1 if rng.random() < mix.inline_correction_share else 0
        else:
            corrections = rng.randint(1, 3)
        made += [correction for _ in range(corrections) if (correction := self._correction()) is not None]
        if not made and self.pending:  # nothing to correct yet: originals instead
            made = [(self._original(self.pending.popleft()), "original")]
        return ledger.new(self.match_id, "POST", [e for e, _ in made], [op for _, op in made]) if made else None

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
            if (target := self._pick(CORRECTABLE[kind])) is None:
                continue
            event_id, state = target
            if kind == "stale":
                if MAX_VERSION in state.acked and state.live_body is not None and rng.random() < 0.5:
                    # a new version after a DELETE: still below its version, so it must change nothing
                    state.last_version += 1
                    return self._amended(state.live_body) | {"version": state.last_version}, "stale"
                if older := [v for v in state.acked if v < max(state.acked)]:
                    return dict(state.acked[rng.choice(older)]), "stale"
                continue
            state.last_version += 1
            state.voided = kind == "void"
            if kind == "void":
                return self._void(event_id, state.last_version), "void"
            assert state.live_body is not None
            body = self._amended(state.live_body) if kind == "amend" else state.live_body
            state.live_body = body | {"version": state.last_version}
            return dict(state.live_body), kind
        return None

    def _amended(self, body: dict[str, Any]) -> dict[str, Any]:
        """The same event, corrected: VAR and data-entry fixes, one or two at a time."""
        rng, new = self.rng, dict(body)
        new.pop("version", None)
        kind = new["event_type"]
        fixes: list[Callable[[], dict[str, Any]]] = []  # each gives the fields it changes; None removes one
        if kind == "pass":
            fixes.append(lambda: {"outcome": "incomplete" if new.get("outcome") == "complete" else "complete"})
        if kind == "shot":  # reviewed (unless the other fix made it a goal first: goals have no outcome), or scored
            outcomes = ["saved", "off_target", "blocked", "post"]
            fixes.append(lambda: {"outcome": rng.choice(outcomes)} if new["event_type"] == "shot" else {})
            fixes.append(lambda: {"outcome": None, "event_type": "goal"})
        if kind == "goal":
            fixes.append(lambda: {"event_type": "shot", "outcome": rng.choice(["saved", "post"])})  # VAR
        if kind == "foul":
            fixes.append(lambda: {"event_type": "yellow_card"})
        if kind == "yellow_card":
            fixes.append(lambda: {"event_type": "red_card"})
        if kind not in MATCH_LEVEL:
            teams = sorted(self.roster)
            fixes.append(lambda: {"player_id": rng.choice(sorted(self.roster[new["team_id"]]))})
            if len(teams) > 1:

                def other_team() -> dict[str, Any]:
                    team = rng.choice([t for t in teams if t != new["team_id"]])
                    return {"team_id": team, "player_id": rng.choice(sorted(self.roster[team]))}

                fixes.append(other_team)
            fixes.append(lambda: {"x": round(rng.uniform(0, 100), 1), "y": round(rng.uniform(0, 100), 1)})
        else:
            fixes.append(lambda: {"period": 1 if new.get("period") == 2 else 2})
        fixes.append(lambda: {"timestamp": _shift(new["timestamp"], rng.randint(-30_000, 30_000))})
        if "minute" in new:
            fixes.append(lambda: {"minute": min(130, max(0, new["minute"] + rng.choice([-1, 1])))})
        for fix in rng.sample(fixes, min(len(fixes), rng.randint(1, 2))):
            new.update(fix())
        return {name: value for name, value in new.items() if value is not None}

    def settled(self, request: Request) -> None:
        """Remember what was acknowledged: corrections are made of acknowledged events only."""
        if not request.acked:
            return
        if request.method == "POST" and "redeliver" not in request.ops:
            self.acked_requests.append([dict(e) for e in request.events])
        for event in request.events:
            if (state := self.states.get(event.get("event_id", ""))) is not None:
                state.acked.setdefault(event.get("version", 1), dict(event))


class MatchFactory:
    """Numbered matches, each with its own seed: the same --seed replays the same matches."""

    def __init__(self, prefix: str, seed: int, events: int, mix: Mix) -> None:
        self.prefix, self.seed, self.events, self.mix = prefix, seed, events, mix
        self._numbers, self._lock = itertools.count(), threading.Lock()

    def next(self) -> MatchScript:
        with self._lock:
            number = next(self._numbers)
        return MatchScript(f"{self.prefix}-{number:05d}", self.seed * 1_000_003 + number, self.events, self.mix)


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
                self.tokens, self.stamp = min(self.burst, self.tokens + (now - self.stamp) * self.rate), now
                if self.tokens >= amount:
                    self.tokens -= amount
                    return True
                wait = (amount - self.tokens) / self.rate
            stop.wait(min(wait, 0.5))
        return False


@attrs.frozen
class RetryPolicy:
    give_up_s: float = 180.0  # longer than any planned outage (a Kafka restart takes ~30 s here)
    request_timeout_s: float = 30.0  # the API answers 503 after KAFKA_ACK_TIMEOUT_SECONDS
    first_backoff_s: float = 0.25
    max_backoff_s: float = 5.0


class SoakClient:
    """One per producer thread: a requests session with the producer token."""

    def __init__(self, url: str, token: str, policy: RetryPolicy, rng: random.Random) -> None:
        self.url, self.policy, self.rng = url.rstrip("/"), policy, rng
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _attempt(self, request: Request) -> requests.Response:
        timeout = self.policy.request_timeout_s
        if request.method == "DELETE":
            (void,) = request.events
            path = f"/matches/{quote(void['match_id'], safe='')}/events/{quote(void['event_id'], safe='')}"
            return self.session.delete(self.url + path, timeout=timeout)
        return self.session.post(f"{self.url}/events", json={"events": request.events}, timeout=timeout)

    def send(self, request: Request, abort: threading.Event | None = None) -> None:
        """Until a 202, a 4xx or the retry budget, recorded on ``request``; ``abort`` abandons it early."""
        started, backoff = time.monotonic(), self.policy.first_backoff_s
        while True:
            request.attempts += 1
            wait: float | None = None
            try:
                response = self._attempt(request)
            except requests.RequestException as error:
                kind = "timeout" if isinstance(error, requests.Timeout) else "connection"
            else:
                status = response.status_code
                if status == 202:
                    request.acked, request.event_ids = True, list(response.json()["event_ids"])
                    return
                if 400 <= status < 500:
                    request.rejected = f"{status}: {response.text[:300]}"
                    return
                kind = "503" if status == 503 else f"http_{status}"
                if status == 503:
                    wait = float(response.headers.get("Retry-After", "1"))
            request.failures[kind] += 1
            if time.monotonic() - started > self.policy.give_up_s or (abort is not None and abort.is_set()):
                request.abandoned = True
                return
            if wait is None:
                wait = self.rng.uniform(0, backoff)  # full jitter: restarted services are not stampeded
                backoff = min(self.policy.max_backoff_s, backoff * 2)
            time.sleep(wait)


@attrs.frozen
class Load:
    """What the producer threads share."""

    limiter: RateLimiter
    factory: MatchFactory
    active: int  # matches each producer keeps going at once
    ledger: Ledger = attrs.field(factory=Ledger)
    stop: threading.Event = attrs.field(factory=threading.Event)  # no new requests
    abort: threading.Event = attrs.field(factory=threading.Event)  # a request still retrying gives up: abandoned


class Producer(threading.Thread):
    """Keeps ``load.active`` matches going until ``load.stop``; a request in flight is retried to its end."""

    def __init__(self, name: str, client: SoakClient, load: Load) -> None:
        super().__init__(name=name, daemon=True)
        self.client, self.load = client, load
        self.error: BaseException | None = None

    def run(self) -> None:
        load = self.load
        try:
            scripts = [load.factory.next() for _ in range(load.active)]
            for slot in itertools.cycle(range(len(scripts))):
                if load.stop.is_set():
                    return
                if scripts[slot].done:
                    scripts[slot] = load.factory.next()
                request = scripts[slot].next_request(load.ledger)
                if request is None:
                    continue
                if not load.limiter.acquire(len(request.events), load.stop):
                    return  # never sent: not in the ledger
                self.client.send(request, load.abort)
                scripts[slot].settled(request)
                load.ledger.settle(request)
        except BaseException as error:  # reported by the run, never swallowed
            self.error = error
            raise
