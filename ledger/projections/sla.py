"""SLA timers as a pure fold over one ticket's events (R-SLA-1..5): no clock, no database.

``evolve(state, event) -> state`` folds the ticket's producer events in order, on
immutable state (``TicketTimers``, from ``initial(calendar, targets)``); a state's
``rows(as_of)`` evaluates every timer interval at an instant. Events the ledger writes itself
(``sla.breached``) are ignored: a breach is computed from the facts, so the answer is
the same whether or not the tick has written it (R-SLA-5).

Timers:
* ``first_response`` starts at opening and stops at the first public response by a
  non-customer actor (R-SLA-2), or at resolution;
* ``update`` starts at the first response when the severity has a cadence; every public
  staff response or update stops the interval and starts the next; time in
  ``waiting_on_customer`` does not count; it ends at resolution (R-SLA-3);
* ``resolution`` is measured with no target, from opening (or reopening) to resolution.

An interval's due instant is the first instant outside every pause at which the time
counted since its start (pauses excluded, on the target's clock) reaches the target. A
target that passed before a pause stays passed: the pause neither moves the breach nor
lets a later update meet it. A target reached exactly as a pause begins is due when the
pause ends. While a pause runs with time left, ``due_at`` is the pause start plus the
time left, and the timer cannot breach until the pause ends.

Business time is counted on the customer's calendar history (``CalendarHistory``, R-CAL):
before a change on the calendar in force then, after it on the new one. An interval that
is open counts on every version the fold has seen approved; one that stopped counts on the
versions approved by its stop, so a change approved later never moves it (and one
approved earlier takes effect no earlier than its approval, R-CAL-2). A target's
business day is that of the calendar in force at the interval's start. The fold takes a
customer's ``customer.calendar_change_approved`` events among the ticket's own, at their
``occurred_at`` (``evolve``; the runner and the replays merge them in).

A severity change re-targets the running timers from their start on the new
severity's clock (R-SLA-4): a breach under the old target stands; otherwise the time
counted so far, pauses excluded, is held against the new target, and a due instant
already behind the change is breached at the change. Re-targeted during a pause with
time left, the timer is due that time after the pause ends.

A target may carry a warning threshold (``warn_after``, R-SLA-7): the interval's
``warn_at`` is found exactly as its due instant is, for the shorter duration (the first
instant outside every pause at which the counted time reaches it). The interval is
warned once ``warn_at`` passes while it runs (not stopped at or before it, not paused
across it); a breached timer shows as breached, not warned. A re-target keeps a warning
that already happened; a new threshold already behind the change warns at the change.

A ticket opened under an approved customer exception (``customer.exception_*``, R-EXC)
runs under the exception's targets for the severities it names, for its whole life, as
it keeps its policy version; each timer records ``exception_id`` beside
``policy_version``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar, CalendarHistory, Target, as_history
from ledger.aggregates.customer import Customer, SlaException, exception_in_force
from ledger.aggregates.policy import PolicyTargets
from ledger.aggregates.ticket import Ticket
from ledger.projections.customers import onboarding_calendar

TimerKind = Literal["first_response", "update", "resolution"]
State = Literal["running", "paused", "met", "breached", "measured"]
Targets = dict[str, dict[str, Any]]


Pause = tuple[datetime, datetime | None]
"""A pause of the update timer: its start and, once it ended, its end."""


@dataclass(frozen=True)
class Interval:
    """One timer interval of one ticket (immutable: a change is a new interval)."""

    kind: TimerKind
    severity: int
    started_at: datetime
    target: Target | None
    pauses: tuple[Pause, ...] = ()
    stopped_at: datetime | None = None
    breached_at: datetime | None = None  # fixed by a re-target (R-SLA-4)
    # A warning fixed by a re-target (R-SLA-7): when it happened, and the due instant then.
    warned: tuple[datetime, datetime] | None = None
    # A memo of ``record`` (a pure function of the fields above and the calendar), not
    # state: ``replace`` gives a changed interval an empty one.
    _memo: list[tuple[CalendarHistory, dict[str, Any]]] = field(
        init=False, default_factory=list, repr=False, compare=False
    )

    @property
    def paused_since(self) -> datetime | None:
        """When the running pause began, if the timer is paused."""
        return self.pauses[-1][0] if self.pauses and self.pauses[-1][1] is None else None

    def paused(self, at: datetime) -> Interval:
        """The interval with a pause beginning at ``at``."""
        return replace(self, pauses=(*self.pauses, (at, None)))

    def resumed(self, at: datetime) -> Interval:
        """The interval with its running pause ended at ``at`` (itself when not paused)."""
        since = self.paused_since
        if since is None:
            return self
        return replace(self, pauses=(*self.pauses[:-1], (since, at)))

    def stopped(self, at: datetime) -> Interval:
        """The interval stopped at ``at`` (a running pause ends there too)."""
        return replace(self.resumed(at), stopped_at=at)

    def counted(self, calendar: BusinessCalendar | CalendarHistory, until: datetime) -> timedelta:
        """Time on the target's clock from the start to ``until``, pauses excluded."""
        assert self.target is not None
        total = self.target.elapsed(self.started_at, until, calendar)
        for start, end in self.pauses:
            total -= self.target.elapsed(start, min(end or until, until), calendar)
        return total

    def _add(self, start: datetime, amount: timedelta, calendar: CalendarHistory) -> datetime:
        """The instant ``amount`` of the target's clock has run from ``start``, unpaused."""
        assert self.target is not None
        if self.target.clock == "24x7":
            return start + amount
        return calendar.add(start, amount)

    def due(self, calendar: BusinessCalendar | CalendarHistory) -> datetime:
        """The first instant outside every pause at which the counted time reaches the target
        (see ``reach``); a business day is that of the calendar in force at the start."""
        assert self.target is not None
        calendar = as_history(calendar)
        return self.reach(self.target.length(calendar.at(self.started_at)), calendar)

    def warn(
        self, calendar: BusinessCalendar | CalendarHistory
    ) -> tuple[datetime, datetime] | None:
        """The warning instant (R-SLA-7) and the due instant as it stood then (the rest of
        the target counted on from the warning, unpaused); None without a threshold.

        Both on the calendar history, as the due instant is (a business day is that of
        the calendar in force at the start). A change approved after the warning takes
        effect after it (R-CAL-2), so it never moves ``warn_at``; the due instant as it
        stood then counts on the versions approved by the warning."""
        if self.warned is not None:
            return self.warned
        if self.target is None:
            return None
        calendar = as_history(calendar)
        at_start = calendar.at(self.started_at)
        length = self.target.warn_length(at_start)
        if length is None:
            return None
        warn_at = self.reach(length, calendar)
        rest = self.target.length(at_start) - length
        return warn_at, self._add(warn_at, rest, calendar.known_by(warn_at))

    def reach(self, amount: timedelta, calendar: BusinessCalendar | CalendarHistory) -> datetime:
        """The first instant outside every pause at which the counted time reaches ``amount``.

        The clock runs in the stretches between pauses; each is tried in turn with the time
        still left. A target reached before a pause begins is due there, whatever comes
        later: a pause never moves a due instant that lies before it (R-SLA-3). A target
        reached exactly as a pause begins has not passed; it is due when the pause ends,
        with nothing left. While a pause runs with time left, the due instant is not known
        yet; the answer is then the pause start plus the time left (where the deadline
        stood when the clock stopped, the earliest it can come due).
        """
        assert self.target is not None
        calendar = as_history(calendar)
        remaining = amount
        resume = self.started_at
        for start, end in self.pauses:
            if start >= resume:
                due = self._add(resume, remaining, calendar)
                if due < start:
                    return due
                remaining -= self.target.elapsed(resume, start, calendar)
            if end is None:
                return self._add(start, remaining, calendar)
            resume = max(resume, end)
        return self._add(resume, remaining, calendar)

    def ran_under(self, calendar: BusinessCalendar | CalendarHistory) -> CalendarHistory:
        """The calendar history the interval counts on: every version seen while it is
        open; once it stopped, the versions approved by its stop (R-CAL)."""
        calendar, stopped = as_history(calendar), self.stopped_at
        return calendar if stopped is None else calendar.known_by(stopped)

    def record(self, calendar: BusinessCalendar | CalendarHistory) -> dict[str, Any]:
        """The interval as the facts so far fix it, independent of any "now".

        ``due_at`` is the due instant (see ``due``; provisional while a pause runs with
        time left); ``breached_at`` is set only when the facts decide it (stopped or
        paused after the due instant, or a re-target, R-SLA-4). ``evaluate`` turns this
        into a row as of an instant.

        Remembered by the interval: a runner asks again for every ticket a page touches,
        an unchanged interval is the same object in the next state, and the due instant
        (business-calendar arithmetic) is the dear part.
        """
        calendar = self.ran_under(as_history(calendar))
        memo = self._memo
        if memo and (memo[0][0] is calendar or memo[0][0] == calendar):
            return dict(memo[0][1])
        record = self._record(calendar)
        memo[:] = [(calendar, record)]
        return dict(record)

    def _record(self, calendar: CalendarHistory) -> dict[str, Any]:
        due = None if self.target is None else self.due(calendar)
        warn = self.warn(calendar)
        first = last = None
        if due is not None and self.target is not None and self.target.clock == "business":
            first = calendar.in_force(self.started_at).version
            last = calendar.in_force(max(self.stopped_at or due, self.started_at)).version
        closed = timedelta(0)
        for start, end in self.pauses:
            if end is not None:
                closed += max(end - start, timedelta(0))
        breached_at = self.breached_at
        if breached_at is None and due is not None:
            end = self.stopped_at or self.paused_since
            if end is not None and due < end:
                breached_at = due
        return {
            "timer": self.kind,
            "severity": self.severity,
            "clock": None if self.target is None else self.target.clock,
            "started_at": self.started_at,
            "due_at": due,
            "stopped_at": self.stopped_at,
            "paused_seconds": int(closed.total_seconds()),
            "paused_since": self.paused_since,
            "breached_at": breached_at,
            "warn_at": None if warn is None else warn[0],
            "warn_due_at": None if warn is None else warn[1],
            "calendar_version": first,
            "calendar_version_end": last,
        }

    def evaluate(
        self, calendar: BusinessCalendar | CalendarHistory, as_of: datetime
    ) -> dict[str, Any]:
        """The interval's row as of an instant (the fold has seen events up to it)."""
        return evaluate_record(self.record(calendar), as_of)


