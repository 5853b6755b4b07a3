"""``make audience``: a big match's audience on loopback, bounded.

While a match is played (one request an event, goals among them), ``VIEWERS`` pollers read it through the
local CDN as the match centre polls with its socket down (the change feed and the statistics every 2 s with
If-None-Match, the directory every 10 s), and ``SUBSCRIBERS`` WebSocket followers take every push. The
``make run`` stack runs in a subprocess with ``FANOUT_INLINE_FOLLOWERS=0``: every shard through the sender,
as a big match's on AWS. Writes bench/results/audience-<UTC timestamp>.json: ``cdn_hit_ratio`` and
``origin_requests_per_s`` from the CDN's access log, ``push_p50_s``/``push_p99_s`` over every delivery,
``last_subscriber_s`` (the slowest goal's 202 to its last follower) and ``goals_first_last_s`` (each goal's
202 to its first and last follower: the pipeline's time apart from the fan-out's).
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.push import Subscribers
from bench.workload import TOKEN, throwaway_stack
from devstack.cdn import INSTALL, cache_counts, nginx_binary
from matchtools.client import ApiClient
from matchtools.generate import generate_match

RESULTS = Path(__file__).resolve().parent / "results"
POLL_S, DIRECTORY_S = 2.0, 10.0  # the match centre's (chalicelib/match_centre/app.js)
DRAIN_S = 15.0
TARGETS = {"cdn_hit_ratio": 0.9, "last_subscriber_s": 2.0}


async def _viewer(session: aiohttp.ClientSession, base: str, match_id: str, stop: asyncio.Event, n: int) -> None:
    """One match centre polling: the change feed after its cursor, the statistics, now and then the list."""
    await asyncio.sleep(POLL_S * (n % 100) / 100)  # viewers spread over a poll interval
    etags: dict[str, str] = {}
    after, listed = "", 0.0

    async def get(path: str) -> Any:
        headers = {"If-None-Match": etags[path]} if path in etags else {}
        async with session.get(base + path, headers=headers) as response:
            if response.status == 304:
                return None
            if "ETag" in response.headers:
                etags[path] = response.headers["ETag"]
            return await response.json()

    while not stop.is_set():
        try:
            page = await get(f"/matches/{match_id}/changes?limit=1000" + (f"&after={after}" if after else ""))
            if page and page["changes"]:
                after = page["next_cursor"] or page["changes"][-1]["cursor"]
            await get(f"/matches/{match_id}/stats")
            if time.monotonic() - listed >= DIRECTORY_S:
                listed = time.monotonic()
                await get("/matches?limit=100")
        except (TimeoutError, aiohttp.ClientError):
            pass  # counted by the CDN's log like any other request; the page retries on its next poll
        await asyncio.sleep(POLL_S)


def _poll(base: str, match_id: str, count: int, stop: Any) -> None:
    """The viewers, in a process of their own: they must not take the followers' interpreter from them,
    or every arrival would be timed late."""
    os.nice(19)  # the load generator yields the cores to the system it measures

    async def run() -> None:
        done = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
            tasks = [asyncio.create_task(_viewer(session, base, match_id, done, n)) for n in range(count)]
            while not stop.is_set():
                await asyncio.sleep(0.2)
            done.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


def _play(api: ApiClient, match_id: str, rate: float, seconds: float) -> dict[str, tuple[float, str]]:
    """Post the match's events one request each at ``rate``: event_id -> (its 202, its type)."""
    events = generate_match(match_id, events=int(rate * seconds) + 10, seed=3)
    kick_off = datetime.now(UTC)
    acked: dict[str, tuple[float, str]] = {}
    started = time.perf_counter()
    for n, event in enumerate(events[: int(rate * seconds)]):
        if n % int(rate * 10) == int(rate * 5):  # a goal every 10 s, besides the generated match's own
            scorer = {"team_id": event.get("team_id") or "home", "player_id": event.get("player_id") or "home_p9"}
            event = event | {"event_type": "goal", "outcome": None, "related_player_id": None} | scorer
            event = {k: v for k, v in event.items() if v is not None}
        event = event | {"timestamp": (kick_off + timedelta(seconds=n / rate)).isoformat().replace("+00:00", "Z")}
        (event_id,) = api.post_events([event])
        acked[event_id] = (time.time(), event["event_type"])
        time.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
    return acked


