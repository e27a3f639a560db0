"""SLA timers as a pure fold over one ticket's events (R-SLA-1..5): no clock, no database.

``TicketTimers.evolve(event)`` folds the ticket's producer events in order; ``rows(as_of)``
evaluates every timer interval at an instant. Events the ledger writes itself
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

A severity change re-targets the running timers from their start on the new
severity's clock (R-SLA-4): a breach under the old target stands; otherwise the time
counted so far, pauses excluded, is held against the new target, and a due instant
already behind the change is breached at the change. Re-targeted during a pause with
time left, the timer is due that time after the pause ends.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar, Target
from ledger.aggregates.policy import PolicyTargets
from ledger.aggregates.ticket import Ticket

TimerKind = Literal["first_response", "update", "resolution"]
State = Literal["running", "paused", "met", "breached"]
Targets = dict[str, dict[str, Any]]


@dataclass
class Interval:
    """One timer interval of one ticket."""

    kind: TimerKind
    severity: int
    started_at: datetime
    target: Target | None
    pauses: list[list[datetime | None]] = field(default_factory=list)
    stopped_at: datetime | None = None
    breached_at: datetime | None = None  # fixed by a re-target (R-SLA-4)
    _recorded: tuple[Any, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def paused_since(self) -> datetime | None:
        """When the running pause began, if the timer is paused."""
        return self.pauses[-1][0] if self.pauses and self.pauses[-1][1] is None else None

    def counted(self, calendar: BusinessCalendar, until: datetime) -> timedelta:
        """Time on the target's clock from the start to ``until``, pauses excluded."""
        assert self.target is not None
        total = self.target.elapsed(self.started_at, until, calendar)
        for start, end in self.pauses:
            assert start is not None
            total -= self.target.elapsed(start, min(end or until, until), calendar)
        return total

    def _add(self, start: datetime, amount: timedelta, calendar: BusinessCalendar) -> datetime:
        """The instant ``amount`` of the target's clock has run from ``start``, unpaused."""
        assert self.target is not None
        if self.target.clock == "24x7":
            return start + amount
        return calendar.add(start, amount)

    def _due(self, calendar: BusinessCalendar) -> datetime:
        """The first instant outside every pause at which the counted time reaches the target.

        The clock runs in the stretches between pauses; each is tried in turn with the time
        still left. A target reached before a pause begins is due there, whatever comes
        later: a pause never moves a due instant that lies before it (R-SLA-3). A target
        reached exactly as a pause begins has not passed; it is due when the pause ends,
        with nothing left. While a pause runs with time left, the due instant is not known
        yet; the answer is then the pause start plus the time left (where the deadline
        stood when the clock stopped, the earliest it can come due).
        """
        assert self.target is not None
        remaining = self.target.length(calendar)
        resume = self.started_at
        for start, end in self.pauses:
            assert start is not None
            if start >= resume:
                due = self._add(resume, remaining, calendar)
                if due < start:
                    return due
                remaining -= self.target.elapsed(resume, start, calendar)
            if end is None:
                return self._add(start, remaining, calendar)
            resume = max(resume, end)
        return self._add(resume, remaining, calendar)

    def record(self, calendar: BusinessCalendar) -> dict[str, Any]:
        """The interval as the facts so far fix it, independent of any "now".

        ``due_at`` is the due instant (see ``_due``; provisional while a pause runs with
        time left); ``breached_at`` is set only when the facts decide it (stopped or
        paused after the due instant, or a re-target, R-SLA-4). ``evaluate`` turns this
        into a row as of an instant.

        Remembered until the interval changes: a runner asks again for every ticket a
        page touches, and the due instant (business-calendar arithmetic) is the dear part.
        """
        facts = (
            self.severity,
            self.started_at,
            self.target,
            tuple(tuple(pause) for pause in self.pauses),
            self.stopped_at,
            self.breached_at,
            calendar,
        )
        if self._recorded is not None and self._recorded[0] == facts:
            return dict(self._recorded[1])
        record = self._record(calendar)
        self._recorded = (facts, record)
        return dict(record)

    def _record(self, calendar: BusinessCalendar) -> dict[str, Any]:
        due = None if self.target is None else self._due(calendar)
        closed = timedelta(0)
        for start, end in self.pauses:
            if start is not None and end is not None:
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
        }

    def evaluate(self, calendar: BusinessCalendar, as_of: datetime) -> dict[str, Any]:
        """The interval's row as of an instant (the fold has seen events up to it)."""
        return evaluate_record(self.record(calendar), as_of)


