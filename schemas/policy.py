"""SLA policy events (subject = SLA), R-SLA-6: proposed by anyone, approved by leadership."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import Data, Model, PolicyEnvelope
from schemas.fields import Instant, IsoDuration, Label

TYPE = "The event type"
PAYLOAD = "The payload"


class Target(Model):
    """A duration on a clock."""

    duration: IsoDuration = Field(
        description="Positive ISO 8601 duration PnWnDTnHnMnS of at most 366 days, e.g. PT4H; "
        "on the business clock P1D is one business day"
    )
    clock: Literal["24x7", "business"] = Field(
        description="24x7: real elapsed time; business: the customer's business hours"
    )


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
