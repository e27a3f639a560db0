"""The benchmark harness runs end to end in smoke mode (it checks the harness, not speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_harness_smoke_run_measures_everything_on_both_backends(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.harness", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    document = json.loads(out.read_text())
    assert document["seed"] == 7 and document["machine"]["cpus"]
    assert document["versions"]["eventsourcing"] and document["versions"]["postgresql"]
    assert [r["backend"] for r in document["results"]] == ["sqlite", "postgres"]
    for result in document["results"]:
        for key in (
            "physical_per_s",
            "library_single_per_s",
            "library_batched_per_s",
            "ingest_per_s",
            "rebuild_per_s",
            "peak_rss_mb",
        ):
            assert result[key] > 0, key
        assert result["replay"]["events"] == 100  # the hot ticket
        assert 0 < result["replay"]["p50_ms"] <= result["replay"]["p99_ms"]
    assert document["results"][1]["kafka"]["end_to_end_per_s"] > 0
    for board in document["sla_breached"].values():
        assert board["breached"] == board["open_tickets"] == 300  # nobody answered any
    assert "| backend |" in run.stdout  # the printed table
