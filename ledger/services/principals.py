"""Who may send and read: producers, readers and the local operator (issue 18).

A principal is what a token stands for. Producers send envelopes within a scope
(sources, actor roles, event types: R-AUTH-1..3); readers read customers (some, or all);
the local operator is the embedded command line and the Python API, which need no
token and are recorded on the trail as ``local``.

Tokens are ``secrets.token_urlsafe(32)`` (256 random bits), shown once and stored only
as a SHA-256 hash. A slow, salted password hash (scrypt, argon2) exists to make guessing
a *low-entropy* secret expensive; a 256-bit random token cannot be guessed, so one
SHA-256 is as safe, and it lets a token be looked up by its hash (one indexed query).

Kafka records are signed with HMAC-SHA256 over the record's value, under a key derived
from the producer's token (``signing_key``): the producer needs only its token, and the
ledger stores the derived key (it must hold what verifies an HMAC, which is also what
makes one), never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import sqlalchemy

from ledger.adapters import principals as stored

Kind = Literal["producer", "reader", "operator"]

ANY: Final = "*"
"""In a producer's scope: any source, role or type."""

SOURCE_RULE: Final = "R-AUTH-1"
ROLE_RULE: Final = "R-AUTH-2"
TYPE_RULE: Final = "R-AUTH-3"
UNSIGNED_RULE: Final = "R-AUTH-4"
FORGED_RULE: Final = "R-AUTH-5"

PRODUCER_HEADER: Final = "ledger-producer"
SIGNATURE_HEADER: Final = "ledger-signature"
ENV_TOKEN: Final = "LEDGER_TOKEN"

NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""A principal's name: lower-case ASCII letters, digits, ``.``, ``_``, ``-``; at most 64."""

ROLES: Final = frozenset(
    {
        "customer",
        "support_engineer",
        "platform_engineer",
        "security_infra_lead",
        "leadership",
        "customer_success",
    }
)
"""The actor roles a producer may be granted (the contract's, without the ledger's
``system``: R-IN-8)."""

_SIGNING_CONTEXT: Final = b"ledger-kafka-signature/v1"


@dataclass(frozen=True)
class Refusal:
    """Why an input is refused before any domain rule sees it (R-AUTH-*)."""

    rule: str
    field: str
    reason: str


@dataclass(frozen=True)
class Principal:
    """One identity the ledger knows (by name), with what it may do."""

    name: str
    kind: Literal["producer", "reader", "operator"]
    sources: frozenset[str] = frozenset()  # producer: envelope sources it may send
    roles: frozenset[str] = frozenset()  # producer: actor roles it may carry
    types: frozenset[str] = frozenset()  # producer: event types it may send
    customers: frozenset[str] | None = None  # reader: the customers it may read; None = all

    def may_read(self, customer_id: str) -> bool:
        """Whether this principal may read what belongs to ``customer_id``."""
        if self.kind == "operator":
            return True
        if self.kind != "reader":
            return False
        return self.customers is None or customer_id in self.customers

    def refusal(self, source: str, role: str, event_type: str) -> Refusal | None:
        """Why this principal may not send an envelope with this ``source``, actor role
        and ``type`` (None: it may). The local operator may send anything."""
        if self.kind == "operator":
            return None
        if self.kind != "producer":
            return Refusal(
                SOURCE_RULE, "source", f"source: {self.name!r} is a {self.kind}, not a producer"
            )
        if not _allows(self.sources, source):
            return Refusal(
                SOURCE_RULE,
                "source",
                f"source: producer {self.name!r} may not send source {source!r} "
                f"(granted: {_listed(self.sources)}; {SOURCE_RULE})",
            )
        if not _allows(self.roles, role):
            extra = (
                "; only producers granted the leadership role carry leadership approvals (R-SLA-6)"
                if role == "leadership"
                else ""
            )
            return Refusal(
                ROLE_RULE,
                "actor.role",
                f"actor.role: producer {self.name!r} may not carry role {role!r} "
                f"(granted: {_listed(self.roles)}; {ROLE_RULE}){extra}",
            )
        if not _allows(self.types, event_type):
            return Refusal(
                TYPE_RULE,
                "type",
                f"type: producer {self.name!r} may not send {event_type!r} "
                f"(granted: {_listed(self.types)}; {TYPE_RULE})",
            )
        return None


