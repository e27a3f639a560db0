"""Bytes, text or a mapping in; a validated envelope out, or a `WireError` naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.envelope import Envelope
from schemas.errors import (
    BAD_FIELD,
    DOCUMENT,
    NOT_JSON,
    WireError,
    system_type_error,
    wire_error,
)
from schemas.registry import ENVELOPE_ADAPTER, SYSTEM_TYPES, AnyEnvelope

_validate_json = ENVELOPE_ADAPTER.validate_json


def parse_envelope(
    raw: bytes | str | Mapping[str, Any], *, allow_system: bool = False
) -> AnyEnvelope:
    """Validate one envelope against the contract; raise `WireError` on any problem.

    Bytes and text are parsed and validated in one pass of pydantic-core. A mapping is
    first written as JSON, so the Python API and JSON Lines files agree on everything.
    Types the ledger writes itself are refused (R-WIRE-4) unless ``allow_system``.
    """
    if not isinstance(raw, bytes | str):
        raw = _json_of(raw)
    try:
        envelope = _validate_json(raw)
    except ValidationError as error:
        raise wire_error(error, allow_system=allow_system) from None
    if not allow_system and envelope.type in SYSTEM_TYPES:
        raise system_type_error(envelope.type)
    if _NUL_ESCAPE[type(raw)] in raw:
        _refuse_nul(orjson.loads(raw), "")
    return envelope


_NUL_ESCAPE: dict[type, Any] = {bytes: b"\\u0000", str: "\\u0000"}


def _refuse_nul(value: Any, path: str) -> None:
    """NUL (U+0000) cannot be stored in a text column: refuse it, naming the field."""
    if isinstance(value, str):
        if "\x00" in value:
            field = path or DOCUMENT
            raise WireError(BAD_FIELD, field, f"{field}: contains a NUL character (U+0000)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, path)
            _refuse_nul(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{path}[{index}]")


def envelope_to_wire(envelope: Envelope) -> dict[str, Any]:
    """The envelope as JSON-ready data; `parse_envelope` of it gives the envelope back."""
    return envelope.model_dump(mode="json")


def _json_of(document: Mapping[str, Any]) -> bytes:
    """JSON text of a mapping: nested mappings as objects, Decimals as decimal strings.

    Anything else that is not JSON data (sets, bytes, non-string keys) is R-WIRE-1. As
    orjson does, a float NaN or infinity is written as null.
    """
    try:
        return orjson.dumps(document, default=_json_default)
    except TypeError as error:
        if "64-bit" not in str(error):
            raise WireError(NOT_JSON, DOCUMENT, f"{DOCUMENT}: not JSON data ({error})") from None
    try:  # integers beyond 64 bits are JSON too
        return json.dumps(document, default=_json_default, allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        raise WireError(NOT_JSON, DOCUMENT, f"{DOCUMENT}: not JSON data ({error})") from None


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