RECORD_KEYS = (
    "ticket_id",
    "customer_id",
    "policy_version",
    "exception_id",
    "seq",
    "timer",
    "severity",
    "clock",
    "started_at",
    "due_at",
    "stopped_at",
    "paused_seconds",
    "paused_since",
    "breached_at",
    "warn_at",
    "warn_due_at",
    "calendar_version",
    "calendar_version_end",
)
"""The columns of a stored timer record (the ``sla_timers`` read model)."""

HIDDEN_KEYS = frozenset({"paused_since", "clock", "warn_due_at"})
"""Columns of a record a reader's row leaves out (``evaluate_record``)."""


def evaluate_record(record: dict[str, Any], as_of: datetime) -> dict[str, Any]:
    """A timer record evaluated at ``as_of``: its ``state`` and ``breached_at`` then, and
    how it stands for a reader.

    The record must come from events that occurred at or before ``as_of``. A running
    timer whose due instant has passed is breached at its due instant (R-SLA-5), whether
    or not the tick has written ``sla.breached``.

    ``state``: ``running`` (the clock runs; a timer with no target runs until stopped),
    ``paused``, ``breached`` (its target passed before it stopped), ``met`` (a target,
    stopped at or before it) or ``measured`` (no target, stopped: neither met nor
    breached). The fields added to the record (see ``timer_clock``): ``paused``,
    ``time_left``, ``overdue_by`` and ``elapsed_seconds``; ``paused_seconds`` counts the
    running pause up to ``as_of``; ``warned``: its warning threshold passed while it ran
    (``warned_by``) and it is not breached (a breached timer is breached, not warned).
    """
    state, breached_at = timer_state(record, as_of)
    paused = record["paused_seconds"]
    if record["paused_since"] is not None and record["stopped_at"] is None:  # paused now
        paused += _seconds(record["paused_since"], as_of)
    row = {k: v for k, v in record.items() if k not in HIDDEN_KEYS}
    row.update(
        paused_seconds=paused,
        state=state,
        breached_at=breached_at,
        warned=state != "breached" and warned_by(record, as_of),
    )
    row.update(timer_clock(record, state, breached_at, as_of))
    return row


