"""What the ledger holds: a fold over the whole notification log (no read models needed)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.customer import Customer
from ledger.aggregates.ticket import Ticket
from ledger.app import LedgerApp

PAGE = 5000


@dataclass
class Holdings:
    """Counts of what the log holds."""

    events: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    customers_by_tier: Counter[str] = field(default_factory=Counter)
    ticket_severity: dict[str, int] = field(default_factory=dict)
    ticket_status: dict[str, str] = field(default_factory=dict)
    rcas_published: set[str] = field(default_factory=set)

    def evolve(self, event: LedgerEvent) -> None:
        """Fold one event in."""
        self.events += 1
        self.events_by_type[event.WIRE_TYPE] += 1
        subject = event.originator_id
        if isinstance(event, Customer.Onboarded):
            self.customers_by_tier[event.tier] += 1
        elif isinstance(event, Ticket.Opened | Ticket.Triaged):
            self.ticket_severity[subject] = event.severity
            self.ticket_status.setdefault(subject, "open")
        elif isinstance(event, Ticket.StatusChanged):
            self.ticket_status[subject] = event.status
        elif isinstance(event, Ticket.Resolved):
            self.ticket_status[subject] = "resolved"
        elif isinstance(event, Ticket.Reopened):
            self.ticket_status[subject] = "open"
        elif isinstance(event, Ticket.Closed):
            self.ticket_status[subject] = "closed"
        elif isinstance(event, Ticket.RcaPublished):
            self.rcas_published.add(subject)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        by_severity = Counter(self.ticket_severity.values())
        return {
            "events": self.events,
            "customers": dict(sorted(self.customers_by_tier.items())),
            "tickets": len(self.ticket_severity),
            "tickets_by_severity": {f"sev{k}": by_severity[k] for k in sorted(by_severity)},
            "tickets_by_status": dict(sorted(Counter(self.ticket_status.values()).items())),
            "rcas_published": len(self.rcas_published),
            "events_by_type": dict(sorted(self.events_by_type.items())),
        }


def holdings(app: LedgerApp) -> Holdings:
    """Fold the whole log, page by page."""
    result = Holdings()
    for event in app.log_events(PAGE):
        result.evolve(event)
    return result
