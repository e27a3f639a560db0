"""The named projections: which subjects each one folds, into which tables.

A projection turns one subject's history into rows (``rows(subject, history)``), so the
runner can recompute exactly the subjects a batch touched, ``ledger rebuild`` can
recompute all of them, and an ``--as-of``/``--known-at`` query can fold a filtered log
through the very same functions (``fold``). ``History`` is anything that gives a
subject's events in log order.

A subject whose fold fails (an event no rule foresaw, written before the intake bound
that now refuses it) is left out, never the whole answer: ``guarded`` folds one subject
and turns its exception into a logged ``Failure`` (the runner, ``fold`` and the as-of
queries all go through it). Errors of the database are not the subject's: they raise.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, Generic, Protocol, TypeVar, cast

from eventsourcing.persistence import PersistenceError

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.customer import Customer, SlaException
from ledger.aggregates.policy import DEFAULT_VERSION, PolicyTargets, SlaPolicy
from ledger.aggregates.ticket import Ticket
from ledger.projections import customers, tickets
from ledger.projections.customers import onboarding_calendar
from ledger.projections.fold import Fold, Rows, S
from ledger.projections.sla import Targets

POLICY_SUBJECT = "SLA"

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_MACHINE_OR_DATABASE: Final[tuple[type[BaseException], ...]] = (
    PersistenceError,
    sqlite3.Error,
    MemoryError,
)
_DRIVER_ERRORS: Final = (("sqlalchemy.exc", "SQLAlchemyError"), ("psycopg", "Error"))


def not_the_subject() -> tuple[type[BaseException], ...]:
    """Failures of the machine or the database, not of one subject's events: never
    skipped. SQLAlchemy's and psycopg's errors count once they are loaded (a query
    folding the log imports neither, and a SQLite ledger never imports psycopg, so
    none can be raised there)."""
    errors = list(_MACHINE_OR_DATABASE)
    for module_name, name in _DRIVER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None:
            errors.append(cast(type[BaseException], getattr(module, name)))
    return tuple(errors)


@dataclass(frozen=True)
class Failure:
    """A subject a projection could not fold: left out of the answer, with why."""

    projection: str
    subject: str
    error: str

    def __str__(self) -> str:
        return f"{self.projection} {self.subject}: {self.error}"


class SubjectFailed(ValueError):
    """The one subject a question is about cannot be folded (an error, not an empty answer)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.subject} cannot be projected ({failure.error})")
        self.failure = failure


def describe(error: BaseException) -> str:
    """An exception as one line: its type and message."""
    return f"{type(error).__name__}: {error}".rstrip(": ")


def guarded(
    projection: str,
    subject: str,
    work: Callable[[], _T],
    failures: list[Failure] | None = None,
) -> _T | None:
    """``work()`` (folding one subject), or None when it raised: the failure is logged
    as a warning naming the projection and the subject, and added to ``failures``."""
    try:
        return work()
    except not_the_subject():
        raise
    except Exception as error:
        failure = Failure(projection, subject, describe(error))
        log.warning("projection %s: %s left out: %s", projection, subject, failure.error)
        if failures is not None:
            failures.append(failure)
        return None


def _utc(rows: Rows) -> Rows:
    """Instants in UTC, as the read models store them, so every path gives equal rows
    (new containers: the fold's own rows are left as they are)."""
    return {
        name: [
            {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in row.items()}
            for row in table_rows
        ]
        for name, table_rows in rows.items()
    }


class History(Protocol):
    """A subject's events in log order, as visible to the caller."""

    def events(self, subject: str) -> list[LedgerEvent]:
        """The subject's events (empty when it has none)."""
        ...


def calendar_of(customer_events: list[LedgerEvent]) -> BusinessCalendar:
    """The customer's onboarding calendar (version 1); the default if none. Its approved
    changes reach a ticket's fold as events (``calendar_approvals``)."""
    onboarded = _onboarding(customer_events)
    return BusinessCalendar() if onboarded is None else onboarding_calendar(onboarded)


