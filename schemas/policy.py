"""SLA policy payloads (subject = SLA)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import Data, Instant, IsoDuration, Model

Severity = Literal["1", "2", "3", "4"]


class Target(Model):
    """A duration on a clock."""

    duration: IsoDuration
    clock: Literal["24x7", "business"]


class SeverityTargets(Model):
    """The targets of one severity."""

    first_response: Target
    update_every: Target | None = Field(default=None, description="null: no update cadence")


class SlaPolicyChangeProposedData(Data):
    """sla_policy.change_proposed"""

    proposal_id: str
    targets: dict[Severity, SeverityTargets] = Field(
        min_length=1, description="Severity to targets; a severity left out keeps its targets"
    )
    effective_at: Instant


class SlaPolicyChangeApprovedData(Data):
    """sla_policy.change_approved: by leadership, not the proposer (R-SLA-6)."""

    proposal_id: str
