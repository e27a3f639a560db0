"""``ledger sla list --warned``, a reviewed exception on the board, ``customer show`` and the
tick, as a user runs them, on a hand-made ledger (SQLite and PostgreSQL).

T0 = 2026-03-02 09:00Z. C-1 has exception EXC-1 (requested by cs-jo at T0-2d, approved by
lead-maria at T0-1d, effective then until T0+1d): Sev1 answered within 2 hours, updated
every 2 hours, warned at 90 minutes. C-2 runs on the default policy (updates every 60
minutes, warned at 30):

* T-1 (C-1, Sev1, T0): answered T0+10m; update warned T0+100m, due T0+130m;
* T-2 (C-2, Sev1, T0): answered T0+10m; update warned T0+40m, due T0+70m;
* T-3 (C-2, Sev1, T0): answered T0+10m, updated T0+35m (no warning); the next interval is
  warned T0+65m, due T0+95m.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.settings import Database
from tests.conftest import PG_URL
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
DAY = timedelta(days=1)


def _at(delta: timedelta) -> str:
    return (T0 + delta).isoformat()


def _lines() -> list[dict[str, Any]]:
    env = Envelopes()
    respond = {"public": True, "message": "on it"}
    return [
        env.customer("C-1", at=T0 - 10 * DAY),
        env.customer("C-2", at=T0 - 10 * DAY, success_owner="cs-kim"),
        env.make(
            "customer.exception_requested",
            "C-1",
            {
                "exception_id": "EXC-1",
                "kind": "sla_targets",
                "targets": {
                    "1": {
                        "first_response": {"duration": "PT2H", "clock": "24x7"},
                        "update_every": {
                            "duration": "PT2H",
                            "clock": "24x7",
                            "warn_after": "PT90M",
                        },
                    }
                },
                "reason": "exam week: their desk takes Sev1 updates every two hours",
                "effective_at": _at(-DAY),
                "expires_at": _at(DAY),
            },
            role="customer_success",
            actor_id="cs-jo",
            at=T0 - 2 * DAY,
        ),
        env.make(
            "customer.exception_approved",
            "C-1",
            {"exception_id": "EXC-1"},
            role="leadership",
            actor_id="lead-maria",
            at=T0 - DAY,
        ),
        env.ticket("T-1", at=T0),
        env.make("ticket.responded", "T-1", respond, at=T0 + 10 * M),
        env.ticket("T-2", at=T0, customer_id="C-2"),
        env.make("ticket.responded", "T-2", respond, at=T0 + 10 * M),
        env.ticket("T-3", at=T0, customer_id="C-2"),
        env.make("ticket.responded", "T-3", respond, at=T0 + 10 * M),
        env.make("ticket.update_posted", "T-3", {"message": "still on it"}, at=T0 + 35 * M),
    ]


@pytest.fixture
def db(tmp_path: Path, database: Database) -> str:
    """The hand-made ledger, on SQLite and on PostgreSQL."""
    where = (
        str(database.sqlite_path)
        if database.kind == "sqlite"
        else f"{PG_URL}?schema={database.schema}"
    )
    report = ledger_json("ingest", str(write_jsonl(tmp_path / "in.jsonl", _lines())), db=where)
    assert report["accepted"] == len(_lines()), report
    return where


def _warned(db: str, as_of: timedelta) -> list[tuple[str, int, str, str, str | None]]:
    answer = ledger_json("sla", "list", "--warned", "--as-of", _at(as_of), db=db)
    assert (answer["as_of"], answer["known_at"]) == (_at(as_of), None)
    rows = answer["timers"]
    assert all(r["warned"] and r["stopped_at"] is None for r in rows)
    return [(r["ticket_id"], r["seq"], r["warn_at"], r["due_at"], r["exception_id"]) for r in rows]


def test_sla_list_warned_lists_running_timers_past_their_threshold(db: str) -> None:
    assert _warned(db, 39 * M) == []
    assert _warned(db, 45 * M) == [("T-2", 2, _at(40 * M), _at(70 * M), None)]
    assert _warned(db, 66 * M) == [
        ("T-2", 2, _at(40 * M), _at(70 * M), None),
        ("T-3", 3, _at(65 * M), _at(95 * M), None),
    ]
    # T-2 and T-3 are breached by then: breached, not warned. T-1 runs under EXC-1.
    assert _warned(db, 105 * M) == [("T-1", 2, _at(100 * M), _at(130 * M), "EXC-1")]
    shown = ledger("sla", "list", "--warned", "--as-of", _at(105 * M), db=db)
    assert shown.returncode == 0, shown.stderr
    assert "1 SLA timers" in shown.stdout and "EXC-1" in shown.stdout
    bad = ledger("sla", "list", "--warned", "--as-of", "2026-03-02T10:00:00", db=db)
    assert bad.returncode != 0 and "--as-of" in bad.stderr


def test_the_exception_shows_on_the_ticket_and_on_the_customer(db: str) -> None:
    ticket = ledger_json("ticket", "show", "T-1", "--as-of", _at(20 * M), db=db)
    assert ticket["exception_id"] == "EXC-1"
    first = next(t for t in ticket["timers"] if t["timer"] == "first_response")
    assert (first["due_at"], first["state"], first["exception_id"]) == (
        _at(120 * M),
        "met",
        "EXC-1",
    )
    other = ledger_json("ticket", "show", "T-2", "--as-of", _at(20 * M), db=db)
    assert other["exception_id"] is None

    def states(as_of: timedelta) -> list[tuple[str, str]]:
        shown = ledger_json("customer", "show", "C-1", "--as-of", _at(as_of), db=db)
        return [(e["exception_id"], e["state"]) for e in shown["exceptions"]]

    assert states(-3 * DAY) == []
    assert states(-2 * DAY) == [("EXC-1", "requested")]
    assert states(0 * DAY) == [("EXC-1", "approved")]
    assert states(DAY) == [("EXC-1", "expired")]
    shown = ledger_json("customer", "show", "C-1", "--as-of", _at(0 * DAY), db=db)
    (exception,) = shown["exceptions"]
    assert (exception["requested_by"], exception["approved_by"]) == ("cs-jo", "lead-maria")
    assert exception["effective_from"] == _at(-DAY)
    human = ledger("customer", "show", "C-1", "--as-of", _at(0 * DAY), db=db)
    assert human.returncode == 0 and "EXC-1" in human.stdout and "approved" in human.stdout


def test_the_tick_writes_warnings_and_the_expiry_once(db: str) -> None:
    first = ledger_json("tick", "--now", _at(2 * DAY), db=db)
    assert first["written"]["sla.warning"] == 3
    assert first["written"]["customer.exception_expired"] == 1
    assert ledger_json("tick", "--now", _at(2 * DAY), db=db)["written"] == {}
    trail = ledger_json("customer", "show", "C-1", db=db)["trail"]
    expired = [e for e in trail if e["type"] == "customer.exception_expired"]
    assert [(e["occurred_at"], e["data"]["exception_id"]) for e in expired] == [(_at(DAY), "EXC-1")]