RECORD_KEYS = (
    "ticket_id",
    "customer_id",
    "policy_version",
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
)
"""The columns of a stored timer record (the ``sla_timers`` read model)."""


def evaluate_record(record: dict[str, Any], as_of: datetime) -> dict[str, Any]:
    """A timer record evaluated at ``as_of``: its ``state`` and ``breached_at`` then.

    The record must come from events that occurred at or before ``as_of``. A running
    timer whose due instant has passed is breached at its due instant (R-SLA-5), whether
    or not the tick has written ``sla.breached``.
    """
    stop = record["stopped_at"]
    due = record["due_at"]
    pause = record["paused_since"]
    paused = record["paused_seconds"]
    if pause is not None and stop is None:
        paused += int(max((as_of - pause).total_seconds(), 0))
    breached_at = record["breached_at"]
    if breached_at is None and due is not None and stop is None and pause is None and due < as_of:
        breached_at = due
    if breached_at is not None and breached_at > as_of:
        breached_at = None
    state: State
    if breached_at is not None:
        state = "breached"
    elif stop is not None:
        state = "met"
    elif pause is not None:
        state = "paused"
    else:
        state = "running"
    row = {k: v for k, v in record.items() if k not in ("paused_since", "clock")}
    row.update(paused_seconds=paused, state=state, breached_at=breached_at)
    return row


def sla_board(
    records: list[dict[str, Any]],
    as_of: datetime,
    *,
    breached: bool = False,
    at_risk: int | None = None,
    open_only: bool = False,
    customer: str | None = None,
    severity: int | None = None,
) -> list[dict[str, Any]]:
    """The SLA board: timer records evaluated at ``as_of``, filtered, soonest due first.

    ``breached``: only timers breached by ``as_of``; ``at_risk``: only running timers due
    within that many minutes (each gets ``minutes_left``); ``open_only``: only timers not
    stopped yet.
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
        return _target_from(value["duration"], value["clock"])
    except (KeyError, TypeError):
        return Target.from_wire(value)  # raises, naming what is wrong


@functools.lru_cache(maxsize=256)
def _target_from(duration: str, clock: str) -> Target:
    """Targets are few and immutable: parsed once each, not once per timer started."""
    return Target.from_wire({"duration": duration, "clock": clock})


def policy_version(targets_by_version: dict[int, Targets], opened: Ticket.Opened) -> int:
    """The policy version a ticket runs under: the one in force at its opening, as the
    policy's history says (``PolicyTargets``), else the one its opening recorded."""
    if isinstance(targets_by_version, PolicyTargets):
        return targets_by_version.version_at(opened.occurred_at)
    return opened.policy_version


