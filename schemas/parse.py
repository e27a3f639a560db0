"""Bytes, text or a mapping in; a validated envelope out, or a `WireError` naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.base import Envelope
from schemas.registry import ENVELOPE_ADAPTER, SYSTEM_TYPES

# A missing or mistyped field that a domain rule is about carries that rule's id.
RULE_FOR_FIELD: Final[dict[tuple[str, str], str]] = {
    ("ticket.opened", "data.channel"): "R-IN-1",
    ("ticket.opened", "data.severity"): "R-IN-3",
    ("ticket.opened", "data.category"): "R-IN-3",
    ("ticket.triaged", "data.severity"): "R-IN-3",
    ("ticket.triaged", "data.category"): "R-IN-3",
    ("ticket.triaged", "data.reason"): "R-SEV-1",
    ("ticket.escalated", "data.reason"): "R-ESC-1",
    ("ticket.escalated", "data.to_tier"): "R-ESC-1",
    ("ticket.deescalated", "data.reason"): "R-ESC-1",
    ("ticket.deescalated", "data.to_tier"): "R-ESC-1",
    ("ticket.resolved", "data.resolution"): "R-FIX-1",
    ("ticket.temporary_fix_applied", "data.expires_at"): "R-FIX-2",
    ("ticket.temporary_fix_applied", "data.owner"): "R-FIX-2",
    ("customer.onboarded", "data.success_owner"): "R-CS-1",
    ("customer.onboarded", "data.escalation_contact"): "R-CS-1",
    ("customer.onboarded", "data.decision_maker"): "R-CS-1",
    ("customer.onboarded", "data.decision_maker.name"): "R-CS-1",
    ("customer.onboarded", "data.decision_maker.email"): "R-CS-1",
    ("rca.preventive_action_added", "data.owner"): "R-RCA-2",
    ("rca.preventive_action_added", "data.due_date"): "R-RCA-2",
}


class WireError(ValueError):
    """The input does not meet the wire contract."""

    def __init__(self, rule: str, field: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.field = field
        self.reason = reason


def parse_envelope(raw: bytes | str | Mapping[str, Any], *, allow_system: bool = False) -> Any:
    """Validate one envelope; raise :class:`WireError` naming the rule and the field.

    A mapping is checked exactly like its JSON text, so the Python API and JSON Lines
    files agree. The result is an instance of the type's envelope model (an `Envelope`).
    """
    if isinstance(raw, Mapping):
        try:
            raw = orjson.dumps(raw)
        except TypeError as error:
            raise WireError(
                "R-WIRE-1", "(document)", f"(document): not JSON-serialisable: {error}"
            ) from None
    try:
        envelope: Envelope = ENVELOPE_ADAPTER.validate_json(raw)
    except ValidationError as error:
        if not allow_system and _type_of(raw) in SYSTEM_TYPES:
            raise _system_type_error(_type_of(raw)) from None
        raise _wire_error(raw, error) from None
    except UnicodeDecodeError:
        raise WireError("R-WIRE-1", "(document)", "(document): not valid UTF-8") from None
    if envelope.type in SYSTEM_TYPES and not allow_system:
        raise _system_type_error(envelope.type)
    return envelope


def _system_type_error(event_type: str) -> WireError:
    return WireError(
        "R-WIRE-4",
        "type",
        f"type: {event_type} is written by the ledger itself; producers may not send it",
    )


def _mapping_to_json(document: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(document)
    except TypeError:
        pass  # e.g. an integer beyond 64 bits: let the standard library try
    try:
        return json.dumps(document).encode()
    except (TypeError, ValueError) as error:
        raise WireError(
            "R-WIRE-1", "(document)", f"(document): not JSON-serialisable: {error}"
        ) from None


def _wire_error(raw: bytes | str, error: ValidationError) -> WireError:
    details = error.errors(include_url=False, include_context=False, include_input=False)
    first = details[0]
    more = len(details) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    kind = first["type"]
    if kind == "json_invalid":
        return WireError("R-WIRE-1", "(document)", f"(document): not valid JSON ({first['msg']})")
    if kind in ("model_attributes_type", "model_type", "dict_type") and len(first["loc"]) == 0:
        return WireError("R-WIRE-1", "(document)", "(document): an envelope is a JSON object")
    if kind == "union_tag_invalid":
        return WireError("R-WIRE-3", "type", f"type: unknown event type {_type_of(raw)!r}")
    if kind == "union_tag_not_found":
        return WireError("R-WIRE-2", "type", "type: field required")
    field, message = _field_and_message(first)
    rule = "R-WIRE-3" if field == "schema_version" else "R-WIRE-2"
    rule = RULE_FOR_FIELD.get((_type_of(raw), field), rule)
    return WireError(rule, field, f"{field}: {message}{suffix}")


def _field_and_message(detail: ErrorDetails) -> tuple[str, str]:
    """The dotted wire path (the union's tag stripped) and pydantic's message.

    Model validators raise ``ValueError("name: why")``; their field is the validator's
    location plus that name.
    """
    loc = [str(part) for part in detail["loc"][1:]]
    message = detail["msg"]
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        head, sep, rest = message.partition(": ")
        if sep and head.replace("_", "").replace(".", "").isalnum() and " " not in head:
            loc.append(head)
            message = rest
    if detail["type"] == "timezone_aware":
        message = "a timestamp needs an offset (RFC 3339), e.g. 2026-03-27T16:30:00+01:00"
    return (".".join(loc) or "(document)"), message


def _type_of(raw: bytes | str) -> str:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    value = document.get("type") if isinstance(document, dict) else None
    return value if isinstance(value, str) else ""


def envelope_to_wire(envelope: Envelope) -> dict[str, Any]:
    """The envelope as JSON-ready data (the reverse of :func:`parse_envelope`)."""
    return envelope.model_dump(mode="json")
