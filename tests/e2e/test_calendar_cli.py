"""Adding next year's holidays without touching the past (R-CAL), as a user does it:
``ledger ingest`` of the change, ``ledger sla list --json`` before and after, as of
earlier instants and as known then.

C-1 (Europe/Berlin, Mon-Fri 09:00-17:00, no holidays), the last days of 2025:

* T-1 Sev3, Mon 29 Dec 10:00, answered Tue 30 Dec 09:30: met (due Tue 10:00);
* T-2 Sev4 (two business days, 16 h), Tue 30 Dec 10:00: Tue 10-17 (7 h), Wed (8 h), Thu
  1 Jan 09-10: due Thu 1 Jan 2026 10:00 Berlin, 09:00Z;
* Wed 31 Dec: customer success proposes the calendar with 2026's holidays at 11:00, the
  proposer's own approval is refused (R-CAL-1), a leader approves at 12:00, effective at
  once. New Year's Day is now closed: T-2 is due Fri 2 Jan 10:00 Berlin, 09:00Z; T-1
  and everything before 12:00 on 31 Dec stay as they were.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.settings import Database
from tests.conftest import PG_URL
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import Envelopes

HOLIDAYS_2026 = ["2026-01-01", "2026-04-03", "2026-04-06", "2026-12-25", "2026-12-26"]
AFTER = "2025-12-31T13:00:00+01:00"  # after the approval
BEFORE = "2025-12-31T11:30:00+01:00"  # proposed, not approved yet


def berlin(text: str) -> str:
    return f"{text}+01:00"


def _base(env: Envelopes) -> list[dict[str, Any]]:
    sev3 = {"severity": 3, "category": "feature_issue"}
    sev4 = {"severity": 4, "category": "how_to"}
    at = datetime.fromisoformat
    return [
        env.customer("C-1", at=datetime(2025, 12, 1, 9, tzinfo=UTC)),
        env.ticket("T-1", at=at(berlin("2025-12-29T10:00:00")), **sev3),
        env.make(
            "ticket.responded",
            "T-1",
            {"public": True, "message": "on it"},
            at=at(berlin("2025-12-30T09:30:00")),
        ),
        env.ticket("T-2", at=at(berlin("2025-12-30T10:00:00")), **sev4),
    ]


def _change(env: Envelopes) -> list[dict[str, Any]]:
    at = datetime.fromisoformat
    calendar = {"timezone": "Europe/Berlin", "holidays": HOLIDAYS_2026}
    proposal = {
        "proposal_id": "CAL-2026",
        "calendar": calendar,
        "effective_at": berlin("2025-12-31T12:00:00"),
    }
    approval = {"proposal_id": "CAL-2026"}
    backdated = {
        **proposal,
        "proposal_id": "CAL-OLD",
        "effective_at": berlin("2025-12-01T00:00:00"),
    }
    return [
        env.make(
            "customer.calendar_change_proposed",
            "C-1",
            proposal,
            role="customer_success",
            actor_id="cs-jo",
            at=at(berlin("2025-12-31T11:00:00")),
        ),
        env.make(  # the proposer approving: refused, R-CAL-1
            "customer.calendar_change_approved",
            "C-1",
            approval,
            role="customer_success",
            actor_id="cs-jo",
            at=at(berlin("2025-12-31T11:10:00")),
        ),
        env.make(
            "customer.calendar_change_approved",
            "C-1",
            approval,
            role="leadership",
            actor_id="lead-maria",
            at=at(berlin("2025-12-31T12:00:00")),
        ),
        env.make(  # a change reaching into the past: refused, R-CAL-2
            "customer.calendar_change_proposed",
            "C-1",
            backdated,
            role="customer_success",
            actor_id="cs-jo",
            at=at(berlin("2025-12-31T12:30:00")),
        ),
    ]


@pytest.fixture
def db(tmp_path: Path, database: Database) -> str:
    where = (
        str(database.sqlite_path)
        if database.kind == "sqlite"
        else f"{PG_URL}?schema={database.schema}"
    )
    report = ledger_json(
        "ingest", str(write_jsonl(tmp_path / "base.jsonl", _base(Envelopes()))), db=where
    )
    assert report["accepted"] == 4, report
    return where


def _timers(db: str, *args: str) -> dict[str, Any]:
    answer: dict[str, Any] = ledger_json("sla", "list", *args, db=db)
    return answer


def _first(answer: dict[str, Any], ticket: str) -> dict[str, Any]:
    return next(
        t for t in answer["timers"] if t["ticket_id"] == ticket and t["timer"] == "first_response"
    )


def test_next_years_holidays_move_only_what_has_not_counted_yet(db: str, tmp_path: Path) -> None:
    before_after = _timers(db, "--as-of", AFTER)
    before_earlier = _timers(db, "--as-of", BEFORE)
    t2 = _first(before_after, "T-2")
    assert (t2["state"], t2["due_at"], t2["calendar_version_end"]) == (
        "running",
        "2026-01-01T09:00:00+00:00",
        1,
    )
    known_then = datetime.now(UTC).isoformat()  # between the two ingests

    changes = write_jsonl(tmp_path / "change.jsonl", _change(Envelopes(seed=7)))
    report = ledger_json("ingest", str(changes), db=db)
    assert (report["accepted"], report["rejected_by_rule"]) == (2, {"R-CAL-1": 1, "R-CAL-2": 1})

    after = _timers(db, "--as-of", AFTER)
    t2 = _first(after, "T-2")
    assert (t2["state"], t2["due_at"]) == ("running", "2026-01-02T09:00:00+00:00")
    assert (t2["calendar_version"], t2["calendar_version_end"]) == (1, 2)
    assert _first(after, "T-1") == _first(before_after, "T-1")  # stopped before: untouched
    # As of before the approval, the board is what it was: the past did not move.
    assert _timers(db, "--as-of", BEFORE) == before_earlier
    # As known before the change was ingested, the board is what it showed then.
    then = _timers(db, "--as-of", AFTER, "--known-at", known_then)
    assert then["timers"] == before_after["timers"]
    assert then["known_at"] is not None
    # A replay from the log alone answers the same.
    replayed = ledger_json("replay", "board", "--as-of", AFTER, db=db)
    assert replayed["timers"] == after["timers"]
    # New Year's Day counts nothing now: not breached at noon, breached on Friday at 11:00.
    new_year = _first(_timers(db, "--as-of", berlin("2026-01-01T12:00:00")), "T-2")
    assert (new_year["state"], new_year["time_left"]) == ("running", 22 * 3600)
    friday = _first(_timers(db, "--as-of", berlin("2026-01-02T11:00:00")), "T-2")
    assert (friday["state"], friday["breached_at"]) == ("breached", "2026-01-02T09:00:00+00:00")


def test_customer_show_lists_the_calendar_versions_as_of_the_instant(
    db: str, tmp_path: Path
) -> None:
    ledger_json("ingest", str(write_jsonl(tmp_path / "c.jsonl", _change(Envelopes(seed=7)))), db=db)
    now = ledger_json("customer", "show", "C-1", db=db)
    versions = [
        (v["version"], v["effective_at"], v["approved_by"], v["in_force"])
        for v in now["calendar_versions"]
    ]
    assert versions == [
        (1, None, "x-customer_success", False),  # the onboarding
        (2, "2025-12-31T11:00:00+00:00", "lead-maria", True),
    ]
    assert now["calendar"]["holidays"] == HOLIDAYS_2026
    assert (now["calendar_version"], now["calendar_proposals"]) == (2, [])
    then = ledger_json("customer", "show", "C-1", "--as-of", BEFORE, db=db)
    assert [v["version"] for v in then["calendar_versions"]] == [1]
    assert [p["proposal_id"] for p in then["calendar_proposals"]] == ["CAL-2026"]
    shown = ledger("customer", "show", "C-1", "--tz", "Europe/Berlin", db=db)
    assert shown.returncode == 0, shown.stderr
    assert "calendar versions" in shown.stdout and "lead-maria" in shown.stdout
