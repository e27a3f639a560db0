"""One ticket as of any instant: its timers, escalation timeline and RCA (R-ESC-2, R-RCA-2).

Each function replays the ticket (plus its customer's calendar and the SLA policy) from
the log, keeps the events visible as of ``as_of``/``known_at`` (R-TIME-1) and folds them
through the same projection functions as the read models. A ticket that cannot be folded
is an error naming it (``SubjectFailed``), never an empty answer.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

from ledger.adapters.event_store import LedgerApp
from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.ticket import Rca, Ticket
from ledger.projections.fold import Rows
from ledger.projections.registry import (
    POLICY_SUBJECT,
    EventsBySubject,
    Failure,
    SubjectFailed,
    guarded,
    ticket_rows,
    visible,
)
from ledger.projections.sla import evaluate_record
from ledger.projections.tickets import overdue_instant


def ticket_history(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None
) -> EventsBySubject | None:
    """The ticket's, its customer's and the policy's visible events (None: no such ticket)."""
    events = visible(app.history(ticket_id), as_of, known_at)
    if not events or not isinstance(events[0], Ticket.Opened):
        return None
    customer = visible(app.history(events[0].customer_id), as_of, known_at)
    policy = visible(app.history(POLICY_SUBJECT), as_of, known_at)
    return EventsBySubject([*policy, *customer, *events])


def ticket_projection(ticket_id: str, history: EventsBySubject) -> Rows:
    """The ticket's projection rows; ``SubjectFailed`` (logged) when it cannot be folded."""
    failed: list[Failure] = []
    rows = guarded("tickets", ticket_id, partial(ticket_rows, ticket_id, history), failed)
    if rows is None:
        raise SubjectFailed(failed[0])
    return rows


def ticket_timers(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None = None
) -> list[dict[str, Any]] | None:
    """The ticket's timer rows evaluated at ``as_of`` (None: the ticket did not exist)."""
    history = ticket_history(app, ticket_id, as_of, known_at)
    if history is None:
        return None
    return timers_from(ticket_projection(ticket_id, history), as_of)


def timers_from(rows: Rows, as_of: datetime) -> list[dict[str, Any]]:
    """The timer rows of one ticket's projection, evaluated at ``as_of``."""
    return [evaluate_record(record, as_of) for record in rows["sla_timers"]]


def escalation_timeline(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None = None
) -> dict[str, Any] | None:
    """Every escalation step (who, when, from, to, why, time at the previous tier)."""
    history = ticket_history(app, ticket_id, as_of, known_at)
    if history is None:
        return None
    return escalation_from(ticket_id, ticket_projection(ticket_id, history), as_of)


def escalation_from(ticket_id: str, rows: Rows, as_of: datetime) -> dict[str, Any]:
    """The escalation timeline from one ticket's projection rows."""
    ticket, steps = rows["tickets"][0], rows["escalations"]
    since = steps[-1]["at"] if steps else ticket["opened_at"]
    end = ticket["closed_at"] or ticket["resolved_at"] or as_of
    return {
        "ticket_id": ticket_id,
        "customer_id": ticket["customer_id"],
        "status": ticket["status"],
        "current_tier": ticket["tier"],
        "at_current_tier_since": since,
        "seconds_at_current_tier": int((end - since).total_seconds()),
        "steps": steps,
    }


_TRAIL: dict[type[Any], str] = {
    Ticket.Opened: "opened",
    Ticket.Triaged: "triaged",
    Ticket.Assigned: "assigned",
    Ticket.Responded: "responded",
    Ticket.UpdatePosted: "update posted",
    Ticket.StatusChanged: "status changed",
    Ticket.Escalated: "escalated",
    Ticket.Deescalated: "de-escalated",
    Ticket.TemporaryFixApplied: "temporary fix",
    Ticket.PermanentFixApplied: "permanent fix",
    Ticket.Resolved: "resolved",
    Ticket.Reopened: "reopened",
    Ticket.Closed: "closed",
}


def _describe(event: LedgerEvent) -> str:
    if isinstance(event, Ticket.Opened):
        return f"Sev{event.severity} {event.category} via {event.channel}: {event.title}"
    if isinstance(event, Ticket.Triaged):
        change = f"Sev{event.previous_severity} -> Sev{event.severity}"
        return f"{change} ({event.category}): {event.reason}"
    if isinstance(event, Ticket.Assigned):
        return f"assigned to {event.assignee}"
    if isinstance(event, Ticket.Responded | Ticket.UpdatePosted):
        return event.message
    if isinstance(event, Ticket.StatusChanged):
        return event.status
    if isinstance(event, Ticket.Escalated | Ticket.Deescalated):
        return f"{event.from_tier} -> {event.to_tier}: {event.reason}"
    if isinstance(event, Ticket.TemporaryFixApplied):
        return f"{event.description} (expires {event.expires_at.isoformat()}, owner {event.owner})"
    if isinstance(event, Ticket.PermanentFixApplied):
        return event.description
    if isinstance(event, Ticket.Resolved):
        return event.resolution
    if isinstance(event, Ticket.Reopened):
        return event.reason
    return ""


