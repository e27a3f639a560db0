"""Erasure (R-ERASE-1): a stored event's personal fields removed, its hash kept.

An event commits to each personal field as ``sha256(field_salt || value)`` with the field
salts derived from one random salt per event (``ledger.aggregates.chain``). Erasing a
field removes its value and every way back to it: the value is replaced by a marker
(``[erased]``, of the same shape: each text of a contact object is marked, its keys kept),
the event's salt is dropped, and the event keeps instead exactly what an export's
redaction gives (``chain.proof_of``): the commitment of each erased field, and the salt of
each personal field it still shows. Its hash recomputes from those (``chain.record_hash``,
``LedgerEvent.computed_hash``), so the hash chain, the checkpoints that cover it and the
exports made before all still verify.

Pure functions of an event's data: what to change is decided here, the rows are rewritten
by the erasure service (``ledger.services.erasure``) in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from ledger.aggregates.base import LedgerEvent, erasure_proof, event_data
from ledger.aggregates.chain import PERSONAL_FIELDS, commitment, proof_of

ERASED: Final = "[erased]"
"""What an erased text reads as, in the log, the read models, replays and exports."""


def marked(value: Any) -> Any:
    """``value`` with every text replaced by ``ERASED``: a string, or each string of an
    object or list (keys kept, so a contact still reads as ``{"name": ..., "email": ...}``);
    None stays None (there was nothing to erase)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: marked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [marked(v) for v in value]
    return ERASED


def texts(value: Any) -> Iterable[str]:
    """Every text inside ``value`` (to find it quoted elsewhere, in a rejection's reason)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts(item)


@dataclass(frozen=True)
class Erasing:
    """What erasing some fields of one event changes: the new field values, the proof
    that replaces the salt, the fields newly erased and their former values."""

    values: dict[str, Any]
    proof: dict[str, Any]
    fields: tuple[str, ...]
    former: dict[str, Any]


def erased_fields(event: LedgerEvent) -> frozenset[str]:
    """The personal fields of ``event`` erased already (none if it never was)."""
    proof = erasure_proof(event)
    if proof is None:
        return frozenset()
    data = event_data(event)
    return frozenset(k for k in proof["commitments"] if data.get(k) is not None)


def erasing(event: LedgerEvent, fields: frozenset[str]) -> Erasing | None:
    """How to erase ``fields`` (those of them the event has as personal fields, with a
    value) from ``event``; None when there is nothing left to erase of them."""
    data = event_data(event)
    targets = sorted(
        k
        for k in fields & PERSONAL_FIELDS
        if k in data and data[k] is not None and data[k] != marked(data[k])
    )
    proof = erasure_proof(event)
    if proof is None:
        targets = [k for k in targets if event.salt]
        if not targets:
            return None
        # Every committed field without a salt from now on: those erased, and those with
        # no value (their commitment is all that is left of them either way).
        hidden = frozenset(targets) | {k for k in data if k in PERSONAL_FIELDS and data[k] is None}
        new_proof = proof_of(event.salt, data, hidden, fmt=event.chain_format)
    else:
        targets = [k for k in targets if k in proof["salts"]]
        if not targets:
            return None
        salts = dict(proof["salts"])
        commitments = dict(proof["commitments"])
        for name in targets:
            commitments[name] = commitment(salts.pop(name), data[name], fmt=event.chain_format)
        new_proof = {"salts": salts, "commitments": dict(sorted(commitments.items()))}
    return Erasing(
        values={k: marked(data[k]) for k in targets},
        proof=new_proof,
        fields=tuple(targets),
        former={k: data[k] for k in targets},
    )


def event_proof(event: LedgerEvent, redact: frozenset[str]) -> dict[str, Any]:
    """What an export gives to recheck ``event``'s hash (``chain.proof_of``), for an
    erased event too: the salts it still has of the fields shown, and the commitments of
    the fields redacted or erased."""
    proof = erasure_proof(event)
    data = event_data(event)
    if proof is None:
        return proof_of(event.salt, data, redact, fmt=event.chain_format)
    salts = {k: s for k, s in proof["salts"].items() if k not in redact}
    commitments = dict(proof["commitments"])
    for name, salt in proof["salts"].items():
        if name in redact:
            commitments[name] = commitment(salt, data[name], fmt=event.chain_format)
    return {"salts": salts, "commitments": dict(sorted(commitments.items()))}
