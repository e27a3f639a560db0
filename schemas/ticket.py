"""Ticket events (subject = ticket id).

Fields a domain rule is about (channel, severity, category, reasons, resolution) take
any value of the right JSON type here, so that the domain layer rejects a bad value
with that rule's id (R-IN-1, R-IN-3, R-SEV-1, R-ESC-1, R-FIX-1) rather than R-WIRE-2.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import Data, EmptyData, TicketEnvelope
from schemas.fields import CustomerId, Instant, Int64, ProductArea, Text

TYPE = "The event type"
PAYLOAD = "The payload"


class TicketOpenedData(Data):
    """A customer's problem enters the ledger (R-IN-1..3, R-SEV-1)."""

    customer_id: CustomerId = Field(description="The enterprise customer, C-...")
    channel: Text = Field(
        description="support_portal, enterprise_email or contract_channel (R-IN-1)"
    )
    title: Text = Field(description="One line")
    description: Text = Field(description="What happens")
    severity: Int64 = Field(description="1 Critical, 2 High, 3 Medium, 4 Low (R-IN-3)")
    category: Text = Field(description="A category of R-SEV; it implies the severity (R-IN-3)")
    reason: Text | None = Field(
        default=None, description="Why the severity differs from the category's (R-SEV-1)"
    )
    product_area: ProductArea | None = Field(
        default=None, description="The product area it is about, a slug (insights group by it)"
    )


class TicketTriagedData(Data):
    """Severity and category (re)set; every change has a reason (R-SEV-1, R-SEV-2)."""

    severity: Int64 = Field(description="1 to 4 (R-IN-3)")
    category: Text = Field(description="A category of R-SEV")
    reason: Text = Field(description="Why (R-SEV-1)")
    product_area: ProductArea | None = Field(
        default=None, description="The product area, set or changed; left out: unchanged"
    )


class TicketAssignedData(Data):
    """Someone works on the ticket."""

    assignee: Text = Field(description="The engineer's id")


class TicketRespondedData(Data):
    """A response; a public one by staff stops the first-response timer (R-SLA-2)."""

    public: bool = Field(description="Visible to the customer")
    message: Text = Field(description="The response")


class TicketUpdatePostedData(Data):
    """A status update for the customer (R-SLA-3)."""

    message: Text = Field(description="The update")


class TicketStatusChangedData(Data):
    """Work status; waiting_on_customer pauses the update cadence (R-SLA-3)."""

    status: Literal["in_progress", "waiting_on_customer"] = Field(description="The new status")


class TicketEscalatedData(Data):
    """One tier up, with a reason (R-ESC-1)."""

    to_tier: Literal["platform_engineer", "security_infra_lead", "leadership"] = Field(
        description="The next tier up"
    )
    reason: Text = Field(description="Why (R-ESC-1)")
    escalated_to: Text | None = Field(default=None, description="The person escalated to")


class TicketDeescalatedData(Data):
    """Down one or more tiers, with a reason (R-ESC-1)."""

    to_tier: Literal["support_engineer", "platform_engineer", "security_infra_lead"] = Field(
        description="A lower tier"
    )
    reason: Text = Field(description="Why (R-ESC-1)")


class TicketTemporaryFixAppliedData(Data):
    """A workaround with an expiry and a follow-up owner (R-FIX-2)."""

    description: Text = Field(description="The workaround")
    expires_at: Instant = Field(description="When it must be replaced, with offset")
    owner: Text = Field(description="Who follows it up")


class TicketPermanentFixAppliedData(Data):
    """The real fix."""

    description: Text = Field(description="The fix")


class TicketResolvedData(Data):
    """Resolved, in writing (R-FIX-1)."""

    resolution: Text = Field(description="The written resolution (R-FIX-1)")


class TicketReopenedData(Data):
    """Back to work."""

    reason: Text = Field(description="Why")


class TicketOpened(TicketEnvelope):
    """ticket.opened"""

    type: Literal["ticket.opened"] = Field(description=TYPE)
    data: TicketOpenedData = Field(description=PAYLOAD)


class TicketTriaged(TicketEnvelope):
    """ticket.triaged"""

    type: Literal["ticket.triaged"] = Field(description=TYPE)
    data: TicketTriagedData = Field(description=PAYLOAD)


class TicketAssigned(TicketEnvelope):
    """ticket.assigned"""

    type: Literal["ticket.assigned"] = Field(description=TYPE)
    data: TicketAssignedData = Field(description=PAYLOAD)


class TicketResponded(TicketEnvelope):
    """ticket.responded"""

    type: Literal["ticket.responded"] = Field(description=TYPE)
    data: TicketRespondedData = Field(description=PAYLOAD)


class TicketUpdatePosted(TicketEnvelope):
    """ticket.update_posted"""

    type: Literal["ticket.update_posted"] = Field(description=TYPE)
    data: TicketUpdatePostedData = Field(description=PAYLOAD)


class TicketStatusChanged(TicketEnvelope):
    """ticket.status_changed"""

    type: Literal["ticket.status_changed"] = Field(description=TYPE)
    data: TicketStatusChangedData = Field(description=PAYLOAD)


class TicketEscalated(TicketEnvelope):
    """ticket.escalated"""

    type: Literal["ticket.escalated"] = Field(description=TYPE)
    data: TicketEscalatedData = Field(description=PAYLOAD)


class TicketDeescalated(TicketEnvelope):
    """ticket.deescalated"""

    type: Literal["ticket.deescalated"] = Field(description=TYPE)
    data: TicketDeescalatedData = Field(description=PAYLOAD)


class TicketTemporaryFixApplied(TicketEnvelope):
    """ticket.temporary_fix_applied"""

    type: Literal["ticket.temporary_fix_applied"] = Field(description=TYPE)
    data: TicketTemporaryFixAppliedData = Field(description=PAYLOAD)


class TicketPermanentFixApplied(TicketEnvelope):
    """ticket.permanent_fix_applied"""

    type: Literal["ticket.permanent_fix_applied"] = Field(description=TYPE)
    data: TicketPermanentFixAppliedData = Field(description=PAYLOAD)


class TicketResolved(TicketEnvelope):
    """ticket.resolved"""

    type: Literal["ticket.resolved"] = Field(description=TYPE)
    data: TicketResolvedData = Field(description=PAYLOAD)


class TicketReopened(TicketEnvelope):
    """ticket.reopened"""

    type: Literal["ticket.reopened"] = Field(description=TYPE)
    data: TicketReopenedData = Field(description=PAYLOAD)


class TicketClosed(TicketEnvelope):
    """ticket.closed: no payload; needs a permanent fix and, after Sev1/2, an RCA."""

    type: Literal["ticket.closed"] = Field(description=TYPE)
    data: EmptyData = Field(description="Always {}")