MILESTONE_KINDS: dict[type[Any], str] = {
    Ticket.ImpactStarted: "impact started",
    Ticket.Detected: "detected",
    Ticket.Mitigated: "mitigated",
}
"""The RCA timeline's kind of each incident milestone (R-INC-1), placed at its ``at``."""


def _seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or end < start:
        return None
    return int((end - start).total_seconds())


def rca_document(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None = None
) -> dict[str, Any] | None:
    """The RCA with its timeline: the ticket's trail, derived breaches and manual entries.

    Trail entries are every action on the ticket (RCAs are internal documents, so
    internal notes are in, marked as such); breaches come from the timers, so they are
    there whether or not the tick wrote them (R-SLA-5); all in ``occurred_at`` order (R-RCA-2).
    """
    history = ticket_history(app, ticket_id, as_of, known_at)
    if history is None:
        return None
    return rca_from(ticket_id, history, ticket_projection(ticket_id, history), as_of)


def rca_from(
    ticket_id: str, history: EventsBySubject, rows: Rows, as_of: datetime
) -> dict[str, Any]:
    """The RCA document from the ticket's visible history and its projection rows."""
    events = history.events(ticket_id)
    ticket = rows["tickets"][0]
    holder = SimpleNamespace(rca=Rca(), last_occurred_at=None)
    timeline: list[dict[str, Any]] = []
    for event in events:
        if event.SYSTEM:
            continue
        if isinstance(event, Ticket.Milestone):  # at when it happened, not when recorded
            timeline.append(
                {
                    "at": event.at,
                    "kind": MILESTONE_KINDS[type(event)],
                    "actor": event.actor_id,
                    "text": event.note or "",
                }
            )
            continue
        kind = _TRAIL.get(type(event))
        if isinstance(event, Ticket.Responded) and not event.public:
            kind = "internal note"
        if kind is not None:
            timeline.append(
                {
                    "at": event.occurred_at,
                    "kind": kind,
                    "actor": event.actor_id,
                    "text": _describe(event),
                }
            )
        elif kind is None:
            event.apply(holder)  # the RCA events fill in the analysis
    for entry in holder.rca.timeline:
        timeline.append({"at": entry["at"], "kind": "manual", "actor": "", "text": entry["entry"]})
    for timer in timers_from(rows, as_of):
        if timer["breached_at"] is not None:
            timeline.append(
                {
                    "at": timer["breached_at"],
                    "kind": "SLA breached",
                    "actor": "ledger",
                    "text": f"{timer['timer']} target of Sev{timer['severity']} missed "
                    f"(due {timer['due_at'].isoformat()})",
                }
            )
    timeline.sort(key=lambda entry: entry["at"])
    rca: Rca = holder.rca
    impact, detected = ticket["impact_started_at"], ticket["detected_at"]
    mitigated, opened = ticket["mitigated_at"], ticket["opened_at"]
    return {
        "ticket_id": ticket_id,
        "customer_id": ticket["customer_id"],
        "title": ticket["title"],
        "severity": ticket["severity"],
        "max_severity": ticket["max_severity"],
        "status": ticket["status"],
        "opened_at": ticket["opened_at"],
        "resolved_at": ticket["resolved_at"],
        "rca_required": ticket["rca_required"],
        "published": rca.published_at is not None,
        "published_at": rca.published_at,
        "revision": rca.revision,
        "owner": rca.owner or None,
        "root_cause": rca.root_cause or None,
        "root_cause_code": rca.root_cause_code or None,
        "impact": rca.impact or None,
        "product_area": ticket["product_area"],
        "milestones": {
            "impact_started_at": impact,
            "detected_at": detected,
            "mitigated_at": mitigated,
            "time_to_detect_seconds": _seconds_between(impact, detected),
            "time_to_mitigate_seconds": _seconds_between(impact or opened, mitigated),
        },
        "preventive_actions": [
            {"action_id": action_id, **action, "state": _action_state(action, as_of)}
            for action_id, action in rca.preventive_actions.items()
        ],
        "knowledge_links": list(rca.knowledge_links),
        "missing": rca.missing_parts(),
        "timeline": timeline,
    }


def _action_state(action: dict[str, Any], as_of: datetime) -> str:
    """A preventive action's state as of ``as_of`` (``ledger.projections.actions``)."""
    if action["status"] == "open" and overdue_instant(action["due_date"]) <= as_of:
        return "overdue"
    return str(action["status"])