def warned_by(record: dict[str, Any], as_of: datetime) -> bool:
    """Whether a timer's warning threshold (R-SLA-7) passed by ``as_of`` while it ran: its
    ``warn_at`` is at or before ``as_of``, it had not stopped by then (a stop exactly at
    ``warn_at`` came in time, as one at the due instant does), and ``warn_at`` is not the
    provisional instant of a pause still running (the threshold was not reached before the
    pause began). Breached or not: the warning happened (what the tick writes)."""
    warn_at = record.get("warn_at")
    if warn_at is None or warn_at > as_of:
        return False
    stop = record["stopped_at"]
    if stop is not None:
        return bool(stop > warn_at)
    pause = record["paused_since"]
    return pause is None or bool(pause > warn_at)


def timer_state(record: dict[str, Any], as_of: datetime) -> tuple[State, datetime | None]:
    """A timer record's ``state`` at ``as_of`` and the instant it was breached by then
    (None: not breached), as ``evaluate_record`` gives them, without the rest of the
    reader's row (what counting timers by state needs)."""
    stop = record["stopped_at"]
    due = record["due_at"]
    pause = record["paused_since"]
    breached_at = record["breached_at"]
    if breached_at is None and due is not None and stop is None and pause is None and due < as_of:
        breached_at = due
    if breached_at is not None and breached_at > as_of:
        breached_at = None
    if breached_at is not None:
        return "breached", breached_at
    if stop is not None:
        return ("met" if due is not None else "measured"), None
    if pause is not None:
        return "paused", None
    return "running", None


