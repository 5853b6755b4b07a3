"""The producer's side of the contract: retry what was not acknowledged, the same request every time.

A 503 is retried after its ``Retry-After``; a connection error, a timeout or any other 5xx (which the
contract says never happens, so it is counted) after a jittered exponential backoff. Every retry
re-sends the identical body, with the same event ids and versions, which is what makes retrying safe.
A 4xx is final: the request was all-or-nothing refused. A request still unacknowledged after the
retry budget is abandoned, as a real client eventually gives up; its events may or may not be in
Kafka, and the verification treats them as such.
"""

import random
import threading
import time
from urllib.parse import quote

import attrs
import requests

from soak.ledger import Request


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
        if request.method == "DELETE":
            (void,) = request.events
            path = f"/matches/{quote(void['match_id'], safe='')}/events/{quote(void['event_id'], safe='')}"
            return self.session.delete(self.url + path, timeout=self.policy.request_timeout_s)
        return self.session.post(
            f"{self.url}/events", json={"events": request.events}, timeout=self.policy.request_timeout_s
        )

    def send(self, request: Request, abort: threading.Event | None = None) -> None:
        """Until a 202, a 4xx or the retry budget; the outcome is recorded on ``request``. ``abort`` ends
        the retries early (the run is being torn down after an error): the request is then abandoned."""
        started, backoff = time.monotonic(), self.policy.first_backoff_s
        while True:
            request.attempts += 1
            wait: float | None = None
            try:
                response = self._attempt(request)
            except requests.Timeout:
                kind = "timeout"
            except requests.RequestException:
                kind = "connection"
            else:
                if response.status_code == 202:
                    request.acked, request.event_ids = True, list(response.json()["event_ids"])
                    return
                if 400 <= response.status_code < 500:
                    request.rejected = f"{response.status_code}: {response.text[:300]}"
                    return
                kind = "503" if response.status_code == 503 else f"http_{response.status_code}"
                if response.status_code == 503:
                    wait = float(response.headers.get("Retry-After", "1"))
            request.failures[kind] += 1
            if time.monotonic() - started > self.policy.give_up_s or (abort is not None and abort.is_set()):
                request.abandoned = True
                return
            if wait is None:
                wait = self.rng.uniform(0, backoff)  # full jitter: restarted services are not stampeded
                backoff = min(self.policy.max_backoff_s, backoff * 2)
            time.sleep(wait)
