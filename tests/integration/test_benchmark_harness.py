"""The benchmark harness runs end to end in smoke mode (it checks the harness, not speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

from benchmarks.audit_grade import appended_count
from benchmarks.harness import CHATTER_SHARE, LINES_PER_CUSTOMER, workload
from benchmarks.pages import PAGES
from demo.quarter import DemoSpec, generate
from ledger.adapters.event_store import LedgerApp
from ledger.services.intake import Ingestor, Input


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
        http = result["http"]  # the same stream through ledger serve, the same outcomes
        assert http["requests"] == -(-result["lines"] // http["batch"]) > 1
        assert http["events"] == result["events"]
        assert sum(http["counts"].values()) == result["lines"]
        assert http["ingest_per_s"] > 0 and http["server_cpu_s"] > 0
        assert result["http_ingest_vs_file"] == http["ingest_per_s"] / result["ingest_per_s"]
        for board in ("board_live", "board_past"):
            assert 0 < http[board]["p50_ms"] <= http[board]["p99_ms"] < 10_000, board
        pages = result["pages"]  # the web board's pages, rendered in-process
        for name in PAGES:
            assert 0 < pages[name]["p50_ms"] <= pages[name]["p99_ms"] < 10_000, name
            assert pages[name]["runs"] == 3 and pages[name]["bytes"] > 1000, name
        assert pages["totals"]["board_breached"] == result["as_of"]["breached_live"]
        assert pages["board_past_vs_live"] == (
            pages["board_past"]["p50_ms"] / pages["board_live"]["p50_ms"]
        )
        audit = result["audit"]  # checkpoint, witness, verify and proofs on that ledger
        checkpoint, incremental = audit["checkpoint"], audit["incremental"]
        assert checkpoint["events"] == result["events"]  # the whole log, every event
        assert checkpoint["seconds"] > 0 and checkpoint["peak_rss_mb"] > 0
        assert incremental["events"] == appended_count(result["events"]) > 0
        assert audit["witness"]["first_cosign_ms"] > 0
        assert audit["witness"]["incremental_cosign_ms"] > 0
        assert 0 < audit["witness"]["consistency_hashes"] <= 2 * math.log2(checkpoint["events"])
        assert audit["witness"]["consistency_bytes"] == 32 * audit["witness"]["consistency_hashes"]
        everything = checkpoint["events"] + incremental["events"]
        for verify in (audit["verify"], audit["verify_read_models"]):
            assert verify["events"] == everything and verify["uncovered_events"] == 0
            assert verify["cosigned_by"] == ["bench.example/witness"]
            assert verify["seconds"] > 0 and verify["peak_rss_mb"] > 0
        assert audit["verify"]["read_model_rows"] is None
        assert audit["verify_read_models"]["read_model_rows"] > 0
        proofs = audit["proofs"]
        assert proofs["tree_size"] == everything
        depth = math.ceil(math.log2(everything))  # RFC 9162: a path per level at most
        for kind, longest in (("inclusion", depth), ("consistency", 2 * depth)):
            figures = proofs[kind]
            assert figures["runs"] == 20 and 0 < figures["p50_ms"] <= figures["p99_ms"], kind
            assert 1 <= figures["hashes_min"] <= figures["hashes_max"] <= longest, kind
            assert figures["bytes_median"] == 32 * figures["hashes_median"]
        assert 0 < proofs["inclusion_verify"]["p50_ms"] <= proofs["inclusion_verify"]["p99_ms"]
        assert proofs["consistency_verify"]["hashes"] > 0
    assert document["results"][1]["kafka"]["end_to_end_per_s"] > 0
    for board in document["sla_breached"].values():
        assert board["breached"] == board["open_tickets"] == 300  # nobody answered any
    assert "| backend |" in run.stdout  # the printed table
    assert "| HTTP ingest/s |" in run.stdout
    assert "| ticket hot |" in run.stdout
    assert "| checkpoint s |" in run.stdout


def test_the_workload_is_the_demo_plus_zipf_chatter_that_is_all_accepted(
    ledger: LedgerApp,
) -> None:
    lines = workload(6_000, seed=3)
    notes = Counter(orjson.loads(line)["subject"] for line in lines if b'"internal note ' in line)
    assert sum(notes.values()) == round(6_000 * CHATTER_SHARE)
    counts = sorted(notes.values(), reverse=True)
    assert counts[0] >= 10 * counts[len(counts) // 2]  # a few hot tickets, many small ones
    report = Ingestor(ledger).ingest(Input(line, "bench") for line in lines)
    customers = round((6_000 - sum(notes.values())) / LINES_PER_CUSTOMER)
    expected = Counter(line.expect for line in generate(DemoSpec(seed=3, customers=customers)))
    assert (
        report.accepted == expected["accept"] + sum(notes.values()) + 100
    )  # + the 100-event ticket
    assert report.duplicates == expected["duplicate"]
    assert report.deferred == expected["deferred"]
    assert report.by_rule == Counter(
        {rule: n for rule, n in expected.items() if rule not in ("accept", "duplicate", "deferred")}
    )
