"""Effective-dated calendars (R-CAL): the piecewise calendar, the timers on it, the rules.

Worked examples are computed by hand in local time (Europe/Berlin, Mon-Fri 09:00-17:00
unless told); the properties hold a calendar history to the laws a single calendar keeps
(``tests/unit/test_calendar.py``) and to an independent piecewise count.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.calendar import WEEKDAYS, BusinessCalendar, CalendarHistory, Target
from ledger.aggregates.customer import Customer
from ledger.aggregates.rules import RuleViolation
from ledger.aggregates.ticket import Ticket
from ledger.projections import sla
from ledger.projections.registry import EventsBySubject, ticket_rows
from ledger.projections.sla import evaluate_record
from tests.unit.test_calendar import CALENDARS, calendar_and_instant, spans
from tests.unit.test_sla_properties import ACTIONS, CALENDAR, OPENINGS, History, Step, _steps

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
M = timedelta(minutes=1)
OFFICE = BusinessCalendar("Europe/Berlin")
WIRE_OFFICE: dict[str, Any] = {"timezone": "Europe/Berlin"}


def berlin(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


# The piecewise calendar: worked examples ------------------------------------------------


def test_a_holiday_added_for_friday_moves_a_due_instant_that_had_not_come() -> None:
    """Sev3 (one business day, 8 h) opened Thu 17 Dec 10:00: due Fri 10:00 on the old
    calendar. Fri 18 Dec made a holiday from Fri 00:00: Thu 10-17 counts 7 h, Friday
    none, Mon 21 Dec 09-10 the last hour."""
    friday_off = BusinessCalendar("Europe/Berlin", holidays=frozenset({date(2026, 12, 18)}))
    history = CalendarHistory.of(OFFICE).approved(friday_off, berlin(12, 18), berlin(12, 17, 12))
    sev3 = Target("P1D", "business")
    opened = berlin(12, 17, 10)
    assert sev3.due(opened, OFFICE) == berlin(12, 18, 10)
    assert sev3.due(opened, history) == berlin(12, 21, 10)
    # The change counts from its instant on: Thursday is as it was.
    assert history.between(opened, berlin(12, 18)) == 7 * H
    assert history.between(berlin(12, 18), berlin(12, 21, 12)) == 3 * H
    assert history.in_force(berlin(12, 17, 23, 59)).version == 1
    assert history.in_force(berlin(12, 18)).version == 2
    # Known by the approval's instant only: before it, the old calendar alone.
    assert history.known_by(berlin(12, 17, 11, 59)) == CalendarHistory.of(OFFICE)
    assert history.known_by(berlin(12, 17, 12)) == history


def test_a_change_inside_opening_hours_counts_each_side_on_its_own_calendar() -> None:
    """Hours 09-17 until Wed 16 Dec 12:00, then 10-14 (a winter timetable). Sev4 (two
    business days, 16 h) opened Wed 09:00: Wed 09-12 old (3 h), 12-14 new (2 h), then
    4 h a day: Thu and Fri (13 h so far), Mon 21 Dec 10-13 the last 3 h."""
    winter = BusinessCalendar("Europe/Berlin", {d: (time(10), time(14)) for d in WEEKDAYS[:5]})
    history = CalendarHistory.of(OFFICE).approved(winter, berlin(12, 16, 12), berlin(12, 16, 12))
    due = Target("P2D", "business").due(berlin(12, 16, 9), history)
    assert due == berlin(12, 21, 13)
    assert history.between(berlin(12, 16, 9), due) == 16 * H


def test_a_change_across_the_spring_forward_night() -> None:
    """Sev4 (16 h) opened Fri 27 Mar 16:00 CET; from Mon 30 Mar 00:00 CEST (after the
    clocks went forward on Sunday) the hours are 07-15. Fri 16-17 (1 h), Mon 07-15 (8 h),
    Tue 07-14 (7 h): due Tue 31 Mar 14:00 CEST, 12:00Z. On the old calendar: Tue 16:00
    CEST."""
    early = BusinessCalendar("Europe/Berlin", {d: (time(7), time(15)) for d in WEEKDAYS[:5]})
    history = CalendarHistory.of(OFFICE).approved(early, berlin(3, 30), berlin(3, 20))
    opened = berlin(3, 27, 16)
    sev4 = Target("P2D", "business")
    assert sev4.due(opened, history) == datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert sev4.due(opened, OFFICE) == datetime(2026, 3, 31, 14, tzinfo=UTC)


def test_the_version_in_force_is_the_latest_effective_as_for_policies() -> None:
    """Version 2 from 1 Jan 2027, then version 3 (approved later) from 15 Dec: 3 holds
    from 15 Dec, 2 from 1 Jan (its effective_at is the later one)."""
    v2 = BusinessCalendar("Europe/Berlin", holidays=frozenset({date(2027, 1, 6)}))
    v3 = BusinessCalendar("Europe/Berlin", {d: (time(8), time(16)) for d in WEEKDAYS[:5]})
    history = (
        CalendarHistory.of(OFFICE)
        .approved(v2, berlin(1, 1, year=2027), berlin(12, 1))
        .approved(v3, berlin(12, 15), berlin(12, 5))
    )
    assert [history.in_force(t).version for t in (berlin(12, 14), berlin(12, 15))] == [1, 3]
    assert history.in_force(berlin(1, 4, year=2027)).version == 2
    assert history.at(berlin(12, 20)) == v3


def test_a_history_refuses_a_version_in_force_before_its_approval() -> None:
    with pytest.raises(ValueError, match="before it was approved"):
        CalendarHistory.of(OFFICE).approved(OFFICE, berlin(12, 1), berlin(12, 2))


# The timers on a calendar history ---------------------------------------------------------


class Customer1:
    """C-1 (Berlin office hours) with calendar changes, through its commands."""

    def __init__(self, at: datetime) -> None:
        self.n = 0
        self.customer = Customer.onboard(
            "C-1",
            self.meta(at, "cs-jo", "customer_success"),
            name="Acme",
            tier="enterprise",
            calendar=WIRE_OFFICE,
            success_owner="cs-jo",
            escalation_contact="ops@acme.example",
            decision_maker={"name": "Dana", "email": "dana@acme.example"},
        )

    def meta(
        self, at: datetime, actor: str, role: str, recorded: datetime | None = None
    ) -> EventMeta:
        self.n += 1
        return EventMeta(f"c{self.n}", at, actor, role, "test", recorded or at)

    def change(
        self,
        proposal: str,
        calendar: dict[str, Any],
        effective: datetime,
        approved: datetime,
        recorded: datetime | None = None,
    ) -> None:
        """Proposed by customer success an hour before the approval by lead-maria."""
        meta = self.meta(approved - H, "cs-jo", "customer_success", recorded)
        self.customer.propose_calendar_change(meta, proposal, calendar, effective)
        meta = self.meta(approved, "lead-maria", "leadership", recorded)
        self.customer.approve_calendar_change(meta, proposal)

    @property
    def events(self) -> list[LedgerEvent]:
        return [e for e in self.customer.pending_events if isinstance(e, LedgerEvent)]


class Ticket1:
    """T-1 of C-1, driven by commands."""

    def __init__(self, at: datetime, severity: int, category: str) -> None:
        self.n = 0
        self.ticket = Ticket.open(
            "T-1",
            self.meta(at, "customer"),
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
        return EventMeta(f"t{self.n}", at, "se-ana", role, "test", at)

    @property
    def events(self) -> list[LedgerEvent]:
        return [e for e in self.ticket.pending_events if isinstance(e, LedgerEvent)]


def timers(customer: Customer1, ticket: Ticket1, as_of: datetime) -> list[dict[str, Any]]:
    """The ticket's timer rows as of an instant, folded as every query folds them."""
    visible = [e for e in customer.events + ticket.events if e.occurred_at <= as_of]
    rows = ticket_rows("T-1", EventsBySubject(visible))
    return [evaluate_record(r, as_of) for r in rows["sla_timers"] if r["due_at"] is not None]


