"""Signed checkpoints: the Merkle root of the whole log up to its latest notification id.

A checkpoint first checks the events it is about to cover (each hash recomputed, each
link to its subject's previous event), so the ledger never signs a log that was
already altered; then it extends the Merkle tree from the previous checkpoint's
frontier, stores the new leaves (and the roots of the new perfect subtrees of 256 leaves
and more, for proofs), and signs a C2SP tlog-checkpoint note with the configured Ed25519
key (format 2)::

    ledger.local/6f1c0d...          origin: this ledger (``LEDGER_ORIGIN`` overrides)
    1042                            tree size: events covered
    q0m4Rj...=                      root hash (base64)
    seq 7                           extension lines: the checkpoint's number,
    notification 1042               the last notification id covered,
    previous 3vQb0E...=             the previous checkpoint's root ("-" for the first),
    time 2026-04-06T10:00:00.000000Z    and when it was taken

    — ledger.local/6f1c0d... base64(key id || Ed25519 signature)

Statements chain: each names the previous checkpoint's root. Witnesses add their
cosignature lines to the stored note (``replay.witness``). Checkpoints stored by earlier
releases (format 1: a JSON statement and a hex signature) keep verifying.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, and_, func, insert, select, text, update

from ledger.adapters.event_store import LedgerApp
from ledger.aggregates.chain import GENESIS, canonical, dumps
from replay.audit import (
    AUDIT_LOCK,
    ChainCheck,
    Finding,
    audit_meta,
    checkpoints,
    create_tables,
    leaf,
    leaves,
    nodes,
    scan,
)
from replay.intake_chain import intake_head
from replay.keys import ENV_KEY, KeyError_, key_id, load_public, public_pem
from replay.merkle import STORED_LEVEL, Frontier, Tree, leaf_hash
from replay.note import (
    ED25519,
    CheckpointBody,
    Note,
    NoteError,
    VerifierKey,
    b64,
    parse_checkpoint,
    parse_note,
    sign,
    unb64,
    valid_name,
)

FORMAT: Final = 2
LEAF_BATCH: Final = 2_000
ENV_ORIGIN: Final = "LEDGER_ORIGIN"


@dataclass(frozen=True)
class Checkpoint:
    """A stored (or held) checkpoint: a signed note (format 2) or a signed JSON statement
    (format 1, before issue 21). ``problem``: why the stored row could not be read."""

    format: int
    seq: int
    tree_size: int
    root: str  # hex
    last_notification_id: int
    previous_root: str | None  # hex
    created_at: str
    public_key: str = ""  # PEM, as stored (a claim: verification decides)
    frontier: Frontier = field(default_factory=Frontier)
    note: str | None = None
    origin: str | None = None
    legacy: dict[str, Any] | None = None
    signature: str = ""  # format 1
    stored_statement: dict[str, Any] | None = None
    problem: str = ""
    intake: tuple[int, str] | None = None  # the intake chain's size and head hash (hex)

    @property
    def claimed_key(self) -> Ed25519PublicKey | None:
        """The public key the row says signed it (None if unreadable)."""
        try:
            return load_public(self.public_key)
        except KeyError_:
            return None

    @property
    def key_id(self) -> str:
        """The short fingerprint of the key the row says signed it."""
        if self.legacy is not None:
            return str(self.legacy.get("key_id"))
        claimed = self.claimed_key
        return "unreadable" if claimed is None else key_id(claimed)

    @property
    def statement(self) -> dict[str, Any]:
        """Its figures as JSON (format 1: the signed statement itself)."""
        if self.legacy is not None:
            return self.legacy
        return {
            "format": self.format,
            "seq": self.seq,
            "origin": self.origin,
            "created_at": self.created_at,
            "last_notification_id": self.last_notification_id,
            "tree_size": self.tree_size,
            "root": self.root,
            "previous_root": self.previous_root,
            "key_id": self.key_id,
        }

    def parsed_note(self) -> Note:
        """The signed note (format 2 only)."""
        if self.note is None:
            raise NoteError(f"checkpoint {self.seq} is of format 1: no note")
        return parse_note(self.note)

    def log_key(self) -> str | None:
        """The C2SP verifier key of the key the row says signed it (format 2)."""
        claimed = self.claimed_key
        if claimed is None or self.origin is None:
            return None
        return VerifierKey(self.origin, ED25519, claimed).encode()

    def as_dict(self) -> dict[str, Any]:
        """What ``checkpoint --json`` prints and an export carries."""
        if self.legacy is not None:
            return {
                "statement": self.legacy,
                "signature": self.signature,
                "public_key": self.public_key,
            }
        return {
            "note": self.note,
            "log_key": self.log_key(),
            "statement": self.statement,
            "public_key": self.public_key,
        }


def from_note(
    note_text: str,
    public_key: str = "",
    frontier: Frontier | None = None,
    stored_statement: dict[str, Any] | None = None,
) -> Checkpoint:
    """The checkpoint a format 2 note states (its signatures are not checked here)."""
    body = parse_checkpoint(parse_note(note_text).text)
    fields: dict[str, str] = {}
    for line in body.extensions:
        name, _, value = line.partition(" ")
        fields.setdefault(name, value)
    try:
        seq, last = int(fields["seq"]), int(fields["notification"])
        previous = None if fields["previous"] == "-" else unb64(fields["previous"], "previous")
        created = fields["time"]
        intake = None
        if "intake" in fields:  # checkpoints taken before the intake chain lack it
            size, _, head = fields["intake"].partition(" ")
            intake = (int(size), unb64(head, "intake").hex())
    except (KeyError, ValueError) as error:
        raise NoteError(f"the checkpoint note lacks a valid extension line ({error})") from error
    return Checkpoint(
        format=FORMAT,
        seq=seq,
        tree_size=body.size,
        root=body.root.hex(),
        last_notification_id=last,
        previous_root=None if previous is None else previous.hex(),
        created_at=created,
        public_key=public_key,
        frontier=frontier or Frontier(),
        note=note_text,
        origin=body.origin,
        stored_statement=stored_statement,
        intake=intake,
    )


def from_statement(
    statement: dict[str, Any], signature: str, public_key: str, frontier: Frontier | None = None
) -> Checkpoint:
    """A format 1 checkpoint: a JSON statement signed (hex) over its canonical JSON."""
    try:
        return Checkpoint(
            format=1,
            seq=int(statement["seq"]),
            tree_size=int(statement["tree_size"]),
            root=str(statement["root"]),
            last_notification_id=int(statement["last_notification_id"]),
            previous_root=statement.get("previous_root"),
            created_at=str(statement.get("created_at")),
            public_key=public_key,
            frontier=frontier or Frontier(),
            legacy=statement,
            signature=signature,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise NoteError(f"the checkpoint statement lacks a valid {error}") from error


def held_checkpoint(document: dict[str, Any] | str) -> Checkpoint:
    """A checkpoint kept outside the database: a note (text), ``ledger checkpoint --json``
    output, or an export's ``manifest.json`` (its covering checkpoint)."""
    try:
        if isinstance(document, str):
            return from_note(document)
        source = document.get("checkpoint", document)
        if not isinstance(source, dict):
            raise NoteError("no checkpoint in it")
        if source.get("note"):
            return from_note(str(source["note"]), str(source.get("public_key") or ""))
        return from_statement(
            dict(source["statement"]), str(source["signature"]), str(source["public_key"])
        )
    except NoteError as error:
        raise ValueError(f"not a checkpoint: {error}") from error
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a checkpoint (no {error})") from error


