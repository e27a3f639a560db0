"""Events the ledger writes itself (actor ledger/system). Producers may not send these
types: `parse_envelope` rejects them with R-WIRE-4 unless ``allow_system=True``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import CustomerEnvelope, Data, TicketEnvelope
from schemas.fields import Count, Day, Instant, Label, Text

TYPE = "The event type"
PAYLOAD = "The payload"


class SlaBreachedData(Data):
    """A timer's target passed before it stopped (R-SLA-5)."""

    timer: Literal["first_response", "update", "resolution"] = Field(description="Which timer")
    due_at: Instant = Field(description="When it was due")
    policy_version: Count = Field(description="The SLA policy version the timer ran under")


class SlaWarningData(Data):
    """A timer's warning threshold ran out while it ran: its target is near (R-SLA-7)."""

    timer: Literal["first_response", "update"] = Field(description="Which timer")
    warn_at: Instant = Field(description="When the warning threshold ran out")
    due_at: Instant = Field(description="When the timer was due, as it stood at warn_at")
    policy_version: Count = Field(description="The SLA policy version the timer ran under")


class FixTemporaryExpiredData(Data):
    """A temporary fix outlived its expiry with no permanent fix (R-FIX-2)."""

    expires_at: Instant = Field(description="The fix's expiry")
    owner: Text = Field(description="The fix's follow-up owner")


class CustomerChurnRiskRaisedData(Data):
    """Early warning (R-CS-3)."""

    reason: Text = Field(description="Why: low or falling health, or a silent customer")
    health_score: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Health score 0-100 at the time, if it is the reason",
    )


class CustomerExceptionExpiredData(Data):
    """An approved customer exception reached its expiry (R-EXC-2)."""

    exception_id: Label = Field(description="The exception's id")
    expires_at: Instant = Field(description="Its expiry")


class RcaActionOverdueData(Data):
    """A preventive action passed its due date and was not completed by then (R-RCA-5)."""

    action_id: Label = Field(description="The action's id")
    owner: Text = Field(description="The action's owner")
    due_date: Day = Field(description="Its due date, YYYY-MM-DD")
    due_at: Instant = Field(description="When it became overdue: the start of the next day, UTC")


class SlaBreached(TicketEnvelope):
    """sla.breached"""

    type: Literal["sla.breached"] = Field(description=TYPE)
    data: SlaBreachedData = Field(description=PAYLOAD)


class SlaWarning(TicketEnvelope):
    """sla.warning"""

    type: Literal["sla.warning"] = Field(description=TYPE)
    data: SlaWarningData = Field(description=PAYLOAD)


class FixTemporaryExpired(TicketEnvelope):
    """fix.temporary_expired"""

    type: Literal["fix.temporary_expired"] = Field(description=TYPE)
    data: FixTemporaryExpiredData = Field(description=PAYLOAD)


class CustomerChurnRiskRaised(CustomerEnvelope):
    """customer.churn_risk_raised"""

    type: Literal["customer.churn_risk_raised"] = Field(description=TYPE)
    data: CustomerChurnRiskRaisedData = Field(description=PAYLOAD)


class CustomerExceptionExpired(CustomerEnvelope):
    """customer.exception_expired"""

    type: Literal["customer.exception_expired"] = Field(description=TYPE)
    data: CustomerExceptionExpiredData = Field(description=PAYLOAD)


class RcaActionOverdue(TicketEnvelope):
    """rca.action_overdue"""

    type: Literal["rca.action_overdue"] = Field(description=TYPE)
    data: RcaActionOverdueData = Field(description=PAYLOAD)


SYSTEM_TYPES: frozenset[str] = frozenset(
    {
        "sla.breached",
        "sla.warning",
        "fix.temporary_expired",
        "customer.churn_risk_raised",
        "customer.exception_expired",
        "rca.action_overdue",
    }
)
