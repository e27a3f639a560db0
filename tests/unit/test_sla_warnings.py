"""Pre-breach warnings (R-SLA-7) as the SLA fold computes them, and which exception a
ticket runs under (R-EXC): worked examples whose instants are worked out by hand in the
comments, on the 24x7 clock and across a business calendar's closed hours and holiday."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.calendar import WEEKDAYS, BusinessCalendar, CalendarHistory, Target
from ledger.aggregates.customer import SlaException, exception_in_force
from ledger.aggregates.policy import DEFAULT_TARGETS
from ledger.aggregates.ticket import Ticket
from ledger.projections import sla
from ledger.projections.sla import sla_board, warned_by
from schemas import WireError, parse_envelope
from tests.unit.test_schemas import envelope
from tests.unit.test_sla_properties import (
    ACTIONS,
    OPENINGS,
    PROPERTY,
    Step,
    _history,
    _steps,
)

T0 = datetime(2026, 6, 1, 9, 50, tzinfo=UTC)  # a Monday
M = timedelta(minutes=1)
BERLIN = BusinessCalendar("Europe/Berlin")  # Mon-Fri 09:00-17:00, CEST (+02:00) in June


class Story:
    """A ticket driven through its commands, its events folded into the timers."""

    def __init__(
        self,
        opened_at: datetime,
        severity: int = 1,
        category: str = "platform_down",
        targets: dict[str, Any] | None = None,
        calendar: BusinessCalendar | CalendarHistory = BERLIN,
        exceptions: tuple[SlaException, ...] = (),
    ) -> None:
        self.n = 0
        self.calendar = calendar
        self.targets = targets or DEFAULT_TARGETS
        self.exceptions = exceptions
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

    def respond(self, at: datetime) -> None:
        self.ticket.respond(self.meta(at), public=True, message="on it")

    def update(self, at: datetime) -> None:
        self.ticket.post_update(self.meta(at), message="still on it")

    def status(self, at: datetime, status: str) -> None:
        self.ticket.change_status(self.meta(at), status=status)

    def triage(self, at: datetime, severity: int, category: str) -> None:
        self.ticket.triage(self.meta(at), severity=severity, category=category, reason="re-triage")

    def state(self, as_of: datetime) -> sla.TicketTimers:
        timers = sla.initial(self.calendar, {1: self.targets}, self.exceptions)
        for event in self.ticket.pending_events:
            assert isinstance(event, LedgerEvent)
            if event.occurred_at <= as_of:
                timers = sla.evolve(timers, event)
        return timers

    def timers(self, as_of: datetime, kind: str = "update") -> list[dict[str, Any]]:
        return [r for r in self.state(as_of).rows(as_of) if r["timer"] == kind]

    def records(self, as_of: datetime, kind: str = "update") -> list[dict[str, Any]]:
        return [r for r in self.state(as_of).records() if r["timer"] == kind]


def test_a_sev1_update_interval_started_at_10_warns_at_10_30_and_is_due_at_11() -> None:
    story = Story(T0)
    story.respond(T0 + 10 * M)  # 10:00Z: the first response starts the update interval
    at = T0 + 10 * M
    (before,) = story.timers(at + 29 * M)
    assert (before["warn_at"], before["due_at"]) == (at + 30 * M, at + 60 * M)
    assert not before["warned"] and before["state"] == "running"
    (warned,) = story.timers(at + 30 * M)  # warned from the instant the threshold runs out
    assert warned["warned"] and warned["state"] == "running"
    assert warned["time_left"] == 30 * 60
    (breached,) = story.timers(at + 61 * M)  # breached, not warned
    assert breached["state"] == "breached" and not breached["warned"]
    # The warning happened all the same: the tick writes it, whatever came after.
    (record,) = story.records(at + 61 * M)
    assert warned_by(record, at + 61 * M)
    assert record["warn_due_at"] == at + 60 * M
    # The first response timer has no threshold in policy version 1.
    (first,) = story.timers(at, "first_response")
    assert first["warn_at"] is None and not first["warned"]


def test_an_update_before_or_exactly_at_the_threshold_gets_no_warning() -> None:
    story = Story(T0)
    start = T0 + 10 * M
    story.respond(start)
    story.update(start + 25 * M)  # in time: no warning; the next interval starts
    story.update(start + 25 * M + 30 * M)  # exactly at the next interval's warn_at
    first, second, third = story.records(start + 2 * 60 * M)
    assert first["warn_at"] == start + 30 * M and not warned_by(first, start + 2 * 60 * M)
    assert second["warn_at"] == start + 55 * M and not warned_by(second, start + 2 * 60 * M)
    assert third["warn_at"] == start + 85 * M and warned_by(third, start + 85 * M)
    board = sla_board(story.state(start + 2 * 60 * M).records(), start + 2 * 60 * M, warned=True)
    assert board == []  # the third is breached by then (due start+115m): not listed


def test_a_pause_covering_the_threshold_delays_it_like_the_due_instant() -> None:
    story = Story(T0)
    start = T0 + 10 * M  # 10:00Z
    story.respond(start)
    story.status(start + 20 * M, "waiting_on_customer")  # 20 minutes counted
    story.status(start + 50 * M, "in_progress")  # 10 more after 10:50: warned at 11:00
    (paused,) = story.timers(start + 40 * M)
    assert paused["state"] == "paused" and not paused["warned"]
    # While paused, warn_at is where the threshold stood when the clock stopped.
    assert paused["warn_at"] == start + 30 * M
    (resumed,) = story.timers(start + 59 * M)
    assert (resumed["warn_at"], resumed["due_at"]) == (start + 60 * M, start + 90 * M)
    assert not resumed["warned"]
    (warned,) = story.timers(start + 60 * M)
    assert warned["warned"] and warned["state"] == "running"
    (record,) = story.records(start + 60 * M)
    assert record["warn_due_at"] == start + 90 * M


def test_a_threshold_passed_before_a_pause_stays_passed() -> None:
    story = Story(T0)
    start = T0 + 10 * M
    story.respond(start)
    story.status(start + 40 * M, "waiting_on_customer")
    (paused,) = story.timers(start + 45 * M)
    assert paused["state"] == "paused" and paused["warned"]
    assert paused["warn_at"] == start + 30 * M


def test_business_clock_threshold_across_a_weekend_and_a_holiday() -> None:
    """Sev2 updates every business day (8 h), warned after 6 business hours, on a Berlin
    calendar closed on Monday 2026-06-08 (a holiday). The interval starts Friday
    2026-06-05 15:00 local: 2 hours run that Friday (to 17:00), none at the weekend or on
    the holiday, so the remaining 4 run Tuesday from 09:00: warned Tuesday 13:00 local
    (11:00Z); the other 2 of the 8: due Tuesday 15:00 local (13:00Z)."""
    targets = copy.deepcopy(DEFAULT_TARGETS)
    targets["2"]["update_every"] = {"duration": "P1D", "clock": "business", "warn_after": "PT6H"}
    calendar = BusinessCalendar("Europe/Berlin", holidays=frozenset({date(2026, 6, 8)}))
    opened = datetime(2026, 6, 5, 12, 0, tzinfo=UTC)  # Friday 14:00 local
    story = Story(opened, 2, "partial_outage", targets, calendar)
    story.respond(datetime(2026, 6, 5, 13, 0, tzinfo=UTC))  # Friday 15:00 local
    tuesday_11z = datetime(2026, 6, 9, 11, 0, tzinfo=UTC)
    (timer,) = story.timers(tuesday_11z - M)
    assert timer["warn_at"] == tuesday_11z and not timer["warned"]
    assert timer["due_at"] == datetime(2026, 6, 9, 13, 0, tzinfo=UTC)
    (timer,) = story.timers(tuesday_11z)
    assert timer["warned"] and timer["state"] == "running"


def test_a_business_clock_threshold_counts_on_the_calendar_history() -> None:
    """The interval of the example above, starting Friday 2026-06-05 15:00 local, on a
    calendar with no holiday: 2 hours that Friday, 4 more Monday from 09:00, so warned
    Monday 13:00 local (11:00Z), due Monday 15:00 local (13:00Z).

    Approved on Saturday, Monday 2026-06-08 made a holiday (effective Monday 00:00
    local, R-CAL): the threshold and the due instant move to Tuesday, 13:00 and 15:00
    local, as on a calendar that always had the holiday.

    Approved instead on Monday at 13:30 local, after the warning: closing at 14:00 from
    Monday 14:00 local on. The warning stands (11:00Z), and so does the due instant as it
    stood then (13:00Z), while the open interval's due instant moves: Monday 13-14 (1 h),
    Tuesday 09-10 (the last hour), due Tuesday 10:00 local (08:00Z)."""
    targets = copy.deepcopy(DEFAULT_TARGETS)
    targets["2"]["update_every"] = {"duration": "P1D", "clock": "business", "warn_after": "PT6H"}
    opened = datetime(2026, 6, 5, 12, 0, tzinfo=UTC)  # Friday 14:00 local
    started = datetime(2026, 6, 5, 13, 0, tzinfo=UTC)  # Friday 15:00 local
    monday_11z = datetime(2026, 6, 8, 11, 0, tzinfo=UTC)

    def timer(calendar: BusinessCalendar | CalendarHistory) -> dict[str, Any]:
        story = Story(opened, 2, "partial_outage", targets, calendar)
        story.respond(started)
        (record,) = story.records(started)
        return record

    plain = timer(BERLIN)
    assert (plain["warn_at"], plain["due_at"]) == (monday_11z, monday_11z + 2 * 60 * M)

    holiday = BusinessCalendar("Europe/Berlin", holidays=frozenset({date(2026, 6, 8)}))
    monday = datetime(2026, 6, 7, 22, 0, tzinfo=UTC)  # Monday 00:00 local
    saturday = datetime(2026, 6, 6, 8, 0, tzinfo=UTC)
    moved = timer(CalendarHistory.of(BERLIN).approved(holiday, monday, saturday))
    tuesday_11z = monday_11z + timedelta(days=1)
    assert (moved["warn_at"], moved["due_at"]) == (tuesday_11z, tuesday_11z + 2 * 60 * M)
    assert moved["warn_due_at"] == tuesday_11z + 2 * 60 * M
    assert (moved["calendar_version"], moved["calendar_version_end"]) == (1, 2)

    short = BusinessCalendar("Europe/Berlin", {d: (time(9), time(14)) for d in WEEKDAYS[:5]})
    later = CalendarHistory.of(BERLIN).approved(short, monday_11z + 60 * M, monday_11z + 30 * M)
    after = timer(later)
    assert after["warn_at"] == monday_11z
    assert after["warn_due_at"] == monday_11z + 2 * 60 * M  # as it stood at the warning
    assert after["due_at"] == datetime(2026, 6, 9, 8, 0, tzinfo=UTC)
    assert warned_by(after, monday_11z) and not warned_by(after, monday_11z - M)


def test_a_re_target_warns_at_the_change_when_the_new_threshold_is_behind_it() -> None:
    """Sev2 answered 10:00Z (no threshold on its business-day cadence); re-triaged to Sev1
    at 10:40Z: 40 minutes counted on the 24x7 clock, past Sev1's 30: warned at 10:40,
    due 11:00 (R-SLA-4 holds the counted time against the new target)."""
    story = Story(T0, 2, "partial_outage")
    start = T0 + 10 * M
    story.respond(start)
    story.triage(start + 40 * M, 1, "platform_down")
    (timer,) = story.timers(start + 41 * M)
    assert (timer["warn_at"], timer["due_at"]) == (start + 40 * M, start + 60 * M)
    assert timer["warned"] and timer["severity"] == 1


def test_a_warning_that_happened_stands_after_a_re_target() -> None:
    story = Story(T0)
    start = T0 + 10 * M
    story.respond(start)
    story.triage(start + 45 * M, 2, "partial_outage")  # warned at 10:30, then Sev2
    (timer,) = story.timers(start + 50 * M)
    assert timer["warn_at"] == start + 30 * M and timer["warned"] and timer["severity"] == 2


def test_a_ticket_opened_under_an_exception_runs_under_its_targets_for_life() -> None:
    """An exception approved for 2026-06-01 .. 2026-06-02 with a 2-hour Sev1 first
    response and 2-hourly updates warned at 90 minutes."""
    exception = SlaException(
        "EXC-1",
        datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2026, 6, 2, tzinfo=UTC),
        {
            "1": {
                "first_response": {"duration": "PT2H", "clock": "24x7"},
                "update_every": {"duration": "PT2H", "clock": "24x7", "warn_after": "PT90M"},
            }
        },
    )
    story = Story(T0, exceptions=(exception,))
    (first,) = story.timers(T0, "first_response")
    assert first["due_at"] == T0 + 120 * M and first["exception_id"] == "EXC-1"
    story.respond(T0 + 60 * M)
    (update,) = story.timers(T0 + 60 * M)
    assert (update["warn_at"], update["due_at"]) == (T0 + 150 * M, T0 + 180 * M)
    # Past expires_at the ticket keeps it: the next interval still runs 2 hours.
    story.update(datetime(2026, 6, 2, 1, 0, tzinfo=UTC))
    latest = story.timers(datetime(2026, 6, 2, 1, 0, tzinfo=UTC))[-1]
    assert latest["due_at"] == datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
    assert latest["exception_id"] == "EXC-1"
    # A severity it does not name keeps the policy's targets.
    story.triage(datetime(2026, 6, 2, 1, 30, tzinfo=UTC), 2, "partial_outage")
    assert story.state(datetime(2026, 6, 2, 2, 0, tzinfo=UTC)).targets["2"] == DEFAULT_TARGETS["2"]
    after = Story(datetime(2026, 6, 2, tzinfo=UTC), exceptions=(exception,))  # at expires_at
    (first,) = after.timers(datetime(2026, 6, 2, tzinfo=UTC), "first_response")
    assert first["due_at"] == datetime(2026, 6, 2, 1, 0, tzinfo=UTC)
    assert first["exception_id"] is None


def test_the_exception_in_force_is_the_one_effective_latest() -> None:
    day = datetime(2026, 6, 1, tzinfo=UTC)
    wide = SlaException("A", day, day + timedelta(days=30), {})
    narrow = SlaException("B", day + timedelta(days=10), day + timedelta(days=20), {})
    assert exception_in_force((wide, narrow), day + timedelta(days=5)) is wide
    assert exception_in_force((wide, narrow), day + timedelta(days=10)) is narrow
    assert exception_in_force((wide, narrow), day + timedelta(days=20)) is wide
    assert exception_in_force((wide, narrow), day + timedelta(days=30)) is None
    assert exception_in_force((wide, narrow), day - timedelta(seconds=1)) is None
    again = SlaException("C", day, day + timedelta(days=30), {})
    assert exception_in_force((wide, again), day) is again  # a tie: the one approved last


def test_a_threshold_that_would_not_come_first_on_a_short_business_day_is_none() -> None:
    target = Target("P1D", "business", "PT5H")
    assert target.warn_length(BusinessCalendar()) == timedelta(hours=5)
    assert target.warn_length(BusinessCalendar(hours_per_business_day=4)) is None
    assert Target("PT1H", "24x7").warn_length(BusinessCalendar()) is None


@pytest.mark.parametrize(
    ("target", "accepted"),
    [
        ({"duration": "PT1H", "clock": "24x7", "warn_after": "PT30M"}, True),
        ({"duration": "PT1H", "clock": "24x7", "warn_after": "PT59M59S"}, True),
        ({"duration": "PT1H", "clock": "24x7", "warn_after": "PT1H"}, False),
        ({"duration": "PT1H", "clock": "24x7", "warn_after": "PT2H"}, False),
        ({"duration": "P1D", "clock": "24x7", "warn_after": "PT23H"}, True),
        ({"duration": "P1D", "clock": "business", "warn_after": "PT7H"}, True),
        ({"duration": "P1D", "clock": "business", "warn_after": "PT8H"}, False),
        ({"duration": "PT1H", "clock": "24x7", "warn_after": None}, True),
        ({"duration": "PT1H", "clock": "24x7", "warn_after": "PT0S"}, False),
        ({"duration": "PT1H", "clock": "24x7", "warn_after": "P999999W"}, False),
    ],
)
def test_warn_after_is_a_positive_duration_shorter_than_its_target(
    target: dict[str, Any], accepted: bool
) -> None:
    data = {
        "proposal_id": "P-1",
        "targets": {"1": {"first_response": {"duration": "PT1H", "clock": "24x7"}}},
        "effective_at": "2026-06-01T00:00:00Z",
    }
    data["targets"]["1"]["update_every"] = target
    document = envelope("sla_policy.change_proposed", data)
    if accepted:
        parse_envelope(document)
        return
    with pytest.raises(WireError) as caught:
        parse_envelope(document)
    assert (caught.value.rule, caught.value.field) == (
        "R-WIRE-2",
        "data.targets.1.update_every.warn_after",
    )


# Properties over random histories (the helpers of tests/unit/test_sla_properties.py) ------


@PROPERTY
@given(
    opened_at=st.sampled_from(OPENINGS),
    severity=st.integers(1, 4),
    steps=_steps(ACTIONS),
)
def test_a_warning_never_moves_once_it_happened(
    opened_at: datetime, severity: int, steps: list[Step]
) -> None:
    """Once an interval is warned as of T, it is warned as of every later instant, at the
    same ``warn_at`` (the tick's event id is derived from it), whatever comes after:
    stops, pauses, re-targets. A breached timer is never shown warned."""
    history = _history(opened_at, severity, steps)
    happened: dict[int, datetime] = {}
    for at in history.instants():
        for record in history.fold(at).records():
            if record["started_at"] > at:
                continue
            seq = record["seq"]
            if seq in happened:
                assert warned_by(record, at) and record["warn_at"] == happened[seq], (seq, at)
            elif warned_by(record, at):
                happened[seq] = record["warn_at"]
        for row in history.rows(at).values():
            assert not (row["warned"] and row["state"] == "breached")


@PROPERTY
@given(opened_at=st.sampled_from(OPENINGS), steps=_steps(("respond", "update", "wait", "resume")))
def test_a_sev1_update_is_warned_when_30_minutes_have_been_counted(
    opened_at: datetime, steps: list[Step]
) -> None:
    """On the 24x7 clock, counted by hand: an update interval that was warned had run,
    pauses excluded, exactly 30 minutes at its ``warn_at``, which lies in no pause."""
    history = _history(opened_at, 1, steps)
    end = history.instants()[-1]
    state = history.fold(end)
    for seq, interval in enumerate(state.intervals):
        record = {**state.records()[seq]}
        if interval.kind != "update" or not warned_by(record, end):
            continue
        warn_at = record["warn_at"]
        paused = timedelta(0)
        for start, stop in interval.pauses:
            stop = stop or end
            assert not start < warn_at < stop  # not inside a pause
            paused += max(min(stop, warn_at) - max(start, interval.started_at), timedelta(0))
        assert warn_at - interval.started_at - paused == 30 * M
