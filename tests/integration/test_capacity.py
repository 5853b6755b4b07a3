"""make capacity's simulation, end to end on a tiny matchday: the app's consumer, broadcaster and reads
against a throw-away local engine, every unit attributed to the partition key it landed on."""

import app
from bench.capacity import TABLE, Scenario, run
from chalicelib import layout


def test_a_small_matchday_puts_each_matchs_units_on_its_own_keys_and_spreads_the_directory():
    original = app.services
    scenario = Scenario(
        matches=3, viewers_per_match=5, big_match_viewers=40, seconds=2.0, history_minutes=1.0, partitions=2
    )
    result = run(scenario, say=lambda _: None, top=1000)
    assert app.services is original  # the app is left wired as it was
    keys = {(k["table"], k["index"], k["partition_key"]): k for k in result["keys"]}
    matches = [f"match-{n:04d}" for n in range(3)]
    for match in matches:
        assert keys[(TABLE, None, match)]["wcu_per_s"] > 0  # its events, statistics and feed
        assert keys[(TABLE, layout.DIRECTORY_INDEX, layout.directory_partition(match))]["wcu_per_s"] > 0
    assert not any(k["partition_key"] == "matches" for k in result["keys"])  # no one partition for all
    assert result["hottest_share"] == max(k["share"] for k in result["keys"])
    for row in result["keys"]:
        assert abs(row["share"] - max(row["wcu_per_s"] / 1000, row["rcu_per_s"] / 3000)) < 0.001
    assert result["no_cdn"]["hottest_share"] >= result["hottest_share"]
    assert set(result["ceilings"]) == {"live_matches", "events_per_s", "viewers"}
    assert {q["name"] for q in result["quotas"]} and all(q["source"].startswith("https://") for q in result["quotas"])
