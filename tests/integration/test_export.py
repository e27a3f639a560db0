"""Compliance exports: complete, verifiable offline, failing on any edit, redactable."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp
from ledger.aggregates.chain import CONTACT_FIELDS, NAME_FIELDS, TEXT_FIELDS
from ledger.services.intake import Ingestor, Input
from replay.export import Selection, export, read_records
from replay.export_verify import verify_export
from replay.keys import signing_key
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)


@pytest.fixture
def two_customers(ledger: LedgerApp) -> LedgerApp:
    env = Envelopes()
    e = env.make
    envelopes = [
        env.customer("C-1", at=T0 - timedelta(days=3)),
        env.customer(
            "C-2",
            at=T0 - timedelta(days=3),
            name="Zeta Studios",
            decision_maker={"name": "Zoe Zed", "email": "zoe@zeta.example"},
        ),
    ]
    for n, (ticket, customer) in enumerate((("T-1", "C-1"), ("T-2", "C-2"), ("T-3", "C-1"))):
        at = T0 + n * timedelta(days=1)
        envelopes += [
            env.ticket(ticket, at=at, customer_id=customer),
            e("ticket.assigned", ticket, {"assignee": "se-bo"}, at=at + 2 * M),
            e("ticket.responded", ticket, {"public": False, "message": "call Dana"}, at=at + 5 * M),
            e("ticket.resolved", ticket, {"resolution": "restarted"}, at=at + 90 * M),
        ]
    outcomes = Ingestor(ledger, clock=FixedClock(T0 + timedelta(days=5))).ingest_batch(
        [Input(x, "test") for x in sorted(envelopes, key=lambda x: x["occurred_at"])]
    )
    assert not [o.rejection for o in outcomes if o.rejection]
    return ledger


def _export(
    ledger: LedgerApp, engine: Engine, out: Path, fmt: str = "jsonl", **kw: Any
) -> dict[str, Any]:
    key = signing_key(create=True)
    return export(
        ledger,
        engine,
        key,
        out,
        Selection(**kw),
        fmt=fmt,
        now=T0 + timedelta(days=6),
        purpose="test export",
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_full_export_verifies_offline_and_holds_every_event(
    two_customers: LedgerApp, engine: Engine, tmp_path: Path, fmt: str
) -> None:
    manifest = _export(two_customers, engine, tmp_path / "out", fmt)
    two_customers.close()
    engine.dispose()  # offline: nothing below touches the database
    result = verify_export(tmp_path / "out", signing_key(create=False).public_key())
    assert result.ok, result.problems
    assert (result.records, result.subjects) == (14, 5)
    records = list(read_records(tmp_path / "out" / f"events.{fmt}"))
    ids = [r["notification_id"] for r in records]
    assert ids == sorted(set(ids)) and len(ids) == 14  # the log, in order, once each
    t2 = [r for r in records if r["subject"] == "T-2"]
    assert manifest["subjects"]["T-2"] == {
        "first_version": 1,
        "last_version": 4,
        "records": 4,
        "head_version": 4,
        "head_hash": t2[-1]["event_hash"],
    }


def test_a_customer_export_holds_its_tickets_and_nothing_of_other_customers(
    two_customers: LedgerApp, engine: Engine, tmp_path: Path
) -> None:
    _export(two_customers, engine, tmp_path / "c1", customer="C-1")
    records = list(read_records(tmp_path / "c1" / "events.jsonl"))
    assert {r["subject"] for r in records} == {"C-1", "T-1", "T-3"}
    assert "Zeta" not in (tmp_path / "c1" / "events.jsonl").read_text()
    assert verify_export(tmp_path / "c1").ok


def test_a_period_export_keeps_what_occurred_in_it(
    two_customers: LedgerApp, engine: Engine, tmp_path: Path
) -> None:
    _export(
        two_customers,
        engine,
        tmp_path / "p",
        start=T0 + timedelta(days=1),
        end=T0 + timedelta(days=2),
    )
    records = list(read_records(tmp_path / "p" / "events.jsonl"))
    assert {r["subject"] for r in records} == {"T-2"}
    assert [r["version"] for r in records] == [1, 2, 3, 4]
    assert verify_export(tmp_path / "p").ok


def test_redacted_exports_verify_and_hold_no_redacted_value(
    two_customers: LedgerApp, engine: Engine, tmp_path: Path
) -> None:
    everything = CONTACT_FIELDS | NAME_FIELDS | TEXT_FIELDS
    _export(two_customers, engine, tmp_path / "r", redact=everything)
    text = (tmp_path / "r" / "events.jsonl").read_text()
    for secret in (
        "Dana Decider",
        "dana@acme.example",
        "ops@acme.example",
        "Zeta",
        "call Dana",
        "se-bo",
        "Dubbing jobs fail",
    ):
        assert secret not in text
    records = list(read_records(tmp_path / "r" / "events.jsonl"))
    assert all("salt" not in r and not r["proof"]["salts"] for r in records)
    assert verify_export(tmp_path / "r").ok

    _export(two_customers, engine, tmp_path / "contacts", redact=CONTACT_FIELDS)
    shown = (tmp_path / "contacts" / "events.jsonl").read_text()
    assert "dana@acme.example" not in shown and "Zeta Studios" in shown and "call Dana" in shown
    assert verify_export(tmp_path / "contacts").ok


def test_a_redacted_value_put_back_wrong_does_not_verify(
    two_customers: LedgerApp, engine: Engine, tmp_path: Path
) -> None:
    _export(two_customers, engine, tmp_path / "x")
    path = tmp_path / "x" / "events.jsonl"
    path.write_text(path.read_text().replace("Dana Decider", "Dana Decidr"))
    problems = verify_export(tmp_path / "x").problems
    assert any("SHA-256" in p for p in problems)
    assert any("C-1" in p and "does not match its hash" in p for p in problems)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_edit_to_any_file_fails_verification(
    two_customers: LedgerApp,
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    base = tmp_path_factory.getbasetemp() / "export-under-edit"
    if not base.exists():
        _export(two_customers, engine, base, customer="C-2")
    edited = tmp_path_factory.mktemp("edited") / "x"
    shutil.copytree(base, edited)
    name = data.draw(st.sampled_from(["events.jsonl", "manifest.json"]))
    content = bytearray((edited / name).read_bytes())
    at = data.draw(st.integers(0, len(content) - 1))
    content[at] = data.draw(st.integers(0, 255).filter(lambda b: b != content[at]))
    (edited / name).write_bytes(bytes(content))
    assert not verify_export(edited).ok


def test_removed_added_or_extra_files_fail(
    two_customers: LedgerApp, engine: Engine, tmp_path: Path
) -> None:
    _export(two_customers, engine, tmp_path / "e")
    path = tmp_path / "e" / "events.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # the last event dropped
    assert not verify_export(tmp_path / "e").ok
    path.write_text("".join(lines))
    assert verify_export(tmp_path / "e").ok
    (tmp_path / "e" / "notes.txt").write_text("hi")
    assert [p for p in verify_export(tmp_path / "e").problems] == [
        "notes.txt: not listed in the manifest"
    ]


def test_an_export_signed_by_another_key_fails_when_the_key_is_pinned(
    two_customers: LedgerApp, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinned = signing_key(create=True).public_key()
    monkeypatch.setenv("LEDGER_SIGNING_KEY", str(tmp_path / "other-key.pem"))
    _export(two_customers, engine, tmp_path / "o")
    assert verify_export(tmp_path / "o").ok  # consistent in itself...
    assert not verify_export(tmp_path / "o", pinned).ok  # ...but not the ledger's key
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert "PRIVATE" not in json.dumps(manifest)
