"""All event types: the discriminated union over ``type``, and lookups by type name."""

from __future__ import annotations

from typing import Annotated, Final, get_args

from pydantic import Field, TypeAdapter

from schemas.customer import (
    CustomerCalendarChangeApproved,
    CustomerCalendarChangeProposed,
    CustomerCheckInCompleted,
    CustomerCheckInScheduled,
    CustomerChurned,
    CustomerContractChanged,
    CustomerExceptionApproved,
    CustomerExceptionRequested,
    CustomerFeedbackRecorded,
    CustomerMilestoneReached,
    CustomerOnboarded,
    CustomerOwnerChanged,
    CustomerRenewed,
    CustomerSurveyRecorded,
    CustomerUsageReported,
)
from schemas.envelope import Envelope
from schemas.incident import IncidentDetected, IncidentImpactStarted, IncidentMitigated
from schemas.play import PlayClosed, PlayOutreachLogged
from schemas.policy import SlaPolicyChangeApproved, SlaPolicyChangeProposed
from schemas.rca import (
    RcaImpactAssessed,
    RcaKnowledgeLinked,
    RcaOwnerAssigned,
    RcaPreventiveActionAdded,
    RcaPreventiveActionCancelled,
    RcaPreventiveActionCompleted,
    RcaPreventiveActionVerified,
    RcaPublished,
    RcaRootCauseIdentified,
    RcaTimelineEntryAdded,
)
from schemas.system import (
    SYSTEM_TYPES,
    AuditExportRecorded,
    CustomerChurnRiskRaised,
    CustomerDataErased,
    CustomerExceptionExpired,
    FixTemporaryExpired,
    PlayOpened,
    PlayOverdue,
    RcaActionOverdue,
    SlaBreached,
    SlaWarning,
)
from schemas.ticket import (
    TicketAssigned,
    TicketClosed,
    TicketDeescalated,
    TicketEscalated,
    TicketOpened,
    TicketPermanentFixApplied,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketStatusChanged,
    TicketTemporaryFixApplied,
    TicketTriaged,
    TicketUpdatePosted,
)

AnyEnvelope = Annotated[
    TicketOpened
    | TicketTriaged
    | TicketAssigned
    | TicketResponded
    | TicketUpdatePosted
    | TicketStatusChanged
    | TicketEscalated
    | TicketDeescalated
    | TicketTemporaryFixApplied
    | TicketPermanentFixApplied
    | TicketResolved
    | TicketReopened
    | TicketClosed
    | RcaRootCauseIdentified
    | RcaImpactAssessed
    | RcaPreventiveActionAdded
    | RcaOwnerAssigned
    | RcaTimelineEntryAdded
    | RcaPublished
    | RcaPreventiveActionCompleted
    | RcaPreventiveActionVerified
    | RcaPreventiveActionCancelled
    | RcaKnowledgeLinked
    | IncidentImpactStarted
    | IncidentDetected
    | IncidentMitigated
    | CustomerOnboarded
    | CustomerOwnerChanged
    | CustomerCheckInScheduled
    | CustomerCheckInCompleted
    | CustomerMilestoneReached
    | CustomerUsageReported
    | CustomerSurveyRecorded
    | CustomerRenewed
    | CustomerChurned
    | CustomerCalendarChangeProposed
    | CustomerCalendarChangeApproved
    | CustomerExceptionRequested
    | CustomerExceptionApproved
    | CustomerFeedbackRecorded
    | CustomerContractChanged
    | PlayOutreachLogged
    | PlayClosed
    | SlaPolicyChangeProposed
    | SlaPolicyChangeApproved
    | SlaBreached
    | SlaWarning
    | FixTemporaryExpired
    | CustomerChurnRiskRaised
    | CustomerExceptionExpired
    | RcaActionOverdue
    | PlayOpened
    | PlayOverdue
    | CustomerDataErased
    | AuditExportRecorded,
    Field(discriminator="type"),
]
"""Any event, told apart by ``type`` in one pass of pydantic-core."""

ENVELOPE_ADAPTER: Final[TypeAdapter[AnyEnvelope]] = TypeAdapter(AnyEnvelope)


def _type_name(model: type[Envelope]) -> str:
    (name,) = get_args(model.model_fields["type"].annotation)
    return str(name)


ENVELOPE_MODELS: Final[dict[str, type[Envelope]]] = {
    _type_name(model): model for model in get_args(get_args(AnyEnvelope)[0])
}
"""Event type name to its envelope model, system types included."""

PRODUCER_TYPES: Final[frozenset[str]] = frozenset(ENVELOPE_MODELS) - SYSTEM_TYPES
"""The types a producer may send."""

if not ENVELOPE_MODELS.keys() >= SYSTEM_TYPES:  # pragma: no cover - a programming error
    raise RuntimeError("every system type needs a model in AnyEnvelope")

__all__ = ["ENVELOPE_ADAPTER", "ENVELOPE_MODELS", "PRODUCER_TYPES", "SYSTEM_TYPES", "AnyEnvelope"]