def test_a_running_timer_moves_at_the_approval_and_not_before() -> None:
    customer = Customer1(berlin(1, 5))
    ticket = Ticket1(berlin(12, 17, 10), 3, "feature_issue")
    holiday = {**WIRE_OFFICE, "holidays": ["2026-12-18"]}
    customer.change("CAL-1", holiday, berlin(12, 18), approved=berlin(12, 17, 12))
    before = timers(customer, ticket, berlin(12, 17, 11))
    assert [(t["state"], t["due_at"], t["calendar_version"]) for t in before] == [
        ("running", berlin(12, 18, 10), 1)
    ]
    after = timers(customer, ticket, berlin(12, 17, 13))
    assert [(t["state"], t["due_at"]) for t in after] == [("running", berlin(12, 21, 10))]
    assert (after[0]["calendar_version"], after[0]["calendar_version_end"]) == (1, 2)
    # As of Friday 10:30 it is not breached: Friday counts nothing any more.
    assert timers(customer, ticket, berlin(12, 18, 10, 30))[0]["state"] == "running"


def test_an_interval_that_stopped_before_the_approval_never_moves() -> None:
    """Answered Thu 11:00, before the approval at 12:00: met, and due Fri 10:00 for good
    (its due instant lies after the change's effective_at, but it ran on version 1)."""
    customer = Customer1(berlin(1, 5))
    ticket = Ticket1(berlin(12, 17, 10), 3, "feature_issue")
    ticket.ticket.respond(ticket.meta(berlin(12, 17, 11)), True, "on it")
    before = timers(customer, ticket, berlin(12, 17, 11, 30))
    customer.change(
        "CAL-1", {**WIRE_OFFICE, "holidays": ["2026-12-18"]}, berlin(12, 18), berlin(12, 17, 12)
    )
    after = timers(customer, ticket, berlin(12, 17, 11, 30))
    assert after == before
    later = timers(customer, ticket, berlin(12, 22))
    assert [(t["state"], t["due_at"], t["calendar_version_end"]) for t in later] == [
        ("met", berlin(12, 18, 10), 1)
    ]


