"""A ticket's SLA timers as of any instant, replayed from the log (R-TIME-1, R-SLA-5).

``as_of`` keeps the events that occurred at or before it and evaluates the timers there;
``known_at`` keeps only the events the ledger had recorded by then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.customer import Customer
from ledger.aggregates.policy import DEFAULT_TARGETS, SlaPolicy
from ledger.aggregates.ticket import Ticket
from ledger.app import LedgerApp
from ledger.projections.sla import TicketTimers
from ledger.views import instant


def visible(
    events: list[LedgerEvent], as_of: datetime, known_at: datetime | None
) -> list[LedgerEvent]:
    """The events that had occurred by ``as_of`` and were recorded by ``known_at``."""
    return [
        e
        for e in events
        if e.occurred_at <= as_of and (known_at is None or e.recorded_at <= known_at)
    ]


def ticket_timers(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None = None
) -> list[dict[str, Any]] | None:
    """The ticket's timer rows (None when the ticket did not exist as of then)."""
    events = visible(app.history(ticket_id), as_of, known_at)
    if not events or not isinstance(events[0], Ticket.Opened):
        return None
    opened = events[0]
    calendar = BusinessCalendar()
    for event in visible(app.history(opened.customer_id), as_of, known_at):
        if isinstance(event, Customer.Onboarded):
            calendar = BusinessCalendar.from_wire(event.calendar)
    policy = app.find("SLA")
    targets = (
        {v.version: v.targets for v in policy.versions}
        if isinstance(policy, SlaPolicy)
        else {1: DEFAULT_TARGETS}
    )
    timers = TicketTimers(calendar, targets)
    for event in events:
        timers.evolve(event)
    return [
        {k: instant(v) if isinstance(v, datetime) else v for k, v in row.items()}
        for row in timers.rows(as_of)
    ]
