"""One envelope model per event type, and the discriminated union over all of them."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from schemas import customer, policy, system, ticket
from schemas.base import Data, Envelope

# type -> (subject family, payload model)
_PAYLOADS: Final[dict[str, tuple[str, type[Data]]]] = {
    "ticket.opened": ("ticket", ticket.TicketOpenedData),
    "ticket.triaged": ("ticket", ticket.TicketTriagedData),
    "ticket.assigned": ("ticket", ticket.TicketAssignedData),
    "ticket.responded": ("ticket", ticket.TicketRespondedData),
    "ticket.update_posted": ("ticket", ticket.TicketUpdatePostedData),
    "ticket.status_changed": ("ticket", ticket.TicketStatusChangedData),
    "ticket.escalated": ("ticket", ticket.TicketEscalatedData),
    "ticket.deescalated": ("ticket", ticket.TicketDeescalatedData),
    "ticket.temporary_fix_applied": ("ticket", ticket.TicketTemporaryFixAppliedData),
    "ticket.permanent_fix_applied": ("ticket", ticket.TicketPermanentFixAppliedData),
    "ticket.resolved": ("ticket", ticket.TicketResolvedData),
    "ticket.reopened": ("ticket", ticket.TicketReopenedData),
    "ticket.closed": ("ticket", ticket.EmptyData),
    "rca.root_cause_identified": ("ticket", ticket.RcaRootCauseIdentifiedData),
    "rca.impact_assessed": ("ticket", ticket.RcaImpactAssessedData),
    "rca.preventive_action_added": ("ticket", ticket.RcaPreventiveActionAddedData),
    "rca.owner_assigned": ("ticket", ticket.RcaOwnerAssignedData),
    "rca.timeline_entry_added": ("ticket", ticket.RcaTimelineEntryAddedData),
    "rca.published": ("ticket", ticket.EmptyData),
    "customer.onboarded": ("customer", customer.CustomerOnboardedData),
    "customer.owner_changed": ("customer", customer.CustomerOwnerChangedData),
    "customer.check_in_scheduled": ("customer", customer.CustomerCheckInScheduledData),
    "customer.check_in_completed": ("customer", customer.CustomerCheckInCompletedData),
    "customer.milestone_reached": ("customer", customer.CustomerMilestoneReachedData),
    "customer.usage_reported": ("customer", customer.CustomerUsageReportedData),
    "customer.survey_recorded": ("customer", customer.CustomerSurveyRecordedData),
    "customer.renewed": ("customer", customer.CustomerContractData),
    "customer.churned": ("customer", customer.CustomerContractData),
    "sla_policy.change_proposed": ("policy", policy.SlaPolicyChangeProposedData),
    "sla_policy.change_approved": ("policy", policy.SlaPolicyChangeApprovedData),
    # Written by the ledger itself:
    "sla.breached": ("ticket", system.SlaBreachedData),
    "fix.temporary_expired": ("ticket", system.FixTemporaryExpiredData),
    "customer.churn_risk_raised": ("customer", system.CustomerChurnRiskRaisedData),
}

SYSTEM_TYPES: Final = frozenset(
    {"sla.breached", "fix.temporary_expired", "customer.churn_risk_raised"}
)
PRODUCER_TYPES: Final = frozenset(_PAYLOADS) - SYSTEM_TYPES


def _class_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace(".", "_").split("_"))


def _envelope_model(event_type: str, family: str, payload: type[Data]) -> type[Envelope]:
    model: type[Envelope] = create_model(
        _class_name(event_type),
        __base__=Envelope,
        __doc__=f"Envelope of a {event_type} event.",
        type=(Literal[event_type], Field(description="The event type")),  # type: ignore[arg-type]
        data=(payload, Field(description=f"The {event_type} payload")),
    )
    model.FAMILY = family
    return model


ENVELOPE_MODELS: Final[dict[str, type[Envelope]]] = {
    event_type: _envelope_model(event_type, family, payload)
    for event_type, (family, payload) in _PAYLOADS.items()
}

_UNION: Any = Union[tuple(ENVELOPE_MODELS.values())]  # noqa: UP007 - built at run time

ENVELOPE_ADAPTER: Final[TypeAdapter[Envelope]] = TypeAdapter(
    Annotated[_UNION, Field(discriminator="type")]
)
