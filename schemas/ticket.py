"""Ticket and RCA payloads (subject = ticket id). Fields a domain rule is about are left
lenient here (any string, any integer) so that the domain answers with the rule's id."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from schemas.base import Data, Instant

EscalationTier = Literal["platform_engineer", "security_infra_lead", "leadership"]
LowerTier = Literal["support_engineer", "platform_engineer", "security_infra_lead"]


class TicketOpenedData(Data):
    """ticket.opened"""

    customer_id: str = Field(description="The enterprise customer, C-...")
    channel: str = Field(
        description="support_portal, enterprise_email or contract_channel (R-IN-1)"
    )
    title: str
    description: str
    severity: int = Field(description="1 (Critical) to 4 (Low) (R-IN-3)")
    category: str = Field(description="One of the categories of R-SEV; implies the severity")
    reason: str | None = Field(
        default=None, description="Why the severity differs from the category's (R-SEV-1)"
    )


class TicketTriagedData(Data):
    """ticket.triaged"""

    severity: int = Field(description="1 to 4")
    category: str
    reason: str = Field(description="Why (R-SEV-1, R-SEV-2)")


class TicketAssignedData(Data):
    """ticket.assigned"""

    assignee: str


class TicketRespondedData(Data):
    """ticket.responded"""

    public: bool = Field(
        description="Visible to the customer; public staff responses count for the SLA"
    )
    message: str


class TicketUpdatePostedData(Data):
    """ticket.update_posted"""

    message: str


class TicketStatusChangedData(Data):
    """ticket.status_changed"""

    status: Literal["in_progress", "waiting_on_customer"]


class TicketEscalatedData(Data):
    """ticket.escalated: exactly one tier up, with a reason (R-ESC-1)."""

    to_tier: EscalationTier
    reason: str
    escalated_to: str | None = None


class TicketDeescalatedData(Data):
    """ticket.deescalated"""

    to_tier: LowerTier
    reason: str


class TicketTemporaryFixAppliedData(Data):
    """ticket.temporary_fix_applied (R-FIX-2)."""

    description: str
    expires_at: Instant
    owner: str = Field(description="Who follows the fix up")


class TicketPermanentFixAppliedData(Data):
    """ticket.permanent_fix_applied"""

    description: str


class TicketResolvedData(Data):
    """ticket.resolved: a written resolution (R-FIX-1)."""

    resolution: str


class TicketReopenedData(Data):
    """ticket.reopened"""

    reason: str


class EmptyData(Data):
    """No payload: ticket.closed, rca.published."""


class RcaRootCauseIdentifiedData(Data):
    """rca.root_cause_identified"""

    root_cause: str
    root_cause_code: str = Field(description="Shared codes reveal repeat incidents")


class RcaImpactAssessedData(Data):
    """rca.impact_assessed"""

    impact: str
    customers_affected: int = Field(ge=0)
    duration_minutes: int = Field(ge=0)


class RcaPreventiveActionAddedData(Data):
    """rca.preventive_action_added"""

    action_id: str
    description: str
    owner: str
    due_date: date


class RcaOwnerAssignedData(Data):
    """rca.owner_assigned"""

    owner: str


class RcaTimelineEntryAddedData(Data):
    """rca.timeline_entry_added"""

    at: Instant
    entry: str
