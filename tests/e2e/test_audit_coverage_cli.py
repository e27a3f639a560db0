"""`ledger verify` covers what the ledger keeps beside its events, and `ledger tick`
checkpoints by default: as an operator and an auditor run them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from replay.keys import signing_key
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import T0, Envelopes


def _ledger(tmp_path: Path) -> Path:
    env = Envelopes()
    lines = [
        env.customer("C-1"),
        env.ticket("T-1"),
        env.make("ticket.assigned", "T-1", {"assignee": "se-ana"}),
        env.make("ticket.assigned", "T-1", {}),  # rejected: no assignee
        env.ticket("T-2", customer_id="C-404"),  # waits for C-404
    ]
    signing_key(create=True)  # the test's own key (LEDGER_SIGNING_KEY), as an operator has one
    db = tmp_path / "ledger.db"
    ingested = ledger("ingest", str(write_jsonl(tmp_path / "in.jsonl", lines)), db=db)
    assert ingested.returncode == 0, ingested.stderr
    return db


def test_the_tick_signs_a_checkpoint_unless_told_not_to(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    before = ledger_json("verify", db=db)
    assert (before["checkpoints"], before["uncovered_events"]) == (0, 3)
    assert before["intake"]["entries"] == 3  # start, the rejection, the waiting input
    assert before["intake"]["rejections"] == 1 and before["intake"]["deferred"] == 1
    unsigned = ledger("tick", "--now", T0.isoformat(), "--no-checkpoint", db=db)
    assert unsigned.returncode == 0, unsigned.stderr
    assert ledger_json("verify", db=db)["checkpoints"] == 0
    signed = ledger("tick", "--now", T0.isoformat(), db=db)
    assert signed.returncode == 0, signed.stderr
    assert "checkpoint 1: 3 events" in signed.stderr
    after = ledger_json("verify", db=db)
    assert (after["ok"], after["checkpoints"], after["uncovered_events"]) == (True, 1, 0)
    both = ledger("tick", "--no-checkpoint", "--checkpoint-every", "60", db=db)
    assert both.returncode != 0 and "--checkpoint-every" in both.stderr


def test_verify_names_an_edited_rejection_and_an_edited_read_model(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    assert ledger("tickets", "--json", db=db).returncode == 0  # the read models catch up
    clean = ledger("verify", "--read-models", db=db)
    assert clean.returncode == 0, clean.stdout
    assert "intake chain: 3 entries over 1 rejections and 1 deferred inputs" in clean.stdout
    assert "not covered by a checkpoint yet: 3 events, 3 intake chain entries" in clean.stdout
    assert "rows equal a fresh fold of the log" in clean.stdout
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE ledger_rejections SET reason = 'fine' WHERE id = 1")
        conn.execute("UPDATE tickets SET severity = 4 WHERE ticket_id = 'T-1'")
    plain = ledger("verify", db=db)
    assert plain.returncode == 1
    assert "intake_altered" in plain.stdout and "ledger_rejections id 1" in plain.stdout
    assert "reason changed since intake chain entry 2" in plain.stdout
    assert "tickets ticket_id=T-1" not in plain.stdout  # only with --read-models
    found = ledger_json_failing("verify", "--read-models", db=db)
    named = {(f["kind"], f["about"]) for f in found["findings"]}
    assert named == {
        ("intake_altered", "ledger_rejections id 1"),
        ("read_model", "tickets ticket_id=T-1"),
    }
    detail = next(f["detail"] for f in found["findings"] if f["kind"] == "read_model")
    assert "severity: 4, the log gives 1" in detail


def ledger_json_failing(*args: str, db: Path) -> Any:
    """``ledger ARGS --json`` that must fail verification (exit 1), its document."""
    result = ledger(*args, "--json", db=db)
    assert result.returncode == 1, result.stderr
    return json.loads(result.stdout)
