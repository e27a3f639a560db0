"""SLA timers as a pure fold (R-SLA-1..5): worked examples on the default policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.policy import DEFAULT_TARGETS
from ledger.aggregates.ticket import Ticket
from ledger.projections import sla

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
        timers = sla.initial(CALENDAR, {1: DEFAULT_TARGETS})
        for event in self.ticket.pending_events:
            assert isinstance(event, LedgerEvent)
            if event.occurred_at <= as_of:
                timers = sla.evolve(timers, event)
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
        "measured",
    )
    assert resolution["elapsed_seconds"] == 50 * 60


def test_system_breach_events_change_nothing() -> None:
    story = Story(T0, 1, "platform_down")
    before = story.rows(T0 + 90 * M)
    story.ticket.record_breach(story.meta(T0 + 60 * M, "system"), "first_response", T0 + 60 * M, 1)
    assert story.rows(T0 + 90 * M) == before


# Pauses and re-targets (R-SLA-3, R-SLA-4) ------------------------------------------------

Z = UTC
MON = datetime(2026, 6, 1, tzinfo=Z)  # a Monday in CEST: 08:30Z is 10:30 in Berlin


def at(hour: int, minute: int = 0) -> datetime:
    return MON.replace(hour=hour, minute=minute)


def _waiting_after_the_due_instant() -> Story:
    """Sev1 answered 10:10Z (update due 11:10Z), waiting on the customer 12:00Z-13:00Z."""
    story = Story(at(10), 1, "platform_down")
    story.do(at(10, 10), "respond", True, "on it")
    story.do(at(12), "change_status", "waiting_on_customer")
    return story


def test_a_target_passed_before_a_pause_stays_passed() -> None:
    story = _waiting_after_the_due_instant()
    story.do(at(13), "change_status", "in_progress")
    for as_of in (at(11, 11), at(12, 30), at(13), at(13, 30), at(20)):
        update = story.rows(as_of)["update"][0]
        assert (update["state"], update["due_at"], update["breached_at"]) == (
            "breached",
            at(11, 10),
            at(11, 10),
        ), as_of


def test_an_update_during_a_pause_does_not_meet_a_target_already_passed() -> None:
    story = _waiting_after_the_due_instant()
    story.do(at(12, 30), "post_update", "still looking")
    story.do(at(13), "change_status", "in_progress")
    first, second = story.rows(at(13, 30))["update"]
    assert (first["state"], first["breached_at"], first["stopped_at"]) == (
        "breached",
        at(11, 10),
        at(12, 30),
    )
    # The next interval starts paused (still waiting) and counts from 13:00Z.
    assert (second["state"], second["due_at"], second["paused_seconds"]) == (
        "running",
        at(14),
        30 * 60,
    )


def test_a_pause_beginning_exactly_at_the_due_instant_defers_it_to_the_pause_end() -> None:
    story = Story(at(10), 1, "platform_down")
    story.do(at(10, 10), "respond", True, "on it")
    story.do(at(11, 10), "change_status", "waiting_on_customer")  # nothing left, not passed
    assert story.rows(at(11, 30))["update"][0]["state"] == "paused"
    story.do(at(11, 40), "change_status", "in_progress")
    assert story.rows(at(11, 40))["update"][0]["due_at"] == at(11, 40)
    later = story.rows(at(11, 41))["update"][0]
    assert (later["state"], later["breached_at"]) == ("breached", at(11, 40))


def test_retarget_during_a_pause_counts_only_the_time_before_it() -> None:
    story = Story(at(8), 2, "partial_outage")
    story.do(at(8, 30), "respond", True, "on it")  # 10:30 in Berlin: business time
    story.do(at(8, 40), "change_status", "waiting_on_customer")  # 10 minutes counted
    story.do(at(10), "triage", 1, "platform_down", "all tenants down")
    at_change = story.rows(at(10))["update"][0]
    assert (at_change["severity"], at_change["state"], at_change["breached_at"]) == (
        1,
        "paused",
        None,
    )
    # Paused, ``due_at`` is the pause start plus the 50 minutes left: not a deadline.
    assert at_change["due_at"] == at(8, 40) + 50 * M
    story.do(at(10, 30), "change_status", "in_progress")
    resumed = story.rows(at(10, 30))["update"][0]
    assert (resumed["state"], resumed["due_at"]) == ("running", at(11, 20))
    assert story.rows(at(11, 20))["update"][0]["state"] == "running"
    late = story.rows(at(11, 21))["update"][0]
    assert (late["state"], late["breached_at"]) == ("breached", at(11, 20))


def test_retarget_during_a_pause_breaches_at_the_change_when_already_over() -> None:
    story = Story(at(8), 2, "partial_outage")
    story.do(at(8, 30), "respond", True, "on it")
    story.do(at(9, 45), "change_status", "waiting_on_customer")  # 75 minutes counted
    story.do(at(10), "triage", 1, "platform_down", "all tenants down")
    update = story.rows(at(10))["update"][0]
    assert (update["state"], update["due_at"], update["breached_at"]) == (
        "breached",
        at(9, 30),
        at(10),
    )
    story.do(at(10, 30), "change_status", "in_progress")
    assert story.rows(at(12))["update"][0]["breached_at"] == at(10)
