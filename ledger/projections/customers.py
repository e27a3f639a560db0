"""A customer's read-model rows as a pure fold over its events (R-CS): no clock, no database.

One summary row plus one row per success signal: usage reports, surveys, check-ins,
milestones and contract events (renewals, churn). Health, churn risk and missed
check-ins are *not* stored: they depend on "now" and are computed by
``ledger.projections.health`` from these rows at any ``as_of``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

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


class CustomerFold:
    """The fold itself: ``evolve`` with each event in log order, ``view`` any time."""

    def __init__(self) -> None:
        self.view: CustomerProjection | None = None

    def evolve(self, event: LedgerEvent) -> None:
        """Fold one more event in."""
        if event.SYSTEM:
            return
        if isinstance(event, Customer.Onboarded):
            self.view = CustomerProjection(
                {
                    "customer_id": event.originator_id,
                    "name": event.name,
                    "tier": event.tier,
                    "timezone": onboarding_calendar(event).timezone,
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
        view = self.view
        if view is None:
            return
        _evolve(view, event)
        view.customer["last_occurred_at"] = event.occurred_at
        view.customer["last_recorded_at"] = event.recorded_at


def project_customer(events: list[LedgerEvent]) -> CustomerProjection | None:
    """The customer's rows after folding ``events``; None if they hold no onboarding."""
    fold = CustomerFold()
    for event in events:
        fold.evolve(event)
    return fold.view


_CALENDARS: OrderedDict[str, BusinessCalendar] = OrderedDict()
_CALENDAR_CACHE: Final = 4096


def onboarding_calendar(event: Customer.Onboarded) -> BusinessCalendar:
    """The calendar an onboarding event carries, parsed once per event (events never
    change; parsing loads the time zone and is the dearest step of a customer's fold)."""
    calendar = _CALENDARS.get(event.event_id)
    if calendar is None:
        calendar = BusinessCalendar.from_wire(event.calendar)
        _CALENDARS[event.event_id] = calendar
        if len(_CALENDARS) > _CALENDAR_CACHE:
            _CALENDARS.popitem(last=False)
    return calendar
