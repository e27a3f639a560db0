"""The wire contract (event-contract.md, version 1) as pydantic v2 models.

Imports nothing of ours: services can validate with `parse_envelope`, or against the
JSON Schema files in ``schemas/json/`` generated from the models (`export_json_schemas`).
"""

from schemas.customer import (
    CustomerCalendarChangeApproved,
    CustomerCalendarChangeProposed,
    CustomerCheckInCompleted,
    CustomerCheckInScheduled,
    CustomerChurned,
    CustomerMilestoneReached,
    CustomerOnboarded,
    CustomerOwnerChanged,
    CustomerRenewed,
    CustomerSurveyRecorded,
    CustomerUsageReported,
)
from schemas.envelope import (
    Actor,
    CustomerEnvelope,
    Data,
    Envelope,
    PolicyEnvelope,
    Role,
    TicketEnvelope,
)
from schemas.errors import RULE_FOR_FIELD, WireError
from schemas.export import DEFAULT_SCHEMA_DIR, expected_json_schemas, export_json_schemas
from schemas.parse import envelope_to_wire, parse_canonical, parse_envelope
from schemas.policy import (
    SlaPolicyChangeApproved,
    SlaPolicyChangeProposed,
)
from schemas.rca import (
    RcaImpactAssessed,
    RcaOwnerAssigned,
    RcaPreventiveActionAdded,
    RcaPublished,
    RcaRootCauseIdentified,
    RcaTimelineEntryAdded,
)
from schemas.registry import (
    ENVELOPE_ADAPTER,
    ENVELOPE_MODELS,
    PRODUCER_TYPES,
    SYSTEM_TYPES,
    AnyEnvelope,
)
from schemas.system import (
    CustomerChurnRiskRaised,
    FixTemporaryExpired,
    SlaBreached,
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

__all__ = [
    "DEFAULT_SCHEMA_DIR",
    "ENVELOPE_ADAPTER",
    "ENVELOPE_MODELS",
    "PRODUCER_TYPES",
    "RULE_FOR_FIELD",
    "SYSTEM_TYPES",
    "Actor",
    "AnyEnvelope",
    "CustomerCalendarChangeApproved",
    "CustomerCalendarChangeProposed",
    "CustomerCheckInCompleted",
    "CustomerCheckInScheduled",
    "CustomerChurnRiskRaised",
    "CustomerChurned",
    "CustomerEnvelope",
    "CustomerMilestoneReached",
    "CustomerOnboarded",
    "CustomerOwnerChanged",
    "CustomerRenewed",
    "CustomerSurveyRecorded",
    "CustomerUsageReported",
    "Data",
    "Envelope",
    "FixTemporaryExpired",
    "PolicyEnvelope",
    "RcaImpactAssessed",
    "RcaOwnerAssigned",
    "RcaPreventiveActionAdded",
    "RcaPublished",
    "RcaRootCauseIdentified",
    "RcaTimelineEntryAdded",
    "Role",
    "SlaBreached",
    "SlaPolicyChangeApproved",
    "SlaPolicyChangeProposed",
    "TicketAssigned",
    "TicketClosed",
    "TicketDeescalated",
    "TicketEnvelope",
    "TicketEscalated",
    "TicketOpened",
    "TicketPermanentFixApplied",
    "TicketReopened",
    "TicketResolved",
    "TicketResponded",
    "TicketStatusChanged",
    "TicketTemporaryFixApplied",
    "TicketTriaged",
    "TicketUpdatePosted",
    "WireError",
    "envelope_to_wire",
    "expected_json_schemas",
    "export_json_schemas",
    "parse_canonical",
    "parse_envelope",
]
