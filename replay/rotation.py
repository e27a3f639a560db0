"""Key rotation: a signed note, by the old key, naming the key that signs from then on.

``ledger key rotate`` stores one of these and then installs the new key::

    ledger.local/6f1c0d...
    key-rotation 1
    old ledger.local/6f1c0d...+1a2b3c4d+AR...      the key in force (C2SP verifier key)
    new ledger.local/6f1c0d...+5e6f7a8b+AT...      the key that replaces it
    from-checkpoint 8                              the first checkpoint the new key signs
    time 2026-04-06T10:00:00.000000Z

    — ledger.local/6f1c0d... <signature by the old key>
    — ledger.local/6f1c0d... <signature by the new key (it is held)>

Its second line is not a number, so a rotation statement is never mistaken for a
checkpoint. :func:`key_chain` follows the statements from a first key: each must be signed
by the key in force and name it as ``old``; anything else is a finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, func, insert, select

from ledger.aggregates.chain import canonical
from replay.audit import AUDIT_LOCK, Finding, checkpoints, create_tables, rotations
from replay.keys import key_id
from replay.note import (
    ED25519,
    Note,
    NoteError,
    VerifierKey,
    parse_note,
    parse_vkey,
    raw_public,
    sign,
    verify_signature,
)


@dataclass(frozen=True)
class Rotation:
    """One stored rotation statement, as it reads (signatures checked by :func:`key_chain`)."""

    number: int
    old: VerifierKey
    new: VerifierKey
    from_seq: int
    created_at: str
    note: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "number": self.number,
            "old": self.old.encode(),
            "new": self.new.encode(),
            "from_checkpoint": self.from_seq,
            "created_at": self.created_at,
            "note": self.note,
        }


def parse_rotation(note_text: str) -> Rotation:
    """A rotation statement's note (signatures not checked here)."""
    lines = parse_note(note_text).text.split("\n")[:-1]
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(" ")
        fields.setdefault(name, value)
    try:
        return Rotation(
            number=int(fields["key-rotation"]),
            old=parse_vkey(fields["old"]),
            new=parse_vkey(fields["new"]),
            from_seq=int(fields["from-checkpoint"]),
            created_at=fields["time"],
            note=note_text,
        )
    except (KeyError, ValueError) as error:
        raise NoteError(f"not a key rotation statement ({error})") from error


def rotation_note(
    origin: str,
    number: int,
    old: Ed25519PrivateKey,
    new: Ed25519PrivateKey,
    from_seq: int,
    now: datetime,
) -> str:
    """The statement, signed by the old key and by the new one."""
    old_v = VerifierKey(origin, ED25519, old.public_key())
    new_v = VerifierKey(origin, ED25519, new.public_key())
    text = (
        f"{origin}\nkey-rotation {number}\nold {old_v}\nnew {new_v}\n"
        f"from-checkpoint {from_seq}\ntime {canonical(now.astimezone(UTC))}\n"
    )
    return Note(text, (sign(text, origin, old), sign(text, origin, new))).render()


class RotationRefused(Exception):
    """The rotation cannot be made (a user-facing message)."""


def rotate(
    engine: Engine, origin: str, old: Ed25519PrivateKey, new: Ed25519PrivateKey, now: datetime
) -> Rotation:
    """Store the statement that ``new`` signs from the next checkpoint on."""
    if raw_public(old.public_key()) == raw_public(new.public_key()):
        raise RotationRefused("the new key is the key in force")
    create_tables(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            from sqlalchemy import text

            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK})
        latest = conn.execute(select(func.max(checkpoints.c.seq))).scalar() or 0
        number = (conn.execute(select(func.max(rotations.c.seq))).scalar() or 0) + 1
        note = rotation_note(origin, number, old, new, latest + 1, now)
        conn.execute(insert(rotations).values(seq=number, note=note))
    return parse_rotation(note)


def load_rotations(conn: Connection) -> list[Rotation]:
    """The stored statements that can be read, by number."""
    found = []
    for row in conn.execute(select(rotations).order_by(rotations.c.seq)):
        try:
            found.append(parse_rotation(row.note))
        except NoteError:
            continue  # verify names it (key_chain is given the raw rows)
    return found


def stored_rotations(conn: Connection) -> list[tuple[int, str]]:
    """(number, note) of every stored statement, as stored."""
    return [(int(r.seq), str(r.note)) for r in conn.execute(select(rotations).order_by("seq"))]


@dataclass
class KeyChain:
    """The keys in force, from checkpoint 1: ``[(first checkpoint, key), ...]``."""

    keys: list[tuple[int, Ed25519PublicKey]]
    statements: list[Rotation]
    findings: list[Finding]

    def at(self, seq: int) -> Ed25519PublicKey:
        """The key that must have signed checkpoint ``seq``."""
        key = self.keys[0][1]
        for start, candidate in self.keys:
            if start <= seq:
                key = candidate
        return key

    def last(self) -> Ed25519PublicKey:
        """The key in force now."""
        return self.keys[-1][1]


def key_chain(first: Ed25519PublicKey, stored: list[tuple[int, str]], origin: str) -> KeyChain:
    """Follow the rotation statements from ``first``: each must name the key in force as
    ``old``, be signed by it and by the new key, and start after the one before."""
    chain = KeyChain([(1, first)], [], [])
    for number, text in stored:
        where = f"key rotation statement {number}"
        try:
            rotation = parse_rotation(text)
        except NoteError as error:
            chain.findings.append(Finding("key_rotation", f"{where} cannot be read: {error}"))
            break
        in_force = chain.last()
        note = parse_note(text)
        if key_id(rotation.old.public) != key_id(in_force) or rotation.old.name != origin:
            chain.findings.append(
                Finding(
                    "key_rotation",
                    f"{where} replaces key {rotation.old} ({key_id(rotation.old.public)}), but "
                    f"the key in force is {key_id(in_force)}: it does not follow the chain",
                )
            )
            break
        if not verify_signature(note, VerifierKey(origin, ED25519, in_force)):
            chain.findings.append(
                Finding("key_rotation", f"{where} is not signed by the key in force")
            )
            break
        if not verify_signature(note, rotation.new):
            chain.findings.append(
                Finding("key_rotation", f"{where} is not signed by the new key it names")
            )
            break
        if rotation.from_seq < chain.keys[-1][0]:
            chain.findings.append(
                Finding("key_rotation", f"{where} starts before the rotation it follows")
            )
            break
        chain.keys.append((rotation.from_seq, rotation.new.public))
        chain.statements.append(rotation)
    return chain
