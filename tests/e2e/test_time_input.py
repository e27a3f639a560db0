"""Times as people say them on the command line (dates, -1d, yesterday, --tz), and
instants shown in the zone asked for while JSON stays in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import T0, Envelopes

M = timedelta(minutes=1)


@pytest.fixture
def story_db(tmp_path: Path) -> Path:
    """C-1 (calendar Europe/Berlin) with a Sev1 T-1 opened 2026-03-02 09:00Z, answered at
    09:10Z, and a Sev2 T-2 opened two days later (never answered)."""
    env = Envelopes()
    lines = [
        env.customer("C-1", at=T0 - timedelta(days=1)),
        env.ticket("T-1", at=T0),
        env.make("ticket.responded", "T-1", {"public": True, "message": "on it"}, at=T0 + 10 * M),
        env.ticket("T-2", at=T0 + timedelta(days=2), severity=2, category="partial_outage"),
    ]
    db = tmp_path / "ledger.db"
    assert (
        ledger_json("ingest", str(write_jsonl(tmp_path / "s.jsonl", lines)), db=db)["accepted"] == 4
    )
    return db


def _board(db: Path, *args: str) -> list[dict[str, Any]]:
    board = ledger_json("replay", "board", *args, db=db)
    return board["timers"] if isinstance(board, dict) else board  # type: ignore[no-any-return]


def test_a_date_is_midnight_in_utc_or_in_tz(story_db: Path) -> None:
    # T-2 opened 2026-03-04 09:00Z: at Berlin's midnight of the 4th (23:00Z on the 3rd) it
    # is not there yet, nor at UTC's midnight; at the 5th it is.
    assert _board(story_db, "--as-of", "2026-03-04") == _board(
        story_db, "--as-of", "2026-03-04T00:00:00Z"
    )
    berlin = _board(story_db, "--as-of", "2026-03-04", "--tz", "Europe/Berlin")
    assert berlin == _board(story_db, "--as-of", "2026-03-03T23:00:00Z")
    assert berlin != _board(story_db, "--as-of", "2026-03-04T00:00:00Z")  # a timer ran on
    assert {r["ticket_id"] for r in _board(story_db, "--as-of", "2026-03-05")} == {"T-1", "T-2"}


def test_relative_forms_count_from_the_wall_clock(story_db: Path) -> None:
    before = datetime.now(UTC)
    replayed = ledger_json("replay", "T-1", "--as-of", "-1d", db=story_db)
    after = datetime.now(UTC)
    as_of = datetime.fromisoformat(replayed["as_of"])
    assert before - timedelta(days=1) <= as_of <= after - timedelta(days=1)
    today = datetime.fromisoformat(
        ledger_json("replay", "T-1", "--as-of", "today", db=story_db)["as_of"]
    )
    assert today == datetime.combine(after.date(), datetime.min.time(), UTC) or (
        today == datetime.combine(before.date(), datetime.min.time(), UTC)
    )
    yesterday = ledger_json("replay", "T-1", "--as-of", "yesterday", db=story_db)["as_of"]
    assert datetime.fromisoformat(yesterday) == today - timedelta(days=1)


def test_from_and_to_take_the_same_forms_and_from_after_to_is_an_error(story_db: Path) -> None:
    window = ledger_json("metrics", "--from", "2026-03-04", "--to", "2026-03-05", db=story_db)
    assert window["tickets_opened"] == 1  # T-2 only
    wrong = ledger("metrics", "--from", "2026-03-05", "--to", "2026-03-04", db=story_db)
    assert wrong.returncode == 1
    assert "--from 2026-03-05" in wrong.stderr and "--to 2026-03-04" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    trail = story_db.parent / "trail"
    wrong = ledger(
        "export",
        "--out",
        str(trail),
        "--from",
        "today",
        "--to",
        "-1d",
        "--purpose",
        "x",
        db=story_db,
    )
    assert wrong.returncode == 1 and "--from today" in wrong.stderr and "--to -1d" in wrong.stderr
    assert not trail.exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("sla", "list", "--as-of", "next tuesday"), "--as-of"),
        (("sla", "show", "T-1", "--known-at", "1d"), "--known-at"),
        (("metrics", "--from", "03/01/2026"), "--from"),
        (("replay", "T-1", "--as-of", "2026-03-02T10:00"), "--as-of"),
    ],
)
def test_a_bad_time_is_one_line_naming_the_option_and_the_forms(
    story_db: Path, args: tuple[str, ...], option: str
) -> None:
    result = ledger(*args, db=story_db)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"error: {option} " in result.stderr
    assert "2026-03-16" in result.stderr and "-1d" in result.stderr and "now" in result.stderr


def test_a_bad_zone_is_one_line_naming_tz(story_db: Path) -> None:
    result = ledger("sla", "list", "--tz", "Europe/Atlantis", db=story_db)
    assert result.returncode == 1 and "--tz 'Europe/Atlantis'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    board = ledger("sla", "list", "--tz", "customer", db=story_db)
    assert board.returncode == 1 and "--tz customer" in board.stderr


def test_tz_shows_instants_in_the_zone_and_json_stays_utc(story_db: Path) -> None:
    # The first response timer of T-1 started at 09:00Z: 10:00 in Berlin (CET, +01:00).
    utc = ledger("sla", "show", "T-1", "--as-of", "2026-03-03", db=story_db).stdout
    assert "2026-03-02 09:00:00Z" in utc and "times in UTC" in utc
    for zone in ("Europe/Berlin", "customer"):  # C-1's calendar is in Europe/Berlin
        shown = ledger(
            "sla", "show", "T-1", "--as-of", "2026-03-03", "--tz", zone, db=story_db
        ).stdout
        assert "2026-03-02 10:00:00+01:00" in shown and "times in Europe/Berlin" in shown
        assert "09:00:00Z" not in shown
    tokyo = ledger("ticket", "show", "T-1", "--tz", "Asia/Tokyo", db=story_db).stdout
    assert "2026-03-02 18:00:00+09:00" in tokyo  # opened, in the trail
    as_json = ledger_json(
        "replay", "T-1", "--as-of", "2026-03-03", "--tz", "Asia/Tokyo", db=story_db
    )
    assert as_json["as_of"] == "2026-03-02T15:00:00+00:00"  # midnight in Tokyo, said in UTC
    assert all(t["started_at"].endswith("+00:00") for t in as_json["timers"])


def test_tz_customer_of_a_ticket_uses_its_customers_calendar(tmp_path: Path) -> None:
    env = Envelopes()
    lines = [
        env.customer("C-7", at=T0 - timedelta(days=1), calendar={"timezone": "America/New_York"}),
        env.ticket("T-7", at=T0, customer_id="C-7"),
    ]
    db = tmp_path / "ledger.db"
    ledger_json("ingest", str(write_jsonl(tmp_path / "s.jsonl", lines)), db=db)
    shown = ledger("escalations", "T-7", "--tz", "customer", db=db)
    assert shown.returncode == 0, shown.stderr
    assert "times in America/New_York" in shown.stdout
    health = ledger("health", "C-7", "--as-of", "2026-03-03", "--tz", "customer", db=db)
    assert "2026-03-03 00:00:00-05:00" in health.stdout  # midnight in New York
    unknown = ledger("sla", "show", "T-404", "--tz", "customer", db=db)
    assert unknown.returncode == 1 and "T-404" in unknown.stderr
