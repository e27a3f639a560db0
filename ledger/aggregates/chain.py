"""The hash chain: every event of a subject commits to its predecessor (tamper evidence).

``event_hash = sha256(canonical body)``, where the body holds the event's type, subject,
version, both instants, actor, source, id, the previous event's hash and its data. It is
computed in the domain when the event is created, so it does not depend on the storage
backend, and anyone holding the events can recompute it (``docs/chain-format.md``
specifies every byte).

Each event records the *chain format* it was hashed under (``chain_format``, also the
body's ``format`` member), so verification never guesses: format 1 (the events stored
before issue 21) writes the body as sorted-key JSON in orjson's spelling of numbers;
format 2, the one new events get, writes it by RFC 8785 (JSON Canonicalization Scheme),
which anyone can implement from the RFC.

Personal data and free text are not hashed directly: the body holds a *commitment*
``sha256(field_salt || value)`` for each such field, with ``field_salt = sha256(salt ||
":" || field)`` and a random per-event ``salt`` kept with the event. An export can
then redact a field by giving its commitment instead of its value and field salt, and
still verify; the salts of other fields reveal nothing about a redacted one.

Format 1's bytes are written by ``standard_dumps`` unless a faster writer of the same
bytes is installed with ``use_canonical_json``; format 2's by the ``rfc8785`` package (the
scheme's own serialisation, pure Python, the definition of the bytes rather than a choice
of infrastructure) unless ``use_jcs`` installs a faster writer of the same bytes. The
store installs orjson-based writers of both, since hashing is on the ingest path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

import rfc8785

GENESIS: Final = "0" * 64
"""The "previous hash" of a subject's first event."""

CONTACT_FIELDS: Final = frozenset({"decision_maker", "escalation_contact"})
"""Customer contacts: what ``ledger export --redact`` masks."""

NAME_FIELDS: Final = frozenset({"name", "success_owner", "assignee", "escalated_to", "owner"})
"""Names of people and companies: masked by ``--redact-names`` too."""

TEXT_FIELDS: Final = frozenset(
    {
        "title",
        "description",
        "message",
        "reason",
        "resolution",
        "root_cause",
        "impact",
        "entry",
        "notes",
        "note",
        "text",
    }
)
"""Free text, which may quote anyone: masked by ``--redact-text`` too."""

PERSONAL_FIELDS: Final = CONTACT_FIELDS | NAME_FIELDS | TEXT_FIELDS
"""Data fields committed to rather than hashed, so that exports can redact them."""

CHAIN_FORMAT: Final = 2
"""The chain format new events are hashed under (``docs/chain-format.md``): bumped if the
body's serialisation, its layout or the committed fields ever change. An event keeps the
format it was hashed under for good."""

CHAIN_FORMATS: Final = frozenset({1, 2})
"""Every format an event may have been hashed under."""

CHAIN_FIELDS: Final = frozenset({"previous_hash", "event_hash", "salt", "chain_format"})

JCS_SAFE_INTEGER: Final = 2**53 - 1
"""Beyond this an integer has no exact IEEE 754 double, which is all RFC 8785 writes:
format 2 writes such an integer as the string of its decimal digits (RFC 8785 appendix D)."""


def new_salt() -> str:
    """A fresh random salt for one event (from the OS's CSPRNG, drawn 256 at a time:
    one system call per salt was 2% of ingest)."""
    if not _SALTS:
        drawn = secrets.token_hex(16 * 256)
        _SALTS.extend(drawn[i : i + 32] for i in range(0, len(drawn), 32))
    return _SALTS.pop()


_SALTS: list[str] = []
os.register_at_fork(after_in_child=_SALTS.clear)  # a child never reuses its parent's


_AS_IS: Final = frozenset({str, int, bool, float, type(None)})


def canonical(value: Any) -> Any:
    """JSON-ready value with one spelling per meaning (instants in UTC, microseconds)."""
    if type(value) in _AS_IS:
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


class JcsNumber(float):
    """A finite double of a format-2 body, which RFC 8785 writes as ECMAScript does
    (``1e+21``, ``0.000001``, ``5`` for 5.0): marked by ``jcs_ready`` so that a faster
    writer that spells floats otherwise (orjson) knows which values to spell so."""

    __slots__ = ()


def jcs_ready(value: Any) -> Any:
    """``canonical(value)`` as format 2 hashes it: an integer beyond +-(2**53 - 1) as the
    string of its digits, a NaN or an infinity as null (as the store writes it), any
    other float as a ``JcsNumber``."""
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is JcsNumber:
        return value
    if kind is int:
        return value if -JCS_SAFE_INTEGER <= value <= JCS_SAFE_INTEGER else str(value)
    if kind is float:
        return JcsNumber(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jcs_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jcs_ready(v) for v in value]
    if isinstance(value, datetime | date | Decimal):
        return canonical(value)
    return value


