"""A short run of `make bench` (--quick): every figure, ratio and target is measured and reported.

Timing targets are not asserted here: the suite runs on slow, shared machines; `make bench` measures them.
"""

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def test_quick_bench_measures_and_reports_every_figure(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results", str(tmp_path)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (report,) = tmp_path.glob("*.json")
    assert (tmp_path / f"{report.stem}.png").stat().st_size > 10_000
    data = json.loads(report.read_text())
    assert set(data["figures"]) == {
        "raw_producer_per_s",
        "raw_batch_write_per_s",
        "raw_full_query_s",
        "ingest_batch_per_s",
        "ingest_batch_latency_s",
        "ingest_single_per_s",
        "ingest_single_latency_s",
        "consumer_per_s",
        "freshness_s",
        "full_read_s",
        "stats_s",
        "push_latency_s",
        "fan_out_per_s",
    }
    assert all(figure["median"] > 0 and figure["p99"] >= figure["median"] for figure in data["figures"].values())
    assert len(data["targets"]) == 6 and data["machine"]["cores"]
    assert "batch ingest / raw producer" in result.stdout
