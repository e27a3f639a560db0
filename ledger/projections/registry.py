"""The named projections: which subjects each one folds, into which tables.

A projection turns one subject's history into rows (``rows(subject, history)``), so the
runner can recompute exactly the subjects a batch touched, ``ledger rebuild`` can
recompute all of them, and an ``--as-of``/``--known-at`` query can fold a filtered log
through the very same functions (``fold``). ``History`` is anything that gives a
subject's events in log order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Table

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.customer import Customer
from ledger.aggregates.policy import DEFAULT_TARGETS, SlaPolicy
from ledger.aggregates.ticket import Ticket
from ledger.projections import tables
from ledger.projections.customers import project_customer
from ledger.projections.sla import Targets
from ledger.projections.tickets import project_ticket

Rows = dict[str, list[dict[str, Any]]]
"""Rows by table name."""

POLICY_SUBJECT = "SLA"


def _utc(rows: Rows) -> Rows:
    """Instants in UTC, as the read models store them, so every path gives equal rows."""
    for table_rows in rows.values():
        for row in table_rows:
            for key, value in row.items():
                if isinstance(value, datetime):
                    row[key] = value.astimezone(UTC)
    return rows


class History(Protocol):
    """A subject's events in log order, as visible to the caller."""

    def events(self, subject: str) -> list[LedgerEvent]:
        """The subject's events (empty when it has none)."""
        ...


_CALENDARS: OrderedDict[str, BusinessCalendar] = OrderedDict()
_CALENDAR_CACHE = 4096


def calendar_of(customer_events: list[LedgerEvent]) -> BusinessCalendar:
    """The customer's business calendar (fixed at onboarding); the default if none.

    Parsed once per onboarding event (by its ``event_id``): events never change.
    """
    for event in customer_events:
        if isinstance(event, Customer.Onboarded):
            calendar = _CALENDARS.get(event.event_id)
            if calendar is None:
                calendar = BusinessCalendar.from_wire(event.calendar)
                _CALENDARS[event.event_id] = calendar
                if len(_CALENDARS) > _CALENDAR_CACHE:
                    _CALENDARS.popitem(last=False)
            return calendar
    return BusinessCalendar()


def policy_of(policy_events: list[LedgerEvent]) -> SlaPolicy | None:
    """The SLA policy aggregate folded from its events (None before any proposal)."""
    policy: Any = None
    for event in policy_events:
        policy = event.mutate(policy)
    return policy if isinstance(policy, SlaPolicy) else None


def targets_of(policy_events: list[LedgerEvent]) -> dict[int, Targets]:
    """Targets by policy version (version 1 is the contract's default)."""
    policy = policy_of(policy_events)
    if policy is None:
        return {1: DEFAULT_TARGETS}
    return {version.version: version.targets for version in policy.versions}


def ticket_rows(subject: str, history: History) -> Rows:
    """The ``tickets``, ``sla_timers`` and ``escalations`` rows of one ticket."""
    events = history.events(subject)
    opened = next((e for e in events if isinstance(e, Ticket.Opened)), None)
    if opened is None:
        return {}
    calendar = calendar_of(history.events(opened.customer_id))
    projection = project_ticket(events, calendar, targets_of(history.events(POLICY_SUBJECT)))
    if projection is None:
        return {}
    return _utc(
        {
            "tickets": [projection.ticket],
            "sla_timers": projection.timers,
            "escalations": projection.escalations,
        }
    )


def customer_rows(subject: str, history: History) -> Rows:
    """The ``customers`` row and success-signal rows of one customer."""
    projection = project_customer(history.events(subject))
    if projection is None:
        return {}
    return _utc(
        {
            "customers": [projection.customer],
            "customer_usage": projection.usage,
            "customer_surveys": projection.surveys,
            "customer_check_ins": projection.check_ins,
            "customer_milestones": projection.milestones,
            "customer_contracts": projection.contracts,
        }
    )


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
class Projection:
    """A named projection: the events it follows and the tables it fills."""

    name: str
    follows: type[LedgerEvent]
    tables: tuple[Table, ...]
    subject_column: str | None  # None: one subject owns every row (the policy)
    rows: Callable[[str, History], Rows]
    needs: Callable[[str, History], Iterable[str]] = lambda subject, history: ()

    def table(self, name: str) -> Table:
        """One of the projection's tables by name."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)


def _ticket_needs(subject: str, history: History) -> Iterable[str]:
    """Other subjects a ticket's rows read: its customer (calendar) and the policy."""
    for event in history.events(subject):
        if isinstance(event, Ticket.Opened):
            return (event.customer_id, POLICY_SUBJECT)
    return (POLICY_SUBJECT,)


PROJECTIONS: tuple[Projection, ...] = (
    Projection(
        "tickets",
        Ticket.Event,
        (tables.tickets, tables.sla_timers, tables.escalations),
        "ticket_id",
        ticket_rows,
        _ticket_needs,
    ),
    Projection(
        "customers",
        Customer.Event,
        (
            tables.customers,
            tables.customer_usage,
            tables.customer_surveys,
            tables.customer_check_ins,
            tables.customer_milestones,
            tables.customer_contracts,
        ),
        "customer_id",
        customer_rows,
    ),
    Projection(
        "policy",
        SlaPolicy.Event,
        (tables.sla_policy_versions,),
        None,
        policy_rows,
    ),
)
"""Every projection, by name; ``ledger rebuild NAME`` takes one of these names."""

BY_NAME = {projection.name: projection for projection in PROJECTIONS}


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


def fold(events: Iterable[LedgerEvent]) -> Rows:
    """Every projection's rows from a list of events, without a database."""
    history = EventsBySubject(events)
    board: Rows = {table.name: [] for p in PROJECTIONS for table in p.tables}
    for projection in PROJECTIONS:
        for subject in history.subjects(projection.follows):
            for name, rows in projection.rows(subject, history).items():
                board[name].extend(rows)
    return board
