"""The envelope every event travels in (event-contract.md, version 1).

`Envelope` holds the fields all types share; a family base per kind of subject
(`TicketEnvelope`, `CustomerEnvelope`, `PolicyEnvelope`) fixes the subject's form, and
one subclass per event type fixes ``type`` and ``data``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.fields import CustomerId, EventId, Instant, NonEmptyLabel, TicketId

Role = Literal[
    "customer",
    "support_engineer",
    "platform_engineer",
    "security_infra_lead",
    "leadership",
    "customer_success",
    "system",
]


class Model(BaseModel):
    """Strict, closed and immutable: wrong JSON types and unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Data(Model):
    """Base of every payload (the envelope's ``data``)."""


class EmptyData(Data):
    """No payload: the object must be ``{}``."""


class Actor(Model):
    """Who did it."""

    id: NonEmptyLabel = Field(
        description="The actor's identity in the producing service, at most 128 characters, "
        "no control characters"
    )
    role: Role = Field(description="The actor's role")


class Envelope(Model):
    """The fields every event shares."""

    event_id: EventId = Field(description="Idempotency key, a UUID (R-IN-4)")
    type: str = Field(description="The event type")
    schema_version: Literal[1] = Field(description="Version of the contract; 1")
    occurred_at: Instant = Field(
        description="When it happened (valid time): RFC 3339 with offset; naive is rejected"
    )
    source: NonEmptyLabel = Field(
        description="The producing service, e.g. support-portal; at most 128 characters, "
        "no control characters"
    )
    actor: Actor = Field(description="Who did it")
    subject: str = Field(description="The aggregate: T-..., C-... or SLA")
    data: Data = Field(description="The type's payload")


class TicketEnvelope(Envelope):
    """An event about one ticket (ticket.*, rca.*)."""

    subject: TicketId = Field(description="The ticket id: T- then up to 126 of A-Z a-z 0-9 . _ -")


class CustomerEnvelope(Envelope):
    """An event about one customer (customer.*)."""

    subject: CustomerId = Field(
        description="The customer id: C- then up to 126 of A-Z a-z 0-9 . _ -"
    )


class PolicyEnvelope(Envelope):
    """An event about the SLA policy (sla_policy.*)."""

    subject: Literal["SLA"] = Field(description="The SLA policy: always SLA")