def calendar_approvals(customer_events: list[LedgerEvent]) -> list[Customer.CalendarChangeApproved]:
    """The customer's approved calendar changes, in order (versions 2, 3, ...).

    Remembered per history (by its first event's hash) and extended as it grows (checked
    by the hash of the last event seen): every ticket of the customer asks on every page
    a runner folds, and the customer's events are many where these are few.
    """
    if not customer_events:
        return []
    first, n = customer_events[0], len(customer_events)
    key = first.event_hash or first.event_id
    seen, last, found = _APPROVALS.get(key, (0, "", []))
    if seen > n or (seen and _mark(customer_events[seen - 1]) != last):
        seen, found = 0, []  # another history with the same first event: scan it anew
    if seen < n:
        more = [e for e in customer_events[seen:] if isinstance(e, Customer.CalendarChangeApproved)]
        found = [*found, *more] if more else found
        if len(_APPROVALS) >= 4096:
            _APPROVALS.clear()
        _APPROVALS[key] = (n, _mark(customer_events[-1]), found)
    return found


def _mark(event: LedgerEvent) -> str:
    return event.event_hash or event.event_id


_APPROVALS: dict[str, tuple[int, str, list[Customer.CalendarChangeApproved]]] = {}


def _onboarding(customer_events: list[LedgerEvent]) -> Customer.Onboarded | None:
    return next((e for e in customer_events if isinstance(e, Customer.Onboarded)), None)


def exceptions_of(customer_events: list[LedgerEvent]) -> tuple[SlaException, ...]:
    """The customer's approved exceptions (R-EXC), in order of approval.

    Remembered by the history's first event, length and last event: every ticket of the
    customer a runner meets asks again. These name the producer events of any history a
    fold is given (a prefix of the log, or the events visible as of an instant: producer
    events are a prefix of the subject's, R-IN-5, and a visible list with more of them
    than another of the same length and last event cannot be), and exceptions are
    producer events."""
    if not customer_events:
        return ()
    key = (customer_events[0].event_id, len(customer_events), customer_events[-1].event_id)
    found = _EXCEPTIONS.get(key)
    if found is None:
        requested: dict[str, Customer.ExceptionRequested] = {}
        approved = []
        for event in customer_events:
            if isinstance(event, Customer.ExceptionRequested):
                requested[event.exception_id] = event
            elif isinstance(event, Customer.ExceptionApproved):
                request = requested[event.exception_id]
                approved.append(
                    SlaException(
                        event.exception_id,
                        event.effective_from,
                        request.expires_at,
                        request.targets,
                    )
                )
        found = tuple(approved)
        if len(_EXCEPTIONS) >= 4096:
            _EXCEPTIONS.clear()
        _EXCEPTIONS[key] = found
    return found


_EXCEPTIONS: dict[tuple[str, int, str], tuple[SlaException, ...]] = {}


def policy_of(policy_events: list[LedgerEvent]) -> SlaPolicy | None:
    """The SLA policy aggregate folded from its events (None before any proposal)."""
    policy: Any = None
    for event in policy_events:
        policy = event.mutate(policy)
    return policy if isinstance(policy, SlaPolicy) else None


def targets_of(policy_events: list[LedgerEvent]) -> dict[int, Targets]:
    """Targets by policy version (version 1 is the contract's default).

    Remembered by the events' hashes: every ticket a runner meets asks again, and the
    policy has a handful of events where a log has millions of others.
    """
    key = tuple(event.event_hash for event in policy_events)
    targets = _TARGETS.get(key)
    if targets is None:
        policy = policy_of(policy_events)
        targets = PolicyTargets([DEFAULT_VERSION] if policy is None else policy.versions)
        if len(_TARGETS) >= 64:
            _TARGETS.clear()
        _TARGETS[key] = targets
    return PolicyTargets(targets.versions)


_TARGETS: dict[tuple[str, ...], PolicyTargets] = {}


