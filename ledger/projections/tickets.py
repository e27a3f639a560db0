"""A ticket's read-model rows as a pure fold over its events: no clock, no database.

``project_ticket(events, calendar, targets_by_version)`` folds one ticket's events (in
log order, already filtered to what is visible as of an instant) into three kinds of
rows: the ticket's summary, its SLA timer records (``ledger.projections.sla``) and its
escalation steps (R-ESC-2). The same function feeds the live read models, a rebuild and
every ``--as-of``/``--known-at`` query, so all three agree by construction (R-TRAIL-3).

Events the ledger writes itself (``sla.breached``, ``fix.temporary_expired``) change no
row: breaches are computed from the facts (R-SLA-5), so whether the tick has run never
changes an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.rules import RCA_SEVERITIES, TIERS
from ledger.aggregates.ticket import Ticket
from ledger.projections.sla import Targets, TicketTimers, policy_version

TICKET_KEYS = (
    "ticket_id",
    "customer_id",
    "title",
    "channel",
    "category",
    "opened_severity",
    "severity",
    "max_severity",
    "status",
    "tier",
    "assignee",
    "policy_version",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "reopen_count",
    "escalation_count",
    "rca_required",
    "rca_published_at",
    "root_cause_code",
    "fix",
    "temporary_fix_expires_at",
    "last_occurred_at",
    "last_recorded_at",
)
"""The columns of the ``tickets`` read model."""


@dataclass
class TicketProjection:
    """The rows one ticket contributes to the read models."""

    ticket: dict[str, Any]
    timers: list[dict[str, Any]]
    escalations: list[dict[str, Any]]


@dataclass
class TicketFold:
    """The fold itself: ``evolve`` with each event in log order, ``projection()`` any time
    (a runner keeps one between pages and feeds it only the new events)."""

    calendar: BusinessCalendar
    targets_by_version: dict[int, Targets]
    row: dict[str, Any] = field(default_factory=dict)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    tier_since: datetime | None = None
    timers: TicketTimers | None = None

    def evolve(self, event: LedgerEvent) -> None:
        """Fold one more event in."""
        if event.SYSTEM:
            return
        if self.timers is None:
            self.timers = TicketTimers(self.calendar, self.targets_by_version)
        self.timers.evolve(event)
        row, at = self.row, event.occurred_at
        if isinstance(event, Ticket.Opened):
            row.update(dict.fromkeys(TICKET_KEYS))
            row.update(
                ticket_id=event.originator_id,
                customer_id=event.customer_id,
                title=event.title,
                channel=event.channel,
                category=event.category,
                opened_severity=event.severity,
                severity=event.severity,
                max_severity=event.severity,
                status="open",
                tier=TIERS[0],
                policy_version=policy_version(self.targets_by_version, event),
                opened_at=at,
                reopen_count=0,
                escalation_count=0,
                rca_required=event.severity in RCA_SEVERITIES,
            )
            self.tier_since = at
        elif not row:
            return  # a history that does not start with its opening is not a ticket
        self._apply(event, row, at)
        row["last_occurred_at"] = at
        row["last_recorded_at"] = event.recorded_at

    def _apply(self, event: LedgerEvent, row: dict[str, Any], at: datetime) -> None:
        if isinstance(event, Ticket.Triaged):
            row["severity"] = event.severity
            row["category"] = event.category
            row["max_severity"] = min(row["max_severity"], event.severity)
            row["rca_required"] = row["max_severity"] in RCA_SEVERITIES
        elif isinstance(event, Ticket.Assigned):
            row["assignee"] = event.assignee
        elif isinstance(event, Ticket.Responded):
            if event.public and event.actor_role != "customer" and not row["first_response_at"]:
                row["first_response_at"] = at
        elif isinstance(event, Ticket.StatusChanged):
            row["status"] = event.status
        elif isinstance(event, (Ticket.Escalated, Ticket.Deescalated)):
            self._step(event, row, at)
        elif isinstance(event, Ticket.TemporaryFixApplied):
            row["fix"] = "temporary"
            row["temporary_fix_expires_at"] = event.expires_at
        elif isinstance(event, Ticket.PermanentFixApplied):
            row["fix"] = "permanent"
            row["temporary_fix_expires_at"] = None
        elif isinstance(event, Ticket.Resolved):
            row["status"] = "resolved"
            row["resolved_at"] = at
        elif isinstance(event, Ticket.Reopened):
            row["status"] = "open"
            row["resolved_at"] = None
            row["reopen_count"] += 1
        elif isinstance(event, Ticket.Closed):
            row["status"] = "closed"
            row["closed_at"] = at
        elif isinstance(event, Ticket.RootCauseIdentified):
            row["root_cause_code"] = event.root_cause_code
        elif isinstance(event, Ticket.RcaPublished):
            row["rca_published_at"] = at

    def _step(
        self, event: Ticket.Escalated | Ticket.Deescalated, row: dict[str, Any], at: datetime
    ) -> None:
        since = self.tier_since or at
        self.escalations.append(
            {
                "ticket_id": row["ticket_id"],
                "customer_id": row["customer_id"],
                "seq": len(self.escalations) + 1,
                "direction": "up" if isinstance(event, Ticket.Escalated) else "down",
                "from_tier": event.from_tier,
                "to_tier": event.to_tier,
                "actor_id": event.actor_id,
                "actor_role": event.actor_role,
                "escalated_to": getattr(event, "escalated_to", None),
                "reason": event.reason,
                "at": at,
                "recorded_at": event.recorded_at,
                "seconds_at_previous_tier": int((at - since).total_seconds()),
            }
        )
        row["tier"] = event.to_tier
        if isinstance(event, Ticket.Escalated):
            row["escalation_count"] += 1
        self.tier_since = at

    def projection(self) -> TicketProjection | None:
        """The rows so far (fresh containers); None before the opening."""
        if not self.row or self.timers is None:
            return None
        return TicketProjection(dict(self.row), self.timers.records(), list(self.escalations))


def project_ticket(
    events: list[LedgerEvent],
    calendar: BusinessCalendar,
    targets_by_version: dict[int, Targets],
) -> TicketProjection | None:
    """The ticket's rows after folding ``events``; None if they hold no opening."""
    fold = TicketFold(calendar, targets_by_version)
    for event in events:
        fold.evolve(event)
    return fold.projection()