def test_a_breach_that_passed_stands_after_a_change() -> None:
    """Due Thu 17 Dec 10:00 and not answered; a change approved at 12:00 that same day
    (effective at once, closing Thursdays) cannot move a due instant already passed."""
    customer = Customer1(berlin(1, 5))
    ticket = Ticket1(berlin(12, 16, 10), 3, "feature_issue")
    no_thursday = {
        **WIRE_OFFICE,
        "hours": {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "fri")},
    }
    customer.change("CAL-1", no_thursday, berlin(12, 17, 12), berlin(12, 17, 12))
    rows = timers(customer, ticket, berlin(12, 17, 13))
    assert [(t["state"], t["breached_at"]) for t in rows] == [("breached", berlin(12, 17, 10))]


def test_an_approval_recorded_after_the_ticket_counts_at_its_occurred_at() -> None:
    """An approval that reached the ledger after the ticket's response (recorded later,
    occurred earlier) applies from its own instant, as if it had come first: the rows
    equal those of the events folded in occurred_at order."""
    customer = Customer1(berlin(1, 5))
    ticket = Ticket1(berlin(12, 17, 10), 2, "partial_outage")  # Sev2: update every business day
    ticket.ticket.respond(ticket.meta(berlin(12, 17, 10, 30)), True, "on it")
    ticket.ticket.post_update(ticket.meta(berlin(12, 17, 15)), "still on it")
    late = berlin(12, 17, 16)
    holiday = {**WIRE_OFFICE, "holidays": ["2026-12-18"]}
    customer.change("CAL-1", holiday, berlin(12, 18), berlin(12, 17, 12), recorded=late)
    rows = timers(customer, ticket, berlin(12, 17, 16))
    # The update interval from 15:00: 2 h on Thursday, Friday off, 6 h Monday: 15:00.
    assert rows[-1]["due_at"] == berlin(12, 21, 15)
    in_order = sorted(
        customer.events + ticket.events,
        key=lambda e: (e.occurred_at, not isinstance(e, Customer.CalendarChangeApproved)),
    )
    assert ticket_rows("T-1", EventsBySubject(in_order)) == ticket_rows(
        "T-1", EventsBySubject(customer.events + ticket.events)
    )


def test_the_ticket_row_says_which_calendar_its_timers_were_counted_on() -> None:
    customer = Customer1(berlin(1, 5))
    ticket = Ticket1(berlin(12, 17, 10), 3, "feature_issue")
    customer.change(
        "CAL-1", {**WIRE_OFFICE, "holidays": ["2026-12-18"]}, berlin(12, 18), berlin(12, 17, 12)
    )
    events = customer.events + ticket.events
    row = ticket_rows("T-1", EventsBySubject(events))["tickets"][0]
    assert (row["calendar_version"], row["calendar_settled_at"]) == (2, None)
    ticket.ticket.respond(ticket.meta(berlin(12, 17, 11)), True, "on it")
    customer.change(
        "CAL-2", {**WIRE_OFFICE, "holidays": ["2027-01-01"]}, berlin(12, 28), berlin(12, 20)
    )
    row = ticket_rows("T-1", EventsBySubject(customer.events + ticket.events))["tickets"][0]
    # Settled at its response, before either approval: counted on version 1 only.
    assert (row["calendar_version"], row["calendar_settled_at"]) == (1, berlin(12, 17, 11))


