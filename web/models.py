"""What the API's OpenAPI document says: the request body of ``POST /v1/events`` is the
wire contract's own JSON Schema (``schemas.export.producer_schema``, from the pydantic
envelope models), and the answers are described by the models here.

Answers are the documents the command line prints with ``--json`` (built by
``ledger.services.answers``): these models describe their outer shape; the rows inside
are those of the CLI's JSON (README, docs/rules.md).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.export import producer_schema

ENVELOPE_REF = "#/components/schemas/Envelope"


class OutcomeOut(BaseModel):
    """What became of one input of a POST, in the order sent."""

    index: int = Field(description="The input's place in the request, from 1.")
    status: Literal["accepted", "duplicate", "deferred", "rejected"]
    event_id: str | None = None
    subject: str | None = None
    rule: str | None = Field(None, description="Rejected: the rule broken (docs/rules.md).")
    field: str | None = Field(None, description="Rejected: the field at fault.")
    reason: str | None = Field(None, description="Rejected: why.")
    repeat: bool = Field(False, description="Rejected or deferred before: not kept twice.")
    waits_for: str | None = Field(None, description="Deferred: the subject it waits for.")


class IngestAnswer(BaseModel):
    """The answer to a POST of envelopes: one outcome per input, in order."""

    outcomes: list[OutcomeOut]
    counts: dict[str, int]


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    field: str | None = Field(None, description="The parameter or part of the input at fault.")
    rule: str | None = Field(None, description="The ledger's rule, where one applies.")


class Answer(BaseModel):
    """A read: the instants it was computed for, then what ``ledger ... --json`` prints."""

    model_config = ConfigDict(extra="allow")

    as_of: str = Field(description="The valid-time instant answered for, in UTC.")
    known_at: str | None = Field(
        description="Only what the ledger had recorded by then (null: everything)."
    )


class Page(Answer):
    """A page of a list; ``next_cursor`` asks for the next (null: the last page)."""

    next_cursor: str | None = None


class TicketPage(Page):
    tickets: list[dict[str, Any]]


class CustomerPage(Page):
    customers: list[dict[str, Any]]


class BoardPage(Page):
    timers: list[dict[str, Any]]


class RejectionPage(Page):
    rejections: list[dict[str, Any]]


class ActionPage(Page):
    actions: list[dict[str, Any]]


class Health(BaseModel):
    """``/healthz``: the process answers."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """``/readyz``: the database answers and the read models keep up."""

    ready: bool
    log_head: int
    behind: int
    seconds_since_progress: float
    detail: str


def envelope_components() -> dict[str, Any]:
    """The wire contract's envelope schema as OpenAPI components: ``Envelope`` (one of
    the producer types) and its definitions, refs pointed into ``components``."""
    schema = copy.deepcopy(producer_schema())
    defs = schema.pop("$defs")
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    found = {"Envelope": schema, **defs}
    return _repoint(found)  # type: ignore[no-any-return]


def _repoint(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                v.replace("#/$defs/", "#/components/schemas/")
                if k == "$ref" and isinstance(v, str)
                else _repoint(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_repoint(v) for v in value]
    return value


EVENTS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Envelopes of the wire contract (docs/event-contract.md): a JSON "
        "array, or NDJSON (one envelope a line). Size-limited; one transaction.",
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"$ref": ENVELOPE_REF}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}
"""The request body of ``POST /v1/events`` in the OpenAPI document."""
