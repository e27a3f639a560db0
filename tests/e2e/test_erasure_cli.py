"""``ledger erase`` and ``ledger audit log`` from the command line, on both backends: the
erased values appear nowhere afterwards (database files or tables, later exports), and
everything still verifies (R-ERASE-1, R-ERASE-2)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ledger.adapters.projector import engine_for
from ledger.adapters.settings import resolve_database
from tests.conftest import PG_URL
from tests.e2e.test_audit_cli import _cli
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import Envelopes

SECRETS = (
    "Erasmus Quill Ltd",
    "quill-ops@erasmus.example",
    "Orla Vantongeren",
    "orla@erasmus.example",
    "Quillfeather renders fail",
    "quillfeather-7781 breaks since noon",
    "Orla asked for a call back",
    "Rotated the quillfeather keys",
    "Secret Quill rejected title",
)
KEPT = ("Zeta Studios", "zoe@zeta.example")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}?schema={schema}"
    database = resolve_database(f"{PG_URL}?schema={schema}")
    with psycopg.connect(
        host=database.host,
        port=database.port,
        user=database.user,
        dbname=database.dbname,
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _story(tmp_path: Path) -> Path:
    env = Envelopes()
    e = env.make
    lines: list[Any] = [
        env.customer(
            "C-1",
            name="Erasmus Quill Ltd",
            escalation_contact="quill-ops@erasmus.example",
            decision_maker={"name": "Orla Vantongeren", "email": "orla@erasmus.example"},
        ),
        env.customer(
            "C-2",
            name="Zeta Studios",
            decision_maker={"name": "Zoe Zed", "email": "zoe@zeta.example"},
        ),
        env.ticket(
            "T-1",
            title="Quillfeather renders fail",
            description="quillfeather-7781 breaks since noon",
        ),
        e("ticket.responded", "T-1", {"public": True, "message": "Orla asked for a call back"}),
        e("ticket.resolved", "T-1", {"resolution": "Rotated the quillfeather keys"}),
        # rejected (R-IN-1): a ticket of C-1 never stored, its text kept with the rejection
        env.ticket("T-9", channel="chat", title="Secret Quill rejected title"),
        env.ticket("T-2", customer_id="C-2", title="Zeta ticket"),
    ]
    return write_jsonl(tmp_path / "events.jsonl", lines)


def _database_text(db: str) -> bytes:
    """Every byte the database keeps: SQLite's files; PostgreSQL's tables, as text."""
    if not db.startswith("postgresql"):
        files = [Path(db), Path(f"{db}-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    database = resolve_database(db)
    engine = engine_for(database)
    found = []
    with engine.connect() as conn:
        names = conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
            {"s": database.schema},
        ).scalars()
        for name in list(names):
            for (row,) in conn.execute(text(f'SELECT t::text FROM "{name}" AS t')):
                found.append(row)
    engine.dispose()
    return "\n".join(found).encode()


def _leaks(blob: bytes, values: tuple[str, ...]) -> list[str]:
    """The values found in ``blob``: as UTF-8, and hex-encoded (bytea as text)."""
    lowered = blob.lower()
    return [v for v in values if v.encode() in blob or v.encode().hex().encode() in lowered]


def _verified(directory: Path) -> bool:
    checked = _cli("verify-export", str(directory), "--json")
    return checked.returncode == 0 and json.loads(checked.stdout)["ok"] is True


def _export_text(directory: Path) -> bytes:
    return b"".join(f.read_bytes() for f in sorted(directory.iterdir()))


def test_erase_removes_a_customers_values_everywhere_and_everything_still_verifies(
    db: str, tmp_path: Path
) -> None:
    ingested = ledger_json("ingest", str(_story(tmp_path)), db=db)
    assert ingested["rejected"] == 1
    before = tmp_path / "before"
    ledger_json("export", "--out", str(before), "--purpose", "SAR #1", "--actor", "dpo", db=db)
    assert _leaks(_export_text(before), SECRETS)  # the values were there

    report = ledger_json(
        "erase",
        "--customer",
        "C-1",
        "--reason",
        "GDPR Art. 17 #42",
        "--actor",
        "dpo",
        "--yes",
        db=db,
    )
    assert report["erased"] is True and report["subjects"] == 2  # C-1 and T-1
    assert report["events"] == 4 and report["rejections"] == 1
    assert "decision_maker" in report["fields"] and "title" in report["fields"]

    assert ledger_json("verify", db=db)["ok"] is True
    assert _verified(before)
    assert _leaks(_database_text(db), SECRETS) == []
    assert _leaks(_database_text(db), KEPT) == list(KEPT)  # another customer's are kept

    shown = ledger_json("customer", "show", "C-1", db=db)
    assert shown["name"] == "[erased]" and shown["decision_maker"]["email"] == "[erased]"
    erasure = [t for t in shown["trail"] if t["type"] == "customer.data_erased"]
    assert erasure and erasure[0]["actor"]["id"] == "dpo"
    assert erasure[0]["data"]["reason"] == "GDPR Art. 17 #42"
    replayed = ledger_json("replay", "T-1", db=db)
    assert replayed["state"]["title"] == "[erased]"

    after = tmp_path / "after"
    ledger_json("export", "--out", str(after), "--customer", "C-1", "--purpose", "check", db=db)
    assert _verified(after)
    assert _leaks(_export_text(after), SECRETS) == []

    again = ledger_json("erase", "--customer", "C-1", "--reason", "again", "--yes", db=db)
    assert again["erased"] is False and again["event_id"] is None
    unknown = ledger("erase", "--customer", "C-404", "--reason", "x", "--yes", db=db)
    assert unknown.returncode == 1 and "C-404" in unknown.stderr
    bad = ledger(
        "erase", "--customer", "C-2", "--fields", "name,shoe", "--reason", "x", "--yes", db=db
    )
    assert bad.returncode == 1 and "'shoe'" in bad.stderr
    missing = ledger("export", "--out", str(tmp_path / "x"), db=db)
    assert missing.returncode != 0 and "--purpose" in missing.stderr

    log = ledger_json("audit", "log", db=db)["entries"]
    assert [(e["kind"], e["actor"]) for e in log] == [
        ("export", "dpo"),
        ("erasure", "dpo"),
        ("export", "local"),
    ]
    assert log[0]["data"]["purpose"] == "SAR #1" and log[2]["customer"] == "C-1"
    assert json.dumps(log).count("Orla") == 0
