"""One time model for every query, and rejected inputs where people look: a hand-built
ledger asked as a user asks it (a real process, a real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.settings import Database
from tests.conftest import PG_URL
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
PLUS_ONE = timezone(timedelta(hours=1))


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


class Story:
    """C-1 onboarded; T-9 opened Sev1 at 09:00 (first file); then, in a second file,
    triaged to Sev2 at 09:30, an escalation skipping a tier at 09:40 (rejected,
    R-ESC-1), a public response at 09:50, waiting on the customer from 10:00; and T-10
    opened through chat (rejected, R-IN-1)."""

    def __init__(self, tmp_path: Path, db: Path | str) -> None:
        env = Envelopes()
        self.db = db
        first = [env.customer("C-1", at=T0 - timedelta(days=1)), env.ticket("T-9", at=T0)]
        self.escalation = env.make(
            "ticket.escalated",
            "T-9",
            {"to_tier": "security_infra_lead", "reason": "skip a tier"},
            at=T0 + 40 * M,
        )
        second = [
            env.make(
                "ticket.triaged",
                "T-9",
                {"severity": 2, "category": "partial_outage", "reason": "one region only"},
                at=T0 + 30 * M,
            ),
            self.escalation,
            env.make(
                "ticket.responded", "T-9", {"public": True, "message": "on it"}, at=T0 + 50 * M
            ),
            env.make(
                "ticket.status_changed", "T-9", {"status": "waiting_on_customer"}, at=T0 + 60 * M
            ),
            env.ticket("T-10", at=T0 + 5 * M, channel="chat"),
        ]
        self.env = env
        ledger_json("ingest", str(write_jsonl(tmp_path / "a.jsonl", first)), db=db)
        shown = ledger_json("ticket", "show", "T-9", db=db)
        self.first_recorded: str = shown["trail"][0]["recorded_at"]
        report = ledger_json("ingest", str(write_jsonl(tmp_path / "b.jsonl", second)), db=db)
        assert (report["accepted"], report["rejected_by_rule"]) == (
            3,
            {"R-ESC-1": 1, "R-IN-1": 1},
        )

    def show(self, *args: str) -> Any:
        return ledger_json("ticket", "show", "T-9", *args, db=self.db)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    """One ledger for the tests that only ask (the ingests are the slow part)."""
    path = tmp_path_factory.mktemp("story")
    return Story(path, path / "ledger.db")


def test_ticket_show_as_of_keeps_the_state_of_that_instant(story: Story) -> None:
    early = story.show("--as-of", "2026-03-02T09:20:00Z")
    assert (early["as_of"], early["known_at"]) == ("2026-03-02T09:20:00+00:00", None)
    assert (early["ticket_id"], early["severity"], early["category"]) == ("T-9", 1, "platform_down")
    assert (early["status"], early["first_response_at"], early["version"]) == ("open", None, 1)
    assert [e["type"] for e in early["trail"]] == ["ticket.opened"]
    assert early["rejected"] == []  # the escalation claims 09:40
    first = next(t for t in early["timers"] if t["timer"] == "first_response")
    assert (first["state"], first["due_at"]) == ("running", "2026-03-02T10:00:00+00:00")

    triaged = story.show("--as-of", "2026-03-02T10:45:00+01:00")  # 09:45Z
    assert triaged["as_of"] == "2026-03-02T09:45:00+00:00"
    assert (triaged["severity"], triaged["highest_severity"]) == (2, 1)
    assert (triaged["category"], triaged["status"]) == ("partial_outage", "open")
    assert [e["type"] for e in triaged["trail"]] == ["ticket.opened", "ticket.triaged"]

    now = story.show()
    assert (now["status"], now["severity"], now["version"]) == ("waiting_on_customer", 2, 4)
    assert now["first_response_at"] == "2026-03-02T09:50:00+00:00"
    assert now["known_at"] is None
    assert datetime.fromisoformat(now["as_of"]) > T0 + 60 * M  # now

    # What the ledger knew once the first file was in: the opening alone, no rejection.
    known = story.show("--known-at", story.first_recorded)
    assert known["known_at"] == _utc(story.first_recorded)
    assert (known["severity"], known["status"], known["version"]) == (1, "open", 1)
    assert [e["type"] for e in known["trail"]] == ["ticket.opened"]
    assert known["rejected"] == []


def test_ticket_show_lists_the_rejected_inputs_beside_the_trail(story: Story) -> None:
    (rejected,) = story.show("--as-of", "2026-03-02T09:45:00Z")["rejected"]
    assert {k: rejected[k] for k in ("rejected", "rule", "field", "type", "event_id")} == {
        "rejected": True,
        "rule": "R-ESC-1",
        "field": "data.to_tier",
        "type": "ticket.escalated",
        "event_id": story.escalation["event_id"],
    }
    assert rejected["occurred_at"] == "2026-03-02T09:40:00+00:00"
    assert rejected["origin"] == "b.jsonl:2"
    assert "exactly one tier" in rejected["reason"]
    assert rejected["received_at"].endswith("+00:00")
    assert story.show()["rejected"] == [rejected]
    assert all(e["event_id"] != story.escalation["event_id"] for e in story.show()["trail"])

    shown = ledger("ticket", "show", "T-9", db=story.db)
    assert shown.returncode == 0, shown.stderr
    assert "1 rejected inputs for T-9" in shown.stdout and "R-ESC-1" in shown.stdout

    # A ticket whose opening was rejected: an error that names the rejection.
    missing = ledger("ticket", "show", "T-10", db=story.db)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "error: no ticket T-10 in the ledger; 1 input for T-10 rejected (R-IN-1): "
        "ledger rejects list --subject T-10"
    ]


def test_ticket_show_as_of_between_a_late_breach_and_the_events_before_it(tmp_path: Path) -> None:
    """The tick writes a breach after later events were stored, at an earlier instant:
    as of that instant the breach is visible and the events stored before it are not."""
    story = Story(tmp_path, tmp_path / "ledger.db")
    lines = [
        story.env.ticket("T-11", at=T0 + 60 * M),  # Sev1 at 10:00: first response due 11:00
        story.env.make("ticket.assigned", "T-11", {"assignee": "se-bo"}, at=T0 + 240 * M),
    ]
    ledger_json("ingest", str(write_jsonl(tmp_path / "t11.jsonl", lines)), db=story.db)
    ticked = ledger_json("tick", "--now", (T0 + 300 * M).isoformat(), db=story.db)
    assert ticked["written"]["sla.breached"] == 1
    view = ledger_json("ticket", "show", "T-11", "--as-of", "2026-03-02T12:00:00Z", db=story.db)
    assert [(e["version"], e["type"]) for e in view["trail"]] == [
        (1, "ticket.opened"),
        (3, "sla.breached"),
    ]
    assert (view["assignee"], view["status"], view["version"]) == (None, "open", 3)
    assert ledger_json("ticket", "show", "T-11", db=story.db)["assignee"] == "se-bo"


def test_customer_show_takes_as_of_and_known_at(story: Story) -> None:
    before = ledger("customer", "show", "C-1", "--as-of", "2026-02-28T09:00:00Z", db=story.db)
    assert before.returncode == 1
    assert before.stderr.strip() == (
        "error: no customer C-1 in the ledger as of 2026-02-28T09:00:00+00:00"
    )
    shown = ledger_json(
        "customer", "show", "C-1", "--as-of", "2026-03-01T10:00:00+01:00", db=story.db
    )
    assert (shown["as_of"], shown["known_at"]) == ("2026-03-01T09:00:00+00:00", None)
    assert (shown["customer_id"], shown["status"], shown["version"]) == ("C-1", "active", 1)
    assert [e["type"] for e in shown["trail"]] == ["customer.onboarded"]
    assert shown["rejected"] == []
    known = ledger_json("customer", "show", "C-1", "--known-at", story.first_recorded, db=story.db)
    assert known["known_at"] == _utc(story.first_recorded) and known["success_owner"] == "cs-jo"


LISTS = {("sla", "list"): "timers", ("health",): "customers", ("replay", "board"): "timers"}


@pytest.mark.parametrize(
    "command",
    [
        ("sla", "show", "T-9"),
        ("sla", "list"),
        ("ticket", "show", "T-9"),
        ("customer", "show", "C-1"),
        ("metrics",),
        ("health",),
        ("health", "C-1"),
        ("escalations", "T-9"),
        ("rca", "T-9", "--format", "json"),
        ("replay", "board"),
        ("replay", "T-9"),
        ("actions", "--status", "all"),
        ("insights",),
    ],
)
def test_every_query_answers_with_the_instants_it_was_computed_for(
    story: Story, command: tuple[str, ...]
) -> None:
    known = datetime.fromisoformat(story.first_recorded).astimezone(PLUS_ONE).isoformat()
    answer = ledger_json(
        *command, "--as-of", "2026-03-02T11:00:00+01:00", "--known-at", known, db=story.db
    )
    assert isinstance(answer, dict)
    assert list(answer)[:2] == ["as_of", "known_at"]
    assert answer["as_of"] == "2026-03-02T10:00:00+00:00"
    assert answer["known_at"] == _utc(story.first_recorded)
    if command in LISTS:
        assert isinstance(answer[LISTS[command]], list) and answer[LISTS[command]]


def _listed(db: Path | str, *args: str) -> list[tuple[str, str | None, str | None]]:
    return [
        (r["rule"], r["subject"], r["type"]) for r in ledger_json("rejects", "list", *args, db=db)
    ]


def test_rejects_list_filters_on_sqlite_and_postgres(tmp_path: Path, database: Database) -> None:
    db = database.sqlite_path if database.kind == "sqlite" else f"{PG_URL}?schema={database.schema}"
    story = Story(tmp_path, db)
    later = [
        b"not json at all",
        story.env.make("ticket.resolved", "T-9", {"resolution": "   "}, at=T0 + 70 * M),
    ]
    ledger_json("ingest", str(write_jsonl(tmp_path / "c.jsonl", later)), db=db)
    everything = ledger_json("rejects", "list", db=db)
    assert [r["rule"] for r in everything] == ["R-ESC-1", "R-IN-1", "R-WIRE-1", "R-FIX-1"]
    since = everything[2]["received_at"]  # the third file's batch
    assert since > everything[1]["received_at"]

    assert _listed(db, "--subject", "T-9") == [
        ("R-ESC-1", "T-9", "ticket.escalated"),
        ("R-FIX-1", "T-9", "ticket.resolved"),
    ]
    assert _listed(db, "--subject", "T-9", "--type", "ticket.escalated") == [
        ("R-ESC-1", "T-9", "ticket.escalated")
    ]
    assert _listed(db, "--since", since) == [
        ("R-WIRE-1", None, None),
        ("R-FIX-1", "T-9", "ticket.resolved"),
    ]
    in_berlin = datetime.fromisoformat(since).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert _listed(db, "--since", in_berlin, "--subject", "T-9") == [
        ("R-FIX-1", "T-9", "ticket.resolved")
    ]
    assert _listed(db, "--type", "ticket.opened") == [("R-IN-1", "T-10", "ticket.opened")]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--since", "2026-13-45"), "--since"),
        (("--since", "2026-03-02T10:00:00"), "--since"),
        (("--type", "ticket.opend"), "--type"),
        (("--rule", "IN-1"), "--rule"),
    ],
)
def test_rejects_list_mistakes_are_errors(story: Story, args: tuple[str, ...], option: str) -> None:
    result = ledger("rejects", "list", *args, db=story.db)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {option} ") and "Traceback" not in result.stderr
