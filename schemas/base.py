"""The envelope every event travels in, and the small types the payloads share."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Role = Literal[
    "customer",
    "support_engineer",
    "platform_engineer",
    "security_infra_lead",
    "leadership",
    "customer_success",
    "system",
]

NonEmpty = Annotated[str, Field(min_length=1)]
Instant = Annotated[AwareDatetime, Field(description="RFC 3339 timestamp with offset")]

_SUBJECT = {
    "ticket": re.compile(r"^T-.+$"),
    "customer": re.compile(r"^C-.+$"),
    "policy": re.compile(r"^SLA$"),
}
_SUBJECT_HINT = {
    "ticket": "a ticket id T-...",
    "customer": "a customer id C-...",
    "policy": "exactly SLA",
}


class Model(BaseModel):
    """Strict, closed, immutable: wrong JSON types and unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Data(Model):
    """Base of every payload."""


class Actor(Model):
    """Who did it."""

    id: NonEmpty = Field(description="The actor's identity in the producing service")
    role: Role = Field(description="The actor's role")


class Envelope(Model):
    """The envelope around every event (event-contract.md, version 1)."""

    FAMILY: ClassVar[str] = ""

    event_id: UUID = Field(description="Idempotency key (R-IN-4)")
    type: str = Field(description="The event type")
    schema_version: Literal[1] = Field(description="Contract version; 1")
    occurred_at: Instant = Field(description="When it happened (valid time), with offset")
    source: NonEmpty = Field(description="The producing service, e.g. support-portal")
    actor: Actor
    subject: str = Field(description="Ticket id T-..., customer id C-..., or SLA")
    data: Any

    @model_validator(mode="after")
    def _subject_fits_family(self) -> Envelope:
        """Subjects must fit the type's family (ticket, customer, policy)."""
        pattern = _SUBJECT.get(self.FAMILY)
        if pattern is not None and not pattern.match(self.subject):
            raise ValueError(
                f"subject: {self.type} needs {_SUBJECT_HINT[self.FAMILY]}, not {self.subject!r}"
            )
        return self


def _hh_mm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", value):
        raise ValueError(f"{value!r} is not a local time HH:MM (00:00 to 24:00)")
    return value


LocalTime = Annotated[str, AfterValidator(_hh_mm)]

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?"
    r"(?:(?P<s>\d+)S)?)?$"
)


def _duration(value: str) -> str:
    match = _DURATION.match(value)
    if not match or not any(int(v) for v in match.groupdict(default="0").values()):
        raise ValueError(
            f"{value!r} is not a positive ISO 8601 duration PnWnDTnHnMnS (no years or months)"
        )
    return value


IsoDuration = Annotated[
    str,
    AfterValidator(_duration),
    Field(
        description="ISO 8601 duration, e.g. PT4H or P1D (P1D = one business day on the "
        "business clock)"
    ),
]

__all__ = [
    "Actor",
    "Data",
    "Envelope",
    "Instant",
    "IsoDuration",
    "LocalTime",
    "Model",
    "NonEmpty",
    "Role",
    "datetime",
]
