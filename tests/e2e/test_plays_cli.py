"""``ledger plays`` and the success metrics as a user runs them, on a hand-made ledger.

T0 = Monday 2026-03-02 09:00Z. C-1 (cs-jo, ARR 100k) was onboarded at T0-31d and C-2
(cs-kim) at T0-38d; neither engaged since. ``ledger tick --now T0`` raises both silences
(C-1's at T0-1d, C-2's at T0-8d) and opens P-1-1 (due T0+6d) and P-2-1 (due T0-1d: overdue
at once). Then cs-jo calls C-1 at T0+1h and C-1 renews at 90k at T0+2h.
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

H = timedelta(hours=1)
D = timedelta(days=1)
AS_OF = "2026-03-02T12:00:00+01:00"  # T0+2h


def _cs(env: Envelopes, kind: str, subject: str, data: dict[str, Any], at: Any) -> Any:
    return env.make(kind, subject, data, role="customer_success", actor_id="cs-jo", at=at)


@pytest.fixture
def db(tmp_path: Path, database: Database) -> str:
    """The ledger after the tick and the call, on SQLite and on PostgreSQL."""
    where = (
        str(database.sqlite_path)
        if database.kind == "sqlite"
        else f"{PG_URL}?schema={database.schema}"
    )
    env = Envelopes()
    before = [
        env.customer("C-1", at=T0 - 31 * D, success_owner="cs-jo"),
        _cs(env, "customer.contract_changed", "C-1", {"arr": "100000", "reason": "x"}, T0 - 30 * D),
        env.customer("C-2", at=T0 - 38 * D, success_owner="cs-kim"),
    ]
    assert ledger_json("ingest", str(write_jsonl(tmp_path / "a.jsonl", before)), db=where)[
        "accepted"
    ] == len(before)
    ticked = ledger_json("tick", "--now", "2026-03-02T09:00:00Z", db=where)
    assert ticked["written"] == {
        "customer.churn_risk_raised": 2,
        "play.opened": 2,
        "play.overdue": 1,
    }
    call = {"play_id": "P-1-1", "channel": "call", "note": "called the decision maker"}
    after = [
        _cs(env, "play.outreach_logged", "C-1", call, T0 + H),
        _cs(env, "play.outreach_logged", "C-1", {**call, "play_id": "P-1-9"}, T0 + H),
        _cs(
            env, "customer.renewed", "C-1", {"arr": "90000.00", "reason": "fewer seats"}, T0 + 2 * H
        ),
    ]
    report = ledger_json("ingest", str(write_jsonl(tmp_path / "b.jsonl", after)), db=where)
    assert (report["accepted"], report["rejected_by_rule"]) == (2, {"R-STATE-3": 1})
    return where


def _plays(db: str, *args: str) -> list[tuple[Any, ...]]:
    answer = ledger_json("plays", "--as-of", AS_OF, *args, db=db)
    assert (answer["as_of"], answer["known_at"]) == ("2026-03-02T11:00:00+00:00", None)
    return [
        (p["play_id"], p["state"], p["overdue_by"], p["outreach_count"]) for p in answer["plays"]
    ]


def test_plays_open_and_overdue_as_a_user_asks(db: str) -> None:
    everything = ledger_json("plays", "--as-of", AS_OF, db=db)["plays"]
    assert [(p["play_id"], p["customer_id"], p["owner"], p["risk"]) for p in everything] == [
        ("P-2-1", "C-2", "cs-kim", "silent"),
        ("P-1-1", "C-1", "cs-jo", "silent"),
    ]
    assert [(p["opened_at"], p["due_at"], p["first_outreach_at"]) for p in everything] == [
        ("2026-02-22T09:00:00+00:00", "2026-03-01T09:00:00+00:00", None),
        ("2026-03-01T09:00:00+00:00", "2026-03-08T09:00:00+00:00", "2026-03-02T10:00:00+00:00"),
    ]
    # As of T0+2h: P-2-1 is 1 day 2 hours past its due instant; P-1-1 has its call.
    assert _plays(db) == [("P-2-1", "overdue", 93600, 0), ("P-1-1", "open", None, 1)]
    assert _plays(db, "--overdue") == [("P-2-1", "overdue", 93600, 0)]
    assert _plays(db, "--owner", "cs-jo", "--open") == [("P-1-1", "open", None, 1)]
    assert _plays(db, "--customer", "C-2") == [("P-2-1", "overdue", 93600, 0)]
    assert ledger_json("plays", "--as-of", "2026-02-22", db=db)["plays"] == []  # before both


def test_plays_for_people_and_mistakes(db: str) -> None:
    shown = ledger("plays", "--as-of", AS_OF, "--tz", "Europe/Berlin", db=db)
    assert shown.returncode == 0, shown.stderr
    assert "2 plays as of 2026-03-02 12:00:00+01:00" in shown.stdout
    assert "1d 2h 00m" in shown.stdout and "overdue" in shown.stdout
    unknown = ledger("plays", "--customer", "C-404", db=db)
    assert unknown.returncode == 1
    assert "--customer C-404: no such customer in the ledger" in unknown.stderr
    typo = ledger("plays", "--owner", "cs-kmi", "--as-of", AS_OF, db=db)
    assert typo.returncode == 1 and not typo.stdout
    assert "--owner cs-kmi: owns no success play and no customer" in typo.stderr
    helped = ledger("plays", "--help", db=db)
    assert "ledger plays --open --owner cs-kim" in helped.stdout
    assert "ledger plays --overdue" in helped.stdout


def test_metrics_carry_revenue_and_plays(db: str) -> None:
    """Window T0-20d .. T0+1d: C-1 the only customer with an ARR at its start (100k),
    renewed at 90k: contraction 10k; GRR = NRR = 90 %. Both plays opened in it; P-1-1's
    first outreach came 25 hours after its opening, before any complaint (none)."""
    figures = ledger_json(
        "metrics", "--from", "2026-02-10", "--to", "2026-03-03", "--as-of", "2026-03-03", db=db
    )
    assert figures["revenue"] == {
        "customers_at_start": 1,
        "starting_arr": "100000.00",
        "expansion_arr": "0.00",
        "contraction_arr": "10000.00",
        "churned_arr": "0.00",
        "ending_arr": "90000.00",
        "gross_revenue_retention_pct": 90.0,
        "net_revenue_retention_pct": 90.0,
        "expansion_rate_pct": 0.0,
    }
    plays = figures["plays"]
    assert (plays["opened"], plays["by_risk"]["silent"], plays["closed"]) == (2, 2, 0)
    assert plays["time_to_first_outreach"] == {"count": 1, "median_hours": 25.0, "p90_hours": 25.0}
    assert plays["outreach_before_complaint"] == {"decided": 1, "outreach_first": 1, "pct": 100.0}
    words = ledger("metrics", "--from", "2026-02-10", "--as-of", "2026-03-03", db=db).stdout
    assert "GRR 90%, NRR 90%" in words
    assert "success plays: 2 opened, 0 closed" in words
