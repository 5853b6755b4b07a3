"""make capacity's arithmetic (bench/capacity.py): viewers' request rates through a CDN, attributed to the
partition keys each request touched, against DynamoDB's per-partition limits. Hand-computed cases."""

from collections import Counter

import pytest

from bench.capacity import Reads, Scenario, ceilings, key_rows, read_heat
from chalicelib import layout
from devstack.capacity import Units

T, S = "events", "subscriptions"
MEASURED = "m-measured"  # the match the request types were measured on
SCENARIO = Scenario(matches=2, viewers_per_match=100, big_match_viewers=1000, join_minutes=10.0, cdn_hit_ratio=0.9)
READS = Reads(
    rcu={
        "directory": Counter({(T, layout.DIRECTORY_INDEX, "matches#00"): 0.5, (T, None, MEASURED): 0.5}),
        "timeline": Counter({(T, None, MEASURED): 10.0}),
        "subscribe": Counter({(T, None, MEASURED): 1.0}),
        "catch_up": Counter({(T, None, MEASURED): 1.0}),
    },
    wcu={
        "directory": Counter(),
        "timeline": Counter(),
        "subscribe": Counter({(S, None, f"m#{MEASURED}#3"): 2.0, (S, None, "c#viewer"): 2.0}),
        "catch_up": Counter(),
    },
)


def test_each_matchs_viewers_cost_its_own_partitions_and_the_cdn_takes_only_rest_reads():
    heat = read_heat(SCENARIO, READS, MEASURED, ["big", "small"], "big", hit_ratio=0.9)
    joins, directory, reconnects = 100 / 600, 100 / 600 + 100 / 10, 100 / 7200  # one small match's requests/s
    small = 0.1 * (directory * 0.5 + joins * 10.0 + reconnects * 1.0) + (joins + reconnects) * 1.0
    assert heat.rcu[(T, None, "small")] == pytest.approx(small)
    assert heat.rcu[(T, None, "big")] == pytest.approx(10 * small)  # ten times the viewers
    assert heat.wcu[(S, None, "m#small#3")] == pytest.approx((joins + reconnects) * 2.0)  # WebSocket: no CDN
    both = 0.1 * 0.5 * (directory + 10 * directory)
    assert heat.rcu[(T, layout.DIRECTORY_INDEX, "matches#00")] == pytest.approx(both)  # shared by all viewers


def test_without_a_cdn_every_rest_read_reaches_the_table():
    cached = read_heat(SCENARIO, READS, MEASURED, ["small"], "big", hit_ratio=0.9)
    uncached = read_heat(SCENARIO, READS, MEASURED, ["small"], "big", hit_ratio=0.0)
    timeline = 100 / 600 * 10.0
    assert uncached.rcu[(T, None, "small")] - cached.rcu[(T, None, "small")] == pytest.approx(
        0.9 * (timeline + (100 / 600 + 10) * 0.5 + 100 / 7200)
    )


def test_a_keys_share_is_its_load_over_its_partitions_limit_hottest_first():
    writes = Units(wcu=Counter({(T, None, "a"): 600.0}), rcu=Counter({(T, None, "b"): 2400.0}))
    rows = key_rows(writes, Units())
    assert [(r["partition_key"], r["share"]) for r in rows] == [("b", 0.8), ("a", 0.6)]
    assert rows[0]["rcu_limit"] == 3000.0 and rows[0]["wcu_limit"] == 1000.0


def test_ceilings_scale_each_load_alone_until_the_hottest_key_reaches_its_limit():
    scenario = Scenario(matches=1000, events_per_s_per_match=3.0, big_match_viewers=100_000)
    shard = (T, layout.DIRECTORY_INDEX, "matches#07")
    writes = Units(wcu=Counter({shard: 250.0, (T, None, "big"): 100.0}), rcu=Counter())
    reads = Units(wcu=Counter(), rcu=Counter({(T, None, "big"): 1500.0, shard: 300.0}))
    found = ceilings(scenario, writes, reads, {"big"}, "big")
    assert found["live_matches"] == pytest.approx(4000, abs=1)  # the shard's writes x4 reach 1,000 WCU/s
    assert found["events_per_s"] == pytest.approx(30.0, abs=0.1)  # the match's 100 WCU/s x10
    assert found["viewers"] == pytest.approx(200_000, abs=2)  # its 1,500 RCU/s x2 reach 3,000
