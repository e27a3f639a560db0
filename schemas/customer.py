"""Customer events (subject = customer id), R-CS-1..4.

Onboarding contacts take any string here: R-CS-1 (the domain layer) checks blankness.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from schemas.business_calendar import Calendar
from schemas.envelope import CustomerEnvelope, Data, Model
from schemas.fields import (
    Count,
    Day,
    Instant,
    Label,
    Money,
    ProductArea,
    ShortText,
    Text,
    TicketId,
)
from schemas.policy import SeverityTargets

TYPE = "The event type"
PAYLOAD = "The payload"
SCORE_RANGE = {"csat": (1, 5), "nps": (0, 10)}


def _score_range(low: int, high: int) -> dict[str, Any]:
    """JSON Schema: a CSAT score is from ``low`` to ``high`` (the field allows 0-10)."""
    return {
        "if": {
            "properties": {"kind": {"const": "csat", "description": "A CSAT survey"}},
            "required": ["kind"],
        },
        "then": {
            "properties": {"score": {"minimum": low, "maximum": high, "description": "CSAT is 1-5"}}
        },
    }


class Contact(Model):
    """A named person with an e-mail address."""

    name: Text = Field(description="Full name (R-CS-1)")
    email: Text = Field(description="E-mail address (R-CS-1)")


class CustomerOnboardedData(Data):
    """A customer with its calendar and its three contacts (R-CS-1)."""

    name: Text = Field(description="The customer's name")
    tier: Literal["enterprise", "self_serve"] = Field(description="Support tier (R-IN-2)")
    calendar: Calendar = Field(description="Business calendar for business-clock SLAs")
    success_owner: Text = Field(description="Customer-success owner (R-CS-1)")
    escalation_contact: Text = Field(description="Escalation contact (R-CS-1)")
    decision_maker: Contact = Field(description="Decision-maker contact (R-CS-1)")


class CustomerOwnerChangedData(Data):
    """A new success owner (R-CS-1)."""

    success_owner: Text = Field(description="The new owner")
    reason: Text = Field(description="Why")


class CustomerCheckInScheduledData(Data):
    """A check-in to hold (R-CS-4)."""

    check_in_id: Label = Field(description="The check-in's id, at most 128 characters")
    due_at: Instant = Field(description="When it is due, with offset")


class CustomerCheckInCompletedData(Data):
    """A check-in held (R-CS-4)."""

    check_in_id: Label = Field(description="The scheduled check-in's id")
    notes: Text = Field(description="What was discussed")


class CustomerMilestoneReachedData(Data):
    """An onboarding milestone (R-CS-2)."""

    milestone: Text = Field(description="Which milestone")


class CustomerUsageReportedData(Data):
    """Usage over a period (R-CS-2)."""

    period_start: Day = Field(description="First day, YYYY-MM-DD")
    period_end: Day = Field(description="Last day, YYYY-MM-DD; not before period_start")
    active_users: Count = Field(description="Active users in the period")
    videos_localized: Count = Field(description="Videos localized in the period")
    error_count: Count = Field(description="Errors in the period")

    @field_validator("period_end")
    @classmethod
    def _not_before_start(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("period_start")
        if isinstance(start, date) and end < start:
            raise PydanticCustomError(
                "period", "Input should not be before period_start {start}", {"start": str(start)}
            )
        return end


class CustomerSurveyRecordedData(Data):
    """A survey answer: CSAT 1-5 or NPS 0-10."""

    model_config = ConfigDict(json_schema_extra={"allOf": [_score_range(*SCORE_RANGE["csat"])]})

    kind: Literal["csat", "nps"] = Field(description="csat (1-5) or nps (0-10)")
    score: int = Field(ge=0, le=10, description="The score, in the kind's range")
    ticket_id: TicketId | None = Field(
        default=None, description="The ticket it is about, if any (T-...)"
    )

    @field_validator("score")
    @classmethod
    def _in_range(cls, score: int, info: ValidationInfo) -> int:
        kind = info.data.get("kind")
        if kind in SCORE_RANGE:
            low, high = SCORE_RANGE[kind]
            if not low <= score <= high:
                raise PydanticCustomError(
                    "score_range",
                    "Input should be from {low} to {high} for a {kind} score",
                    {"kind": kind, "low": low, "high": high},
                )
        return score


class CustomerFeedbackRecordedData(Data):
    """What a customer told us about the product (R-CS-5): customer pain is product signal."""

    feedback_id: Label = Field(description="The feedback's id, unique per customer")
    kind: Literal["bug", "ux", "feature_request"] = Field(
        description="bug, ux (usability) or feature_request"
    )
    product_area: ProductArea = Field(description="The product area it is about, a slug")
    text: ShortText = Field(description="What the customer said, non-blank (R-CS-5)")
    ticket_id: TicketId | None = Field(
        default=None, description="The customer's ticket it came with, if any (T-...)"
    )


class CustomerContractData(Data):
    """A renewal or a churn, with its annual recurring revenue."""

    arr: Money = Field(
        description='Annual recurring revenue, a non-negative decimal string, e.g. "120000.00"'
    )
    reason: Text = Field(description="Why")


class CustomerContractChangedData(Data):
    """The contract's value changed between renewals: an expansion or a contraction, or the
    value of the contract the customer was onboarded with (R-REV-1)."""

    arr: Money = Field(
        description="The annual recurring revenue from now on, a decimal string above 0, e.g. "
        '"150000.00" (R-REV-1)'
    )
    reason: Text = Field(description="Why")


class CustomerCalendarChangeProposedData(Data):
    """A whole new business calendar from ``effective_at`` on (R-CAL): approved by
    leadership, not by the proposer, before it counts."""

    proposal_id: Label = Field(description="The proposal's id, at most 128 characters")
    calendar: Calendar = Field(
        description="The whole new calendar, as onboarding's: time zone, hours, holidays, "
        "hours_per_business_day"
    )
    effective_at: Instant = Field(
        description="When it takes effect, with offset; not before the proposal or its "
        "approval (R-CAL-2)"
    )


class CustomerCalendarChangeApprovedData(Data):
    """Approval by leadership, not by the proposer (R-CAL-1)."""

    proposal_id: Label = Field(description="The approved proposal's id")


class CustomerExceptionRequestedData(Data):
    """A customer-specific exception to the SLA policy, to be reviewed by leadership
    (R-EXC-1): the only way a customer gets other targets than the policy's."""

    exception_id: Label = Field(description="The exception's id, at most 128 characters")
    kind: Literal["sla_targets"] = Field(
        description="What it excepts: sla_targets, the SLA policy's targets of some severities"
    )
    targets: dict[Literal["1", "2", "3", "4"], SeverityTargets] = Field(
        min_length=1,
        description='Severity ("1" to "4") to its targets for this customer, in the policy\'s '
        "shape; a severity left out keeps the policy's targets",
    )
    reason: Text = Field(description="Why the customer is treated differently (R-EXC-1)")
    effective_at: Instant = Field(
        description="Applies to the customer's tickets opened at or after this instant, once "
        "approved (R-EXC-2)"
    )
    expires_at: Instant = Field(
        description="Applies to tickets opened before this instant: after effective_at, at "
        "most 366 days later (R-EXC-2)"
    )


