"""``ledger producers`` and ``ledger readers`` as a process (issue 18): add prints the
token once and the database holds only its hash; list and revoke; one-line errors."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import Envelopes


def _database_bytes(db: Path) -> bytes:
    """The SQLite file and its write-ahead log, as an attacker with the disk sees them."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_producers_add_list_revoke_and_the_token_is_never_stored(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    added = ledger(
        "producers",
        "add",
        "portal",
        "--source",
        "support-portal",
        "--role",
        "customer",
        "--role",
        "support_engineer",
        "--type",
        "ticket.opened",
        db=db,
    )
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    assert "shown this once" in added.stdout

    listed = ledger_json("producers", "list", db=db)
    assert [(p["name"], p["roles"], p["types"], p["revoked_at"]) for p in listed] == [
        ("portal", ["customer", "support_engineer"], ["ticket.opened"], None)
    ]
    table = ledger("producers", "list", db=db)
    assert token not in json.dumps(listed) and token not in table.stdout
    assert "portal" in table.stdout

    stored = _database_bytes(db)
    assert token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored

    again = ledger(
        "producers",
        "add",
        "portal",
        "--source",
        "x",
        "--role",
        "customer",
        "--type",
        "ticket.opened",
        db=db,
    )
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0 and "exists already" in again.stderr

    revoked = ledger("producers", "revoke", "portal", db=db)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert ledger_json("producers", "list", db=db)[0]["revoked_at"] is not None
    unknown = ledger("producers", "revoke", "nobody", db=db)
    assert unknown.returncode == 1 and "no producer named 'nobody'" in unknown.stderr


def test_readers_add_list_revoke(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    one = ledger_json("readers", "add", "acme-bi", "--customer", "C-1", db=db)
    every = ledger_json("readers", "add", "bi", db=db)
    assert one["token"] != every["token"]
    listed = ledger_json("readers", "list", db=db)
    assert [(r["name"], r["customers"]) for r in listed] == [("acme-bi", ["C-1"]), ("bi", None)]
    assert one["token"].encode() not in _database_bytes(db)
    assert ledger("readers", "revoke", "bi", db=db).returncode == 0
    assert [r["revoked_at"] is None for r in ledger_json("readers", "list", db=db)] == [True, False]


def test_bad_scopes_fail_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    for args, expected in (
        (["--source", "s", "--role", "system", "--type", "ticket.opened"], "--role 'system'"),
        (
            ["--source", "s", "--role", "customer", "--type", "sla.breached"],
            "--type 'sla.breached'",
        ),
        (["--source", "s", "--role", "customer", "--type", "*"], None),
    ):
        result = ledger("producers", "add", f"p{len(args)}{len(expected or '')}", *args, db=db)
        if expected is None:
            assert result.returncode == 0, result.stderr
            continue
        assert result.returncode == 1 and expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    bad_name = ledger("readers", "add", "Bad Name", db=db)
    assert bad_name.returncode == 1 and "name 'Bad Name'" in bad_name.stderr


def test_the_local_operator_is_on_the_trail(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    env = Envelopes()
    path = write_jsonl(tmp_path / "in.jsonl", [env.customer("C-1"), env.ticket("T-1")])
    assert ledger("ingest", str(path), db=db).returncode == 0
    shown = ledger_json("ticket", "show", "T-1", db=db)
    assert [e["producer"] for e in shown["trail"]] == ["local"]
    text = ledger("ticket", "show", "T-1", db=db)
    assert "via local" in text.stdout


def test_help_has_examples() -> None:
    import subprocess

    for path in (["producers", "add"], ["readers", "add"], ["producers", "revoke"]):
        result = subprocess.run(
            [sys.executable, "-m", "cli", *path, "--help"], capture_output=True, text=True
        )
        assert "Examples:" in result.stdout and f"ledger {' '.join(path)}" in result.stdout


def test_emit_as_a_producer_needs_its_token(tmp_path: Path) -> None:
    import os
    import subprocess

    path = write_jsonl(tmp_path / "in.jsonl", [Envelopes().customer("C-1")])
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_TOKEN"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "emit",
            str(path),
            "--producer",
            "portal",
            "--bootstrap",
            "127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "error: --producer portal signs with its token: set LEDGER_TOKEN"
    )