class TicketTimers:
    """The fold: evolve with a ticket's events, then ask for rows as of any instant."""

    def __init__(self, calendar: BusinessCalendar, targets_by_version: dict[int, Targets]) -> None:
        self.calendar = calendar
        self.targets_by_version = targets_by_version
        self.ticket_id = ""
        self.customer_id = ""
        self.policy_version = 1
        self.severity = 0
        self.responded = False
        self.waiting = False
        self.intervals: list[Interval] = []

    @property
    def targets(self) -> Targets:
        """The targets of the ticket's policy version."""
        return self.targets_by_version[self.policy_version]

    def running(self, kind: TimerKind) -> Interval | None:
        """The open interval of a kind, if any."""
        for interval in reversed(self.intervals):
            if interval.kind == kind and interval.stopped_at is None:
                return interval
        return None

    def _start(self, kind: TimerKind, at: datetime) -> None:
        target = _target(self.targets, self.severity, kind)
        if kind != "resolution" and target is None:
            return
        interval = Interval(kind, self.severity, at, target)
        if kind == "update" and self.waiting:
            interval.pauses.append([at, None])
        self.intervals.append(interval)

    def _stop(self, kind: TimerKind, at: datetime) -> None:
        interval = self.running(kind)
        if interval is not None:
            if interval.paused_since is not None:
                interval.pauses[-1][1] = at
            interval.stopped_at = at

    def evolve(self, event: LedgerEvent) -> None:
        """Fold one event of the ticket in (system events are ignored)."""
        if event.SYSTEM:
            return
        at = event.occurred_at
        if isinstance(event, Ticket.Opened):
            self.ticket_id, self.customer_id = event.originator_id, event.customer_id
            self.policy_version = policy_version(self.targets_by_version, event)
            self.severity = event.severity
            self._start("first_response", at)
            self._start("resolution", at)
        elif isinstance(event, Ticket.Triaged) and event.severity != self.severity:
            self._retarget(event.severity, at)
        elif (
            isinstance(event, Ticket.Responded) and event.public and event.actor_role != "customer"
        ):
            self._communicated(at, first=True)
        elif isinstance(event, Ticket.UpdatePosted) and event.actor_role != "customer":
            self._communicated(at, first=False)
        elif isinstance(event, Ticket.StatusChanged):
            self._status(event.status == "waiting_on_customer", at)
        elif isinstance(event, Ticket.Resolved):
            for kind in ("first_response", "update", "resolution"):
                self._stop(kind, at)
        elif isinstance(event, Ticket.Reopened):
            self.waiting = False
            self._start("resolution", at)
            if self.responded:
                self._start("update", at)

    def _communicated(self, at: datetime, *, first: bool) -> None:
        if first and not self.responded:
            self.responded = True
            self._stop("first_response", at)
            self._start("update", at)
        elif self.responded and self.running("update") is not None:
            self._stop("update", at)
            self._start("update", at)

    def _status(self, waiting: bool, at: datetime) -> None:
        if waiting == self.waiting:
            return
        self.waiting = waiting
        interval = self.running("update")
        if interval is None:
            return
        if waiting:
            interval.pauses.append([at, None])
        elif interval.paused_since is not None:
            interval.pauses[-1][1] = at

    def _retarget(self, severity: int, at: datetime) -> None:
        self.severity = severity
        for kind in ("first_response", "update"):
            interval = self.running(kind)
            if interval is None:
                if kind == "update" and self.responded and self.running("resolution"):
                    self._start("update", at)
                continue
            target = _target(self.targets, severity, interval.kind)
            if target is None:  # the new severity has no update cadence
                self._stop(interval.kind, at)
                continue
            earlier = interval.evaluate(self.calendar, at)["breached_at"]
            interval.severity, interval.target = severity, target
            if earlier is not None:
                interval.breached_at = earlier  # a breach under the old target stands
                continue
            # The time counted so far (pauses excluded, on the new clock) against the new
            # target: a due instant already behind the change is breached at the change
            # (R-SLA-4). Paused with time left, the due instant comes from the time left
            # once the pause ends, and nothing is breached now.
            due = interval._due(self.calendar)
            paused_since = interval.paused_since
            if due < at and (paused_since is None or due < paused_since):
                interval.breached_at = at

    def records(self) -> list[dict[str, Any]]:
        """Every interval as stored in the read model (see ``Interval.record``)."""
        base = {
            "ticket_id": self.ticket_id,
            "customer_id": self.customer_id,
            "policy_version": self.policy_version,
        }
        return [
            {**base, "seq": seq, **interval.record(self.calendar)}
            for seq, interval in enumerate(self.intervals)
        ]

    def rows(self, as_of: datetime) -> list[dict[str, Any]]:
        """Every interval started at or before ``as_of``, evaluated at ``as_of``.

        The caller folds only the events that occurred at or before ``as_of``.
        """
        return [
            evaluate_record(record, as_of)
            for record in self.records()
            if record["started_at"] <= as_of
        ]
