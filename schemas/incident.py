"""Incident milestones (subject = ticket id), R-INC-1: when the impact began, when it was
detected and when it was mitigated. Each carries the instant it happened (``at``), since
milestones are often recorded after the fact."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import Data, TicketEnvelope
from schemas.fields import Instant, ShortText

TYPE = "The event type"
PAYLOAD = "The payload"


class IncidentMilestoneData(Data):
    """A milestone of the incident and when it happened (R-INC-1)."""

    at: Instant = Field(description="When it happened, with offset; not after occurred_at")
    note: ShortText | None = Field(default=None, description="How it is known, at most 2000 chars")


class IncidentImpactStarted(TicketEnvelope):
    """incident.impact_started: customers began to be affected."""

    type: Literal["incident.impact_started"] = Field(description=TYPE)
    data: IncidentMilestoneData = Field(description=PAYLOAD)


class IncidentDetected(TicketEnvelope):
    """incident.detected: the organisation knew of the impact (an alert, a report)."""

    type: Literal["incident.detected"] = Field(description=TYPE)
    data: IncidentMilestoneData = Field(description=PAYLOAD)


class IncidentMitigated(TicketEnvelope):
    """incident.mitigated: customers were no longer affected (the fix may come later)."""

    type: Literal["incident.mitigated"] = Field(description=TYPE)
    data: IncidentMilestoneData = Field(description=PAYLOAD)