def signed_bytes(statement: dict[str, Any]) -> bytes:
    """What a format 1 signature covers: the statement as canonical JSON."""
    return dumps(statement)


def _intake(conn: Connection) -> tuple[int, str]:
    """The intake chain's size and head hash (base64) for a checkpoint's extension line."""
    size, head = intake_head(conn)
    return size, b64(bytes.fromhex(head))


class CheckpointRefused(Exception):
    """The events to cover do not verify; nothing was signed."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(f"{finding.kind} at {finding.where()}: {finding.detail}")
        self.finding = finding


def load_checkpoints(conn: Connection) -> list[Checkpoint]:
    """Every stored checkpoint, by number (as stored: verification decides if it holds)."""
    return [_from_row(row) for row in conn.execute(select(checkpoints).order_by(checkpoints.c.seq))]


def latest_checkpoint(engine: Engine) -> Checkpoint | None:
    """The newest checkpoint, if any."""
    create_tables(engine)
    with engine.connect() as conn:
        return _latest(conn)


def checkpoint_number(engine: Engine, seq: int) -> Checkpoint | None:
    """Stored checkpoint ``seq``, if any."""
    create_tables(engine)
    with engine.connect() as conn:
        row = conn.execute(select(checkpoints).where(checkpoints.c.seq == seq)).first()
    return None if row is None else _from_row(row)


def _latest(conn: Connection) -> Checkpoint | None:
    row = conn.execute(select(checkpoints).order_by(checkpoints.c.seq.desc()).limit(1)).first()
    return None if row is None else _from_row(row)


def _from_row(row: Any) -> Checkpoint:
    try:
        frontier = Frontier.load(json.loads(row.frontier))
    except (ValueError, TypeError):
        frontier = Frontier()
    try:
        statement = json.loads(row.statement)
    except ValueError:
        statement = None
    try:
        if row.note:
            return from_note(row.note, row.public_key, frontier, statement)
        if not isinstance(statement, dict):
            raise NoteError("its statement is not JSON")
        return from_statement(statement, row.signature, row.public_key, frontier)
    except NoteError as error:
        return Checkpoint(
            format=2 if row.note else 1,
            seq=int(row.seq),
            tree_size=0,
            root="",
            last_notification_id=0,
            previous_root=None,
            created_at="",
            public_key=row.public_key,
            note=row.note,
            problem=str(error),
        )


def ledger_origin(conn: Connection) -> str:
    """This log's origin line: fixed by its first checkpoint note; before that
    ``LEDGER_ORIGIN`` if set, else ``ledger.local/<the ledger id>``."""
    stored = dict(conn.execute(select(audit_meta.c.name, audit_meta.c.value)).tuples().all())
    configured = os.environ.get(ENV_ORIGIN, "").strip()
    if configured and not valid_name(configured):
        raise CheckpointRefused(
            Finding("checkpoint_origin", f"{ENV_ORIGIN}={configured!r} holds a space or a '+'")
        )
    if "origin" in stored:
        if configured and configured != stored["origin"]:
            raise CheckpointRefused(
                Finding(
                    "checkpoint_origin",
                    f"{ENV_ORIGIN} is {configured} but this ledger's checkpoints name "
                    f"{stored['origin']}: an origin never changes",
                )
            )
        return str(stored["origin"])
    return configured or f"ledger.local/{stored['ledger_id']}"


def origin_of(engine: Engine) -> str:
    """:func:`ledger_origin` for a caller without a connection."""
    create_tables(engine)
    with engine.connect() as conn:
        return ledger_origin(conn)


def take_checkpoint(
    app: LedgerApp, engine: Engine, key: Ed25519PrivateKey, now: datetime
) -> tuple[Checkpoint, bool]:
    """Sign the log up to its latest event; (checkpoint, False) if nothing is new."""
    create_tables(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK})
        origin = ledger_origin(conn)
        previous = _latest(conn)
        if previous is not None and previous.problem:
            raise CheckpointRefused(
                Finding(
                    "checkpoint_unreadable",
                    f"checkpoint {previous.seq} cannot be read ({previous.problem}); "
                    "run `ledger verify`",
                    checkpoint=previous.seq,
                )
            )
        _check_key(conn, previous, key)
        frontier = Frontier() if previous is None else _resumed(previous)
        _backfill_nodes(conn, frontier.size)
        after = 0 if previous is None else previous.last_notification_id
        chain = ChainCheck(head_of=_leaf_heads(conn))
        batch: list[dict[str, Any]] = []
        subtrees: list[dict[str, Any]] = []
        last_id = after
        for row in scan(app, after):
            problems = chain.check(row, lambda _a, _b: None)
            if problems:
                raise CheckpointRefused(problems[0])
            batch.append(
                {
                    "notification_id": row.notification_id,
                    "position": frontier.size,
                    "subject": row.subject,
                    "version": row.version,
                    "event_hash": row.event_hash,
                }
            )
            hashed = leaf_hash(leaf(row.notification_id, row.subject, row.version, row.event_hash))
            subtrees += _stored_subtrees(frontier.add(hashed), frontier.size)
            last_id = row.notification_id
            if len(batch) >= LEAF_BATCH:
                conn.execute(insert(leaves), batch)
                batch = []
        if batch:
            conn.execute(insert(leaves), batch)
        if subtrees:
            conn.execute(insert(nodes), subtrees)
        if previous is not None and last_id == after:
            return previous, False
        seq = 1 if previous is None else previous.seq + 1
        root = frontier.root()
        extensions = [
            f"seq {seq}",
            f"notification {last_id}",
            f"previous {'-' if previous is None else b64(bytes.fromhex(previous.root))}",
            f"time {canonical(now.astimezone(UTC))}",
            # the chain of rejected and deferred inputs (replay.intake_chain), as it
            # stands in this transaction: its size and head hash
            "intake {} {}".format(*_intake(conn)),
        ]
        body = CheckpointBody(origin, frontier.size, root, tuple(extensions)).text()
        note = Note(body, (sign(body, origin, key),)).render()
        checkpoint = from_note(note, public_pem(key.public_key()), frontier)
        conn.execute(
            insert(checkpoints).values(
                seq=seq,
                statement=dumps(checkpoint.statement).decode(),
                signature="",
                public_key=checkpoint.public_key,
                frontier=json.dumps(frontier.dump()),
                note=note,
            )
        )
        conn.execute(
            text(
                f"INSERT INTO {audit_meta.name} (name, value) VALUES ('origin', :origin) "
                "ON CONFLICT DO NOTHING"
            ),
            {"origin": origin},
        )
    return checkpoint, True


def store_note(engine: Engine, seq: int, note: str) -> None:
    """Replace checkpoint ``seq``'s stored note (with cosignatures added; same text)."""
    with engine.begin() as conn:
        conn.execute(update(checkpoints).where(checkpoints.c.seq == seq).values(note=note))