LOCAL_OPERATOR: Final = Principal(name="local", kind="operator")
"""The embedded command line / Python API path: trusted, recorded as ``local``."""


def _allows(granted: frozenset[str], value: str) -> bool:
    return ANY in granted or value in granted


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "nothing"


# Secrets --------------------------------------------------------------------------------


def new_token() -> str:
    """A fresh bearer token: 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the ledger stores of a token (see the module's note on why SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def signing_key(token: str) -> str:
    """The HMAC key (hex) a producer signs its Kafka records with, derived from its token."""
    return hmac.new(token.encode(), _SIGNING_CONTEXT, hashlib.sha256).hexdigest()


def sign(key: str, value: bytes) -> str:
    """The ``ledger-signature`` of a record's value: hex HMAC-SHA256 under ``key`` (hex)."""
    return hmac.new(bytes.fromhex(key), value, hashlib.sha256).hexdigest()


# Managing principals --------------------------------------------------------------------


class PrincipalError(ValueError):
    """A principal cannot be added or revoked as asked (a one-line message)."""


def _name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise PrincipalError(
            f"name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _labels(what: str, values: Sequence[str], allowed: frozenset[str] | None) -> list[str]:
    if not values:
        raise PrincipalError(f"give at least one --{what} (or '{ANY}' for any)")
    for value in values:
        if value == ANY:
            continue
        if not value.strip() or len(value) > 128 or any(ord(c) < 32 for c in value):
            raise PrincipalError(f"--{what} {value!r} is not a label")
        if allowed is not None and value not in allowed:
            raise PrincipalError(
                f"--{what} {value!r} is not one of: {', '.join(sorted(allowed))} (or '{ANY}')"
            )
    return sorted(set(values))


def add_producer(
    engine: sqlalchemy.Engine,
    name: str,
    *,
    sources: Sequence[str],
    roles: Sequence[str],
    types: Sequence[str],
    now: datetime | None = None,
) -> str:
    """Add a producer; its token (shown once: only a hash of it is stored)."""
    from schemas import PRODUCER_TYPES

    token = new_token()
    try:
        stored.add(
            engine,
            name=_name(name),
            kind="producer",
            token_hash=token_hash(token),
            signing_key=signing_key(token),
            sources=_labels("source", sources, None),
            roles=_labels("role", roles, ROLES),
            types=_labels("type", types, frozenset(PRODUCER_TYPES)),
            created_at=now or datetime.now(UTC),
        )
    except stored.NameTaken as error:
        raise PrincipalError(str(error)) from None
    return token


def add_reader(
    engine: sqlalchemy.Engine,
    name: str,
    *,
    customers: Sequence[str] | None = None,
    now: datetime | None = None,
) -> str:
    """Add a reader of ``customers`` (None or empty: every customer); its token."""
    chosen = _labels("customer", customers, None) if customers else None
    if chosen is not None and ANY in chosen:
        chosen = None
    token = new_token()
    try:
        stored.add(
            engine,
            name=_name(name),
            kind="reader",
            token_hash=token_hash(token),
            customers=chosen,
            created_at=now or datetime.now(UTC),
        )
    except stored.NameTaken as error:
        raise PrincipalError(str(error)) from None
    return token


def revoke(
    engine: sqlalchemy.Engine,
    kind: Literal["producer", "reader"],
    name: str,
    now: datetime | None = None,
) -> bool:
    """Revoke a principal: its token (and signing key) fail from now on. False if it
    was revoked already; ``PrincipalError`` if there is none of that name."""
    done = stored.revoke(engine, kind, name, now or datetime.now(UTC))
    if done is None:
        raise PrincipalError(f"no {kind} named {name!r}")
    return done


def listing(engine: sqlalchemy.Engine, kind: Literal["producer", "reader"]) -> list[dict[str, Any]]:
    """Every principal of a kind, JSON-ready (no secret, no hash)."""
    rows = stored.listed(engine, kind)
    result: list[dict[str, Any]] = []
    for row in rows:
        entry: dict[str, Any] = {"name": row.name, "kind": row.kind}
        if kind == "producer":
            entry.update(
                sources=list(row.sources or ()),
                roles=list(row.roles or ()),
                types=list(row.types or ()),
            )
        else:
            entry["customers"] = None if row.customers is None else list(row.customers)
        entry["created_at"] = row.created_at.astimezone(UTC).isoformat()
        entry["revoked_at"] = (
            None if row.revoked_at is None else row.revoked_at.astimezone(UTC).isoformat()
        )
        result.append(entry)
    return result


def _principal(row: stored.PrincipalRow) -> Principal:
    kind: Literal["producer", "reader"] = "producer" if row.kind == "producer" else "reader"
    return Principal(
        name=row.name,
        kind=kind,
        sources=frozenset(row.sources or ()),
        roles=frozenset(row.roles or ()),
        types=frozenset(row.types or ()),
        customers=None if row.customers is None else frozenset(row.customers),
    )


def authenticate(engine: sqlalchemy.Engine, token: str) -> Principal | None:
    """The principal a token stands for; None for an unknown or revoked token."""
    if not token:
        return None
    # Found by its hash (an index lookup): what leaks by timing is about the hash, of a
    # 256-bit random token, which says nothing usable about any token.
    row = stored.by_token_hash(engine, token_hash(token))
    return None if row is None else _principal(row)


# Kafka records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRecord:
    """What a signature check needs of a record: its two headers and its value."""

    producer: bytes | None
    signature: bytes | None
    value: bytes | None


def headers_of(
    headers: Iterable[tuple[str, bytes | None]] | None,
) -> tuple[bytes | None, bytes | None]:
    """The ``ledger-producer`` and ``ledger-signature`` headers of a record (None if
    missing; a header given twice counts as missing: which one is meant is a guess)."""
    found: dict[str, list[bytes | None]] = {}
    for key, value in headers or ():
        found.setdefault(key, []).append(value)
    producer, signature = (found.get(name, []) for name in (PRODUCER_HEADER, SIGNATURE_HEADER))
    return (
        producer[0] if len(producer) == 1 else None,
        signature[0] if len(signature) == 1 else None,
    )


def verify_records(
    engine: sqlalchemy.Engine, records: Sequence[SignedRecord]
) -> list[Principal | Refusal]:
    """Each record's producer, or why it is refused: unsigned (R-AUTH-4: a header
    missing), or forged (R-AUTH-5: an unknown or revoked producer, or a signature that
    does not match the value). One query for the batch's producers."""
    names = {
        r.producer.decode("utf-8", "replace")
        for r in records
        if r.producer is not None and r.signature is not None
    }
    known = stored.by_names(engine, sorted(names))
    results: list[Principal | Refusal] = []
    for record in records:
        if record.producer is None or record.signature is None:
            missing = [
                h
                for h, v in (
                    (PRODUCER_HEADER, record.producer),
                    (SIGNATURE_HEADER, record.signature),
                )
                if v is None
            ]
            results.append(
                Refusal(
                    UNSIGNED_RULE,
                    "(headers)",
                    f"(headers): the record has no {' and no '.join(missing)} header; this "
                    f"consumer takes signed records only ({UNSIGNED_RULE})",
                )
            )
            continue
        name = record.producer.decode("utf-8", "replace")
        row = known.get(name)
        if row is None or row.kind != "producer" or row.signing_key is None:
            results.append(
                Refusal(
                    FORGED_RULE,
                    "(headers)",
                    f"(headers): {PRODUCER_HEADER} {name[:64]!r} is no producer the ledger "
                    f"knows (unknown or revoked; {FORGED_RULE})",
                )
            )
            continue
        expected = sign(row.signing_key, record.value or b"")
        given = record.signature.decode("ascii", "replace").strip().lower()
        if not hmac.compare_digest(expected, given):
            results.append(
                Refusal(
                    FORGED_RULE,
                    "(headers)",
                    f"(headers): the {SIGNATURE_HEADER} does not match the record's value "
                    f"under producer {name!r}'s key ({FORGED_RULE})",
                )
            )
            continue
        results.append(_principal(row))
    return results
