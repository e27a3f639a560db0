"""``ledger actions``, ``ledger insights`` and what issue 20 adds to ``metrics``, ``tick``,
``rca`` and ``report``, as a user runs them, on the ledger of
``tests/follow_through_story.py`` (ingested with ``ledger ingest``), as of 2026-03-25.

What the figures mean is held by ``tests/integration/test_follow_through.py``; here: the
JSON documents, the tables people read, and one-line errors with exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.settings import Database
from tests.conftest import PG_URL
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.follow_through_story import follow_through, story
from tests.support import Envelopes

AS_OF = "2026-03-25T00:00:00Z"


def _lines() -> list[dict[str, Any]]:
    env = Envelopes()
    return [*story(env), *follow_through(env)]


@pytest.fixture
def db(tmp_path: Path, database: Database) -> str:
    """The story's ledger, on SQLite and on PostgreSQL."""
    where = (
        str(database.sqlite_path)
        if database.kind == "sqlite"
        else f"{PG_URL}?schema={database.schema}"
    )
    report = ledger_json("ingest", str(write_jsonl(tmp_path / "in.jsonl", _lines())), db=where)
    assert report["accepted"] == len(_lines()), report
    return where


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    """The story's ledger on SQLite only (for what does not depend on the backend)."""
    where = str(tmp_path / "ledger.db")
    report = ledger_json("ingest", str(write_jsonl(tmp_path / "in.jsonl", _lines())), db=where)
    assert report["accepted"] == len(_lines()), report
    return where


def test_actions_as_json(db: str) -> None:
    answer = ledger_json(
        "actions", "--as-of", "2026-03-25T01:00:00+01:00", "--status", "all", db=db
    )
    assert (answer["as_of"], answer["known_at"]) == ("2026-03-25T00:00:00+00:00", None)
    assert list(answer) == ["as_of", "known_at", "actions"]
    assert [
        (a["ticket_id"], a["action_id"], a["state"], a["owner"], a["due_date"], a["due_at"])
        for a in answer["actions"]
    ] == [
        ("T-2", "PA-1", "completed", "pe-sam", "2026-03-05", "2026-03-06T00:00:00+00:00"),
        ("T-1", "PA-1", "verified", "pe-li", "2026-03-10", "2026-03-11T00:00:00+00:00"),
        ("T-1", "PA-2", "cancelled", "pe-sam", "2026-03-12", "2026-03-13T00:00:00+00:00"),
        ("T-1", "PA-3", "overdue", "pe-li", "2026-03-20", "2026-03-21T00:00:00+00:00"),
    ]
    verified = answer["actions"][1]
    assert (verified["completed_by"], verified["verified_by"], verified["on_time"]) == (
        "pe-li",
        "lead-maria",
        True,
    )
    assert answer["actions"][2]["reason"] == "covered by the platform migration"
    overdue = ledger_json("actions", "--overdue", "--as-of", AS_OF, db=db)["actions"]
    assert [(a["action_id"], a["overdue_by"]) for a in overdue] == [("PA-3", 4 * 86400)]
    mine = ledger_json("actions", "--ticket", "T-2", "--status", "all", "--as-of", AS_OF, db=db)
    assert [(a["ticket_id"], a["state"], a["on_time"]) for a in mine["actions"]] == [
        ("T-2", "completed", False)
    ]


