"""SLA policy events (subject = SLA), R-SLA-6: proposed by anyone, approved by leadership."""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from schemas.envelope import Data, Model, PolicyEnvelope
from schemas.fields import Instant, IsoDuration, Label, duration_length

TYPE = "The event type"
PAYLOAD = "The payload"
BUSINESS_DAY: Final = timedelta(hours=8)
"""A business day as ``warn_after`` is compared with its target at the wire (the default
calendar's; on a calendar whose business day is shorter, a warning that would not come
before the due instant is not raised)."""


class Target(Model):
    """A duration on a clock."""

    duration: IsoDuration = Field(
        description="Positive ISO 8601 duration PnWnDTnHnMnS of at most 366 days, e.g. PT4H; "
        "on the business clock P1D is one business day"
    )
    clock: Literal["24x7", "business"] = Field(
        description="24x7: real elapsed time; business: the customer's business hours"
    )
    warn_after: IsoDuration | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Pre-breach warning: an ISO 8601 duration, positive and shorter than "
        "duration, counted on the same clock from the timer's start (pauses excluded); the "
        "ledger writes sla.warning when it runs out (R-SLA-7). Absent or null: no warning",
    )

    @field_validator("warn_after")
    @classmethod
    def _before_the_target(cls, warn_after: str | None, info: ValidationInfo) -> str | None:
        duration, clock = info.data.get("duration"), info.data.get("clock")
        if warn_after is None or not isinstance(duration, str) or clock is None:
            return warn_after
        day = BUSINESS_DAY if clock == "business" else timedelta(days=1)
        if duration_length(warn_after, day) >= duration_length(duration, day):
            raise PydanticCustomError(
                "warn_after",
                "Input should be shorter than the target's duration {duration} (a day counted "
                "as {hours} hours on the {clock} clock)",
                {"duration": duration, "hours": int(day.total_seconds() // 3600), "clock": clock},
            )
        return warn_after


class SeverityTargets(Model):
    """The targets of one severity."""

    first_response: Target = Field(description="First response target (R-SLA-2)")
    update_every: Target | None = Field(
        default=None, description="Update cadence (R-SLA-3); null means none"
    )


class SlaPolicyChangeProposedData(Data):
    """A new policy version, effective once approved (R-SLA-6)."""

    proposal_id: Label = Field(description="The proposal's id, at most 128 characters")
    targets: dict[Literal["1", "2", "3", "4"], SeverityTargets] = Field(
        min_length=1,
        description='Severity ("1" to "4") to its targets; a severity left out keeps its '
        "current targets",
    )
    effective_at: Instant = Field(
        description="Applies to tickets opened at or after this instant, with offset"
    )


class SlaPolicyChangeApprovedData(Data):
    """Approval by leadership, not by the proposer (R-SLA-6)."""

    proposal_id: Label = Field(description="The approved proposal's id")


class SlaPolicyChangeProposed(PolicyEnvelope):
    """sla_policy.change_proposed"""

    type: Literal["sla_policy.change_proposed"] = Field(description=TYPE)
    data: SlaPolicyChangeProposedData = Field(description=PAYLOAD)


class SlaPolicyChangeApproved(PolicyEnvelope):
    """sla_policy.change_approved"""

    type: Literal["sla_policy.change_approved"] = Field(description=TYPE)
    data: SlaPolicyChangeApprovedData = Field(description=PAYLOAD)