def _seconds(start: datetime, end: datetime) -> int:
    """Whole seconds from ``start`` to ``end`` (none when ``end`` is not later)."""
    return int(max((end - start).total_seconds(), 0))


def timer_clock(
    record: dict[str, Any], state: State, breached_at: datetime | None, as_of: datetime
) -> dict[str, Any]:
    """How a timer in ``state`` at ``as_of`` (breached at ``breached_at``) stands for a
    reader, in whole real seconds.

    * ``paused``: the update timer is paused at ``as_of`` (the ticket is waiting on the
      customer); a timer breached before its pause is paused and breached.
    * ``time_left``: seconds until ``due_at`` of a timer not breached and not stopped.
      Running, from ``as_of``. Paused, from the pause start: the time that was left when
      the clock stopped, which stays put while the pause lasts (counted from ``as_of``
      it would run down, and go below zero, while the clock stands still; ``due_at`` is
      then the pause start plus that time, see the module docstring). Null for a timer
      with no target, a stopped one and a breached one.
    * ``overdue_by``: seconds from the deadline it missed to ``as_of`` of a breached timer
      not stopped; for one breached and then stopped, how late it stopped (to
      ``stopped_at``), which no longer grows. Null for a timer not breached. The deadline
      missed is ``due_at``; when a breach under an earlier target stands after a
      re-target (R-SLA-4), ``due_at`` shows the new target's instant, later than the
      breach, and the deadline missed is ``breached_at``.
    * ``elapsed_seconds``: seconds from ``started_at`` to ``stopped_at``, or to
      ``as_of`` while not stopped, pauses included (``paused_seconds`` is how much of it
      was paused): the measure of a ``measured`` timer.

    On a business clock these are real seconds, closed hours included, as ``due_at`` is a
    real instant.
    """
    stop, due, pause = record["stopped_at"], record["due_at"], record["paused_since"]
    paused = pause is not None and stop is None
    time_left = None
    overdue_by = None
    if state == "running" and due is not None:
        time_left = _seconds(as_of, due)
    elif state == "paused" and due is not None:
        time_left = _seconds(pause, due)
    elif state == "breached" and breached_at is not None:
        overdue_by = _seconds(min(due or breached_at, breached_at), stop or as_of)
    return {
        "paused": paused,
        "time_left": time_left,
        "overdue_by": overdue_by,
        "elapsed_seconds": _seconds(record["started_at"], stop or as_of),
    }