CanonicalJSON = Callable[[Any], bytes]
"""Writes a JSON-ready value (what ``canonical`` returns) as canonical JSON bytes."""


def standard_dumps(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8 (RFC 8259), strings escaped as
    ``json.dumps(ensure_ascii=False)`` escapes them, numbers as orjson writes them (with
    ``OPT_SORT_KEYS``, the writer the chain's hashes were first computed with): integers
    in 64 bits, floats as ``repr`` but for ``0.00001``-style decimals at exponent -5 and
    unpadded negative exponents below it (``1e-7``), NaN and infinities as ``null``.

    Raises ``TypeError`` for anything else: a value must be made JSON-ready
    (``canonical``) before it is written."""
    return "".join(_json_parts(value, [])).encode()


def _json_parts(value: Any, parts: list[str]) -> list[str]:
    if isinstance(value, str):
        parts.append(json.dumps(value, ensure_ascii=False))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise TypeError(f"Integer exceeds 64-bit range: {value}")
        parts.append(int.__repr__(value))
    elif type(value) is float:
        parts.append(_float_text(value))
    elif isinstance(value, dict):
        parts.append("{")
        for i, key in enumerate(sorted(value)):
            if not isinstance(key, str):
                raise TypeError(f"Dict key must be str: {key!r}")
            if i:
                parts.append(",")
            parts.append(json.dumps(key, ensure_ascii=False))
            parts.append(":")
            _json_parts(value[key], parts)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            _json_parts(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
    return parts


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        return "null"
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if not exponent or exponent[0] == "+":
        return text
    power = int(exponent)
    if power == -5:
        sign = "-" if mantissa[0] == "-" else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e{power}"


_writer: CanonicalJSON = standard_dumps


def use_canonical_json(writer: CanonicalJSON) -> None:
    """Write canonical JSON with ``writer`` from now on: a faster writer of exactly the
    bytes ``standard_dumps`` writes for every JSON-ready value (a hash must not depend on
    which writer computed it; ``tests/unit/test_canonical_json.py`` checks orjson's)."""
    global _writer
    _writer = writer


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes of a JSON-ready value, by the installed writer (format 1's
    spelling: what checkpoints, manifests and Merkle leaves are written in)."""
    return _writer(value)


def jcs_dumps(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON-ready value (``jcs_ready``), by the installed writer.

    Raises ``ValueError`` (``rfc8785.CanonicalizationError``) for what the scheme cannot
    write: a NaN, an infinity, an integer beyond +-(2**53 - 1), a lone surrogate."""
    return _jcs_writer(value)


_jcs_writer: CanonicalJSON = rfc8785.dumps


def use_jcs(writer: CanonicalJSON) -> None:
    """Write RFC 8785 JSON with ``writer`` from now on: a faster writer of exactly the
    bytes ``rfc8785.dumps`` writes (``tests/unit/test_canonical_json.py`` checks the
    store's)."""
    global _jcs_writer
    _jcs_writer = writer


def _check_format(fmt: Any) -> int:
    if type(fmt) is not int or fmt not in CHAIN_FORMATS:
        raise ValueError(f"chain format {fmt!r} is not one of {sorted(CHAIN_FORMATS)}")
    return fmt


def serialised(value: Any, fmt: int) -> bytes:
    """The bytes chain format ``fmt`` hashes for a value (made JSON-ready first)."""
    if _check_format(fmt) == 1:
        return _writer(canonical(value))
    return _jcs_writer(jcs_ready(value))


def field_salt(salt: str, field: str) -> str:
    """The salt of one field, derived from the event's salt."""
    return hashlib.sha256(f"{salt}:{field}".encode()).hexdigest()


def commitment(field_salt_hex: str, value: Any, *, fmt: int) -> str:
    """The commitment to one field's value, under chain format ``fmt``."""
    return hashlib.sha256(field_salt_hex.encode() + serialised(value, fmt)).hexdigest()


def body(
    meta: dict[str, Any], data: dict[str, Any], commitments: dict[str, str], *, fmt: int
) -> dict[str, Any]:
    """The hashed body under chain format ``fmt``: ``meta``, and ``data`` with the
    committed fields as commitments.

    ``data`` may still hold the committed fields (their values, or a redaction marker):
    they are left out, and only their commitments are hashed.
    """
    ready = canonical if _check_format(fmt) == 1 else jcs_ready
    hashed_data = {k: ready(v) for k, v in data.items() if k not in commitments}
    hashed_data.update({k: {"commitment": c} for k, c in commitments.items()})
    hashed_meta = {k: ready(v) for k, v in meta.items()}
    return {"format": fmt, **hashed_meta, "data": hashed_data}


def digest(hashed_body: dict[str, Any]) -> str:
    """The hash of a body (written as its ``format`` member says)."""
    writer = _writer if _check_format(hashed_body.get("format")) == 1 else _jcs_writer
    return hashlib.sha256(writer(hashed_body)).hexdigest()


def event_meta(event: Any) -> dict[str, Any]:
    """The envelope and store facts of an event that its hash covers, canonical.

    ``producer`` (who sent the event, issue 18) is covered when the event has one: the
    events stored before producers were recorded have none and keep their hashes."""
    meta = {
        "type": event.WIRE_TYPE,
        "subject": event.originator_id,
        "version": event.originator_version,
        "recorded_at": _recorded_at(event.timestamp),
        "event_id": event.event_id,
        "occurred_at": canonical(event.occurred_at),
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "source": event.source,
        "previous_hash": event.previous_hash,
    }
    producer = getattr(event, "producer", None)
    if producer is not None:
        meta["producer"] = producer
    return meta


_last_recorded: tuple[datetime, str] = (datetime.min, "")


def _recorded_at(instant: datetime) -> str:
    """``canonical(instant)``, remembered for the last instant: every event of an ingest
    batch carries the same recording time (the same object)."""
    global _last_recorded
    last = _last_recorded
    if last[0] is instant:
        return last[1]
    text: str = canonical(instant)
    _last_recorded = (instant, text)
    return text


def commitments_of(salt: str, data: dict[str, Any], *, fmt: int) -> dict[str, str]:
    """The commitment to each personal field of ``data``, from the event's salt."""
    return {
        k: commitment(field_salt(salt, k), v, fmt=fmt)
        for k, v in data.items()
        if k in PERSONAL_FIELDS
    }


def hash_event(event: Any, data: dict[str, Any]) -> str:
    """Compute an event's hash from its fields (``data``: its payload), under the chain
    format the event records (``chain_format``).

    The same digest as ``digest(body(event_meta(event), data, commitments_of(...)))``,
    built in one pass: this runs for every event ingested. Raises ``ValueError`` for a
    format the ledger does not know, or a value the format cannot write.
    """
    fmt = event.chain_format
    if _check_format(fmt) == 1:
        ready, writer = canonical, _writer
    else:
        ready, writer = jcs_ready, _jcs_writer
    salt = event.salt
    hashed: dict[str, Any] = {}
    for name, value in data.items():
        plain = ready(value)
        if name in PERSONAL_FIELDS:
            hashed[name] = {
                "commitment": hashlib.sha256(
                    field_salt(salt, name).encode() + writer(plain)
                ).hexdigest()
            }
        else:
            hashed[name] = plain
    hashed_body = {"format": fmt, **event_meta(event), "data": hashed}
    return hashlib.sha256(writer(hashed_body)).hexdigest()


# Exported records: checked offline, without the ledger's code or database ----------------

REDACTED: Final = "[redacted]"


def proof_of(
    salt: str, data: dict[str, Any], redact: frozenset[str], *, fmt: int
) -> dict[str, Any]:
    """What an export gives to recheck an event's hash: the salt of each personal field
    it shows, and only the commitment of each it redacts (never the event's salt, from
    which every field's salt follows)."""
    salts: dict[str, str] = {}
    commitments: dict[str, str] = {}
    for name in sorted(data):
        if name not in PERSONAL_FIELDS:
            continue
        if name in redact:
            commitments[name] = commitment(field_salt(salt, name), data[name], fmt=fmt)
        else:
            salts[name] = field_salt(salt, name)
    return {"salts": salts, "commitments": commitments}


def redacted(data: dict[str, Any], redact: frozenset[str]) -> dict[str, Any]:
    """``data``, canonical, with the redacted fields masked."""
    return {k: REDACTED if k in redact else canonical(v) for k, v in data.items()}


def record_hash(
    meta: dict[str, Any], data: dict[str, Any], proof: dict[str, Any], *, fmt: int
) -> str:
    """The hash of an exported record, from what the record itself holds, under the
    chain format it names."""
    commitments = {k: commitment(s, data[k], fmt=fmt) for k, s in proof["salts"].items()}
    commitments.update(proof["commitments"])
    return digest(body(meta, data, commitments, fmt=fmt))
