"""A short run of `make bench` (--quick): every figure, raw limit, ratio and target is measured and reported.

Timing targets are not asserted here: the suite runs on slow, shared machines; `make bench` measures them.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report

PROJECT = Path(__file__).resolve().parents[2]
RATIOS = {"producer": "ingest_batch_per_s", "writes": "consumer_per_s", "query": "full_read_s"}


def test_quick_bench_measures_and_reports_every_figure(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results", str(tmp_path)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = tmp_path.glob("*.json")
    data = json.loads(path.read_text())
    assert set(data["figures"]) == {
        "raw_producer_per_s",
        "raw_write_items_per_s",
        "raw_write_events_per_s",
        "raw_full_query_s",
        "ingest_batch_per_s",
        "ingest_batch_latency_s",
        "ingest_single_per_s",
        "ingest_single_latency_s",
        "consumer_per_s",
        "consumer_items_per_event",
        "consumer_items_per_s",
        "freshness_s",
        "full_read_s",
        "stats_s",
    }
    assert all(figure["median"] > 0 and figure["p99"] >= figure["median"] for figure in data["figures"].values())
    assert data["figures"]["consumer_items_per_event"]["median"] >= 1  # at least the event's own item

    limits = data["limits"]
    assert set(limits) == set(RATIOS) and set(data["ratios"]) == set(RATIOS.values())
    for section, key in RATIOS.items():
        entry = limits[section]
        assert entry["combinations"] and entry["best"] in [
            {name: c[name] for name in entry["best"]} for c in entry["combinations"]
        ]
        assert entry["ratio"] == data["ratios"][key] > 0 and isinstance(entry["holds"], bool)
        assert data["figures"][entry["limit_figure"]] == entry["limit"]
    writes = limits["writes"]
    assert {(c["api"], c["threads"]) for c in writes["combinations"]} == {
        (api, threads) for api in ("BatchWriteItem", "TransactWriteItems") for threads in (1, 4)
    }
    assert writes["stream"]["StreamEnabled"] and writes["items_per_event"] >= 1
    assert {c["linger_ms"] for c in limits["producer"]["combinations"]} == {5, 20}
    assert len(limits["query"]["combinations"]) == 3

    assert len(data["targets"]) == 6 and data["machine"]["cores"]
    assert set(data["cold_start"]["paths"]) == {"ingest", "query", "consumer", "broadcaster"}
    assert all(path["import_ms"]["median"] > 0 for path in data["cold_start"]["paths"].values())
    assert data["cold_start"]["package"]["zipped_bytes"] > 0
    assert data["costs"]["consumer_live"] and data["costs"]["kafka"] and data["costs"]["broadcast"]
    for name in ("batch ingest / raw producer", "consumer / raw DynamoDB write limit", "raw Query / API full read"):
        assert name in result.stdout


def _limits(consumer_items_per_s, query_s):
    figures = {
        "ingest_batch_per_s": {"median": 5000.0},
        "raw_producer_per_s": {"median": 40000.0},
        "consumer_items_per_s": {"median": consumer_items_per_s},
        "raw_write_items_per_s": {"median": 1171.0},
        "full_read_s": {"median": 0.3},
        "raw_full_query_s": {"median": query_s},
    }
    limits = {
        section: {"unit": "events/s" if section == "producer" else "items/s", "best": {}, "limit": figures[limit]}
        for section, (_, _, limit, _, _) in report.RAW_LIMITS.items()
    }
    limits["writes"]["best"] = {"api": "BatchWriteItem", "puts": 25, "threads": 8}
    return figures, limits


def test_a_system_figure_above_its_raw_limit_fails_the_bench_naming_both():
    figures, limits = _limits(consumer_items_per_s=2600.0, query_s=0.2)
    ratios = report.compare(figures, limits)
    assert ratios["consumer_per_s"] == pytest.approx(2600 / 1171)
    with pytest.raises(SystemExit) as failed:
        report.enforce({"quick": False, "limits": limits})
    message = str(failed.value)
    assert "consumer / raw DynamoDB write limit = 2.22 > 1.0" in message
    assert "2,600.0 items/s" in message and "1,171.0 items/s" in message and "BatchWriteItem" in message
    assert "producer" not in message and "Query" not in message


def test_a_raw_query_slower_than_the_api_fails_and_quick_only_warns(capsys):
    figures, limits = _limits(consumer_items_per_s=500.0, query_s=0.45)
    report.compare(figures, limits)
    with pytest.raises(SystemExit, match=r"raw Query / API full read = 1\.50 > 1\.0: raw 450\.0 ms"):
        report.enforce({"quick": False, "limits": limits})
    report.enforce({"quick": True, "limits": limits})
    assert "WARNING" in capsys.readouterr().err
