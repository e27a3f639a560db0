"""A ticket's read-model rows as a pure fold over its events: no clock, no database.

``evolve(state, event) -> state`` folds one ticket's events (in log order, already
filtered to what is visible as of an instant) on immutable state, from
``initial(calendar, targets_by_version)``; ``rows(state)`` gives five kinds of rows:
the ticket's summary (with its incident milestones and product area), its SLA timer
records (``ledger.projections.sla``), its escalation steps (R-ESC-2), its RCA's
preventive actions with their follow-through (R-RCA-4) and its knowledge links
(R-RCA-6). The same function feeds the live read models, a rebuild and every
``--as-of``/``--known-at`` query, so all three agree by construction (R-TRAIL-3).

Events the ledger writes itself (``sla.breached``, ``fix.temporary_expired``,
``rca.action_overdue``) change no row: breaches and overdue actions are computed from the
facts (R-SLA-5, R-RCA-5), so whether the tick has run never changes an answer.

The ticket's customer's approved calendar changes (``customer.calendar_change_approved``)
are folded too, among the ticket's events at their ``occurred_at`` (R-CAL): they change
the timers' calendar history, and the summary row's ``calendar_version`` (the newest
version its business timers were counted with) and ``calendar_settled_at`` (null while a
business-clock timer is open; else its last event's instant, after which no change
approved reaches its timers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar, CalendarHistory
from ledger.aggregates.customer import Customer, SlaException
from ledger.aggregates.rules import RCA_SEVERITIES, TIERS
from ledger.aggregates.ticket import Ticket
from ledger.projections import sla
from ledger.projections.fold import Rows
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
    "exception_id",
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
    "product_area",
    "impact_started_at",
    "detected_at",
    "mitigated_at",
    "last_occurred_at",
    "last_recorded_at",
    "calendar_version",
    "calendar_settled_at",
)
"""The columns of the ``tickets`` read model."""


@dataclass(frozen=True, slots=True)
class TicketState:
    """One ticket's fold so far: its summary row (empty before the opening), its SLA
    timers, its escalation steps and when it reached its present tier. Immutable:
    ``evolve`` returns the next state and leaves this one as it was."""

    timers: TicketTimers
    row: Mapping[str, Any] = field(default_factory=dict)
    escalations: tuple[Mapping[str, Any], ...] = ()
    tier_since: datetime | None = None
    actions: tuple[Mapping[str, Any], ...] = ()
    links: tuple[Mapping[str, Any], ...] = ()
    # The (occurred_at, recorded_at) of the last calendar approval folded in, if any.
    last_approval: tuple[datetime, datetime] | None = None


def initial(
    calendar: BusinessCalendar | CalendarHistory,
    targets_by_version: Mapping[int, Targets],
    exceptions: tuple[SlaException, ...] = (),
) -> TicketState:
    """A ticket's state before its first event, on its customer's calendar, the policy's
    targets by version and the customer's approved exceptions (R-EXC)."""
    return TicketState(sla.initial(calendar, targets_by_version, exceptions))


def evolve(state: TicketState, event: LedgerEvent) -> TicketState:
    """The state after one more event of the ticket, in log order."""
    if event.SYSTEM:
        return state
    timers = sla.evolve(state.timers, event)
    if isinstance(event, Customer.CalendarChangeApproved):
        return replace(state, timers=timers, last_approval=(event.occurred_at, event.recorded_at))
    at = event.occurred_at
    tier_since: datetime | None
    if isinstance(event, Ticket.Opened):
        row: dict[str, Any] = dict.fromkeys(TICKET_KEYS)
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
            policy_version=policy_version(state.timers.targets_by_version, event),
            exception_id=timers.exception_id,
            opened_at=at,
            reopen_count=0,
            escalation_count=0,
            rca_required=event.severity in RCA_SEVERITIES,
            product_area=event.product_area,
        )
        escalations, tier_since = state.escalations, at
    elif not state.row:
        # a history that does not start with its opening is not a ticket
        return replace(state, timers=timers)
    else:
        row = dict(state.row)
        escalations, tier_since = state.escalations, state.tier_since
    actions, links = state.actions, state.links
    if isinstance(event, (Ticket.Escalated, Ticket.Deescalated)):
        escalations = (*escalations, _step(event, row, at, tier_since, len(escalations) + 1))
        tier_since = at
    elif isinstance(event, FOLLOW_THROUGH):
        actions = _follow_through(event, actions, row, at)
    elif isinstance(event, Ticket.KnowledgeLinked):
        link = {
            "ticket_id": row["ticket_id"],
            "seq": len(links) + 1,
            "customer_id": row["customer_id"],
            "kind": event.kind,
            "ref": event.ref,
            "title": event.title,
            "at": at,
        }
        links = (*links, link)
    else:
        _apply(event, row, at)
    row["last_occurred_at"] = at
    row["last_recorded_at"] = event.recorded_at
    return TicketState(timers, row, escalations, tier_since, actions, links, state.last_approval)


FOLLOW_THROUGH = (
    Ticket.PreventiveActionAdded,
    Ticket.PreventiveActionCompleted,
    Ticket.PreventiveActionVerified,
    Ticket.PreventiveActionCancelled,
)
"""The events of a preventive action's life (R-RCA-4)."""


