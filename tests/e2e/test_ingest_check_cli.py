"""``ledger ingest --check`` (a dry run) and input that is no JSON Lines at all, as a user
runs them: a real process, a real SQLite file or PostgreSQL schema."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from ledger.adapters.settings import Database
from tests.conftest import PG_URL
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import T0, Envelopes

EXPECTED = {
    "inputs": 9,
    "accepted": 4,
    "duplicates": 1,
    "deferred": 1,
    "rejected": 2,
    "already_rejected": 1,
    "rejected_by_rule": {"R-ESC-1": 1, "R-WIRE-1": 1},
    "released": {"accepted": 1, "rejected": 0, "rejected_by_rule": {}},
}


def _files(tmp_path: Path) -> tuple[Path, Path]:
    """A ledger's first file, and a second whose batches of two build on each other:
    T-2 opened in one batch and answered in the next, T-3 waiting for C-2 until a later
    batch onboards it, a duplicate, a repeat of a rejected line and two new rejections."""
    env = Envelopes()
    ticket = env.ticket("T-1")
    first = [env.customer("C-1", at=T0 - timedelta(days=1)), ticket, b"junk"]
    second = [
        ticket,
        env.ticket("T-2"),
        b"junk",
        env.make("ticket.responded", "T-2", {"public": True, "message": "on it"}),
        env.ticket("T-3", customer_id="C-2"),
        env.make("ticket.escalated", "T-2", {"to_tier": "leadership", "reason": "skip"}),
        env.customer("C-2"),
        env.make("ticket.responded", "T-3", {"public": True, "message": "hello"}),
        b"[1, 2]",
    ]
    return write_jsonl(tmp_path / "first.jsonl", first), write_jsonl(
        tmp_path / "second.jsonl", second
    )


def _held(db: str) -> dict[str, Any]:
    status = ledger_json("status", db=db)
    return {
        "events": status["events"],
        "rejections": status["rejections"],
        "deferred": status["deferred"],
        "rejected": ledger_json("rejects", "list", db=db),
        "waiting": ledger_json("deferred", "list", db=db),
    }


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_check_reports_as_ingest_does_and_leaves_the_ledger_untouched(
    tmp_path: Path, database: Database
) -> None:
    sqlite = database.kind == "sqlite"
    db = database.sqlite_path if sqlite else f"{PG_URL}?schema={database.schema}"
    first, second = _files(tmp_path)
    ledger_json("ingest", str(first), db=db)
    held = _held(db)
    files = _digest(Path(db).parent) if sqlite else {}

    checked = ledger_json("ingest", str(second), "--check", "--batch-size", "2", db=db)
    assert checked == EXPECTED
    if sqlite:
        assert _digest(Path(db).parent) == files  # byte for byte, and no -wal left behind
    assert _held(db) == held
    shown = ledger("ingest", str(second), "--check", "--batch-size", "2", db=db)
    assert shown.returncode == 0, shown.stderr
    assert "checked second.jsonl: nothing stored" in shown.stdout and "R-ESC-1" in shown.stdout

    assert ledger_json("ingest", str(second), "--batch-size", "2", db=db) == EXPECTED
    after = _held(db)
    assert after["events"] == held["events"] + 5  # four accepted, T-3 released
    assert (after["rejections"], after["deferred"]) == (held["rejections"] + 2, 0)


def test_check_of_a_missing_ledger_checks_against_an_empty_one_and_creates_nothing(
    tmp_path: Path,
) -> None:
    first, _ = _files(tmp_path)
    missing = tmp_path / "nowhere" / "ledger.db"
    missing.parent.mkdir()
    checked = ledger_json("ingest", str(first), "--check", db=missing)
    assert list(missing.parent.iterdir()) == []
    assert checked == ledger_json("ingest", str(first), db=tmp_path / "fresh.db")
    assert (checked["accepted"], checked["rejected_by_rule"]) == (2, {"R-WIRE-1": 1})


def test_input_with_no_json_object_stops_before_anything_is_stored(tmp_path: Path) -> None:
    csv = tmp_path / "tickets.csv"
    csv.write_bytes(b"ticket_id,severity\nT-1,1\nT-2,3\n")
    fresh = tmp_path / "fresh" / "ledger.db"
    fresh.parent.mkdir()
    for args in ((str(csv),), (str(csv), "--check")):
        refused = ledger("ingest", *args, db=fresh)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            "error: no line of tickets.csv is a JSON object (3 lines read): nothing was "
            "stored; ingest takes JSON Lines, one envelope object a line"
        ]
    assert list(fresh.parent.iterdir()) == []  # not even an empty ledger

    db = tmp_path / "ledger.db"
    first, _ = _files(tmp_path)
    ledger_json("ingest", str(first), db=db)
    held = _held(str(db))
    binary = subprocess.run(  # bytes, not text, on standard input
        [sys.executable, "-m", "cli", "ingest", "-", "--db", str(db)],
        input=bytes(range(256)) * 8,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert binary.returncode == 1 and b"no line of stdin is a JSON object" in binary.stderr
    assert _held(str(db)) == held

    # Some envelopes among bad lines: ingested as ever, the bad lines kept as rejections.
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [b"a,b", Envelopes(seed=7).ticket("T-7"), b"1,2"])
    report = ledger_json("ingest", str(mixed), db=db)
    assert (report["accepted"], report["rejected_by_rule"]) == (1, {"R-WIRE-1": 2})