@dataclass(frozen=True)
class Folding(Generic[S]):
    """How a runner folds one subject of a projection: the fold (``evolve``, ``rows``), the
    state it starts from (built from what the subject's rows read besides its own events:
    a customer's calendar, the policy's targets), and ``depends``, that reading as a value
    which changes when it does. These are the runner's concerns, not the fold's: a runner
    that keeps a state between pages of the log feeds it only the new events, and starts
    again from ``start`` when ``depends`` changes."""

    fold: Fold[S]
    start: Callable[[str, History], S]
    depends: Callable[[S, History], Hashable]
    # What a subject's rows fold, in the order its versions are written (None: its own
    # events, in log order); with ``reorders`` and ``canonical`` below, for a stream that
    # merges other subjects' events (a ticket and its customer's calendar approvals).
    stream: Callable[[str, History], list[LedgerEvent]] | None = None
    # Whether ``event``, next in the stream, belongs before what ``state`` has folded in
    # the order the fold's rows are defined by; then the prefix is folded again in that
    # order (``canonical``).
    reorders: Callable[[S, LedgerEvent], bool] = lambda state, event: False
    canonical: Callable[[list[LedgerEvent]], list[LedgerEvent]] = lambda events: events
    # Whether a runner may fold ``event`` (the subject's own, stored later) on top of a
    # kept state; if not it starts again from the whole stream.
    appends: Callable[[S, LedgerEvent], bool] = lambda state, event: True

    def evolve(self, state: S, event: LedgerEvent) -> S:
        """The state after one more event."""
        return self.fold.evolve(state, event)

    def state_rows(self, state: S) -> Rows:
        """A state's rows, instants in UTC as the read models store them."""
        return _utc(self.fold.rows(state))

    def events(self, subject: str, history: History) -> list[LedgerEvent]:
        """What the subject's rows fold, in stream order."""
        return history.events(subject) if self.stream is None else self.stream(subject, history)

    def states(
        self, subject: str, history: History, state: S | None = None
    ) -> Iterator[tuple[LedgerEvent, S]]:
        """Each event of the subject's stream with the state right after it: the state
        the events so far give in the fold's own order (``canonical``). ``state``: the
        start, when the caller has it already."""
        if state is None:
            state = self.start(subject, history)
        events = self.events(subject, history)
        for n, event in enumerate(events):
            if self.reorders(state, event):
                state = self.start(subject, history)
                for earlier in self.canonical(events[: n + 1]):
                    state = self.fold.evolve(state, earlier)
            else:
                state = self.fold.evolve(state, event)
            yield event, state

    def rows(self, subject: str, history: History) -> Rows:
        """The subject's rows from its whole history."""
        state = self.start(subject, history)
        if self.stream is None:
            for event in history.events(subject):
                state = self.fold.evolve(state, event)
        else:
            for _, after in self.states(subject, history, state):
                state = after
        return self.state_rows(state)


def _opening(events: list[LedgerEvent]) -> Ticket.Opened | None:
    return next((e for e in events if isinstance(e, Ticket.Opened)), None)


def _ticket_start(subject: str, history: History) -> tickets.TicketState:
    """A ticket starts on its customer's calendar, the policy's targets and the
    customer's approved exceptions."""
    opened = _opening(history.events(subject))
    customer = history.events(opened.customer_id) if opened is not None else []
    return tickets.initial(
        calendar_of(customer),
        targets_of(history.events(POLICY_SUBJECT)),
        exceptions_of(customer),
    )


def _ticket_depends(state: tickets.TicketState, history: History) -> Hashable:
    """What a ticket's rows read besides its events: its customer's onboarding (the
    calendar), its approved calendar changes and exceptions, and the policy's events
    (the targets)."""
    customer = state.row.get("customer_id")
    if customer is None:
        return None
    customer_events = history.events(customer)
    onboarded = _onboarding(customer_events)
    approved = tuple(e.exception_id for e in exceptions_of(customer_events))
    policy_events = len(history.events(POLICY_SUBJECT))
    return (
        onboarded.event_id if onboarded is not None else None,
        len(calendar_approvals(customer_events)),
        approved,
        policy_events,
    )


