"""A customer's read-model rows as a pure fold over its events (R-CS): no clock, no database.

One summary row plus one row per success signal: usage reports, surveys, check-ins,
milestones and contract events (renewals, churn). Health, churn risk and missed
check-ins are *not* stored: they depend on "now" and are computed by
``ledger.projections.health`` from these rows at any ``as_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.customer import Customer

CUSTOMER_KEYS = (
    "customer_id",
    "name",
    "tier",
    "timezone",
    "success_owner",
    "escalation_contact",
    "decision_maker_name",
    "decision_maker_email",
    "onboarded_at",
    "status",
    "arr",
    "churned_at",
    "last_occurred_at",
    "last_recorded_at",
)
"""The columns of the ``customers`` read model."""


@dataclass
class CustomerProjection:
    """The rows one customer contributes to the read models."""

    customer: dict[str, Any]
    usage: list[dict[str, Any]] = field(default_factory=list)
    surveys: list[dict[str, Any]] = field(default_factory=list)
    check_ins: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)


def _evolve(view: CustomerProjection, event: LedgerEvent) -> None:
    row, at = view.customer, event.occurred_at
    cid = row["customer_id"]
    if isinstance(event, Customer.OwnerChanged):
        row["success_owner"] = event.success_owner
    elif isinstance(event, Customer.CheckInScheduled):
        view.check_ins.append(
            {
                "customer_id": cid,
                "check_in_id": event.check_in_id,
                "scheduled_at": at,
                "due_at": event.due_at,
                "completed_at": None,
            }
        )
    elif isinstance(event, Customer.CheckInCompleted):
        for check_in in view.check_ins:
            if check_in["check_in_id"] == event.check_in_id:
                check_in["completed_at"] = at
    elif isinstance(event, Customer.MilestoneReached):
        view.milestones.append({"customer_id": cid, "milestone": event.milestone, "at": at})
    elif isinstance(event, Customer.UsageReported):
        view.usage.append(
            {
                "customer_id": cid,
                "seq": len(view.usage) + 1,
                "at": at,
                "period_start": event.period_start,
                "period_end": event.period_end,
                "active_users": event.active_users,
                "videos_localized": event.videos_localized,
                "error_count": event.error_count,
            }
        )
    elif isinstance(event, Customer.SurveyRecorded):
        view.surveys.append(
            {
                "customer_id": cid,
                "seq": len(view.surveys) + 1,
                "at": at,
                "kind": event.kind,
                "score": event.score,
                "ticket_id": event.ticket_id,
            }
        )
    elif isinstance(event, (Customer.Renewed, Customer.Churned)):
        churned = isinstance(event, Customer.Churned)
        row["status"] = "churned" if churned else "active"
        row["arr"] = str(event.arr)
        row["churned_at"] = at if churned else None
        view.contracts.append(
            {
                "customer_id": cid,
                "seq": len(view.contracts) + 1,
                "kind": "churned" if churned else "renewed",
                "arr": str(event.arr),
                "reason": event.reason,
                "at": at,
            }
        )


def project_customer(events: list[LedgerEvent]) -> CustomerProjection | None:
    """The customer's rows after folding ``events``; None if they hold no onboarding."""
    view: CustomerProjection | None = None
    for event in events:
        if event.SYSTEM:
            continue
        if isinstance(event, Customer.Onboarded):
            calendar = BusinessCalendar.from_wire(event.calendar)
            view = CustomerProjection(
                {
                    "customer_id": event.originator_id,
                    "name": event.name,
                    "tier": event.tier,
                    "timezone": calendar.timezone,
                    "success_owner": event.success_owner,
                    "escalation_contact": event.escalation_contact,
                    "decision_maker_name": event.decision_maker.get("name"),
                    "decision_maker_email": event.decision_maker.get("email"),
                    "onboarded_at": event.occurred_at,
                    "status": "active",
                    "arr": None,
                    "churned_at": None,
                }
            )
        if view is None:
            continue
        _evolve(view, event)
        view.customer["last_occurred_at"] = event.occurred_at
        view.customer["last_recorded_at"] = event.recorded_at
    return view
