"""What checkpoints and verification share: findings, the chain check and the audit tables."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from eventsourcing.persistence import Notification
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

from ledger.adapters.event_store import LedgerApp
from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.chain import GENESIS, dumps

metadata = MetaData()

leaves = Table(
    "ledger_checkpoint_leaves",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
    Column("subject", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_hash", String(64), nullable=False),
    Index("ledger_checkpoint_leaves_subject", "subject", "version"),
)
"""Every checkpointed event's leaf, so that verification can name what went missing."""

checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("statement", Text, nullable=False),
    Column("signature", String(128), nullable=False),
    Column("public_key", Text, nullable=False),
    Column("frontier", Text, nullable=False),
    Column("note", Text),  # format 2: the signed note, with its cosignatures
)
"""Signed statements: the Merkle root of the log up to a notification id. Format 1 (before
issue 21): ``statement`` JSON signed by ``signature``; format 2: ``note``, a C2SP
tlog-checkpoint (``statement`` then holds the same figures as JSON, for reading only)."""

nodes = Table(
    "ledger_checkpoint_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
)
"""The root of every perfect subtree of 2**8 leaves and more (``replay.merkle.Tree``), so
that proofs read O(log n) rows: a convenience, never trusted (a proof made from altered
rows does not verify against a signed root)."""

audit_meta = Table(
    "ledger_audit_meta",
    metadata,
    Column("name", String, primary_key=True),
    Column("value", Text, nullable=False),
)
"""``ledger_id``: made with the audit tables; ``origin``: fixed by the first checkpoint note."""

rotations = Table(
    "ledger_key_rotations",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)
"""Key rotation statements: signed notes naming the next signing key (``replay.keys``)."""

AUDIT_LOCK: Final = 0x1ED6E6  # advisory lock: one checkpoint at a time