# The rules (R-CAL) ------------------------------------------------------------------------


def _rule(call: Any) -> tuple[str, str]:
    with pytest.raises(RuleViolation) as raised:
        call()
    return raised.value.rule, raised.value.field


def test_only_leadership_other_than_the_proposer_approves() -> None:
    customer = Customer1(berlin(1, 5))
    c = customer.customer
    c.propose_calendar_change(
        customer.meta(berlin(11, 2), "lead-tom", "leadership"), "CAL-1", WIRE_OFFICE, berlin(12, 1)
    )
    by_engineer = customer.meta(berlin(11, 3), "se-ana", "support_engineer")
    assert _rule(lambda: c.approve_calendar_change(by_engineer, "CAL-1")) == (
        "R-CAL-1",
        "actor.role",
    )
    by_proposer = customer.meta(berlin(11, 3), " Lead-Tom", "leadership")
    assert _rule(lambda: c.approve_calendar_change(by_proposer, "CAL-1")) == ("R-CAL-1", "actor.id")
    c.approve_calendar_change(customer.meta(berlin(11, 3), "lead-maria", "leadership"), "CAL-1")
    again = customer.meta(berlin(11, 4), "lead-maria", "leadership")
    assert _rule(lambda: c.approve_calendar_change(again, "CAL-1")) == (
        "R-STATE-3",
        "data.proposal_id",
    )
    unknown = customer.meta(berlin(11, 4), "lead-maria", "leadership")
    assert _rule(lambda: c.approve_calendar_change(unknown, "CAL-9"))[0] == "R-STATE-3"
    assert [v.version for v in c.calendar_versions] == [1, 2]


def test_a_change_never_reaches_into_the_past() -> None:
    customer = Customer1(berlin(1, 5))
    c = customer.customer
    past = customer.meta(berlin(11, 2), "cs-jo", "customer_success")
    assert _rule(lambda: c.propose_calendar_change(past, "CAL-1", WIRE_OFFICE, berlin(11, 1))) == (
        "R-CAL-2",
        "data.effective_at",
    )
    c.propose_calendar_change(
        customer.meta(berlin(11, 2), "cs-jo", "customer_success"),
        "CAL-2",
        WIRE_OFFICE,
        berlin(11, 9),
    )
    too_late = customer.meta(berlin(11, 10), "lead-maria", "leadership")
    assert _rule(lambda: c.approve_calendar_change(too_late, "CAL-2")) == ("R-CAL-2", "occurred_at")
    closed = {"timezone": "Europe/Berlin", "hours": {}}
    bare = customer.meta(berlin(11, 11), "cs-jo", "customer_success")
    assert _rule(lambda: c.propose_calendar_change(bare, "CAL-3", closed, berlin(12, 1))) == (
        "R-CAL-3",
        "data.calendar.hours",
    )
    blank = customer.meta(berlin(11, 11), "cs-jo", "customer_success")
    assert _rule(lambda: c.propose_calendar_change(blank, " ", WIRE_OFFICE, berlin(12, 1)))[0] == (
        "R-CAL-3"
    )


# Properties, as for calendars -------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None)


@st.composite
def history_and_instant(draw: st.DrawFn) -> tuple[CalendarHistory, datetime]:
    """A history of one to three changes of calendar (any of ``test_calendar``'s), taking
    effect within days of an instant (which may be near a DST change)."""
    calendar, instant = draw(calendar_and_instant())
    history = CalendarHistory.of(calendar)
    for _ in range(draw(st.integers(1, 3))):
        effective = instant.astimezone(UTC) + draw(
            st.timedeltas(timedelta(days=-10), timedelta(days=20))
        )
        approved = effective - draw(st.timedeltas(timedelta(0), timedelta(days=5)))
        history = history.approved(draw(st.sampled_from(CALENDARS)), effective, approved)
    return history, instant