def _check_key(conn: Connection, previous: Checkpoint | None, key: Ed25519PrivateKey) -> None:
    """The configured key must be the one in force: the previous checkpoint's, or the one
    a rotation statement since names."""
    if previous is None:
        return
    from replay.rotation import load_rotations

    expected = previous.key_id
    for rotation in load_rotations(conn):
        if rotation.from_seq > previous.seq and key_id(rotation.old.public) == expected:
            expected = key_id(rotation.new.public)
    configured = key_id(key.public_key())
    if configured != expected:
        raise CheckpointRefused(
            Finding(
                "checkpoint_key",
                f"checkpoint {previous.seq} was signed by key {previous.key_id}, and the key in "
                f"force is {expected}, but the configured key is {configured}: set {ENV_KEY} "
                "to the ledger's key (or `ledger key rotate` with the old one configured)",
                checkpoint=previous.seq,
            )
        )


def _stored_subtrees(completed: list[tuple[int, bytes]], size: int) -> list[dict[str, Any]]:
    """The rows of ``ledger_checkpoint_nodes`` for the subtrees a leaf completed."""
    return [
        {"level": count.bit_length() - 1, "idx": (size - count) // count, "hash": digest.hex()}
        for count, digest in completed
        if count >= 1 << STORED_LEVEL
    ]


def _backfill_nodes(conn: Connection, size: int) -> None:
    """Ledgers checkpointed before the node table existed: store its rows once."""
    block = 1 << STORED_LEVEL
    have = conn.execute(
        select(func.count()).select_from(nodes).where(nodes.c.level == STORED_LEVEL)
    ).scalar_one()
    if have == size // block:
        return
    conn.execute(nodes.delete())
    frontier = Frontier()
    rows: list[dict[str, Any]] = []
    for r in conn.execute(select(leaves).where(leaves.c.position < size).order_by("position")):
        hashed = leaf_hash(leaf(r.notification_id, r.subject, r.version, r.event_hash))
        rows += _stored_subtrees(frontier.add(hashed), frontier.size)
    if rows:
        conn.execute(insert(nodes), rows)


def stored_tree(conn: Connection) -> Tree:
    """The Merkle tree of the checkpointed leaves, for proofs (reads O(log n) rows)."""

    def leaf_hashes(start: int, end: int) -> list[bytes]:
        rows = conn.execute(
            select(leaves)
            .where(leaves.c.position >= start, leaves.c.position < end)
            .order_by(leaves.c.position)
        )
        return [
            leaf_hash(leaf(r.notification_id, r.subject, r.version, r.event_hash)) for r in rows
        ]

    def stored(level: int, index: int) -> bytes | None:
        if level < STORED_LEVEL:
            return None
        found = conn.execute(
            select(nodes.c.hash).where(nodes.c.level == level, nodes.c.idx == index)
        ).scalar()
        return None if found is None else bytes.fromhex(found)

    return Tree(leaf_hashes, stored)


def _resumed(previous: Checkpoint) -> Frontier:
    """The previous checkpoint's frontier, if it still gives the root it signed."""
    frontier = previous.frontier
    if frontier.size != previous.tree_size or frontier.root().hex() != previous.root:
        raise CheckpointRefused(
            Finding(
                "checkpoint_frontier",
                f"checkpoint {previous.seq}'s stored frontier does not give its signed root; "
                "run `ledger verify`",
            )
        )
    return Frontier(list(frontier.subtrees))


def _leaf_heads(conn: Connection) -> Callable[[str], tuple[int, str]]:
    """Each subject's latest checkpointed (version, hash), (0, genesis) if none: read in
    one query the first time a subject is asked for, not one query per subject."""
    heads: dict[str, tuple[int, str]] | None = None

    def head_of(subject: str) -> tuple[int, str]:
        nonlocal heads
        if heads is None:
            latest = (
                select(leaves.c.subject, func.max(leaves.c.version).label("version"))
                .group_by(leaves.c.subject)
                .subquery()
            )
            rows = conn.execute(
                select(leaves.c.subject, leaves.c.version, leaves.c.event_hash).join(
                    latest,
                    and_(
                        leaves.c.subject == latest.c.subject,
                        leaves.c.version == latest.c.version,
                    ),
                )
            )
            heads = {row.subject: (int(row.version), str(row.event_hash)) for row in rows}
        return heads.get(subject, (0, GENESIS))

    return head_of