def overdue_instant(due_date: date) -> datetime:
    """When an action due on ``due_date`` is overdue: the start of the next day, UTC
    (R-RCA-5). Completed before it, the action was on time."""
    return datetime.combine(due_date + timedelta(days=1), time(0), tzinfo=UTC)


def _follow_through(
    event: LedgerEvent,
    actions: tuple[Mapping[str, Any], ...],
    row: Mapping[str, Any],
    at: datetime,
) -> tuple[Mapping[str, Any], ...]:
    """The actions after one event of an action's life (a new tuple, fresh rows)."""
    if isinstance(event, Ticket.PreventiveActionAdded):
        changes: dict[str, Any] = {
            "description": event.description,
            "owner": event.owner,
            "due_date": event.due_date,
            "due_at": overdue_instant(event.due_date),
        }
        if not any(a["action_id"] == event.action_id for a in actions):
            added = {
                "ticket_id": row["ticket_id"],
                "action_id": event.action_id,
                "customer_id": row["customer_id"],
                **changes,
                "status": "open",
                "added_at": at,
                "completed_at": None,
                "completed_by": None,
                "verified_at": None,
                "verified_by": None,
                "cancelled_at": None,
                "reason": None,
            }
            return (*actions, added)
        action_id = event.action_id
    elif isinstance(event, Ticket.PreventiveActionCompleted):
        changes = {"status": "completed", "completed_at": at, "completed_by": event.actor_id}
        action_id = event.action_id
    elif isinstance(event, Ticket.PreventiveActionVerified):
        changes = {"status": "verified", "verified_at": at, "verified_by": event.actor_id}
        action_id = event.action_id
    else:
        assert isinstance(event, Ticket.PreventiveActionCancelled)
        changes = {"status": "cancelled", "cancelled_at": at, "reason": event.reason}
        action_id = event.action_id
    return tuple({**a, **changes} if a["action_id"] == action_id else a for a in actions)


def _apply(event: LedgerEvent, row: dict[str, Any], at: datetime) -> None:
    """What one event changes in the summary row (a fresh copy, the next state's)."""
    if isinstance(event, Ticket.Triaged):
        row["severity"] = event.severity
        row["category"] = event.category
        row["max_severity"] = min(row["max_severity"], event.severity)
        row["rca_required"] = row["max_severity"] in RCA_SEVERITIES
        if event.product_area is not None:
            row["product_area"] = event.product_area
    elif isinstance(event, Ticket.Milestone):
        row[f"{event.MILESTONE}_at"] = event.at
    elif isinstance(event, Ticket.Assigned):
        row["assignee"] = event.assignee
    elif isinstance(event, Ticket.Responded):
        if event.public and event.actor_role != "customer" and not row["first_response_at"]:
            row["first_response_at"] = at
    elif isinstance(event, Ticket.StatusChanged):
        row["status"] = event.status
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
        if event.product_area is not None:
            row["product_area"] = event.product_area
    elif isinstance(event, Ticket.RcaPublished):
        row["rca_published_at"] = at


def _step(
    event: Ticket.Escalated | Ticket.Deescalated,
    row: dict[str, Any],
    at: datetime,
    tier_since: datetime | None,
    seq: int,
) -> Mapping[str, Any]:
    """An escalation step (R-ESC-2); moves the row to its new tier."""
    since = tier_since or at
    step = {
        "ticket_id": row["ticket_id"],
        "customer_id": row["customer_id"],
        "seq": seq,
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
    row["tier"] = event.to_tier
    if isinstance(event, Ticket.Escalated):
        row["escalation_count"] += 1
    return step


def rows(state: TicketState) -> Rows:
    """The ticket's rows by table (not to be changed by the caller); none before its
    opening. A state whose timers did not change gives the very same timer rows as the
    state before it, so a runner comparing rows event by event skips them at once."""
    if not state.row:
        return {}
    return {
        "tickets": [_summary(state)],
        "sla_timers": _timer_rows(state.timers),
        "escalations": [dict(step) for step in state.escalations],
        "rca_actions": [dict(action) for action in state.actions],
        "rca_knowledge_links": [dict(link) for link in state.links],
    }


def _summary(state: TicketState) -> dict[str, Any]:
    """The summary row, with the calendar its business timers were counted on."""
    row = dict(state.row)
    settled = row["last_occurred_at"] if sla.business_settled(state.timers) else None
    calendar = state.timers.calendar
    counted = calendar if settled is None else calendar.known_by(settled)
    row["calendar_version"] = counted.latest.version
    row["calendar_settled_at"] = settled
    return row


_LAST_TIMERS: tuple[TicketTimers, list[dict[str, Any]]] | None = None


def _timer_rows(timers: TicketTimers) -> list[dict[str, Any]]:
    """``timers.records()``, remembered for the last timers asked about (a memo of a pure
    function of an immutable value: the entry is read and replaced whole)."""
    global _LAST_TIMERS
    last = _LAST_TIMERS
    if last is not None and last[0] is timers:
        return last[1]
    records = timers.records()
    _LAST_TIMERS = (timers, records)
    return records


def project_ticket(
    events: list[LedgerEvent],
    calendar: BusinessCalendar | CalendarHistory,
    targets_by_version: Mapping[int, Targets],
    exceptions: tuple[SlaException, ...] = (),
) -> Rows:
    """The ticket's rows after folding ``events`` (none if they hold no opening)."""
    state = initial(calendar, targets_by_version, exceptions)
    for event in events:
        state = evolve(state, event)
    return rows(state)
