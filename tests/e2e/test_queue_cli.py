"""``ledger tickets`` and ``ledger customers`` as a user runs them, on a hand-made ledger.

The ledger (default policy; Sev1 answers within 60 min and updates every 60 min, Sev2
answers within 4 h, all 24x7), as of T0+90m with T0 = 2026-03-02 09:00Z:

* T-1 (C-1, Sev1, T0): no response; due T0+60m, overdue by 30 minutes;
* T-2 (C-1, Sev1, T0+30m): answered T0+40m; update due T0+100m, 10 minutes left;
* T-3 (C-2, Sev2, T0+60m, assigned to se-bo): answer due T0+5h, 210 minutes left;
* T-4 (C-2, Sev1, T0): answered T0+10m, waiting on the customer from T0+20m: the update
  timer is paused with 50 minutes left;
* T-5 (C-1, Sev1, T0): answered T0+5m, resolved T0+30m.
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
AS_OF = "2026-03-02T10:30:00Z"  # T0+90m
AS_OF_BERLIN = "2026-03-02T11:30:00+01:00"  # the same instant


def _lines() -> list[dict[str, Any]]:
    env = Envelopes()
    respond = {"public": True, "message": "on it"}
    return [
        env.customer("C-1", at=T0 - timedelta(days=1), success_owner="cs-jo"),
        env.customer("C-2", at=T0 - timedelta(days=1), success_owner="cs-kim"),
        env.make(
            "customer.check_in_scheduled",
            "C-2",
            {"check_in_id": "CI-1", "due_at": (T0 + 60 * M).isoformat()},
            role="customer_success",
            at=T0 - timedelta(hours=12),
        ),
        env.ticket("T-1", at=T0),
        env.ticket("T-2", at=T0 + 30 * M),
        env.make("ticket.responded", "T-2", respond, at=T0 + 40 * M),
        env.ticket(
            "T-3",
            at=T0 + 60 * M,
            customer_id="C-2",
            severity=2,
            category="partial_outage",
        ),
        env.make("ticket.assigned", "T-3", {"assignee": "se-bo"}, at=T0 + 61 * M),
        env.ticket("T-4", at=T0, customer_id="C-2"),
        env.make("ticket.responded", "T-4", respond, at=T0 + 10 * M),
        env.make("ticket.status_changed", "T-4", {"status": "waiting_on_customer"}, at=T0 + 20 * M),
        env.ticket("T-5", at=T0),
        env.make("ticket.responded", "T-5", respond, at=T0 + 5 * M),
        env.make("ticket.resolved", "T-5", {"resolution": "fixed"}, at=T0 + 30 * M),
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


def _queue(db: str, *args: str) -> dict[str, Any]:
    answer: dict[str, Any] = ledger_json("tickets", *args, db=db)
    return answer


def test_tickets_by_next_breach(db: str) -> None:
    answer = _queue(db, "--as-of", AS_OF_BERLIN)
    assert (answer["as_of"], answer["known_at"]) == ("2026-03-02T10:30:00+00:00", None)
    rows = answer["tickets"]
    assert [
        (
            r["ticket_id"],
            r["timer"],
            r["due_at"],
            r["time_left"],
            r["overdue_by"],
            r["paused"],
            r["status"],
        )
        for r in rows
    ] == [
        ("T-1", "first_response", "2026-03-02T10:00:00+00:00", None, 1800, False, "open"),
        ("T-2", "update", "2026-03-02T10:40:00+00:00", 600, None, False, "open"),
        ("T-3", "first_response", "2026-03-02T14:00:00+00:00", 12600, None, False, "open"),
        (
            "T-4",
            "update",
            "2026-03-02T10:10:00+00:00",  # where the deadline stood when the clock stopped
            3000,
            None,
            True,
            "waiting_on_customer",
        ),
    ]
    t3 = rows[2]
    assert (t3["customer_id"], t3["severity"], t3["tier"], t3["assignee"]) == (
        "C-2",
        2,
        "support_engineer",
        "se-bo",
    )
    everything = _queue(db, "--as-of", AS_OF, "--status", "all")["tickets"]
    assert [(r["ticket_id"], r["timer"]) for r in everything][-1] == ("T-5", None)
    assert [
        r["ticket_id"] for r in _queue(db, "--as-of", AS_OF, "--customer", "C-2")["tickets"]
    ] == ["T-3", "T-4"]
    assert [
        r["ticket_id"] for r in _queue(db, "--as-of", AS_OF, "--breaching-within", "10")["tickets"]
    ] == ["T-2"]
    assert [
        r["ticket_id"]
        for r in _queue(db, "--as-of", AS_OF, "--sort", "opened", "--limit", "2")["tickets"]
    ] == ["T-1", "T-4"]


def test_tickets_as_of_an_earlier_instant_and_as_known_then(db: str) -> None:
    before_t3 = _queue(db, "--as-of", "2026-03-02T09:50:00Z")["tickets"]
    assert [(r["ticket_id"], r["time_left"]) for r in before_t3] == [
        ("T-1", 600),
        ("T-2", 3000),
        ("T-4", 3000),
    ]
    # Nothing had been recorded at T0: the ledger knew of no ticket then.
    then = _queue(db, "--as-of", AS_OF, "--known-at", "2026-03-02T09:00:00Z")
    assert (then["known_at"], then["tickets"]) == ("2026-03-02T09:00:00+00:00", [])


def test_customers_lowest_health_first(db: str) -> None:
    answer = ledger_json("customers", "--as-of", AS_OF, db=db)
    assert (answer["as_of"], answer["known_at"]) == ("2026-03-02T10:30:00+00:00", None)
    # Support load in the 30 days to T (Sev1 8, Sev2 4): C-1 24 gives 0 of 25, C-2 12
    # gives 12.5; no usage reports (15 + 10) and no engagement; 30 days earlier, 50.
    assert [
        (
            r["customer_id"],
            r["success_owner"],
            r["score"],
            r["trend"],
            r["flags"],
            r["open_tickets"],
            r["missed_check_ins"],
        )
        for r in answer["customers"]
    ] == [
        ("C-1", "cs-jo", 25.0, -25.0, ["low_health", "sharp_drop"], 2, []),
        (
            "C-2",
            "cs-kim",
            37.5,
            -12.5,
            ["low_health"],
            2,
            [{"check_in_id": "CI-1", "due_at": "2026-03-02T10:00:00+00:00"}],
        ),
    ]
    below = ledger_json("customers", "--as-of", AS_OF, "--health-below", "30", db=db)
    assert [r["customer_id"] for r in below["customers"]] == ["C-1"]
    mine = ledger_json("customers", "--as-of", AS_OF, "--owner", "cs-kim", db=db)
    assert [r["customer_id"] for r in mine["customers"]] == ["C-2"]


def _timers(*args: str, db: str) -> list[dict[str, Any]]:
    """The timer rows of ``sla show`` or ``sla list`` (a list, or an object's ``timers``)."""
    answer = ledger_json("sla", *args, db=db)
    rows: list[dict[str, Any]] = answer["timers"] if isinstance(answer, dict) else answer
    return rows


def test_timer_rows_say_how_they_stand(db: str) -> None:
    t4 = _timers("show", "T-4", "--as-of", AS_OF, db=db)
    update = next(r for r in t4 if r["timer"] == "update")
    assert (update["state"], update["paused"], update["time_left"], update["overdue_by"]) == (
        "paused",
        True,
        3000,
        None,
    )
    t5 = _timers("show", "T-5", "--as-of", AS_OF, db=db)
    resolution = next(r for r in t5 if r["timer"] == "resolution")
    assert (resolution["state"], resolution["elapsed_seconds"]) == ("measured", 1800)
    board = _timers("list", "--breached", "--as-of", AS_OF, db=db)
    assert [(r["ticket_id"], r["overdue_by"]) for r in board] == [("T-1", 1800)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tickets", "--sort", "oldest"), "--sort oldest: use next-breach, opened or severity"),
        (("tickets", "--limit", "-1"), "--limit -1: must be 0 or more"),
        (("tickets", "--limit", "ten"), "--limit ten: not a whole number"),
        (("tickets", "--status", "pending"), "--status pending: use unresolved, all"),
        (("tickets", "--severity", "5"), "--severity 5: use 1, 2, 3 or 4"),
        (("tickets", "--breaching-within", "-1"), "--breaching-within -1: must be 0 or more"),
        (("tickets", "--customer", "C-9"), "--customer C-9: no such customer in the ledger"),
        (("customers", "--health-below", "101"), "--health-below 101: must be a score"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    db = str(tmp_path / "ledger.db")
    ledger_json("ingest", str(write_jsonl(tmp_path / "in.jsonl", _lines()[:2])), db=db)
    result = ledger(*args, db=db)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tables_for_people(db: str) -> None:
    tickets = ledger("tickets", "--as-of", AS_OF, "--status", "all", db=db)
    assert tickets.returncode == 0, tickets.stderr
    assert "5 tickets as of 2026-03-02 10:30:00Z, soonest breach first" in tickets.stdout
    t1 = next(line for line in tickets.stdout.splitlines() if "T-1 " in line)
    assert "2026-03-02 10:00:00Z" in t1 and "30m" in t1
    t4 = next(line for line in tickets.stdout.splitlines() if "T-4 " in line)
    assert "50m" in t4 and "yes" in t4
    assert "—" in next(line for line in tickets.stdout.splitlines() if "T-5 " in line)
    customers = ledger("customers", "--as-of", AS_OF, db=db)
    assert customers.returncode == 0, customers.stderr
    assert "low_health," in customers.stdout and "sharp_drop" in customers.stdout  # may wrap
    for shown in (tickets.stdout, customers.stdout):
        assert "None" not in shown and "[]" not in shown and "datetime" not in shown
    for command in ("tickets", "customers"):
        assert "Usage" in ledger(command, "--help", db=db).stdout
    # --tz shows instants in a zone; --tz customer is the zone of the customer asked about
    berlin = ledger("tickets", "--as-of", AS_OF, "--customer", "C-2", "--tz", "customer", db=db)
    assert berlin.returncode == 0, berlin.stderr
    assert "2 tickets as of 2026-03-02 11:30:00+01:00" in berlin.stdout
    assert "(times in Europe/Berlin)" in berlin.stdout
    t3 = next(line for line in berlin.stdout.splitlines() if "T-3 " in line)
    assert "2026-03-02 15:00:00+01:00" in t3