def audience(viewers: int, subscribers: int, rate: float, seconds: float, say: Any = print) -> dict[str, Any]:
    if nginx_binary() is None:
        raise SystemExit(f"make audience reads through the local CDN: install nginx first ({INSTALL})")
    os.environ["FANOUT_INLINE_FOLLOWERS"] = "0"  # RunProcess passes the environment on to make run
    with throwaway_stack("audience") as stack:
        log = stack.data_dir.parent / "cdn" / "access.log"
        match_id = f"audience-{uuid.uuid4().hex[:8]}"
        api = ApiClient(stack.url, TOKEN)
        api.post_events([{"match_id": match_id, "event_type": "kick_off", "timestamp": datetime.now(UTC).isoformat()}])
        say(f"{subscribers} followers connecting")
        followers = Subscribers(stack.ws_url, [match_id], subscribers)
        followers.start()
        say(f"{viewers} viewers polling through {stack.cdn_url}")
        spawn = multiprocessing.get_context("spawn")
        stop = spawn.Event()
        polling = spawn.Process(target=_poll, args=(stack.cdn_url, match_id, viewers, stop))
        polling.start()
        time.sleep(POLL_S * 2)  # every viewer has caught up once
        since = len(log.read_text().splitlines()) if log.exists() else 0
        measured_from = time.monotonic()
        say(f"playing {seconds:g} s at {rate:g} events/s")
        acked = _play(api, match_id, rate, seconds)
        deadline = time.monotonic() + DRAIN_S
        due = len(acked) * subscribers
        while time.monotonic() < deadline and sum(len(followers.arrivals.get(e, [])) for e in acked) < due:
            time.sleep(0.2)
        hits, requests = cache_counts(log, since)
        elapsed = time.monotonic() - measured_from
        stop.set()
        polling.join(timeout=60)
        followers.stop()
    delays = sorted(t - acked[e][0] for e in acked for t in followers.arrivals.get(e, []))
    goals = [e for e, (_, kind) in acked.items() if kind == "goal"]
    complete = [e for e in goals if len(followers.arrivals.get(e, [])) == subscribers]
    last = max((max(followers.arrivals[e]) - acked[e][0] for e in complete), default=None)
    return {
        "viewers": viewers,
        "subscribers": subscribers,
        "origin_requests_per_s": round((requests - hits) / elapsed, 1),
        "cdn_hit_ratio": round(hits / requests, 4) if requests else None,
        "push_p50_s": round(statistics.median(delays), 3) if delays else None,
        "push_p99_s": round(delays[int(0.99 * (len(delays) - 1))], 3) if delays else None,
        "last_subscriber_s": round(last, 3) if last is not None else None,
        "viewer_requests_per_s": round(requests / elapsed, 1),
        "events_posted": len(acked),
        "goals": len(goals),
        "goals_missing_a_follower": len(goals) - len(complete),
        # where a goal's time goes: to its first follower (the pipeline) and its last (plus the fan-out)
        "goals_first_last_s": [
            [round(min(followers.arrivals[e]) - acked[e][0], 3), round(max(followers.arrivals[e]) - acked[e][0], 3)]
            for e in complete
        ],
        "deliveries": {"due": due, "made": len(delays)},
        "fanout": "sharded: every shard through the sender (FANOUT_INLINE_FOLLOWERS=0)",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audience", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--viewers", type=int, default=int(os.environ.get("VIEWERS", 2000)))
    parser.add_argument("--subscribers", type=int, default=int(os.environ.get("SUBSCRIBERS", 500)))
    parser.add_argument("--rate", type=float, default=0.6, help="events/s: a real match averages 0.6 (default)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = audience(args.viewers, args.subscribers, args.rate, args.seconds, say=lambda t: print(t, file=sys.stderr))
    result["targets"] = {
        name: {"target": target, "met": _met(name, result[name], target)} for name, target in TARGETS.items()
    }
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"audience-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}", file=sys.stderr)


def _met(name: str, value: Any, target: float) -> bool:
    if value is None:
        return False
    return bool(value >= target) if name == "cdn_hit_ratio" else bool(value <= target)


if __name__ == "__main__":
    main()
