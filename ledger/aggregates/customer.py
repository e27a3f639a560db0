"""The enterprise customer: ownership, contacts, calendar and success signals (R-CS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger.aggregates.base import (
    EventMeta,
    LedgerAggregate,
    LedgerCreated,
    LedgerEvent,
    domain_event,
)
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.rules import RuleViolation, check_in_order, is_blank, require


@dataclass
class CheckIn:
    """A scheduled check-in and, once it happened, when (R-CS-4)."""

    check_in_id: str
    due_at: datetime
    completed_at: datetime | None = None


class Customer(LedgerAggregate):
    """A customer of the support organisation; tickets need an enterprise one (R-IN-2)."""

    @domain_event
    class Event(LedgerEvent):
        """Base of the customer's events."""

        def apply(self, aggregate: Any) -> None:
            if not self.SYSTEM:
                aggregate.last_occurred_at = self.occurred_at

    @domain_event
    class Onboarded(Event, LedgerCreated):
        """The customer was onboarded with its owner, contacts and calendar (R-CS-1)."""

        WIRE_TYPE = "customer.onboarded"
        name: str
        tier: str
        calendar: dict[str, Any]
        success_owner: str
        escalation_contact: str
        decision_maker: dict[str, str]

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.name = self.name
            aggregate.tier = self.tier
            aggregate.calendar = self.calendar
            aggregate.success_owner = self.success_owner
            aggregate.escalation_contact = self.escalation_contact
            aggregate.decision_maker = dict(self.decision_maker)

    @domain_event
    class OwnerChanged(Event):
        """The success owner changed hands."""

        WIRE_TYPE = "customer.owner_changed"
        success_owner: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.success_owner = self.success_owner

    @domain_event
    class CheckInScheduled(Event):
        """A check-in was put in the diary (R-CS-4)."""

        WIRE_TYPE = "customer.check_in_scheduled"
        check_in_id: str
        due_at: datetime

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.check_ins[self.check_in_id] = CheckIn(self.check_in_id, self.due_at)

    @domain_event
    class CheckInCompleted(Event):
        """A scheduled check-in took place."""

        WIRE_TYPE = "customer.check_in_completed"
        check_in_id: str
        notes: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.check_ins[self.check_in_id].completed_at = self.occurred_at

    @domain_event
    class MilestoneReached(Event):
        """An onboarding milestone was reached."""

        WIRE_TYPE = "customer.milestone_reached"
        milestone: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.milestones.append(self.milestone)

    @domain_event
    class UsageReported(Event):
        """A usage report for a period (health: usage trend, error frequency)."""

        WIRE_TYPE = "customer.usage_reported"
        period_start: date
        period_end: date
        active_users: int
        videos_localized: int
        error_count: int

    @domain_event
    class SurveyRecorded(Event):
        """A CSAT (1-5) or NPS (0-10) answer."""

        WIRE_TYPE = "customer.survey_recorded"
        kind: str
        score: int
        ticket_id: str | None

    @domain_event
    class FeedbackRecorded(Event):
        """What the customer told us about the product (R-CS-5)."""

        WIRE_TYPE = "customer.feedback_recorded"
        feedback_id: str
        kind: str
        product_area: str
        text: str
        ticket_id: str | None

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.feedback_ids = aggregate.feedback_ids | {self.feedback_id}

    @domain_event
    class Renewed(Event):
        """The contract was renewed."""

        WIRE_TYPE = "customer.renewed"
        arr: Decimal
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.status = "active"
            aggregate.arr = self.arr

    @domain_event
    class Churned(Event):
        """The customer left."""

        WIRE_TYPE = "customer.churned"
        arr: Decimal
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.status = "churned"
            aggregate.arr = self.arr

    @domain_event
    class ChurnRiskRaised(Event):
        """Written by the ledger: health fell low or sharply, or the customer went silent."""

        WIRE_TYPE = "customer.churn_risk_raised"
        SYSTEM = True
        reason: str
        health_score: float | None

    def __init__(self) -> None:
        self.name = ""
        self.tier = ""
        self.calendar: dict[str, Any] = {}
        self.success_owner = ""
        self.escalation_contact = ""
        self.decision_maker: dict[str, str] = {}
        self.check_ins: dict[str, CheckIn] = {}
        self.milestones: list[str] = []
        self.feedback_ids: frozenset[str] = frozenset()
        self.status = "active"
        self.arr: Decimal | None = None
        self.last_occurred_at: datetime | None = None

    # Commands -------------------------------------------------------------------------

    @classmethod
    def onboard(cls, customer_id: str, meta: EventMeta, **data: Any) -> Customer:
        """Onboard a customer: owner, escalation contact and decision maker are required."""
        _check_contacts(data)
        try:
            BusinessCalendar.from_wire(data["calendar"])
        except ValueError as error:
            raise RuleViolation(
                "R-SLA-1",
                f"calendar: {error}; business-clock SLA targets could never come due "
                "(leave hours out for Mon-Fri 09:00-17:00)",
                field="data.calendar.hours",
            ) from None
        return cls._create(cls.Onboarded, id=customer_id, **data, **meta.event_kwargs())

    def change_owner(self, meta: EventMeta, success_owner: str, reason: str) -> None:
        """Hand the account to another success owner (R-CS-1: never to nobody)."""
        self._check(meta)
        require(
            not is_blank(success_owner),
            "R-CS-1",
            "every enterprise customer has a success owner: success_owner is blank",
            field="data.success_owner",
        )
        self._record(meta, self.OwnerChanged, success_owner=success_owner, reason=reason)

    def schedule_check_in(self, meta: EventMeta, check_in_id: str, due_at: datetime) -> None:
        """Put a check-in in the diary."""
        self._check(meta)
        require(
            check_in_id not in self.check_ins,
            "R-STATE-3",
            f"check-in {check_in_id!r} is scheduled already; use a new check_in_id",
            field="data.check_in_id",
        )
        self._record(meta, self.CheckInScheduled, check_in_id=check_in_id, due_at=due_at)

    def complete_check_in(self, meta: EventMeta, check_in_id: str, notes: str) -> None:
        """Record that a scheduled check-in happened."""
        self._check(meta)
        check_in = self.check_ins.get(check_in_id)
        require(
            check_in is not None,
            "R-STATE-3",
            f"no check-in {check_in_id!r} was scheduled for {self.id}",
            field="data.check_in_id",
        )
        require(
            check_in is None or check_in.completed_at is None,
            "R-STATE-3",
            f"check-in {check_in_id!r} was completed already",
            field="data.check_in_id",
        )
        self._record(meta, self.CheckInCompleted, check_in_id=check_in_id, notes=notes)

    def record_feedback(
        self,
        meta: EventMeta,
        feedback_id: str,
        kind: str,
        product_area: str,
        text: str,
        ticket_id: str | None,
    ) -> None:
        """Record a customer's feedback: written, with an id of its own (R-CS-5). The
        handler checks that ``ticket_id`` is one of this customer's tickets."""
        self._check(meta)
        require(
            not is_blank(feedback_id),
            "R-CS-5",
            "feedback needs an id: feedback_id is blank",
            field="data.feedback_id",
        )
        require(
            feedback_id not in self.feedback_ids,
            "R-STATE-3",
            f"feedback {feedback_id!r} of {self.id} is recorded already; use a new feedback_id",
            field="data.feedback_id",
        )
        require(
            not is_blank(text),
            "R-CS-5",
            "feedback is recorded in the customer's words: text is blank",
            field="data.text",
        )
        self._record(
            meta,
            self.FeedbackRecorded,
            feedback_id=feedback_id,
            kind=kind,
            product_area=product_area,
            text=text,
            ticket_id=ticket_id,
        )

    def record(self, meta: EventMeta, event_class: type[Customer.Event], **data: Any) -> None:
        """Record a success signal that no rule constrains beyond order (R-IN-5)."""
        self._check(meta)
        self._record(meta, event_class, **data)

    def raise_churn_risk(self, meta: EventMeta, reason: str, health_score: float | None) -> None:
        """Written by the ledger's tick: an early warning (R-CS-3)."""
        self._record(meta, self.ChurnRiskRaised, reason=reason, health_score=health_score)

    # Helpers --------------------------------------------------------------------------

    def _check(self, meta: EventMeta) -> None:
        check_in_order(self.id, self.last_occurred_at, meta.occurred_at)

    def _record(self, meta: EventMeta, event_class: type[Customer.Event], **data: Any) -> None:
        self.trigger_event(event_class, **data, **meta.event_kwargs())


def _check_contacts(data: dict[str, Any]) -> None:
    for name in ("success_owner", "escalation_contact"):
        require(
            not is_blank(data.get(name)),
            "R-CS-1",
            f"every enterprise customer has a {name.replace('_', ' ')}: {name} is blank",
            field=f"data.{name}",
        )
    decision_maker = data.get("decision_maker") or {}
    for part in ("name", "email"):
        require(
            not is_blank(decision_maker.get(part)),
            "R-CS-1",
            f"every customer has a known decision-maker contact: decision_maker.{part} is blank",
            field=f"data.decision_maker.{part}",
        )
    email = decision_maker.get("email", "")
    require(
        "@" in email.strip(" @"),
        "R-CS-1",
        f"decision_maker.email {email!r} is not an e-mail address",
        field="data.decision_maker.email",
    )
