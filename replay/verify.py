"""``ledger verify``: recompute every chain and checkpoint from the stored rows.

One pass over the log in notification order:

* each stored row is decoded and its hash recomputed from its content;
* each subject's versions must run 1, 2, 3, ... with each event naming its
  predecessor's hash (the first names genesis);
* the stored rows are merged with the checkpoints' leaves, so an event deleted, moved,
  swapped or replaced after a checkpoint is named by the leaf that recorded it;
* the Merkle root of the stored log is compared with each checkpoint's signed root,
  and each statement's signature with the trusted key.

On SQLite, where notification ids (row ids) are never skipped, a missing id is a deleted
row. Without a checkpoint, events deleted from the end of a subject or of the log leave
no trace in what remains: checkpoint often (``ledger tick --checkpoint``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, select

from ledger.adapters.event_store import LedgerApp
from replay.audit import ChainCheck, Finding, Scanned, create_tables, leaf, leaves, scan
from replay.checkpoint import Checkpoint, load_checkpoints, signed_bytes
from replay.event_keys import KeyCheck
from replay.intake_chain import verify_intake
from replay.keys import KeyError_, key_id, load_public, verifies
from replay.merkle import Frontier, leaf_hash


@dataclass
class Verification:
    """What ``ledger verify`` found."""

    key_id: str
    events: int = 0
    subjects: int = 0
    checkpoints: int = 0
    covered_up_to: int = 0
    findings: list[Finding] = field(default_factory=list)
    # Beyond the events' chains (issue 21): what no checkpoint covers yet, the event keys,
    # the intake chain (replay.intake_chain), the read models (replay.read_models).
    uncovered_events: int = 0
    key_rows: int = 0
    intake: dict[str, Any] | None = None
    read_models: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed to verify."""
        return not self.findings

    def first_bad(self) -> Finding | None:
        """The earliest finding in the log about an event (else the first finding)."""
        about_events = [f for f in self.findings if f.notification_id is not None]
        if about_events:
            return min(about_events, key=lambda f: f.notification_id or 0)
        named = [f for f in self.findings if f.subject is not None]
        return next(iter(named or self.findings), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        first = self.first_bad()
        return {
            "ok": self.ok,
            "events": self.events,
            "subjects": self.subjects,
            "checkpoints": self.checkpoints,
            "covered_up_to": self.covered_up_to,
            "key_id": self.key_id,
            "uncovered_events": self.uncovered_events,
            "key_rows": self.key_rows,
            "intake": self.intake,
            "read_models": self.read_models,
            "first_bad": None if first is None else first.as_dict(),
            "findings": [f.as_dict() for f in self.findings],
        }


def verify(
    app: LedgerApp,
    engine: Engine,
    trusted: Ed25519PublicKey,
    held: Checkpoint | None = None,
) -> Verification:
    """Verify the whole stored log and its checkpoints against the ``trusted`` key.

    ``held``: a checkpoint kept outside the database (from ``ledger checkpoint --json`` or
    an export's manifest); the stored log must still agree with it, which is what shows
    checkpoints deleted from the database, and events deleted before they were covered.
    """
    create_tables(engine)
    result = Verification(key_id=key_id(trusted))
    with engine.connect() as conn:
        stored = load_checkpoints(conn)
        result.checkpoints = len(stored)
        findings = _statements(stored, trusted)
        if held is not None:
            findings += _held(held, stored, trusted)
            if not any(c.statement == held.statement for c in stored):
                stored = sorted([*stored, held], key=lambda c: c.last_notification_id)
        result.findings += findings
        untrusted = {f.checkpoint for f in findings if f.kind in UNTRUSTED}
        result.covered_up_to = max(
            (c.last_notification_id for c in stored if c.seq not in untrusted), default=0
        )
        with KeyCheck(engine, covered_up_to=result.covered_up_to) as keys:
            _Pass(app, conn, stored, result, untrusted, keys.observe).run()
            result.findings += keys.finish()
        result.uncovered_events, result.key_rows = keys.uncovered, keys.key_rows
        intake = verify_intake(conn)
        result.intake = intake.as_dict()
        result.findings += intake.findings
    result.findings.sort(key=lambda f: (f.notification_id is None, f.notification_id or 0, f.kind))
    return result


def _held(held: Checkpoint, stored: list[Checkpoint], trusted: Ed25519PublicKey) -> list[Finding]:
    name = f"the checkpoint you hold (number {held.seq})"
    if not verifies(trusted, held.signature, signed_bytes(held.statement)):
        return [
            Finding(
                "checkpoint_signature",
                f"{name} is not signed by the trusted key",
                checkpoint=held.seq,
            )
        ]
    same = [c for c in stored if c.seq == held.seq]
    if not same:
        return [
            Finding(
                "checkpoint_withheld", f"{name} is no longer in the database", checkpoint=held.seq
            )
        ]
    if same[0].statement != held.statement:
        return [
            Finding(
                "checkpoint_withheld", f"{name} differs from the stored one", checkpoint=held.seq
            )
        ]
    return []


UNTRUSTED = frozenset({"checkpoint_key", "checkpoint_signature"})
"""Findings that make a statement's figures meaningless (not compared with the log)."""


def _statements(stored: list[Checkpoint], trusted: Ed25519PublicKey) -> list[Finding]:
    findings = []
    trusted_id = key_id(trusted)
    previous: Checkpoint | None = None
    for number, checkpoint in enumerate(stored, start=1):
        name = f"checkpoint {checkpoint.seq}"
        try:
            signer = key_id(load_public(checkpoint.public_key))
        except KeyError_:
            signer = "unreadable"
        if signer != trusted_id or checkpoint.statement.get("key_id") != trusted_id:
            findings.append(
                Finding(
                    "checkpoint_key",
                    f"{name} is signed by key {signer}, not the trusted key {trusted_id}",
                )
            )
        elif not verifies(trusted, checkpoint.signature, signed_bytes(checkpoint.statement)):
            findings.append(
                Finding(
                    "checkpoint_signature",
                    f"{name}'s signature does not match its statement",
                    checkpoint=checkpoint.seq,
                )
            )
        if checkpoint.seq != number:
            findings.append(
                Finding(
                    "checkpoint_sequence",
                    f"checkpoint {number} is missing ({name} follows)",
                    checkpoint=checkpoint.seq,
                )
            )
        expected_previous = None if previous is None else previous.root
        if checkpoint.statement.get("previous_root") != expected_previous:
            findings.append(
                Finding(
                    "checkpoint_link",
                    f"{name} does not name the previous checkpoint's root",
                    checkpoint=checkpoint.seq,
                )
            )
        if previous is not None and (
            checkpoint.last_notification_id < previous.last_notification_id
            or checkpoint.tree_size < previous.tree_size
        ):
            findings.append(
                Finding(
                    "checkpoint_link",
                    f"{name} covers less than the one before",
                    checkpoint=checkpoint.seq,
                )
            )
        previous = checkpoint
    return findings


class _Pass:
    """The single pass over stored rows, leaves and checkpoint boundaries."""

    def __init__(
        self,
        app: LedgerApp,
        conn: Connection,
        stored: list[Checkpoint],
        result: Verification,
        untrusted: set[int | None],
        observe: Callable[[Scanned], None] | None = None,
    ) -> None:
        self.app, self.conn, self.result = app, conn, result
        self.observe = observe  # sees every stored row, in log order (the event keys)
        self.pending = list(stored)
        self.untrusted = untrusted  # checkpoints whose boundary the pass has not reached
        self.chain = ChainCheck()
        self.log_tree = Frontier()  # over the stored rows, hashes recomputed
        self.leaf_tree = Frontier()  # over the checkpoints' leaf table
        self.gaps: list[tuple[int, int]] = []  # missing notification id ranges
        self.previous_id = 0
        self.leaves: Iterator[Any] = iter(
            conn.execute(select(leaves).order_by(leaves.c.notification_id))
        )
        self.next_leaf: Any = next(self.leaves, None)

    def run(self) -> None:
        for row in scan(self.app):
            self._boundaries(row.notification_id)
            self._leaves_before(row.notification_id)
            if row.notification_id > self.previous_id + 1:
                self.gaps.append((self.previous_id + 1, row.notification_id - 1))
            self.previous_id = row.notification_id
            self.result.events += 1
            self.result.findings += self.chain.check(row, self._lone_gap)
            if self.observe is not None:
                self.observe(row)
            self._against_leaf(row)
        self._leaves_before(None)
        self._boundaries(None)
        self.result.subjects = len(self.chain.heads)
        self._gaps()

    def _lone_gap(self, after: int, before: int) -> int | None:
        missing = (
            i
            for start, end in self.gaps
            for i in range(max(start, after + 1), min(end, before - 1) + 1)
        )
        ids = list(itertools.islice(missing, 2))  # a truncation can leave millions
        return ids[0] if len(ids) == 1 else None

    def _leaves_before(self, notification_id: int | None) -> None:
        """Leaves of events no longer stored (deleted, truncated or moved away)."""
        while self.next_leaf is not None and (
            notification_id is None or self.next_leaf.notification_id < notification_id
        ):
            gone = self.next_leaf
            self.result.findings.append(
                Finding(
                    "deleted",
                    "checkpointed but no longer stored",
                    subject=gone.subject,
                    version=gone.version,
                    notification_id=gone.notification_id,
                )
            )
            self._take_leaf()

    def _take_leaf(self) -> None:
        taken = self.next_leaf
        self.leaf_tree.add(
            leaf_hash(leaf(taken.notification_id, taken.subject, taken.version, taken.event_hash))
        )
        self.next_leaf = next(self.leaves, None)

    def _against_leaf(self, row: Scanned) -> None:
        digest = row.computed_hash
        self.log_tree.add(leaf_hash(leaf(row.notification_id, row.subject, row.version, digest)))
        recorded = self.next_leaf
        if recorded is None or recorded.notification_id != row.notification_id:
            if row.notification_id <= self.result.covered_up_to:
                self.result.findings.append(
                    Finding(
                        "inserted",
                        "stored inside a checkpointed range but not in its checkpoint",
                        subject=row.subject,
                        version=row.version,
                        notification_id=row.notification_id,
                    )
                )
            return
        stored_hash = row.event_hash if row.event is not None else recorded.event_hash
        if (recorded.subject, recorded.version, recorded.event_hash) != (
            row.subject,
            row.version,
            stored_hash,
        ):
            self.result.findings.append(
                Finding(
                    "replaced",
                    f"the checkpoint recorded {recorded.subject} v{recorded.version} with hash "
                    f"{recorded.event_hash[:12]} here; the stored row holds "
                    f"{row.subject} v{row.version} with hash {row.event_hash[:12] or '(none)'}",
                    subject=row.subject,
                    version=row.version,
                    notification_id=row.notification_id,
                )
            )
        self._take_leaf()

    def _boundaries(self, notification_id: int | None) -> None:
        """Compare roots for each checkpoint whose range ends before ``notification_id``."""
        while self.pending and (
            notification_id is None or self.pending[0].last_notification_id < notification_id
        ):
            checkpoint = self.pending.pop(0)
            if checkpoint.seq in self.untrusted:
                continue
            size, root = self.log_tree.size, self.log_tree.root().hex()
            if (size, root) != (checkpoint.tree_size, checkpoint.root):
                self.result.findings.append(
                    Finding(
                        "checkpoint_root",
                        f"checkpoint {checkpoint.seq} signed {checkpoint.tree_size} events up to "
                        f"notification {checkpoint.last_notification_id} with root "
                        f"{checkpoint.root[:12]}; the stored log gives {size} events, root "
                        f"{root[:12]}",
                        checkpoint=checkpoint.seq,
                    )
                )
            leaf_root = (self.leaf_tree.size, self.leaf_tree.root().hex())
            if leaf_root != (checkpoint.tree_size, checkpoint.root):
                self.result.findings.append(
                    Finding(
                        "checkpoint_leaves",
                        f"the recorded leaves of checkpoint {checkpoint.seq} were altered, so "
                        "they cannot say which events changed",
                        checkpoint=checkpoint.seq,
                    )
                )

    def _gaps(self) -> None:
        """SQLite: row ids are never skipped, so a missing one is a deleted row."""
        if self.conn.dialect.name != "sqlite":
            return
        named = {f.notification_id for f in self.result.findings}
        for start, end in self.gaps:
            if start not in named:
                span = (
                    f"notification ids {start}-{end} are"
                    if end > start
                    else (f"notification id {start} is")
                )
                self.result.findings.append(
                    Finding("gap", f"{span} missing: rows were deleted", notification_id=start)
                )
