"""The hash chain: every event of a subject commits to its predecessor (tamper evidence).

``event_hash = sha256(canonical body)``, where the body holds the event's type, subject,
version, both instants, actor, source, id, the previous event's hash and its data. It is
computed in the domain when the event is created, so it does not depend on the storage
backend, and anyone holding the events can recompute it.

Personal data and free text are not hashed directly: the body holds a *commitment*
``sha256(field_salt || value)`` for each such field, with ``field_salt = sha256(salt ||
":" || field)`` and a random per-event ``salt`` kept with the event. An export can
then redact a field by giving its commitment instead of its value and field salt, and
still verify; the salts of other fields reveal nothing about a redacted one.

Only the standard library and orjson (for speed: hashing is on the ingest path).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

import orjson

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
    }
)
"""Free text, which may quote anyone: masked by ``--redact-text`` too."""

PERSONAL_FIELDS: Final = CONTACT_FIELDS | NAME_FIELDS | TEXT_FIELDS
"""Data fields committed to rather than hashed, so that exports can redact them."""

CHAIN_FORMAT: Final = 1
"""Bumped if the body's layout or the committed fields ever change."""


CHAIN_FIELDS: Final = frozenset({"previous_hash", "event_hash", "salt"})


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


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8 (RFC 8259, as orjson writes it:
    the same bytes as ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` for everything the ledger stores, about ten times faster)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def field_salt(salt: str, field: str) -> str:
    """The salt of one field, derived from the event's salt."""
    return hashlib.sha256(f"{salt}:{field}".encode()).hexdigest()


def commitment(field_salt_hex: str, value: Any) -> str:
    """The commitment to one field's value."""
    return hashlib.sha256(field_salt_hex.encode() + dumps(canonical(value))).hexdigest()


def body(meta: dict[str, Any], data: dict[str, Any], commitments: dict[str, str]) -> dict[str, Any]:
    """The hashed body: ``meta``, and ``data`` with the committed fields as commitments.

    ``data`` may still hold the committed fields (their values, or a redaction marker):
    they are left out, and only their commitments are hashed.
    """
    hashed_data = {k: canonical(v) for k, v in data.items() if k not in commitments}
    hashed_data.update({k: {"commitment": c} for k, c in commitments.items()})
    hashed_meta = {k: canonical(v) for k, v in meta.items()}
    return {"format": CHAIN_FORMAT, **hashed_meta, "data": hashed_data}


def digest(hashed_body: dict[str, Any]) -> str:
    """The hash of a body."""
    return hashlib.sha256(dumps(hashed_body)).hexdigest()


def event_meta(event: Any) -> dict[str, Any]:
    """The envelope and store facts of an event that its hash covers, canonical."""
    return {
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


def commitments_of(salt: str, data: dict[str, Any]) -> dict[str, str]:
    """The commitment to each personal field of ``data``, from the event's salt."""
    return {k: commitment(field_salt(salt, k), v) for k, v in data.items() if k in PERSONAL_FIELDS}


def hash_event(event: Any, data: dict[str, Any]) -> str:
    """Compute an event's hash from its fields (``data``: its payload).

    The same digest as ``digest(body(event_meta(event), data, commitments_of(...)))``,
    built in one pass: this runs for every event ingested.
    """
    salt = event.salt
    hashed: dict[str, Any] = {}
    for name, value in data.items():
        plain = canonical(value)
        if name in PERSONAL_FIELDS:
            hashed[name] = {"commitment": commitment(field_salt(salt, name), plain)}
        else:
            hashed[name] = plain
    hashed_body = {"format": CHAIN_FORMAT, **event_meta(event), "data": hashed}
    return hashlib.sha256(_dumps(hashed_body, option=_SORTED)).hexdigest()


_dumps = orjson.dumps
_SORTED: Final = orjson.OPT_SORT_KEYS


# Exported records: checked offline, without the ledger's code or database ----------------

REDACTED: Final = "[redacted]"


def proof_of(salt: str, data: dict[str, Any], redact: frozenset[str]) -> dict[str, Any]:
    """What an export gives to recheck an event's hash: the salt of each personal field
    it shows, and only the commitment of each it redacts (never the event's salt, from
    which every field's salt follows)."""
    salts: dict[str, str] = {}
    commitments: dict[str, str] = {}
    for name in sorted(data):
        if name not in PERSONAL_FIELDS:
            continue
        if name in redact:
            commitments[name] = commitment(field_salt(salt, name), data[name])
        else:
            salts[name] = field_salt(salt, name)
    return {"salts": salts, "commitments": commitments}


def redacted(data: dict[str, Any], redact: frozenset[str]) -> dict[str, Any]:
    """``data``, canonical, with the redacted fields masked."""
    return {k: REDACTED if k in redact else canonical(v) for k, v in data.items()}


def record_hash(meta: dict[str, Any], data: dict[str, Any], proof: dict[str, Any]) -> str:
    """The hash of an exported record, from what the record itself holds."""
    commitments = {k: commitment(s, data[k]) for k, s in proof["salts"].items()}
    commitments.update(proof["commitments"])
    return digest(body(meta, data, commitments))
