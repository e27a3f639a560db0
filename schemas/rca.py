"""Root-cause analysis events (subject = ticket id), R-RCA-1..6."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import Data, EmptyData, TicketEnvelope
from schemas.fields import Count, Day, Instant, Label, ProductArea, Reference, ShortText, Text

TYPE = "The event type"
PAYLOAD = "The payload"


class RcaRootCauseIdentifiedData(Data):
    """The root cause, in words and as a code."""

    root_cause: Text = Field(description="What caused it")
    root_cause_code: Label = Field(
        description="A shared code, at most 128 characters; equal codes are repeat incidents"
    )
    product_area: ProductArea | None = Field(
        default=None, description="The product area the cause lies in, a slug (sets the ticket's)"
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


class RcaPreventiveActionCompletedData(Data):
    """A preventive action was done (R-RCA-4)."""

    action_id: Label = Field(description="The action's id, as added")
    note: ShortText | None = Field(default=None, description="What was done, at most 2000 chars")


class RcaPreventiveActionVerifiedData(Data):
    """A completed action was checked by someone other than who completed it (R-RCA-4)."""

    action_id: Label = Field(description="The action's id, as added")
    note: ShortText | None = Field(default=None, description="How it was checked")


class RcaPreventiveActionCancelledData(Data):
    """An open action was dropped, with a reason (R-RCA-4)."""

    action_id: Label = Field(description="The action's id, as added")
    reason: ShortText = Field(description="Why it is dropped, non-blank (R-RCA-4)")


class RcaKnowledgeLinkedData(Data):
    """A runbook, FAQ or playbook entry the RCA fed or relies on (R-RCA-6)."""

    kind: Literal["runbook", "faq", "playbook"] = Field(description="runbook, faq or playbook")
    ref: Reference = Field(description="Where the entry is: a URL or an id (R-RCA-6)")
    title: ShortText = Field(description="The entry's title, non-blank (R-RCA-6)")


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


class RcaPreventiveActionCompleted(TicketEnvelope):
    """rca.preventive_action_completed"""

    type: Literal["rca.preventive_action_completed"] = Field(description=TYPE)
    data: RcaPreventiveActionCompletedData = Field(description=PAYLOAD)


class RcaPreventiveActionVerified(TicketEnvelope):
    """rca.preventive_action_verified"""

    type: Literal["rca.preventive_action_verified"] = Field(description=TYPE)
    data: RcaPreventiveActionVerifiedData = Field(description=PAYLOAD)


class RcaPreventiveActionCancelled(TicketEnvelope):
    """rca.preventive_action_cancelled"""

    type: Literal["rca.preventive_action_cancelled"] = Field(description=TYPE)
    data: RcaPreventiveActionCancelledData = Field(description=PAYLOAD)


class RcaKnowledgeLinked(TicketEnvelope):
    """rca.knowledge_linked"""

    type: Literal["rca.knowledge_linked"] = Field(description=TYPE)
    data: RcaKnowledgeLinkedData = Field(description=PAYLOAD)
