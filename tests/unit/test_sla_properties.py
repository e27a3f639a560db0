"""Properties of the SLA timer fold (R-SLA-3..5) over random ticket histories.

No database: a ``Ticket`` aggregate is driven with commands (a command the aggregate
refuses is left out, so every history is one the ledger could hold), and its events are
folded (``sla.evolve``) up to each instant asked about, as a query as of that
instant does (R-TIME-1).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.policy import DEFAULT_TARGETS
from ledger.aggregates.rules import RuleViolation
from ledger.aggregates.ticket import Ticket
from ledger.projections import sla
from ledger.projections.sla import Targets, TicketTimers

CALENDAR = BusinessCalendar("Europe/Berlin")
M = timedelta(minutes=1)
CATEGORY = {1: "platform_down", 2: "partial_outage", 3: "feature_issue", 4: "how_to"}
OPENINGS = (
    datetime(2026, 6, 1, 7, 0, tzinfo=UTC),  # a Monday morning
    datetime(2026, 3, 27, 14, 0, tzinfo=UTC),  # Friday before the spring-forward night
    datetime(2026, 10, 23, 15, 30, tzinfo=UTC),  # Friday before the fall-back night
)
# Gaps between steps: equal instants, minutes, the Sev1 hour, a business day, a weekend.
GAPS = st.sampled_from([0, 0, 1, 5, 10, 20, 30, 50, 60, 60, 90, 240, 480, 1440, 2880])
PROPERTY = settings(max_examples=60, deadline=None)

Step = tuple[int, str, int]
"""(minutes after the previous step, action, severity for ``triage``)."""

COMMUNICATIONS = ("respond", "respond", "respond_private", "respond_customer", "update", "triage")
ACTIONS = (*COMMUNICATIONS, "wait", "wait", "resume", "resume", "resolve", "reopen")


def _steps(actions: Iterable[str]) -> st.SearchStrategy[list[Step]]:
    step = st.tuples(GAPS, st.sampled_from(tuple(actions)), st.integers(1, 4))
    return st.lists(step, max_size=12)


class History:
    """A ticket driven by commands at given instants; its events, folded as of any instant."""

    def __init__(
        self, opened_at: datetime, severity: int, targets: Targets = DEFAULT_TARGETS
    ) -> None:
        self.n = 0
        self.opened_at = opened_at
        self.targets = targets
        self.ticket = Ticket.open(
            "T-1",
            self._meta(opened_at, "customer"),
            customer_tier="enterprise",
            policy_version=1,
            customer_id="C-1",
            channel="support_portal",
            title="t",
            description="d",
            severity=severity,
            category=CATEGORY[severity],
        )

    def _meta(self, at: datetime, role: str = "support_engineer") -> EventMeta:
        self.n += 1
        return EventMeta(f"e{self.n}", at, "se-ana", role, "test", at)

    def do(self, at: datetime, action: str, severity: int = 1) -> None:
        """Apply one action; one the ticket refuses (R-STATE-2, ...) is left out."""
        t = self.ticket
        try:
            if action == "respond":
                t.respond(self._meta(at), True, "on it")
            elif action == "respond_private":
                t.respond(self._meta(at), False, "internal note")
            elif action == "respond_customer":
                t.respond(self._meta(at, "customer"), True, "any news?")
            elif action == "update":
                t.post_update(self._meta(at), "still on it")
            elif action == "triage":
                t.triage(self._meta(at), severity, CATEGORY[severity], "re-assessed")
            elif action == "wait":
                t.change_status(self._meta(at), "waiting_on_customer")
            elif action == "resume":
                t.change_status(self._meta(at), "in_progress")
            elif action == "resolve":
                t.resolve(self._meta(at), "fixed")
            elif action == "reopen":
                t.reopen(self._meta(at), "came back")
            else:  # pragma: no cover
                raise AssertionError(action)
        except RuleViolation:
            pass

    @property
    def events(self) -> list[LedgerEvent]:
        events = []
        for event in self.ticket.pending_events:
            assert isinstance(event, LedgerEvent)
            events.append(event)
        return events

    def fold(self, as_of: datetime) -> TicketTimers:
        timers = sla.initial(CALENDAR, {1: self.targets})
        for event in self.events:
            if event.occurred_at <= as_of:
                timers = sla.evolve(timers, event)
        return timers

    def rows(self, as_of: datetime) -> dict[int, dict[str, Any]]:
        """Every interval started by ``as_of``, evaluated then, by its sequence number."""
        return {row["seq"]: row for row in self.fold(as_of).rows(as_of)}

    def instants(self) -> list[datetime]:
        """Where answers can change: each event, each due instant seen, a minute after each."""
        points = {e.occurred_at for e in self.events}
        for at in list(points):
            for record in self.fold(at).records():
                points.update(i for i in (record["due_at"], record["breached_at"]) if i)
        last = max(points)
        points.update(p + M for p in list(points))
        points.update(last + d for d in (timedelta(hours=3), timedelta(days=4)))
        return sorted(p for p in points if p >= self.opened_at)


def _history(opened_at: datetime, severity: int, steps: list[Step]) -> History:
    history = History(opened_at, severity)
    at = opened_at
    for gap, action, new_severity in steps:
        at += gap * M
        history.do(at, action, new_severity)
    return history


@PROPERTY
@given(st.sampled_from(OPENINGS), st.integers(1, 4), _steps(ACTIONS))
def test_a_breach_instant_never_moves_once_passed(
    opened_at: datetime, severity: int, steps: list[Step]
) -> None:
    history = _history(opened_at, severity, steps)
    breached: dict[int, tuple[datetime, datetime]] = {}  # seq -> (breached_at, first seen)
    for as_of in history.instants():
        rows = history.rows(as_of)
        for seq, (instant, seen) in breached.items():
            row = rows[seq]
            assert (row["state"], row["breached_at"]) == ("breached", instant), (seen, as_of)
        for seq, row in rows.items():
            if row["breached_at"] is not None and seq not in breached:
                assert row["breached_at"] <= as_of
                breached[seq] = (row["breached_at"], as_of)


def _union(pauses: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pauses as (start, end) minutes, merged where they overlap or touch; empty ones go."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(p for p in pauses if p[0] < p[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


PAUSE = st.tuples(st.integers(0, 3000), st.sampled_from([0, 5, 30, 60, 120, 600, 1440, 10**6]))


@PROPERTY
@given(
    st.sampled_from(OPENINGS),
    st.integers(1, 4),
    _steps(COMMUNICATIONS),
    st.lists(PAUSE, max_size=3),
    PAUSE,
    st.booleans(),
)
def test_adding_pause_time_never_creates_a_breach(
    opened_at: datetime,
    severity: int,
    steps: list[Step],
    pauses: list[tuple[int, int]],
    extra: tuple[int, int],
    resolved: bool,
) -> None:
    """The same history with one more waiting_on_customer stretch breaches nothing more."""
    minute, plan = 0, []
    for rank, (gap, action, new_severity) in enumerate(steps):
        minute += gap
        plan.append((minute, 1, rank, action, new_severity))
    resolve_at = minute + 60 if resolved else None

    def history(waiting: list[tuple[int, int]]) -> History:
        todo = list(plan)
        for start, stop in _union((start, start + length) for start, length in waiting):
            todo.append((start, 2, 0, "wait", 0))  # after what else happens that minute
            todo.append((stop, 0, 0, "resume", 0))  # before it
        if resolve_at is not None:
            todo = [step for step in todo if step[0] < resolve_at]
            todo.append((resolve_at, 3, 0, "resolve", 0))
        built = History(opened_at, severity)
        for at, _, _, action, new_severity in sorted(todo):
            built.do(opened_at + at * M, action, new_severity)
        return built

    base = history(pauses)
    more = history([*pauses, extra])
    for as_of in sorted(set(base.instants()) | set(more.instants())):
        with_pause = more.rows(as_of)
        for seq, row in base.rows(as_of).items():
            other = with_pause[seq]
            assert (other["timer"], other["started_at"]) == (row["timer"], row["started_at"])
            if row["state"] == "met":
                assert other["state"] == "met", (seq, as_of)
            if row["state"] != "breached":
                assert other["state"] != "breached", (seq, as_of)
            elif other["breached_at"] is not None:
                assert other["breached_at"] >= row["breached_at"], (seq, as_of)


@PROPERTY
@given(st.sampled_from(OPENINGS), st.integers(1, 4), _steps(ACTIONS))
def test_a_due_instant_is_never_inside_a_pause(
    opened_at: datetime, severity: int, steps: list[Step]
) -> None:
    history = _history(opened_at, severity, steps)
    for as_of in history.instants():
        timers = history.fold(as_of)
        for interval in timers.intervals:
            if interval.target is None or interval.started_at > as_of:
                continue
            record = interval.record(CALENDAR)
            due = record["due_at"]
            for start, end in interval.pauses:
                assert start is not None
                if end is None:
                    # Paused: due before the pause (passed) or the pause start plus the
                    # time left, which is no deadline yet.
                    left = interval.target.length(CALENDAR) - interval.counted(CALENDAR, start)
                    assert due < start or (due >= start and left >= timedelta(0))
                    continue
                assert not start <= due < end, (start, due, end, as_of)


def _round_the_clock(first: str, update: str | None) -> dict[str, Any]:
    return {
        "first_response": {"duration": first, "clock": "24x7"},
        "update_every": None if update is None else {"duration": update, "clock": "24x7"},
    }


ROUND_THE_CLOCK: Targets = {
    "1": _round_the_clock("PT1H", "PT1H"),
    "2": _round_the_clock("PT4H", "PT3H"),
    "3": _round_the_clock("PT8H", None),
    "4": _round_the_clock("P2D", "P1D"),
}
"""A policy on the 24x7 clock only, so that time can be cut out of a history."""


@PROPERTY
@given(
    st.sampled_from(OPENINGS),
    st.integers(1, 4),
    _steps(COMMUNICATIONS),
    st.integers(0, 1500),
    st.sampled_from([1, 10, 30, 60, 90, 600]),
)
def test_waiting_time_does_not_count(
    opened_at: datetime, severity: int, steps: list[Step], start: int, length: int
) -> None:
    """Update timers with one waiting stretch answer as with the stretch cut out of time.

    On 24x7 clocks, waiting from ``start`` for ``length`` minutes is, for the update
    timers, the same as no wait and everything after it happening ``length`` minutes
    earlier, what happened during the wait happening at its start. Every instant of the
    answer maps the same way (R-SLA-3, and R-SLA-4 for re-targets while waiting). The
    first response timer does not pause, so it is left out.
    """
    stop = start + length

    def cut(minute: int) -> int:
        return minute if minute < start else max(start, minute - length)

    minute, plan = 0, []
    for rank, (gap, action, new_severity) in enumerate(steps):
        minute += gap
        plan.append((minute, 1, rank, action, new_severity))
    waiting = History(opened_at, severity, ROUND_THE_CLOCK)
    todo = [*plan, (start, 2, 0, "wait", 0), (stop, 0, 0, "resume", 0)]
    for at, _, _, action, new_severity in sorted(todo):
        waiting.do(opened_at + at * M, action, new_severity)
    cut_out = History(opened_at, severity, ROUND_THE_CLOCK)
    for at, _, _, action, new_severity in sorted(plan, key=lambda p: (cut(p[0]), *p)):
        cut_out.do(opened_at + cut(at) * M, action, new_severity)

    def mapped(instant: datetime | None) -> datetime | None:
        if instant is None:
            return None
        minutes, rest = divmod(instant - opened_at, M)
        assert rest == timedelta(0)
        return opened_at + cut(minutes) * M

    final = opened_at + (max(stop, minute) + 3 * 24 * 60) * M
    expected = cut_out.rows(mapped(final) or final)
    for seq, row in waiting.rows(final).items():
        if row["timer"] != "update":
            continue
        keys = ["severity", "started_at", "stopped_at", "breached_at", "state"]
        if row["stopped_at"] is None or row["due_at"] <= row["stopped_at"]:
            keys.append("due_at")  # past a stop the due instant is hypothetical: no pause cut
        assert {k: mapped(row[k]) if k.endswith("_at") else row[k] for k in keys} == {
            k: expected[seq][k] for k in keys
        }, seq