@PROPERTY
@given(history_and_instant(), spans, spans)
def test_history_add_is_monotone_and_additive(
    case: tuple[CalendarHistory, datetime], a: timedelta, b: timedelta
) -> None:
    history, start = case
    low, high = sorted((a, b))
    assert history.add(start, low) <= history.add(start, high)
    assert history.add(history.add(start, a), b) == history.add(start, a + b)


@PROPERTY
@given(history_and_instant(), spans)
def test_history_between_undoes_add(case: tuple[CalendarHistory, datetime], a: timedelta) -> None:
    history, start = case
    assert history.between(start, history.add(start, a)) == a


@PROPERTY
@given(history_and_instant(), spans, spans)
def test_history_between_is_additive_across_every_change(
    case: tuple[CalendarHistory, datetime], a: timedelta, b: timedelta
) -> None:
    history, start = case
    middle, end = start.astimezone(UTC) + a, start.astimezone(UTC) + a + b
    whole = history.between(start, end)
    assert whole == history.between(start, middle) + history.between(middle, end)
    assert timedelta(0) <= whole <= end - start


@PROPERTY
@given(history_and_instant(), spans)
def test_history_counts_each_stretch_on_the_calendar_in_force(
    case: tuple[CalendarHistory, datetime], a: timedelta
) -> None:
    """An independent count: cut [start, end) at every effective_at, and sum each piece on
    the calendar ``in_force`` gives at its start."""
    history, start = case
    start = start.astimezone(UTC)
    end = start + a
    cuts = sorted(
        {start, end}
        | {
            v.effective_at
            for v in history.versions
            if v.effective_at and start < v.effective_at < end
        }
    )
    expected = sum(
        (history.in_force(x).calendar.between(x, y) for x, y in itertools.pairwise(cuts)),
        timedelta(0),
    )
    assert history.between(start, end) == expected


@PROPERTY
@given(calendar_and_instant(), spans, st.timedeltas(timedelta(days=-10), timedelta(days=20)))
def test_a_change_to_the_same_calendar_changes_nothing(
    case: tuple[BusinessCalendar, datetime], a: timedelta, offset: timedelta
) -> None:
    calendar, start = case
    effective = start.astimezone(UTC) + offset
    history = CalendarHistory.of(calendar).approved(calendar, effective, effective - H)
    assert history.add(start, a) == calendar.add(start, a)
    assert history.between(start, start.astimezone(UTC) + a) == calendar.between(
        start, start.astimezone(UTC) + a
    )
    assert history.single == calendar


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(OPENINGS),
    st.integers(1, 4),
    _steps(ACTIONS),
    st.integers(0, 6000),
    st.integers(0, 6000),
    st.booleans(),
)
def test_a_change_moves_no_interval_that_stopped_before_its_approval_nor_a_passed_breach(
    opened_at: datetime,
    severity: int,
    steps: list[Step],
    approved_after: int,
    effective_after: int,
    holidays: bool,
) -> None:
    """Random ticket histories (``test_sla_properties``) and one approved change of the
    calendar at a random instant, effective then or later: every interval that stopped
    before the approval has the same record with the change as without it, and a due
    instant already passed at the approval stays where it was."""
    history = History(opened_at, severity)
    at = opened_at
    for gap, action, new_severity in steps:
        at += gap * M
        history.do(at, action, new_severity)
    approved = opened_at + approved_after * M
    effective = approved + effective_after * M
    days_off = frozenset(opened_at.date() + timedelta(days=n) for n in range(10))
    other = (
        BusinessCalendar("Europe/Berlin", holidays=days_off)
        if holidays
        else BusinessCalendar("Europe/Berlin", {d: (time(11), time(13)) for d in WEEKDAYS[:6]})
    )
    changed = CalendarHistory.of(CALENDAR).approved(other, effective, approved)
    plain = sla.initial(CALENDAR, {1: history.targets})
    with_change = sla.initial(changed, {1: history.targets})
    for event in history.events:
        plain, with_change = sla.evolve(plain, event), sla.evolve(with_change, event)
    for before, after in zip(plain.records(), with_change.records(), strict=True):
        if before["stopped_at"] is not None and before["stopped_at"] < approved:
            assert after == before
        if before["due_at"] is not None and before["due_at"] < approved:
            assert after["due_at"] == before["due_at"]
