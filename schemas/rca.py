"""Root-cause analysis events (subject = ticket id), R-RCA-1..3."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import Data, EmptyData, TicketEnvelope
from schemas.fields import Count, Day, Instant, Label, Text

TYPE = "The event type"
PAYLOAD = "The payload"


class RcaRootCauseIdentifiedData(Data):
    """The root cause, in words and as a code."""

    root_cause: Text = Field(description="What caused it")
    root_cause_code: Label = Field(
        description="A shared code, at most 128 characters; equal codes are repeat incidents"
    )


class RcaImpactAssessedData(Data):
    """Who was affected, and for how long."""

    impact: Text = Field(description="What the customers could not do")
    customers_affected: Count = Field(description="How many customers")
    duration_minutes: Count = Field(description="How long, in minutes")


class RcaPreventiveActionAddedData(Data):
    """One preventive action, owned and due (R-RCA-2)."""

    action_id: Label = Field(description="The action's id within the RCA, at most 128 characters")
    description: Text = Field(description="What will be done")
    owner: Text = Field(description="Who does it (R-RCA-2)")
    due_date: Day = Field(description="By when, a date YYYY-MM-DD (R-RCA-2)")


class RcaOwnerAssignedData(Data):
    """Who owns the RCA."""

    owner: Text = Field(description="The RCA's owner")


class RcaTimelineEntryAddedData(Data):
    """A manual entry for the RCA's timeline."""

    at: Instant = Field(description="When it happened, with offset")
    entry: Text = Field(description="What happened")


class RcaRootCauseIdentified(TicketEnvelope):
    """rca.root_cause_identified"""

    type: Literal["rca.root_cause_identified"] = Field(description=TYPE)
    data: RcaRootCauseIdentifiedData = Field(description=PAYLOAD)


class RcaImpactAssessed(TicketEnvelope):
    """rca.impact_assessed"""

    type: Literal["rca.impact_assessed"] = Field(description=TYPE)
    data: RcaImpactAssessedData = Field(description=PAYLOAD)


class RcaPreventiveActionAdded(TicketEnvelope):
    """rca.preventive_action_added"""

    type: Literal["rca.preventive_action_added"] = Field(description=TYPE)
    data: RcaPreventiveActionAddedData = Field(description=PAYLOAD)


class RcaOwnerAssigned(TicketEnvelope):
    """rca.owner_assigned"""

    type: Literal["rca.owner_assigned"] = Field(description=TYPE)
    data: RcaOwnerAssignedData = Field(description=PAYLOAD)


class RcaTimelineEntryAdded(TicketEnvelope):
    """rca.timeline_entry_added"""

    type: Literal["rca.timeline_entry_added"] = Field(description=TYPE)
    data: RcaTimelineEntryAddedData = Field(description=PAYLOAD)


class RcaPublished(TicketEnvelope):
    """rca.published: no payload; needs a complete RCA (R-RCA-2)."""

    type: Literal["rca.published"] = Field(description=TYPE)
    data: EmptyData = Field(description="Always {}")
