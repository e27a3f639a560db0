"""The command line as a user runs it: a real process, a real database file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.settings import Database
from tests.conftest import PG_URL
from tests.support import Envelopes


def ledger(
    *args: str, db: Path | str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``ledger ARGS --db DB``; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args, "--db", str(db)],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ledger_json(*args: str, db: Path | str) -> Any:
    result = ledger(*args, "--json", db=db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    with path.open("wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else json.dumps(line).encode())
            f.write(b"\n")
    return path


@pytest.fixture
def story(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    env = Envelopes()
    lines = [
        env.customer("C-1"),
        env.ticket("T-1"),
        env.make("ticket.responded", "T-1", {"public": True, "message": "on it"}),
        env.make("ticket.escalated", "T-1", {"to_tier": "platform_engineer", "reason": "db"}),
    ]
    return write_jsonl(tmp_path / "story.jsonl", lines), lines


def test_ingest_counts_and_show(tmp_path: Path, story: tuple[Path, list[dict[str, Any]]]) -> None:
    path, lines = story
    db = tmp_path / "ledger.db"
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            lines[1],  # duplicate
            b'{"event_id": "not json',
            {
                **lines[2],
                "event_id": "6f1c2a9e-3b8d-4e0f-9a55-0c1d2e3f4a5b",
                "data": {"public": True, "message": "x", "mood": "great"},
            },
        ],
    )
    nothing_released = {"accepted": 0, "rejected": 0, "rejected_by_rule": {}}
    assert ledger_json("ingest", str(path), db=db) == {
        "inputs": 4,
        "accepted": 4,
        "duplicates": 0,
        "deferred": 0,
        "rejected": 0,
        "already_rejected": 0,
        "rejected_by_rule": {},
        "released": nothing_released,
    }
    report = ledger_json("ingest", str(bad), db=db)
    assert report == {
        "inputs": 3,
        "accepted": 0,
        "duplicates": 1,
        "deferred": 0,
        "rejected": 2,
        "already_rejected": 0,
        "rejected_by_rule": {"R-WIRE-1": 1, "R-WIRE-2": 1},
        "released": nothing_released,
    }
    again = ledger_json("ingest", str(bad), db=db)  # re-run after a crash, or by mistake
    assert (again["duplicates"], again["rejected"], again["already_rejected"]) == (1, 0, 2)
    assert len(ledger_json("rejects", "list", db=db)) == 2
    shown = ledger_json("ticket", "show", "T-1", db=db)
    assert shown["status"] == "open" and shown["tier"] == "platform_engineer"
    assert [e["type"] for e in shown["trail"]] == [
        "ticket.opened",
        "ticket.responded",
        "ticket.escalated",
    ]
    first = shown["trail"][0]
    assert first["event_id"] == lines[1]["event_id"]
    assert first["actor"] == lines[1]["actor"] and first["source"] == "test-suite"
    assert first["occurred_at"] == "2026-03-02T09:02:00+00:00"
    assert first["recorded_at"] is not None
    customer = ledger_json("customer", "show", "C-1", db=db)
    assert customer["success_owner"] == "cs-jo"


def test_rejects_are_listed_with_envelope_or_raw(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    env = Envelopes()
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            b"\xff\xfe garbage",
            env.ticket("T-1", customer_id="C-404"),
        ],
    )
    report = ledger_json("ingest", str(bad), db=db)
    assert (report["rejected"], report["deferred"]) == (1, 1)  # C-404 may be on its way
    (waiting,) = ledger_json("deferred", "list", db=db)
    assert (waiting["subject"], waiting["waits_for"], waiting["rule"]) == ("T-1", "C-404", "R-IN-2")
    assert waiting["origin"] == "bad.jsonl:2" and waiting["envelope"]["subject"] == "T-1"
    assert ledger_json("status", db=db)["deferred"] == 1
    expired = ledger_json("deferred", "expire", db=db)
    assert expired == {"expired": 1, "rejected_by_rule": {"R-IN-2": 1}, "accepted": 0}
    assert ledger_json("deferred", "list", db=db) == []
    rows = ledger_json("rejects", "list", db=db)
    assert [r["rule"] for r in rows] == ["R-WIRE-1", "R-IN-2"]
    assert rows[0]["raw_base64"] and rows[0]["origin"] == "bad.jsonl:1"
    assert rows[1]["envelope"]["subject"] == "T-1" and rows[1]["field"] == "data.customer_id"
    assert rows[1]["received_at"].endswith("+00:00")
    only = ledger_json("rejects", "list", "--rule", "R-IN-2", db=db)
    assert len(only) == 1


def test_ingest_reads_stdin(tmp_path: Path, story: tuple[Path, list[dict[str, Any]]]) -> None:
    path, _ = story
    result = ledger("ingest", "-", "--json", db=tmp_path / "l.db", stdin=path.read_bytes())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ingest", "nowhere.jsonl"), "no such file"),
        (("ticket", "show", "T-404"), "no ticket T-404"),
        (("customer", "show", "C-404"), "no customer C-404"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    assert ledger("project", db=tmp_path / "ledger.db").returncode == 0  # an empty ledger
    result = ledger(*args, db=tmp_path / "ledger.db")
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    result = ledger("rejects", "list", db="postgresql+psycopg://postgres@127.0.0.1:1/test")
    assert result.returncode == 1
    assert "cannot reach PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_has_help() -> None:
    commands = [
        (),
        ("ingest",),
        ("ticket", "show"),
        ("customer", "show"),
        ("rejects", "list"),
        ("deferred", "list"),
        ("deferred", "expire"),
        ("schemas", "export"),
        ("demo",),
        ("project",),
        ("rebuild",),
        ("tick",),
        ("sla", "list"),
        ("escalations",),
        ("rca",),
        ("metrics",),
        ("health",),
    ]
    for command in commands:
        result = subprocess.run(
            [sys.executable, "-m", "cli", *command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage" in result.stdout


def test_demo_runs_and_ends_as_generated(tmp_path: Path) -> None:
    out = tmp_path / "demo.jsonl"
    summary = ledger_json("demo", "--out", str(out), db=tmp_path / "demo.db")
    assert summary["unexpected_outcomes"] == {}
    assert summary["ingest"]["inputs"] == summary["lines"] == len(out.read_bytes().splitlines())
    assert summary["ledger"]["customers"]["enterprise"] >= 20
    rules = summary["ingest"]["rejected_by_rule"]
    for rule in ("R-IN-1", "R-ESC-1", "R-FIX-1", "R-RCA-1", "R-WIRE-1"):
        assert rules.get(rule, 0) >= 1, rule
    assert summary["ingest"]["duplicates"] >= 1
    again = ledger_json("ingest", str(out), db=tmp_path / "demo2.db")
    assert again == summary["ingest"]  # the written file is the same stream
    # It ends with the board as of the quarter's end.
    assert summary["as_of"] == "2026-04-06T00:00:00+00:00"
    assert [r["severity"] for r in summary["sla_compliance"]] == [1, 2, 3, 4]
    assert all(r["state"] == "running" for r in summary["at_risk"])
    assert len(summary["lowest_health"]) == 5
    scores = [r["score"] for r in summary["lowest_health"]]
    assert scores == sorted(scores)
    # The board the demo printed is the board sla list shows for the same instant.
    board = ledger_json(
        "sla", "list", "--at-risk", "1440", "--as-of", summary["as_of"], db=tmp_path / "demo.db"
    )
    assert board["timers"] == summary["at_risk"]
    assert (board["as_of"], board["known_at"]) == ("2026-04-06T00:00:00+00:00", None)
    assert (summary["as_of"], summary["known_at"]) == (board["as_of"], None)


def test_sla_show_as_of_and_known_at(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    env = Envelopes()
    opened = env.ticket("T-1")  # Sev1 at 09:01 UTC
    write_jsonl(tmp_path / "a.jsonl", [env.customer("C-1", at=env.now - timedelta(days=1)), opened])
    ledger_json("ingest", str(tmp_path / "a.jsonl"), db=db)
    before_response = ledger_json("sla", "show", "T-1", "--as-of", "2026-03-02T09:30:00Z", db=db)
    assert before_response["as_of"] == "2026-03-02T09:30:00+00:00"
    assert (before_response["known_at"], before_response["ticket_id"]) == (None, "T-1")
    first = next(r for r in before_response["timers"] if r["timer"] == "first_response")
    assert (first["state"], first["due_at"]) == ("running", "2026-03-02T10:01:00+00:00")
    response = env.make(
        "ticket.responded",
        "T-1",
        {"public": True, "message": "on it"},
        at=env.now + timedelta(minutes=90),
    )
    write_jsonl(tmp_path / "b.jsonl", [response])
    ledger_json("ingest", str(tmp_path / "b.jsonl"), db=db)
    later = ledger_json("sla", "show", "T-1", "--as-of", "2026-03-02T12:00:00Z", db=db)
    first = next(r for r in later["timers"] if r["timer"] == "first_response")
    assert (first["state"], first["breached_at"]) == ("breached", "2026-03-02T10:01:00+00:00")
    assert first["stopped_at"] == "2026-03-02T10:31:00+00:00"
    # Known only up to before the response was recorded: still running as of 10:00.
    recorded = ledger_json("ticket", "show", "T-1", db=db)["trail"][0]["recorded_at"]
    early = ledger_json(
        "sla", "show", "T-1", "--as-of", "2026-03-02T10:00:00Z", "--known-at", recorded, db=db
    )
    assert early["known_at"] == datetime.fromisoformat(recorded).astimezone(UTC).isoformat()
    assert next(r for r in early["timers"] if r["timer"] == "first_response")["state"] == "running"
    naive = ledger("sla", "show", "T-1", "--as-of", "2026-03-02T10:00:00", db=db)
    assert naive.returncode == 1 and "needs an offset" in naive.stderr
    assert len(naive.stderr.strip().splitlines()) == 1


def test_projection_commands_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    env = Envelopes()
    t0 = env.now
    lines = [
        env.customer("C-1", at=t0 - timedelta(days=1)),
        env.ticket("T-1", at=t0),  # Sev1, nobody answers for 2 hours
        env.make(
            "ticket.escalated",
            "T-1",
            {"to_tier": "platform_engineer", "reason": "db <down>"},
            at=t0 + timedelta(minutes=15),
        ),
        env.make(
            "ticket.responded",
            "T-1",
            {"public": True, "message": "on it"},
            at=t0 + timedelta(minutes=120),
        ),
        env.ticket("T-2", at=t0 + timedelta(minutes=5), severity=4, category="how_to"),
    ]
    ledger_json("ingest", str(write_jsonl(tmp_path / "s.jsonl", lines)), db=db)
    projected = ledger_json("project", db=db)
    assert set(projected["positions"].values()) == {5}  # five events stored
    rebuilt = ledger_json("rebuild", "tickets", db=db)
    assert rebuilt["rebuilt"] == ["tickets"]
    unknown = ledger("rebuild", "nonsense", db=db)
    assert unknown.returncode == 1 and "no projection named" in unknown.stderr

    at = (t0 + timedelta(minutes=130)).isoformat()
    breached = ledger_json("sla", "list", "--breached", "--as-of", at, db=db)
    assert [(r["ticket_id"], r["timer"], r["breached_at"]) for r in breached["timers"]] == [
        ("T-1", "first_response", (t0 + timedelta(minutes=60)).isoformat())
    ]
    sev4 = ledger_json("sla", "list", "--severity", "4", "--customer", "C-1", "--as-of", at, db=db)
    assert {r["ticket_id"] for r in sev4["timers"]} == {"T-2"}

    first = ledger_json("tick", "--now", at, db=db)
    second = ledger_json("tick", "--now", at, db=db)
    assert first["written"]["sla.breached"] == 1 and second["written"] == {}
    assert ledger_json("sla", "list", "--breached", "--as-of", at, db=db) == breached

    steps = ledger_json("escalations", "T-1", db=db)["steps"]
    assert [(s["from_tier"], s["to_tier"], s["seconds_at_previous_tier"]) for s in steps] == [
        ("support_engineer", "platform_engineer", 15 * 60)
    ]
    markdown = ledger("rca", "T-1", "--format", "md", db=db).stdout
    assert markdown.startswith("# RCA T-1") and "## Timeline (UTC)" in markdown
    assert "SLA breached" in markdown and "missing" in markdown  # a draft: parts missing
    html = ledger("rca", "T-1", "--format", "html", db=db).stdout
    assert "<h2>Timeline (UTC)</h2>" in html and "db &lt;down&gt;" in html

    shown = ledger_json("ticket", "show", "T-1", "--as-of", at, db=db)
    assert {t["timer"] for t in shown["timers"]} >= {"first_response", "update", "resolution"}
    figures = ledger_json("metrics", "--as-of", at, db=db)
    assert figures["first_response"][0]["median_minutes"] == 120.0
    assert ledger_json("health", "C-1", "--as-of", at, db=db)["customer_id"] == "C-1"


def test_project_follow_keeps_up_and_stops_on_sigterm(tmp_path: Path, database: Database) -> None:
    """A projection runner in its own process, on SQLite and on PostgreSQL."""
    db = database.sqlite_path if database.kind == "sqlite" else f"{PG_URL}?schema={database.schema}"
    env = Envelopes()
    ledger_json("ingest", str(write_jsonl(tmp_path / "a.jsonl", [env.customer("C-1")])), db=db)
    follower = subprocess.Popen(
        [sys.executable, "-m", "cli", "project", "--follow", "--poll", "0.1", "--db", str(db)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stderr is not None
        assert "following the log" in follower.stderr.readline()
        assert follower.stderr.readline().startswith("projected up to 1")
        ledger_json("ingest", str(write_jsonl(tmp_path / "b.jsonl", [env.ticket("T-1")])), db=db)
        assert follower.stderr.readline().startswith("projected up to 2")
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=30) == 0
    finally:
        follower.kill()
    board = ledger_json("sla", "list", db=db)
    assert {r["ticket_id"] for r in board["timers"]} == {"T-1"}
