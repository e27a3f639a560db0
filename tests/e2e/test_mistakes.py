"""A mistake is an error, never an empty answer: a read command pointed at a ledger that is
not there fails with one line naming it and creates nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ledger.adapters.settings import resolve_database
from tests.conftest import PG_URL
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import Envelopes

READ_COMMANDS = [
    ("sla", "list"),
    ("sla", "show", "T-1"),
    ("ticket", "show", "T-1"),
    ("customer", "show", "C-1"),
    ("metrics",),
    ("health",),
    ("escalations", "T-1"),
    ("rca", "T-1"),
    ("status",),
    ("rejects", "list"),
    ("deferred", "list"),
    ("deferred", "expire"),
    ("replay", "board"),
    ("tickets",),
    ("customers",),
    ("plays",),
    ("actions",),
    ("insights",),
    ("report", "T-1", "--out", "page.html"),
]


def _one_line_error(result: object) -> str:
    assert getattr(result, "returncode", None) == 1, result
    stderr = str(getattr(result, "stderr", ""))
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    return stderr


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_of_a_missing_file_fails_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    typo = tmp_path / "typo.db"
    stderr = _one_line_error(ledger(*command, db=typo))
    assert f"no ledger at {typo}" in stderr and "no such file" in stderr
    assert list(tmp_path.iterdir()) == []  # no typo.db, no -wal, no report page


def test_verify_and_export_of_a_missing_file_fail_and_create_nothing(tmp_path: Path) -> None:
    real, typos = tmp_path / "ledger.db", tmp_path / "typos"
    events = write_jsonl(tmp_path / "e.jsonl", [Envelopes().customer("C-1")])
    ledger_json("ingest", str(events), db=real)
    ledger_json("checkpoint", db=real)  # makes the signing key verify trusts
    typos.mkdir()
    typo = typos / "typo.db"
    for command in (("verify",), ("export", "--out", str(typos / "trail"), "--purpose", "x")):
        stderr = _one_line_error(ledger(*command, db=typo))
        assert f"no ledger at {typo}" in stderr
    assert list(typos.iterdir()) == []


def test_a_read_of_a_sqlite_file_without_a_ledger_names_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    stderr = _one_line_error(ledger("sla", "list", db=empty))
    assert f"no ledger in {empty}" in stderr
    assert empty.stat().st_size == 0  # no tables were made in it


def test_a_file_that_is_not_sqlite_is_a_sqlite_error_naming_it(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, just notes\n" * 10)
    for command in (("sla", "list"), ("status",)):
        stderr = _one_line_error(ledger(*command, db=notes))
        assert str(notes) in stderr and "file is not a database" in stderr
        assert "PostgreSQL" not in stderr
    events = write_jsonl(tmp_path / "e.jsonl", [Envelopes().customer("C-1")])
    stderr = _one_line_error(ledger("ingest", str(events), db=notes))  # a write command
    assert f"SQLite failed on {notes}: file is not a database" in stderr
    assert "PostgreSQL" not in stderr


def test_a_sqlite_path_that_cannot_be_opened_says_what_sqlite_said(tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "e.jsonl", [Envelopes().customer("C-1")])
    nowhere = tmp_path / "no-such-dir" / "ledger.db"
    stderr = _one_line_error(ledger("ingest", str(events), db=nowhere))
    assert f"SQLite failed on {nowhere}: unable to open database file" in stderr
    assert "PostgreSQL" not in stderr


def test_write_commands_create_the_ledger_and_reads_then_answer(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    events = write_jsonl(tmp_path / "e.jsonl", [Envelopes().customer("C-1")])
    assert ledger_json("ingest", str(events), db=db)["accepted"] == 1
    assert db.exists()
    assert ledger("sla", "list", db=db).returncode == 0
    assert ledger_json("status", db=db)["events"] == 1
    fresh = tmp_path / "projected.db"
    assert ledger("project", db=fresh).returncode == 0  # a writer: makes an empty ledger
    assert ledger_json("status", db=fresh)["events"] == 0


def test_export_of_a_customer_the_ledger_does_not_hold_fails(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    env = Envelopes()
    ledger_json("ingest", str(write_jsonl(tmp_path / "e.jsonl", [env.customer("C-1")])), db=db)
    trail = tmp_path / "trail"
    stderr = _one_line_error(
        ledger("export", "--out", str(trail), "--customer", "C-X", "--purpose", "x", db=db)
    )
    assert "--customer C-X" in stderr and "no customer C-X" in stderr
    assert not trail.exists()
    # the customer it holds exports
    ledger_json("export", "--out", str(trail), "--customer", "C-1", "--purpose", "x", db=db)
    assert (trail / "manifest.json").exists()


@pytest.fixture
def absent_schema() -> Iterator[str]:
    """A schema name that no ledger (and nothing) uses; dropped if a test made it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield schema
    database = resolve_database(PG_URL)
    with psycopg.connect(
        host=database.host,
        port=database.port,
        user=database.user,
        dbname=database.dbname,
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _schema_exists(schema: str) -> bool:
    database = resolve_database(PG_URL)
    with psycopg.connect(
        host=database.host, port=database.port, user=database.user, dbname=database.dbname
    ) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
            is not None
        )


@pytest.mark.postgres
def test_a_read_of_a_postgres_schema_without_a_ledger_names_the_schema(
    absent_schema: str,
) -> None:
    url = f"{PG_URL}?schema={absent_schema}"
    for command in (("sla", "list"), ("status",), ("rejects", "list")):
        stderr = _one_line_error(ledger(*command, db=url))
        assert f"no ledger in schema {absent_schema}" in stderr
        assert "cannot reach" not in stderr
    assert not _schema_exists(absent_schema)
    # a schema that exists but holds no ledger tables
    database = resolve_database(url)
    with psycopg.connect(
        host=database.host,
        port=database.port,
        user=database.user,
        dbname=database.dbname,
        autocommit=True,
    ) as conn:
        conn.execute(f'CREATE SCHEMA "{absent_schema}"')
    stderr = _one_line_error(ledger("metrics", db=url))
    assert f"no ledger in schema {absent_schema}" in stderr and "no ledger tables" in stderr