def sla_board(
    records: list[dict[str, Any]],
    as_of: datetime,
    *,
    breached: bool = False,
    at_risk: int | None = None,
    open_only: bool = False,
    customer: str | None = None,
    severity: int | None = None,
    warned: bool = False,
) -> list[dict[str, Any]]:
    """The SLA board: timer records evaluated at ``as_of``, filtered, soonest due first.

    ``breached``: only timers breached by ``as_of``; ``at_risk``: only running timers due
    within that many minutes (each gets ``minutes_left``); ``open_only``: only timers not
    stopped yet; ``warned``: only timers warned (R-SLA-7) and neither stopped nor
    breached by ``as_of``.
    """
    board = []
    for record in records:
        if customer is not None and record["customer_id"] != customer:
            continue
        if severity is not None and record["severity"] != severity:
            continue
        row = evaluate_record(record, as_of)
        if breached and row["state"] != "breached":
            continue
        if open_only and row["stopped_at"] is not None:
            continue
        if warned and not (row["warned"] and row["stopped_at"] is None):
            continue
        if at_risk is not None:
            if row["state"] != "running" or row["due_at"] is None:
                continue
            minutes_left = (row["due_at"] - as_of).total_seconds() / 60
            if minutes_left > at_risk:
                continue
            row["minutes_left"] = round(minutes_left, 1)
        board.append(row)
    board.sort(key=lambda r: (r["due_at"] or r["started_at"], r["ticket_id"], r["seq"]))
    return board


def _target(targets: Targets, severity: int, kind: TimerKind) -> Target | None:
    key = "first_response" if kind == "first_response" else "update_every"
    if kind == "resolution":
        return None
    value = targets.get(str(severity), {}).get(key)
    if not value:
        return None
    try:
        return _target_from(value["duration"], value["clock"], value.get("warn_after"))
    except (KeyError, TypeError, AttributeError):
        return Target.from_wire(value)  # raises, naming what is wrong


@functools.lru_cache(maxsize=256)
def _target_from(duration: str, clock: str, warn_after: str | None) -> Target:
    """Targets are few and immutable: parsed once each, not once per timer started."""
    return Target.from_wire({"duration": duration, "clock": clock, "warn_after": warn_after})


def policy_version(targets_by_version: Mapping[int, Targets], opened: Ticket.Opened) -> int:
    """The policy version a ticket runs under: the one in force at its opening, as the
    policy's history says (``PolicyTargets``), else the one its opening recorded."""
    if isinstance(targets_by_version, PolicyTargets):
        return targets_by_version.version_at(opened.occurred_at)
    return opened.policy_version