def create_tables(engine: Engine) -> None:
    """Create the audit tables (on PostgreSQL under the advisory lock), add the columns a
    ledger made by an earlier release lacks, and give the ledger its id."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK})
        metadata.create_all(conn)
        columns = {c["name"] for c in inspect(conn).get_columns(checkpoints.name)}
        if "note" not in columns:
            conn.execute(text(f"ALTER TABLE {checkpoints.name} ADD COLUMN note TEXT"))
        # Proofs read leaves by tree position (ranges of them): without an index each
        # read scanned every leaf (70 ms a proof at 100k events). Not unique: a table an
        # insider filled with duplicates must still open, for verify to name them.
        conn.execute(
            text(f"CREATE INDEX IF NOT EXISTS {leaves.name}_position ON {leaves.name} (position)")
        )
        conn.execute(  # (both backends: another process may be making it too)
            text(
                f"INSERT INTO {audit_meta.name} (name, value) VALUES ('ledger_id', :value) "
                "ON CONFLICT DO NOTHING"
            ),
            {"value": uuid.uuid4().hex},
        )


def leaf(notification_id: int, subject: str, version: int, event_hash: str) -> bytes:
    """The bytes a Merkle leaf hashes: where the event sits in the log, and its hash."""
    return dumps([notification_id, subject, version, event_hash])


@dataclass(frozen=True)
class Finding:
    """One thing that does not verify, with the event it is about when there is one."""

    kind: str
    detail: str
    subject: str | None = None
    version: int | None = None
    notification_id: int | None = None
    checkpoint: int | None = None
    about: str | None = None  # what else it is about: ``ledger_rejections id 7``, a table

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "version": self.version,
            "notification_id": self.notification_id,
            "checkpoint": self.checkpoint,
            "about": self.about,
            "detail": self.detail,
        }

    def where(self) -> str:
        """``T-1 v3 (notification 42)``, as far as known."""
        if self.about is not None:
            return self.about
        if self.subject is None and self.notification_id is None and self.checkpoint is not None:
            return f"checkpoint {self.checkpoint}"
        parts = [self.subject or "", f"v{self.version}" if self.version is not None else ""]
        if self.notification_id is not None:
            parts.append(f"(notification {self.notification_id})")
        return " ".join(p for p in parts if p) or "-"


@dataclass(frozen=True)
class Scanned:
    """A stored row, decoded if it could be."""

    notification_id: int
    subject: str
    version: int
    event: LedgerEvent | None
    error: str = ""
    computed_hash: str = ""

    @property
    def event_hash(self) -> str:
        """The hash the stored event carries ("" if it could not be read)."""
        return self.event.event_hash if self.event is not None else ""


def scan(app: LedgerApp, after: int = 0) -> Iterator[Scanned]:
    """The stored rows after notification id ``after``, in log order, decoded."""
    for notification in app.log_notifications(after, page_size=5_000):
        yield _decode(app, notification)


def _decode(app: LedgerApp, notification: Notification) -> Scanned:
    base = (notification.id, str(notification.originator_id), notification.originator_version)
    try:
        event = app.mapper.to_domain_event(notification)
    except Exception as error:  # any failure to read is a finding
        return Scanned(*base, event=None, error=f"{type(error).__name__}: {error}")
    if not isinstance(event, LedgerEvent):
        return Scanned(*base, event=None, error=f"{notification.topic} is not a ledger event")
    try:
        computed = event.computed_hash()
    except Exception as error:  # fields missing or of the wrong type: not this event type
        return Scanned(*base, event=None, error=f"{type(error).__name__}: {error}")
    return Scanned(*base, event=event, computed_hash=computed)


class ChainCheck:
    """Checks each subject's events, in log order, against the hash chain.

    ``head_of`` supplies a subject's head (version, hash) from before the scan started
    (the checkpoint's leaves); without it every subject starts at genesis.
    """

    def __init__(self, head_of: Callable[[str], tuple[int, str]] | None = None) -> None:
        self.heads: dict[str, tuple[int, str, int]] = {}
        self._head_of = head_of

    def head(self, subject: str) -> tuple[int, str, int]:
        """(version, hash, notification id) of the subject's latest event checked."""
        if subject not in self.heads:
            version, digest = self._head_of(subject) if self._head_of else (0, GENESIS)
            self.heads[subject] = (version, digest, 0)
        return self.heads[subject]

    def check(self, row: Scanned, gap_before: Callable[[int, int], int | None]) -> list[Finding]:
        """The findings about ``row``; ``gap_before(a, b)``: a lone id missing in (a, b)."""
        nid = row.notification_id

        def at(kind: str, detail: str) -> Finding:
            return Finding(kind, detail, row.subject, row.version, nid)

        event = row.event
        if event is None:
            self.heads[row.subject] = (row.version, "", nid)
            return [at("undecodable", f"the stored row cannot be read: {row.error}")]
        findings = []
        computed = row.computed_hash
        if computed != event.event_hash:
            findings.append(
                at(
                    "altered",
                    f"content does not match its hash (stored {event.event_hash[:12]}, "
                    f"computed {computed[:12]})",
                )
            )
        version, digest, head_nid = self.head(row.subject)
        if row.version <= version:
            findings.append(at("out_of_order", f"comes after version {version} in the log"))
            return findings
        if row.version > version + 1:
            missing = version + 1
            span = (
                f"versions {missing}-{row.version - 1} of {row.subject} are"
                if row.version - 1 > missing
                else f"version {missing} of {row.subject} is"
            )
            findings.insert(
                0,
                Finding(
                    "missing",
                    f"{span} not stored (the next stored is v{row.version} at notification {nid})",
                    row.subject,
                    missing,
                    gap_before(head_nid, nid),
                ),
            )
        elif digest and event.previous_hash != digest:
            findings.append(
                at(
                    "broken_link",
                    f"previous_hash {event.previous_hash[:12]} is not the hash of v{version} "
                    f"({digest[:12]})",
                )
            )
        self.heads[row.subject] = (row.version, event.event_hash, nid)
        return findings
