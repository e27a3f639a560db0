"""Signed checkpoints: the Merkle root of the whole log up to its latest notification id.

A checkpoint first checks the events it is about to cover (each hash recomputed, each
link to its subject's previous event), so the ledger never signs a log that was
already altered; then it extends the Merkle tree from the previous checkpoint's
frontier, stores the new leaves, and signs the statement with the configured Ed25519
key. Statements chain: each names the previous checkpoint's root.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, and_, func, insert, select, text

from ledger.adapters.event_store import LedgerApp
from ledger.aggregates.chain import GENESIS, canonical, dumps
from replay.audit import (
    AUDIT_LOCK,
    ChainCheck,
    Finding,
    checkpoints,
    create_tables,
    leaf,
    leaves,
    scan,
)
from replay.keys import ENV_KEY, key_id, public_pem
from replay.merkle import Frontier, leaf_hash

FORMAT: Final = 1
LEAF_BATCH: Final = 2_000


@dataclass(frozen=True)
class Checkpoint:
    """A stored checkpoint: its signed statement and signature."""

    statement: dict[str, Any]
    signature: str
    public_key: str
    frontier: Frontier

    @property
    def seq(self) -> int:
        """1, 2, ...: the checkpoint's number."""
        return int(self.statement["seq"])

    @property
    def last_notification_id(self) -> int:
        """The log up to and including this notification id is covered."""
        return int(self.statement["last_notification_id"])

    @property
    def tree_size(self) -> int:
        """How many events the root covers."""
        return int(self.statement["tree_size"])

    @property
    def root(self) -> str:
        """The Merkle root (hex)."""
        return str(self.statement["root"])

    def as_dict(self) -> dict[str, Any]:
        """The statement with its signature and public key (what an export carries)."""
        return {
            "statement": self.statement,
            "signature": self.signature,
            "public_key": self.public_key,
        }


def held_checkpoint(document: dict[str, Any]) -> Checkpoint:
    """A checkpoint kept outside the database: ``ledger checkpoint --json`` output, or an
    export's ``manifest.json`` (its covering checkpoint)."""
    source = document.get("checkpoint", document)
    try:
        return Checkpoint(
            statement=dict(source["statement"]),
            signature=str(source["signature"]),
            public_key=str(source["public_key"]),
            frontier=Frontier(),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a checkpoint (no {error})") from error


def signed_bytes(statement: dict[str, Any]) -> bytes:
    """What the signature covers: the statement as canonical JSON."""
    return dumps(statement)


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
        row = conn.execute(select(checkpoints).order_by(checkpoints.c.seq.desc()).limit(1)).first()
    return None if row is None else _from_row(row)


def _from_row(row: Any) -> Checkpoint:
    return Checkpoint(
        statement=json.loads(row.statement),
        signature=row.signature,
        public_key=row.public_key,
        frontier=Frontier.load(json.loads(row.frontier)),
    )


def take_checkpoint(
    app: LedgerApp, engine: Engine, key: Ed25519PrivateKey, now: datetime
) -> tuple[Checkpoint, bool]:
    """Sign the log up to its latest event; (checkpoint, False) if nothing is new."""
    create_tables(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK})
        rows = conn.execute(select(checkpoints).order_by(checkpoints.c.seq.desc()).limit(1))
        previous = next((_from_row(row) for row in rows), None)
        if previous is not None and previous.statement.get("key_id") != key_id(key.public_key()):
            raise CheckpointRefused(
                Finding(
                    "checkpoint_key",
                    f"checkpoint {previous.seq} was signed by key "
                    f"{previous.statement.get('key_id')}, but the configured key is "
                    f"{key_id(key.public_key())}: set {ENV_KEY} to the ledger's key",
                    checkpoint=previous.seq,
                )
            )
        frontier = Frontier() if previous is None else _resumed(previous)
        after = 0 if previous is None else previous.last_notification_id
        chain = ChainCheck(head_of=_leaf_heads(conn))
        batch: list[dict[str, Any]] = []
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
            frontier.add(
                leaf_hash(leaf(row.notification_id, row.subject, row.version, row.event_hash))
            )
            last_id = row.notification_id
            if len(batch) >= LEAF_BATCH:
                conn.execute(insert(leaves), batch)
                batch = []
        if batch:
            conn.execute(insert(leaves), batch)
        if previous is not None and last_id == after:
            return previous, False
        public = key.public_key()
        statement = {
            "format": FORMAT,
            "seq": 1 if previous is None else previous.seq + 1,
            "created_at": canonical(now.astimezone(UTC)),
            "last_notification_id": last_id,
            "tree_size": frontier.size,
            "root": frontier.root().hex(),
            "previous_root": None if previous is None else previous.root,
            "key_id": key_id(public),
        }
        checkpoint = Checkpoint(
            statement=statement,
            signature=key.sign(signed_bytes(statement)).hex(),
            public_key=public_pem(public),
            frontier=frontier,
        )
        conn.execute(
            insert(checkpoints).values(
                seq=checkpoint.seq,
                statement=dumps(statement).decode(),
                signature=checkpoint.signature,
                public_key=checkpoint.public_key,
                frontier=json.dumps(frontier.dump()),
            )
        )
    return checkpoint, True


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
    return frontier


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