@dataclass(frozen=True, slots=True)
class TicketTimers:
    """The timers' state: ``evolve(state, event)`` gives the next one; ask any state for
    its records, or its rows as of an instant."""

    calendar: CalendarHistory
    targets_by_version: Mapping[int, Targets]
    exceptions: tuple[SlaException, ...] = ()  # the customer's approved exceptions (R-EXC)
    ticket_id: str = ""
    customer_id: str = ""
    policy_version: int = 1
    exception: SlaException | None = None  # the one in force at the opening
    severity: int = 0
    responded: bool = False
    waiting: bool = False
    intervals: tuple[Interval, ...] = ()

    @property
    def targets(self) -> Targets:
        """The targets of the ticket's policy version, with its exception's for the
        severities the exception names."""
        targets = self.targets_by_version[self.policy_version]
        exception = self.exception
        return targets if exception is None else {**targets, **exception.targets}

    @property
    def exception_id(self) -> str | None:
        """The customer exception the ticket runs under (None: the policy alone)."""
        return None if self.exception is None else self.exception.exception_id

    def running(self, kind: TimerKind) -> int | None:
        """The index of the open interval of a kind, if any."""
        intervals = self.intervals
        for index in range(len(intervals) - 1, -1, -1):
            interval = intervals[index]
            if interval.kind == kind and interval.stopped_at is None:
                return index
        return None

    def records(self) -> list[dict[str, Any]]:
        """Every interval as stored in the read model (see ``Interval.record``)."""
        base = {
            "ticket_id": self.ticket_id,
            "customer_id": self.customer_id,
            "policy_version": self.policy_version,
            "exception_id": self.exception_id,
        }
        return [
            {**base, "seq": seq, **interval.record(self.calendar)}
            for seq, interval in enumerate(self.intervals)
        ]

    def rows(self, as_of: datetime) -> list[dict[str, Any]]:
        """Every interval started at or before ``as_of``, evaluated at ``as_of``.

        The state must come from the events that occurred at or before ``as_of``.
        """
        return [
            evaluate_record(record, as_of)
            for record in self.records()
            if record["started_at"] <= as_of
        ]


def initial(
    calendar: BusinessCalendar | CalendarHistory,
    targets_by_version: Mapping[int, Targets],
    exceptions: tuple[SlaException, ...] = (),
) -> TicketTimers:
    """The timers of a ticket before its first event, on its customer's calendar (one
    that never changed, or its history so far); ``exceptions``: its customer's approved
    exceptions (R-EXC)."""
    return TicketTimers(as_history(calendar), targets_by_version, exceptions)


def calendar_approved(
    calendar: CalendarHistory, event: Customer.CalendarChangeApproved
) -> CalendarHistory:
    """The history with the approved version (its number is the next: the customer's
    versions are approved in order)."""
    return calendar.approved(onboarding_calendar(event), event.effective_at, event.occurred_at)


def business_settled(state: TicketTimers) -> bool:
    """Whether no business-clock timer is open: a calendar change approved later reaches
    none of its intervals."""
    return not any(
        i.stopped_at is None and i.target is not None and i.target.clock == "business"
        for i in state.intervals
    )


def evolve(state: TicketTimers, event: LedgerEvent) -> TicketTimers:
    """The timers after one more event of the ticket, or an approved change of its
    customer's calendar, at its ``occurred_at`` (system events change nothing)."""
    if event.SYSTEM:
        return state
    if isinstance(event, Customer.CalendarChangeApproved):
        return replace(state, calendar=calendar_approved(state.calendar, event))
    at = event.occurred_at
    if isinstance(event, Ticket.Opened):
        state = replace(
            state,
            ticket_id=event.originator_id,
            customer_id=event.customer_id,
            policy_version=policy_version(state.targets_by_version, event),
            exception=exception_in_force(state.exceptions, event.occurred_at),
            severity=event.severity,
        )
        return _start(_start(state, "first_response", at), "resolution", at)
    if isinstance(event, Ticket.Triaged) and event.severity != state.severity:
        return _retarget(state, event.severity, at)
    if isinstance(event, Ticket.Responded) and event.public and event.actor_role != "customer":
        return _communicated(state, at, first=True)
    if isinstance(event, Ticket.UpdatePosted) and event.actor_role != "customer":
        return _communicated(state, at, first=False)
    if isinstance(event, Ticket.StatusChanged):
        return _status(state, event.status == "waiting_on_customer", at)
    if isinstance(event, Ticket.Resolved):
        for kind in _KINDS:
            state = _stop(state, kind, at)
        return state
    if isinstance(event, Ticket.Reopened):
        state = _start(replace(state, waiting=False), "resolution", at)
        return _start(state, "update", at) if state.responded else state
    return state


