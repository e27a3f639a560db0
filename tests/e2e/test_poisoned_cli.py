"""The command line on a ledger holding subjects the folds cannot handle: every command
answers for the others, exit 0, and names what it left out; asking about one of them is
an error (exit 1)."""

from __future__ import annotations

from pathlib import Path

from ledger.adapters.event_store import open_app
from ledger.adapters.settings import resolve_database
from tests.conftest import FixedClock
from tests.e2e.test_cli import ledger, ledger_json
from tests.integration.test_poisoned_subjects import NOW, OVERFLOW, ingest, normal_story, poison
from tests.support import Envelopes


def _ledger_file(path: Path, *, poisoned: bool) -> Path:
    app = open_app(resolve_database(str(path)))
    try:
        env, clock = Envelopes(), FixedClock()
        ingest(app, normal_story(env), clock)
        if poisoned:
            poison(app, env, clock, "sqlite")
    finally:
        app.close()
    return path


def test_every_command_answers_for_the_other_subjects(tmp_path: Path) -> None:
    db = _ledger_file(tmp_path / "poisoned.db", poisoned=True)
    clean = _ledger_file(tmp_path / "clean.db", poisoned=False)
    listed = [
        {"projection": "tickets", "subject": "T-8", "notification_id": 11, "error": OVERFLOW},
        {"projection": "tickets", "subject": "T-9", "notification_id": 11, "error": OVERFLOW},
    ]

    projected = ledger("project", "--json", db=db)
    assert projected.returncode == 0, projected.stderr
    assert f"projection tickets: T-9 left out: {OVERFLOW}" in projected.stderr
    assert f"projection tickets: T-8 left out: {OVERFLOW}" in projected.stderr
    assert ledger_json("project", db=db)["failed"] == listed  # listed until they fold again
    assert ledger_json("rebuild", db=db)["failed"] == listed

    now = NOW.isoformat()
    for args in (
        ("sla", "list", "--as-of", now),
        ("metrics", "--as-of", now),
        ("health", "--as-of", now),
        ("tick", "--now", now),
    ):
        answered = ledger(*args, "--json", db=db)
        assert answered.returncode == 0, answered.stderr
        assert "T-8 left out" in answered.stderr
        assert answered.stdout == ledger(*args, "--json", db=clean).stdout, args

    asked = ledger("escalations", "T-8", db=db)
    assert asked.returncode == 1
    assert f"error: T-8 cannot be projected ({OVERFLOW})" in asked.stderr
