"""Events the ledger writes itself (actor ledger/system). Producers may not send these
types: `parse_envelope` rejects them with R-WIRE-4 unless ``allow_system=True``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import CustomerEnvelope, Data, Envelope, Model, TicketEnvelope
from schemas.fields import Count, CustomerId, Day, EventId, Instant, Label, PlayId, Text

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


class PlayOpenedData(Data):
    """A churn risk opened a success play (R-PLAY-1)."""

    play_id: PlayId = Field(description="The play's id, P-<customer>-<n>: the customer's n-th play")
    risk: Literal["silent", "low_health", "sharp_drop"] = Field(
        description="The churn risk that opened it"
    )
    reason: Text = Field(description="The churn risk's reason")
    owner: Text = Field(description="The customer's success owner, who runs the play")
    due_at: Instant = Field(description="When it should be closed: opened + 7 days")
    churn_risk_event_id: EventId = Field(
        description="The event_id of the customer.churn_risk_raised that opened it"
    )


class PlayOverdueData(Data):
    """A play was still open at its due instant (R-PLAY-4)."""

    play_id: PlayId = Field(description="The play")
    owner: Text = Field(description="Its owner at the due instant")
    due_at: Instant = Field(description="When it was due")


PersonalField = Literal[
    "decision_maker",
    "escalation_contact",
    "name",
    "success_owner",
    "assignee",
    "escalated_to",
    "owner",
    "title",
    "description",
    "message",
    "reason",
    "resolution",
    "root_cause",
    "impact",
    "entry",
    "notes",
    "note",
    "text",
]
"""The personal fields of the chain format (``ledger.aggregates.chain.PERSONAL_FIELDS``)."""


class CustomerDataErasedData(Data):
    """An operator erased personal fields of the customer (R-ERASE-1); never the values."""

    fields: list[PersonalField] = Field(min_length=1, description="The fields erased")
    subjects: Count = Field(description="How many subjects: the customer and its tickets")
    events: Count = Field(description="How many stored events lost a field")
    rejections: Count = Field(description="How many rejected inputs were emptied")
    deferred: Count = Field(description="How many waiting inputs were emptied")
    deliveries: Count = Field(description="How many webhook outbox payloads were rewritten")
    reason: Text = Field(description="Why (the operator's words, e.g. a GDPR Art. 17 request)")


class ExportSelection(Model):
    """What an export selected."""

    customer: CustomerId | None = Field(description="Only this customer (its tickets, the policy)")
    occurred_from: Instant | None = Field(description="Events that occurred at or after (--from)")
    occurred_before: Instant | None = Field(description="Events that occurred before (--to)")
    redacted_fields: list[PersonalField] = Field(description="The fields masked")
    format: Literal["jsonl", "csv"] = Field(description="The file format")


class AuditExportRecordedData(Data):
    """Who exported what, when and why (R-ERASE-2)."""

    purpose: Text = Field(min_length=1, description="Why the export was made")
    selection: ExportSelection = Field(description="What it selected")
    records: Count = Field(description="How many events it holds")
    subjects: Count = Field(description="Of how many subjects")
    checkpoint: Count = Field(description="The number of the signed checkpoint it proves against")
    manifest_sha256: str = Field(
        pattern="^[0-9a-f]{64}$", description="SHA-256 of its manifest.json, as written"
    )


class CustomerDataErased(CustomerEnvelope):
    """customer.data_erased"""

    type: Literal["customer.data_erased"] = Field(description=TYPE)
    data: CustomerDataErasedData = Field(description=PAYLOAD)


class AuditExportRecorded(Envelope):
    """audit.export_recorded"""

    subject: Literal["AUDIT"] = Field(description="The audit log: always AUDIT")
    type: Literal["audit.export_recorded"] = Field(description=TYPE)
    data: AuditExportRecordedData = Field(description=PAYLOAD)


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


class PlayOpened(CustomerEnvelope):
    """play.opened"""

    type: Literal["play.opened"] = Field(description=TYPE)
    data: PlayOpenedData = Field(description=PAYLOAD)


class PlayOverdue(CustomerEnvelope):
    """play.overdue"""

    type: Literal["play.overdue"] = Field(description=TYPE)
    data: PlayOverdueData = Field(description=PAYLOAD)


SYSTEM_TYPES: frozenset[str] = frozenset(
    {
        "sla.breached",
        "sla.warning",
        "fix.temporary_expired",
        "customer.churn_risk_raised",
        "customer.exception_expired",
        "rca.action_overdue",
        "play.opened",
        "play.overdue",
        "customer.data_erased",
        "audit.export_recorded",
    }
)
