"""SLA timers as a pure fold (R-SLA-1..5): worked examples on the default policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.policy import DEFAULT_TARGETS
from ledger.aggregates.ticket import Ticket
from ledger.projections.sla import TicketTimers

BERLIN = ZoneInfo("Europe/Berlin")
CALENDAR = BusinessCalendar("Europe/Berlin")


class Story:
    """Drives a Ticket and folds its events into the timers."""

    def __init__(self, opened_at: datetime, severity: int, category: str) -> None:
        self.n = 0
        self.ticket = Ticket.open(
            "T-1",
            self.meta(opened_at, "customer"),
            customer_tier="enterprise",
            policy_version=1,
            customer_id="C-1",
            channel="support_portal",
            title="t",
            description="d",
            severity=severity,
            category=category,
        )

    def meta(self, at: datetime, role: str = "support_engineer") -> EventMeta:
        self.n += 1
        return EventMeta(f"e{self.n}", at, "se-ana", role, "test", at)

    def do(self, at: datetime, command: str, *args: Any, role: str = "support_engineer") -> None:
        getattr(self.ticket, command)(self.meta(at, role), *args)

    def rows(self, as_of: datetime) -> dict[str, list[dict[str, Any]]]:
        timers = TicketTimers(CALENDAR, {1: DEFAULT_TARGETS})
        for event in self.ticket.pending_events:
            assert isinstance(event, LedgerEvent)
            if event.occurred_at <= as_of:
                timers.evolve(event)
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for row in timers.rows(as_of):
            by_kind.setdefault(row["timer"], []).append(row)
        return by_kind


T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def test_sev1_first_response_and_hourly_updates() -> None:
    story = Story(T0, 1, "platform_down")
    story.do(T0 + 30 * M, "respond", True, "on it")
    story.do(T0 + 80 * M, "post_update", "still on it")
    rows = story.rows(T0 + 200 * M)
    first = rows["first_response"][0]
    assert (first["state"], first["due_at"], first["stopped_at"]) == (
        "met",
        T0 + 60 * M,
        T0 + 30 * M,
    )
    updates = rows["update"]
    assert [u["state"] for u in updates] == ["met", "breached"]
    assert updates[1]["due_at"] == T0 + 140 * M
    assert updates[1]["breached_at"] == T0 + 140 * M
    # Before the due instant the same interval is still running.
    assert story.rows(T0 + 139 * M)["update"][1]["state"] == "running"


def test_private_or_customer_responses_do_not_count() -> None:
    story = Story(T0, 1, "platform_down")
    story.do(T0 + 10 * M, "respond", False, "internal note")
    story.do(T0 + 20 * M, "respond", True, "me too", role="customer")
    first = story.rows(T0 + 61 * M)["first_response"][0]
    assert (first["state"], first["breached_at"]) == ("breached", T0 + 60 * M)


def test_sev3_opened_saturday_is_due_monday_five_pm_berlin() -> None:
    saturday = datetime(2026, 3, 28, 10, tzinfo=BERLIN)
    story = Story(saturday, 3, "feature_issue")
    monday_four = datetime(2026, 3, 30, 16, tzinfo=BERLIN)
    story.do(monday_four, "respond", True, "here is how")
    first = story.rows(monday_four)["first_response"][0]
    assert first["due_at"] == datetime(2026, 3, 30, 17, tzinfo=BERLIN)
    assert first["state"] == "met"
    assert "update" not in story.rows(monday_four)  # Sev3 has no cadence


def test_severity_change_retargets_and_breaches_at_the_change() -> None:
    monday_nine = datetime(2026, 6, 1, 9, tzinfo=BERLIN)
    story = Story(monday_nine, 3, "feature_issue")
    change = monday_nine + timedelta(hours=2)
    story.do(change, "triage", 1, "platform_down", "all tenants down")
    first = story.rows(change + M)["first_response"][0]
    assert first["severity"] == 1
    assert (first["state"], first["breached_at"]) == ("breached", change)


def test_upgrade_in_time_gets_the_new_target() -> None:
    story = Story(T0, 3, "feature_issue")
    story.do(T0 + 10 * M, "triage", 2, "partial_outage", "one region down")
    first = story.rows(T0 + 11 * M)["first_response"][0]
    assert (first["due_at"], first["state"]) == (T0 + 4 * 60 * M, "running")


def test_waiting_on_customer_pauses_updates() -> None:
    story = Story(T0, 1, "platform_down")
    story.do(T0, "respond", True, "on it")
    story.do(T0 + 30 * M, "change_status", "waiting_on_customer")
    assert story.rows(T0 + 100 * M)["update"][0]["state"] == "paused"
    story.do(T0 + 150 * M, "change_status", "in_progress")
    update = story.rows(T0 + 151 * M)["update"][0]
    assert update["due_at"] == T0 + 180 * M
    assert update["paused_seconds"] == 120 * 60
    assert update["state"] == "running"


def test_resolution_stops_everything_and_is_measured() -> None:
    story = Story(T0, 1, "platform_down")
    story.do(T0 + 30 * M, "respond", True, "on it")
    story.do(T0 + 50 * M, "resolve", "fixed")
    rows = story.rows(T0 + 10 * 60 * M)
    assert rows["update"][0]["state"] == "met"
    resolution = rows["resolution"][0]
    assert (resolution["stopped_at"], resolution["due_at"], resolution["state"]) == (
        T0 + 50 * M,
        None,
        "met",
    )


def test_system_breach_events_change_nothing() -> None:
    story = Story(T0, 1, "platform_down")
    before = story.rows(T0 + 90 * M)
    story.ticket.record_breach(story.meta(T0 + 60 * M, "system"), "first_response", T0 + 60 * M, 1)
    assert story.rows(T0 + 90 * M) == before