_KINDS: tuple[TimerKind, ...] = ("first_response", "update", "resolution")


def _with(state: TicketTimers, index: int, interval: Interval) -> TicketTimers:
    intervals = state.intervals
    return replace(state, intervals=(*intervals[:index], interval, *intervals[index + 1 :]))


def _start(state: TicketTimers, kind: TimerKind, at: datetime) -> TicketTimers:
    target = _target(state.targets, state.severity, kind)
    if kind != "resolution" and target is None:
        return state
    pauses: tuple[Pause, ...] = ((at, None),) if kind == "update" and state.waiting else ()
    interval = Interval(kind, state.severity, at, target, pauses)
    return replace(state, intervals=(*state.intervals, interval))


def _stop(state: TicketTimers, kind: TimerKind, at: datetime) -> TicketTimers:
    index = state.running(kind)
    if index is None:
        return state
    return _with(state, index, state.intervals[index].stopped(at))


def _communicated(state: TicketTimers, at: datetime, *, first: bool) -> TicketTimers:
    if first and not state.responded:
        state = _stop(replace(state, responded=True), "first_response", at)
        return _start(state, "update", at)
    if state.responded and state.running("update") is not None:
        return _start(_stop(state, "update", at), "update", at)
    return state


def _status(state: TicketTimers, waiting: bool, at: datetime) -> TicketTimers:
    if waiting == state.waiting:
        return state
    state = replace(state, waiting=waiting)
    index = state.running("update")
    if index is None:
        return state
    interval = state.intervals[index]
    if waiting:
        return _with(state, index, interval.paused(at))
    return _with(state, index, interval.resumed(at))


def _retarget(state: TicketTimers, severity: int, at: datetime) -> TicketTimers:
    state = replace(state, severity=severity)
    for kind in ("first_response", "update"):
        index = state.running(kind)
        if index is None:
            if kind == "update" and state.responded and state.running("resolution") is not None:
                state = _start(state, "update", at)
            continue
        interval = state.intervals[index]
        target = _target(state.targets, severity, interval.kind)
        if target is None:  # the new severity has no update cadence
            state = _stop(state, interval.kind, at)
            continue
        before = interval.record(state.calendar)
        earlier = evaluate_record(before, at)["breached_at"]
        retargeted = replace(interval, severity=severity, target=target, warned=None)
        if warned_by(before, at):  # a warning under the old target stands (R-SLA-7)
            retargeted = replace(retargeted, warned=(before["warn_at"], before["warn_due_at"]))
        if earlier is not None:  # a breach under the old target stands
            state = _with(state, index, replace(retargeted, breached_at=earlier))
            continue
        # The time counted so far (pauses excluded, on the new clock) against the new
        # target: a due instant already behind the change is breached at the change
        # (R-SLA-4). Paused with time left, the due instant comes from the time left
        # once the pause ends, and nothing is breached now.
        due = retargeted.due(state.calendar)
        paused_since = retargeted.paused_since
        if due < at and (paused_since is None or due < paused_since):
            retargeted = replace(retargeted, breached_at=at)
        warn = retargeted.warn(state.calendar)
        # A new threshold already behind the change warns at the change, as a due instant
        # behind it is breached there (R-SLA-4).
        if (
            retargeted.warned is None
            and warn is not None
            and warn[0] < at
            and (paused_since is None or warn[0] < paused_since)
        ):
            retargeted = replace(retargeted, warned=(at, due))
        state = _with(state, index, retargeted)
    return state