def _ticket_wakes(event: LedgerEvent) -> Wake | None:
    """The tickets whose rows an event of another subject changes (read in ``depends``
    or merged into their stream), of the event's customer:

    - an exception approval: those opened from its ``effective_from`` (its tickets
      opened before were folded under the policy alone, and across partitions some
      opened after can be stored before it, R-IN-6);
    - an approved calendar change (R-CAL): those whose business timers it can move, with
      one open or with an event at or after the approval (``calendar_settled_at``);
    - an erasure (R-ERASE-1): all of them, their events rewritten in place."""
    if isinstance(event, Customer.ExceptionApproved):
        return Wake(event.originator_id, opened_from=event.effective_from)
    if isinstance(event, Customer.CalendarChangeApproved):
        return Wake(event.originator_id, settled_from=event.occurred_at)
    if isinstance(event, Customer.DataErased):  # every ticket's events may have changed
        return Wake(event.originator_id)
    return None


def _ticket_stream(subject: str, history: History) -> list[LedgerEvent]:
    """The ticket's events with its customer's calendar approvals merged in, each
    approval just before the first event of the ticket that both occurred and was
    recorded at or after it (else after them all). That order is monotone on both time
    axes wherever a ticket event follows, so the versions written along it never hide
    one of the ticket's own events; an approval the ticket's events overtook (recorded
    later, occurred earlier) comes after them, and its state is folded in
    ``occurred_at`` order (``_ticket_canonical``)."""
    own = history.events(subject)
    opened = _opening(own)
    approvals = calendar_approvals(history.events(opened.customer_id)) if opened else []
    if not approvals:
        return own
    merged: list[LedgerEvent] = []
    waiting = 0
    for event in own:
        if not event.SYSTEM:
            while waiting < len(approvals) and _dominated(approvals[waiting], event):
                merged.append(approvals[waiting])
                waiting += 1
        merged.append(event)
    merged.extend(approvals[waiting:])
    return merged


def _dominated(approval: LedgerEvent, event: LedgerEvent) -> bool:
    return approval.occurred_at <= event.occurred_at and approval.recorded_at <= event.recorded_at


def _ticket_reorders(state: tickets.TicketState, event: LedgerEvent) -> bool:
    """An approval that occurred at or before the ticket's latest event folded (its
    rows are defined with the approval first)."""
    latest = state.row.get("last_occurred_at")
    return (
        isinstance(event, Customer.CalendarChangeApproved)
        and latest is not None
        and event.occurred_at <= latest
    )


def _ticket_canonical(events: list[LedgerEvent]) -> list[LedgerEvent]:
    """By ``occurred_at``, an approval before the ticket's events of the same instant (a
    change approved at T counts as of T); the ticket's own keep their order."""
    return sorted(
        events,
        key=lambda e: (e.occurred_at, not isinstance(e, Customer.CalendarChangeApproved)),
    )


def _ticket_appends(state: tickets.TicketState, event: LedgerEvent) -> bool:
    """A ticket event stored later goes on top of a kept fold unless a calendar approval
    folded last did not occur and get recorded by it (it belongs after that approval)."""
    last = state.last_approval
    if last is None or event.SYSTEM:
        return True
    return last[0] <= event.occurred_at and last[1] <= event.recorded_at


TICKET_FOLDING: Final = Folding(
    tickets,
    _ticket_start,
    _ticket_depends,
    stream=_ticket_stream,
    reorders=_ticket_reorders,
    canonical=_ticket_canonical,
    appends=_ticket_appends,
)


def ticket_rows(subject: str, history: History) -> Rows:
    """The ``tickets``, ``sla_timers``, ``escalations``, ``rca_actions`` and
    ``rca_knowledge_links`` rows of one ticket."""
    return TICKET_FOLDING.rows(subject, history)


CUSTOMER_FOLDING: Final = Folding(
    customers,
    lambda subject, history: customers.INITIAL,
    lambda state, history: None,  # its own events only
)


def customer_rows(subject: str, history: History) -> Rows:
    """The ``customers`` row and success-signal rows of one customer."""
    return CUSTOMER_FOLDING.rows(subject, history)


def policy_rows(subject: str, history: History) -> Rows:
    """One row per approved SLA policy version (version 1 included)."""
    policy = policy_of(history.events(subject))
    versions = policy.versions if policy is not None else []
    return _utc(
        {
            "sla_policy_versions": [
                {"version": v.version, "effective_from": v.effective_from, "targets": v.targets}
                for v in versions
            ]
        }
    )