def test_actions_as_a_table(sqlite_db: str) -> None:
    result = ledger("actions", "--as-of", AS_OF, "--tz", "Europe/Berlin", db=sqlite_db)
    assert result.returncode == 0, result.stderr
    assert "1 action as of 2026-03-25 01:00" in result.stdout  # midnight UTC, in Berlin
    assert "soonest due first (times in Europe/Berlin)" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "PA-3" in line)
    for cell in ("T-1", "overdue", "pe-li", "2026-03-20", "4d 0h 00m", "do PA-3"):
        assert cell in row, row
    assert "None" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ticket", "T-9"], "--ticket T-9: no such ticket as of 2026-03-25T00:00:00+00:00"),
        (["--owner", "pe-nobody"], "--owner pe-nobody: owns no preventive action as of"),
        (["--status", "done"], "--status done: use pending, all, open, overdue, completed"),
        (["--overdue", "--status", "completed"], "--overdue and --status completed ask for"),
    ],
)
def test_actions_mistakes_are_one_line_errors(
    sqlite_db: str, args: list[str], message: str
) -> None:
    result = ledger("actions", *args, "--as-of", AS_OF, db=sqlite_db)
    assert result.returncode == 1
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_insights(db: str) -> None:
    answer = ledger_json("insights", "--from", "2026-03-01", "--as-of", AS_OF, db=db)
    assert list(answer)[:3] == ["as_of", "known_at", "window"]
    assert answer["window"] == {
        "from": "2026-03-01T00:00:00+00:00",
        "to": "2026-03-25T00:00:00+00:00",
    }
    assert [(a["rank"], a["product_area"], a["pain"]) for a in answer["areas"]] == [
        (1, "dubbing", 12),
        (2, "exports", 11),
        (3, "database", 8),
        (4, "editor", 1),
    ]
    assert answer["knowledge_gaps"] == []
    before = ledger_json("insights", "--as-of", "2026-03-24T11:00:00Z", db=db)
    gap = before["knowledge_gaps"][0]
    assert (gap["root_cause_code"], gap["incidents"], gap["first_opened_at"]) == (
        "DB-FAILOVER",
        2,
        "2026-03-02T09:00:00+00:00",
    )


def test_insights_as_a_table_and_its_mistakes(sqlite_db: str) -> None:
    result = ledger("insights", "--as-of", "2026-03-24T11:00:00Z", db=sqlite_db)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "4 product areas as of 2026-03-24 11:00" in out
    dubbing = next(line for line in out.splitlines() if "dubbing" in line)
    cells = [cell.strip() for cell in dubbing.split("│")[1:-1]]
    assert cells == ["1", "dubbing", "12", "1", "8", "1", "0", "0 (0/0/0)", "1"]
    assert "tickets opened in the window with no product area: 1 (severity points 1)" in out
    assert "root causes on 2+ incidents with no runbook: 1" in out
    assert "DB-FAILOVER" in out and "T-1, T-5" in out
    wrong = ledger("insights", "--from", "2026-03-10", "--to", "2026-03-01", db=sqlite_db)
    assert wrong.returncode == 1
    assert "--from 2026-03-10" in wrong.stderr and "is after --to 2026-03-01" in wrong.stderr


def test_metrics_tick_rca_and_report_show_issue_20(sqlite_db: str, tmp_path: Path) -> None:
    metrics = ledger("metrics", "--from", "2026-03-01", "--as-of", AS_OF, db=sqlite_db)
    assert metrics.returncode == 0, metrics.stderr
    assert "incident times (minutes): detect, acknowledge, mitigate, resolve" in metrics.stdout
    assert (
        "preventive actions due in the window: 3, 1 completed on time (33.3%), 1 late; "
        "overdue now by owner: pe-li 1"
    ) in metrics.stdout
    ticked = ledger_json("tick", "--now", AS_OF, db=sqlite_db)
    assert ticked["written"]["rca.action_overdue"] == 2
    document = ledger("rca", "T-1", "--format", "md", "--as-of", AS_OF, db=sqlite_db)
    assert document.returncode == 0, document.stderr
    md = document.stdout
    for line in (
        "| Product area | database |",
        "| Impact started | 2026-03-02 08:40 UTC |",
        "| Detected | 2026-03-02 08:52 UTC |",
        "| Mitigated | 2026-03-02 09:50 UTC |",
        "| Time to detect | 12m |",
        "| Time to mitigate | 1h 10m |",
        "| PA-1 | do PA-1 | pe-li | 2026-03-10 | completed 2026-03-10 18:00 UTC, verified "
        "2026-03-12 09:00 UTC |",
        "| PA-3 | do PA-3 | pe-li | 2026-03-20 | overdue |",
        "- faq: [Why jobs fail during a failover](KB-101)",
        "| 2026-03-02 08:40 UTC | impact started | se-ana |  |",
        "| 2026-03-02 08:52 UTC | detected | se-ana | paged |",
    ):
        assert line in md, line
    page = tmp_path / "T-1.html"
    report = ledger("report", "T-1", "--out", str(page), "--as-of", AS_OF, db=sqlite_db)
    assert report.returncode == 0, report.stderr
    html = page.read_text()
    for kind in ("impact started", "detected", "mitigated"):
        assert f'data-kind="{kind}" data-at=' in html
    assert 'data-key="impact"' in html and "time to detect 12m" in html
    assert "by incident.mitigated" in html
