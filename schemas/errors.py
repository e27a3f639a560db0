"""`WireError`, and how a pydantic `ValidationError` becomes one.

A contract problem carries an ``R-WIRE-*`` rule id; a missing or mistyped field that a
domain rule is about carries that rule's id instead (`RULE_FOR_FIELD`), so a producer
hears "R-IN-3" whether the severity is missing or out of range.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.system import SYSTEM_TYPES

NOT_JSON: Final = "R-WIRE-1"  # not JSON, or JSON that is not an object
BAD_FIELD: Final = "R-WIRE-2"  # missing, wrong type, unknown, naive timestamp, bad value
UNKNOWN_TYPE: Final = "R-WIRE-3"  # unknown type or unsupported schema_version
SYSTEM_ONLY: Final = "R-WIRE-4"  # a type only the ledger writes
SPEAKS_FOR_LEDGER: Final = "R-IN-8"  # a producer using the system role or a ledger actor id
DOCUMENT: Final = "(document)"

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
    ("customer.exception_requested", "data.reason"): "R-EXC-1",
    ("customer.exception_requested", "data.effective_at"): "R-EXC-2",
    ("customer.exception_requested", "data.expires_at"): "R-EXC-2",
    ("rca.preventive_action_added", "data.owner"): "R-RCA-2",
    ("rca.preventive_action_added", "data.due_date"): "R-RCA-2",
    ("rca.preventive_action_cancelled", "data.reason"): "R-RCA-4",
    ("rca.knowledge_linked", "data.ref"): "R-RCA-6",
    ("rca.knowledge_linked", "data.title"): "R-RCA-6",
    ("incident.impact_started", "data.at"): "R-INC-1",
    ("incident.detected", "data.at"): "R-INC-1",
    ("incident.mitigated", "data.at"): "R-INC-1",
    ("customer.feedback_recorded", "data.text"): "R-CS-5",
}
"""(event type, field) -> the domain rule a missing or mistyped field breaks."""

_MESSAGES: Final[dict[str, str]] = {
    "extra_forbidden": "Unknown field: the contract has no such field here",
    "timezone_aware": "Input should have a UTC offset (RFC 3339), e.g. 2026-03-27T16:30:00+01:00",
    "dict_type": "Input should be a JSON object (an envelope)",
    "string_unicode": "Input should be valid Unicode text",
}


class WireError(ValueError):
    """An input that does not meet the wire contract.

    ``rule`` is the rule id (``R-WIRE-2``, ``R-IN-3``, ...), ``field`` the dotted path of
    the offending field (``data.severity``; ``(document)`` when the input is not a JSON
    object) and ``reason`` one sentence starting with the field.
    """

    rule: str
    field: str
    reason: str

    def __init__(self, rule: str, field: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[WireError], tuple[str, str, str]]:
        return type(self), (self.rule, self.field, self.reason)


def system_type_error(event_type: str) -> WireError:
    """R-WIRE-4: a producer sent a type only the ledger writes."""
    return WireError(
        SYSTEM_ONLY,
        "type",
        f"type: {event_type} is written by the ledger itself; producers may not send it",
    )


def ledger_actor_error(field: str, value: str) -> WireError:
    """R-IN-8: a producer spoke as the ledger (the ``system`` role or a ledger actor id)."""
    what = "role" if field == "actor.role" else "id"
    return WireError(
        SPEAKS_FOR_LEDGER,
        field,
        f"{field}: {value!r} is the ledger's own actor {what}; producers speak for "
        "themselves only (R-IN-8)",
    )


def duplicate_key_error(field: str) -> WireError:
    """R-WIRE-2: a JSON object repeats a key, so which value counts is ambiguous."""
    return WireError(
        BAD_FIELD,
        field,
        f"{field}: Duplicate key: a JSON object names this field more than once",
    )


def wire_error(error: ValidationError, *, allow_system: bool) -> WireError:
    """The first problem of ``error`` as a `WireError`, with a count of the others."""
    details = error.errors(include_url=False)
    first = details[0]
    if first["type"] == "extra_forbidden":
        # Python and JSON validation list a model's unknown keys in different orders:
        # name the same one either way (the least, as text).
        parent = first["loc"][:-1]
        first = min(
            (d for d in details if d["type"] == "extra_forbidden" and d["loc"][:-1] == parent),
            key=lambda d: str(d["loc"][-1]),
        )
    if not first["loc"]:
        return _document_error(first)
    event_type = str(first["loc"][0])  # the union's tag
    if event_type in SYSTEM_TYPES and not allow_system:
        return system_type_error(event_type)
    version = next((d for d in details if _unsupported_version(d)), None)
    if version is not None:
        return WireError(
            UNKNOWN_TYPE,
            "schema_version",
            f"schema_version: unsupported version {version['input']}; this ledger reads 1",
        )
    field = field_path(first)
    rule = RULE_FOR_FIELD.get((event_type, field), BAD_FIELD)
    more = len(details) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return WireError(rule, field, f"{field}: {_MESSAGES.get(first['type'], first['msg'])}{suffix}")


def field_path(detail: ErrorDetails) -> str:
    """The wire path of an error inside an envelope: ``data.calendar.hours.mon``."""
    return ".".join(str(part) for part in detail["loc"][1:] if part != "[key]") or DOCUMENT


def _unsupported_version(detail: ErrorDetails) -> bool:
    value: Any = detail.get("input")
    return (
        detail["loc"][1:] == ("schema_version",)
        and type(value) is int
        and detail["type"] == "literal_error"
    )


def _document_error(detail: ErrorDetails) -> WireError:
    """Problems of the whole input: not JSON, not an object, no or unknown ``type``."""
    kind = detail["type"]
    if kind == "union_tag_not_found":
        return WireError(BAD_FIELD, "type", "type: Field required")
    if kind == "union_tag_invalid":
        value = detail["input"].get("type") if isinstance(detail["input"], dict) else None
        if isinstance(value, str):
            return WireError(
                UNKNOWN_TYPE,
                "type",
                f"type: unknown event type {value!r} (see docs/event-contract.md)",
            )
        return WireError(BAD_FIELD, "type", "type: Input should be a string naming an event type")
    return WireError(NOT_JSON, DOCUMENT, f"{DOCUMENT}: {_MESSAGES.get(kind, detail['msg'])}")