@dataclass(frozen=True)
class Wake:
    """Tickets a runner folds again although no event of theirs arrived (their rows read
    the customer's events): the customer's tickets opened at or after ``opened_from``
    (if given) whose ``calendar_settled_at`` is null or not before ``settled_from`` (if
    given)."""

    customer_id: str
    opened_from: datetime | None = None
    settled_from: datetime | None = None


@dataclass(frozen=True)
class Projection:
    """A named projection: the events it follows and the tables it fills."""

    name: str
    follows: type[LedgerEvent]
    tables: tuple[str, ...]  # the read-model tables it fills, by name
    subject_column: str | None  # None: one subject owns every row (the policy)
    rows: Callable[[str, History], Rows]
    needs: Callable[[str, History], Iterable[str]] = lambda subject, history: ()
    folding: Folding[Any] | None = None  # None: ``rows`` from the whole history every time
    # Another subject's event that changes some of this projection's subjects' rows: which
    # of them (tickets only; the runner finds them, ``ledger.adapters.projector``).
    wakes: Callable[[LedgerEvent], Wake | None] = lambda event: None


def _ticket_needs(subject: str, history: History) -> Iterable[str]:
    """Other subjects a ticket's rows read: its customer (calendar and its changes) and
    the policy."""
    for event in history.events(subject):
        if isinstance(event, Ticket.Opened):
            return (event.customer_id, POLICY_SUBJECT)
    return (POLICY_SUBJECT,)


PROJECTIONS: tuple[Projection, ...] = (
    Projection(
        "tickets",
        Ticket.Event,
        ("tickets", "sla_timers", "escalations", "rca_actions", "rca_knowledge_links"),
        "ticket_id",
        ticket_rows,
        _ticket_needs,
        TICKET_FOLDING,
        _ticket_wakes,
    ),
    Projection(
        "customers",
        Customer.Event,
        (
            "customers",
            "customer_usage",
            "customer_surveys",
            "customer_check_ins",
            "customer_milestones",
            "customer_contracts",
            "customer_calendars",
            "customer_exceptions",
            "customer_feedback",
            "success_plays",
        ),
        "customer_id",
        customer_rows,
        folding=CUSTOMER_FOLDING,
    ),
    Projection(
        "policy",
        SlaPolicy.Event,
        ("sla_policy_versions",),
        None,
        policy_rows,
    ),
)
"""Every projection, by name; ``ledger rebuild NAME`` takes one of these names."""

BY_NAME = {projection.name: projection for projection in PROJECTIONS}


def visible(
    events: list[LedgerEvent], as_of: datetime, known_at: datetime | None
) -> list[LedgerEvent]:
    """The events that had occurred by ``as_of`` and were recorded by ``known_at``."""
    return [
        e
        for e in events
        if e.occurred_at <= as_of and (known_at is None or e.recorded_at <= known_at)
    ]


class EventsBySubject:
    """A ``History`` over an in-memory list of events (the as-of path, tests)."""

    def __init__(self, events: Iterable[LedgerEvent]) -> None:
        self._events: dict[str, list[LedgerEvent]] = {}
        for event in events:
            self._events.setdefault(event.originator_id, []).append(event)

    def events(self, subject: str) -> list[LedgerEvent]:
        """The subject's events in log order."""
        return self._events.get(subject, [])

    def subjects(self, kind: type[LedgerEvent]) -> list[str]:
        """Subjects whose first event is of the given aggregate, in first-seen order."""
        return [s for s, events in self._events.items() if isinstance(events[0], kind)]


def fold(events: Iterable[LedgerEvent], failures: list[Failure] | None = None) -> Rows:
    """Every projection's rows from a list of events, without a database; a subject
    whose fold fails is left out (``guarded``: logged, and added to ``failures``)."""
    history = EventsBySubject(events)
    board: Rows = {name: [] for p in PROJECTIONS for name in p.tables}
    for projection in PROJECTIONS:
        for subject in history.subjects(projection.follows):
            rows = guarded(
                projection.name, subject, partial(projection.rows, subject, history), failures
            )
            for name, table_rows in (rows or {}).items():
                board[name].extend(table_rows)
    return board
