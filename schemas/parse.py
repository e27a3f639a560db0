"""Bytes, text or a mapping in; a validated envelope out, or a `WireError` naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import orjson
from pydantic import ValidationError

from schemas.envelope import Envelope
from schemas.errors import (
    BAD_FIELD,
    DOCUMENT,
    NOT_JSON,
    WireError,
    duplicate_key_error,
    ledger_actor_error,
    system_type_error,
    wire_error,
)
from schemas.fields import actor_key
from schemas.registry import ENVELOPE_ADAPTER, SYSTEM_TYPES, AnyEnvelope

_validate_json = ENVELOPE_ADAPTER.validate_json

SYSTEM_ROLE: Final = "system"
LEDGER_ACTOR_IDS: Final[frozenset[str]] = frozenset({"ledger"})
"""The actor ids the ledger writes its own events with (`actor_key` form): ``ledger``
(ledger/services/tick.py, ledger/aggregates/rules.py ``SYSTEM_ACTOR_ID``)."""


def parse_envelope(
    raw: bytes | str | Mapping[str, Any], *, allow_system: bool = False
) -> AnyEnvelope:
    """Validate one envelope against the contract; raise `WireError` on any problem
    (see `parse_canonical`)."""
    return parse_canonical(raw, allow_system=allow_system)[0]


def parse_canonical(
    raw: bytes | str | Mapping[str, Any], *, allow_system: bool = False
) -> tuple[AnyEnvelope, bytes]:
    """The validated envelope and its canonical JSON: the document with its keys sorted
    and no whitespace, the same bytes for the same content however it was spelt (the
    ledger's fingerprint of an input). Raise `WireError` on any problem.

    Bytes and text are parsed and validated in one pass of pydantic-core. A mapping is
    first written as JSON, so the Python API and JSON Lines files agree on everything.
    A JSON object that repeats a key is refused (R-WIRE-2, naming the key). Unless
    ``allow_system`` (the ledger's own events), types the ledger writes itself are
    refused (R-WIRE-4), and so are the ``system`` role and the ledger's actor ids
    (R-IN-8): producers speak for themselves only.
    """
    unique_keys = False
    if not isinstance(raw, bytes | str):
        raw, unique_keys = _json_of(raw)
    try:
        envelope = _validate_json(raw)
    except ValidationError as error:
        raise wire_error(error, allow_system=allow_system) from None
    if not allow_system and envelope.type in SYSTEM_TYPES:
        raise system_type_error(envelope.type)
    if unique_keys:  # written by `_json_of`: keys sorted already
        document, canonical = None, raw if isinstance(raw, bytes) else raw.encode()
    else:
        document, canonical = _refuse_duplicate_keys(raw)
    if not allow_system:
        actor = envelope.actor
        if actor.role == SYSTEM_ROLE:
            raise ledger_actor_error("actor.role", actor.role)
        if actor_key(actor.id) in LEDGER_ACTOR_IDS:
            raise ledger_actor_error("actor.id", actor.id)
    if _NUL_ESCAPE[type(raw)] in raw:
        _refuse_nul(orjson.loads(raw) if document is None else document, "")
    return envelope, canonical


_NUL_ESCAPE: Final[dict[type, Any]] = {bytes: b"\\u0000", str: "\\u0000"}
_COLON: Final[dict[type, Any]] = {bytes: b":", str: ":"}
_ESCAPED_COLONS: Final[dict[type, tuple[Any, Any]]] = {
    bytes: (b"\\u003a", b"\\u003A"),
    str: ("\\u003a", "\\u003A"),
}


def _refuse_duplicate_keys(raw: bytes | str) -> tuple[Any, bytes]:
    """Refuse a JSON object that repeats a key; return the document (as orjson reads it)
    and its canonical JSON (keys sorted).

    ``raw`` has passed validation, so it is JSON. Every key of it carries one colon
    outside strings; orjson keeps one value per key. So when no colon is written as
    ``\\u003a``, the colons of ``raw`` equal those of orjson's re-serialisation exactly
    when no key was dropped: one round trip and two counts, all in C. Otherwise
    (and to name the key) the document is read again, pair by pair.
    """
    first, second = _ESCAPED_COLONS[type(raw)]
    if first not in raw and second not in raw:
        try:
            document = orjson.loads(raw)
            canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass
        else:
            if raw.count(_COLON[type(raw)]) == canonical.count(b":"):
                return document, canonical
    field = _duplicate_key(raw)
    if field is not None:
        raise duplicate_key_error(field)
    return None, _canonical_text(raw)


def _canonical_text(raw: bytes | str) -> bytes:
    """Canonical JSON of a document orjson cannot read back (an integer past 64 bits)."""
    try:
        return orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key-value pairs, in order, repeats kept."""


def _duplicate_key(raw: bytes | str) -> str | None:
    """The wire path of the first repeated key of ``raw``, or None."""
    try:
        document = json.loads(raw, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        raise WireError(NOT_JSON, DOCUMENT, f"{DOCUMENT}: not JSON this ledger can read") from None
    return _first_repeat(document, "")


def _first_repeat(value: Any, path: str) -> str | None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, _ in value:
            if key in seen:
                return f"{path}.{key}" if path else key
            seen.add(key)
        items: list[tuple[str, Any]] = list(value)
    elif isinstance(value, list):
        items = [(str(index), item) for index, item in enumerate(value)]
    else:
        return None
    for key, item in items:
        found = _first_repeat(item, f"{path}.{key}" if path else key)
        if found is not None:
            return found
    return None


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


def _json_of(document: Mapping[str, Any]) -> tuple[bytes, bool]:
    """JSON text of a mapping, and whether its keys are known to be unique per object.

    Nested mappings are written as objects, Decimals as decimal strings. Anything else
    that is not JSON data (sets, bytes, non-string keys, cycles, a mapping that fails)
    is R-WIRE-1. As orjson does, a float NaN or infinity is written as null. orjson
    writes dict keys, unique; integers beyond 64 bits need the standard library, which
    may turn keys such as ``1`` and ``"1"`` into one name, so that text is checked.
    """
    try:
        return orjson.dumps(document, default=_json_default, option=orjson.OPT_SORT_KEYS), True
    except Exception as error:  # anything the mapping's own code raises, too
        if "64-bit" not in str(error):
            raise WireError(NOT_JSON, DOCUMENT, f"{DOCUMENT}: not JSON data ({error})") from None
    try:  # integers beyond 64 bits are JSON too; the contract's bounds refuse them
        text = json.dumps(document, default=_json_default, allow_nan=False, sort_keys=True)
        return text.encode(), False
    except Exception as error:
        raise WireError(NOT_JSON, DOCUMENT, f"{DOCUMENT}: not JSON data ({error})") from None


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