class CustomerExceptionApprovedData(Data):
    """Approval by leadership, not by the requester (R-EXC-1)."""

    exception_id: Label = Field(description="The approved exception's id")


class CustomerOnboarded(CustomerEnvelope):
    """customer.onboarded"""

    type: Literal["customer.onboarded"] = Field(description=TYPE)
    data: CustomerOnboardedData = Field(description=PAYLOAD)


class CustomerOwnerChanged(CustomerEnvelope):
    """customer.owner_changed"""

    type: Literal["customer.owner_changed"] = Field(description=TYPE)
    data: CustomerOwnerChangedData = Field(description=PAYLOAD)


class CustomerCheckInScheduled(CustomerEnvelope):
    """customer.check_in_scheduled"""

    type: Literal["customer.check_in_scheduled"] = Field(description=TYPE)
    data: CustomerCheckInScheduledData = Field(description=PAYLOAD)


class CustomerCheckInCompleted(CustomerEnvelope):
    """customer.check_in_completed"""

    type: Literal["customer.check_in_completed"] = Field(description=TYPE)
    data: CustomerCheckInCompletedData = Field(description=PAYLOAD)


class CustomerMilestoneReached(CustomerEnvelope):
    """customer.milestone_reached"""

    type: Literal["customer.milestone_reached"] = Field(description=TYPE)
    data: CustomerMilestoneReachedData = Field(description=PAYLOAD)


class CustomerUsageReported(CustomerEnvelope):
    """customer.usage_reported"""

    type: Literal["customer.usage_reported"] = Field(description=TYPE)
    data: CustomerUsageReportedData = Field(description=PAYLOAD)


class CustomerSurveyRecorded(CustomerEnvelope):
    """customer.survey_recorded"""

    type: Literal["customer.survey_recorded"] = Field(description=TYPE)
    data: CustomerSurveyRecordedData = Field(description=PAYLOAD)


class CustomerRenewed(CustomerEnvelope):
    """customer.renewed"""

    type: Literal["customer.renewed"] = Field(description=TYPE)
    data: CustomerContractData = Field(description=PAYLOAD)


class CustomerChurned(CustomerEnvelope):
    """customer.churned"""

    type: Literal["customer.churned"] = Field(description=TYPE)
    data: CustomerContractData = Field(description=PAYLOAD)


class CustomerContractChanged(CustomerEnvelope):
    """customer.contract_changed"""

    type: Literal["customer.contract_changed"] = Field(description=TYPE)
    data: CustomerContractChangedData = Field(description=PAYLOAD)


class CustomerCalendarChangeProposed(CustomerEnvelope):
    """customer.calendar_change_proposed"""

    type: Literal["customer.calendar_change_proposed"] = Field(description=TYPE)
    data: CustomerCalendarChangeProposedData = Field(description=PAYLOAD)


class CustomerCalendarChangeApproved(CustomerEnvelope):
    """customer.calendar_change_approved"""

    type: Literal["customer.calendar_change_approved"] = Field(description=TYPE)
    data: CustomerCalendarChangeApprovedData = Field(description=PAYLOAD)


class CustomerExceptionRequested(CustomerEnvelope):
    """customer.exception_requested"""

    type: Literal["customer.exception_requested"] = Field(description=TYPE)
    data: CustomerExceptionRequestedData = Field(description=PAYLOAD)


class CustomerExceptionApproved(CustomerEnvelope):
    """customer.exception_approved"""

    type: Literal["customer.exception_approved"] = Field(description=TYPE)
    data: CustomerExceptionApprovedData = Field(description=PAYLOAD)


class CustomerFeedbackRecorded(CustomerEnvelope):
    """customer.feedback_recorded"""

    type: Literal["customer.feedback_recorded"] = Field(description=TYPE)
    data: CustomerFeedbackRecordedData = Field(description=PAYLOAD)
