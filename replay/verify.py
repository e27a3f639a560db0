"""``ledger verify``: recompute every chain and checkpoint from the stored rows.

One pass over the log in notification order:

* each stored row is decoded and its hash recomputed from its content;
* each subject's versions must run 1, 2, 3, ... with each event naming its
  predecessor's hash (the first names genesis);
* the stored rows are merged with the checkpoints' leaves, so an event deleted, moved,
  swapped or replaced after a checkpoint is named by the leaf that recorded it;
* the Merkle root of the stored log is compared with each checkpoint's signed root (so
  every checkpoint is consistent with the one before by the stored events themselves, not
  by the stored frontier or leaves), and each checkpoint's signature with the key in force
  for it: the trusted key, followed through the key rotation statements;
* checkpoints held elsewhere (a copy, an export, each witness's latest) must still be
  stored and agree; with ``--witness`` and ``--quorum``, the newest checkpoint must carry
  that many valid witness cosignatures.

On SQLite, where notification ids (row ids) are never skipped, a missing id is a deleted
row. Without a checkpoint, events deleted from the end of a subject or of the log leave
no trace in what remains: checkpoint often (``ledger tick --checkpoint``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, select

from ledger.adapters.event_store import LedgerApp
from replay.audit import (
    ChainCheck,
    Finding,
    Scanned,
    audit_meta,
    create_tables,
    leaf,
    leaves,
    scan,
)
from replay.checkpoint import (
    Checkpoint,
    CheckpointRefused,
    ledger_origin,
    load_checkpoints,
    signed_bytes,
)
from replay.event_keys import KeyCheck
from replay.intake_chain import verify_intake
from replay.keys import key_id, verifies
from replay.merkle import Frontier, leaf_hash
from replay.note import (
    ED25519,
    NoteError,
    VerifierKey,
    verify_cosignature,
    verify_signature,
)
from replay.rotation import KeyChain, key_chain, parse_rotation, stored_rotations


@dataclass
class Verification:
    """What ``ledger verify`` found."""

    key_id: str
    events: int = 0
    subjects: int = 0
    checkpoints: int = 0
    covered_up_to: int = 0
    findings: list[Finding] = field(default_factory=list)
    origin: str = ""
    keys: list[str] = field(default_factory=list)  # the keys in force, first to last
    cosigned_by: list[str] = field(default_factory=list)  # witnesses on the newest
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
            "origin": self.origin,
            "keys": self.keys,
            "cosigned_by": self.cosigned_by,
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
    *,
    pinned: bool = False,
    witnesses: Sequence[VerifierKey] = (),
    quorum: int = 0,
    views: Sequence[tuple[str, Checkpoint]] = (),
) -> Verification:
    """Verify the whole stored log and its checkpoints against the ``trusted`` key.

    ``pinned``: ``trusted`` is the first key (``--public-key``), followed through the key
    rotation statements; else it is the configured key, which the chain must end at.
    ``held``: a checkpoint kept outside the database (from ``ledger checkpoint --json`` or
    an export's manifest); ``views``: the latest checkpoint each witness cosigned, by
    witness. The stored log must still agree with them, which is what shows checkpoints
    deleted from the database or rolled back, and events deleted before they were covered.
    ``witnesses``, ``quorum``: the newest checkpoint must carry ``quorum`` valid
    cosignatures from these keys.
    """
    create_tables(engine)
    result = Verification(key_id=key_id(trusted))
    with engine.connect() as conn:
        stored = load_checkpoints(conn)
        result.checkpoints = len(stored)
        origin = _origin(conn, stored)
        result.origin = origin
        chain = _chain(trusted, pinned, stored_rotations(conn), origin)
        result.keys = [key_id(k) for _, k in chain.keys]
        findings = [*chain.findings, *_statements(stored, chain, origin)]
        holds = [*([] if held is None else [("the checkpoint you hold", held)]), *views]
        for name, copy in holds:
            findings += _held(name, copy, stored, chain)
            if not any(_same(c, copy) for c in stored):
                stored = sorted([*stored, copy], key=lambda c: c.last_notification_id)
        if quorum > 0:
            findings += _quorum(result, load_checkpoints(conn), witnesses, quorum)
        result.findings += findings
        untrusted = {f.checkpoint for f in findings if f.kind in UNTRUSTED}
        result.covered_up_to = max(
            (c.last_notification_id for c in stored if c.seq not in untrusted), default=0
        )
        with KeyCheck(engine, covered_up_to=result.covered_up_to) as keys:
            _Pass(app, conn, stored, result, untrusted, keys.observe).run()
            result.findings += keys.finish()
        result.uncovered_events, result.key_rows = keys.uncovered, keys.key_rows
        # the newest checkpoint that carries the intake chain's head (one verify trusts)
        covered = next(
            (
                c.intake
                for c in reversed(stored)
                if c.intake is not None and not c.problem and c.seq not in untrusted
            ),
            None,
        )
        intake = verify_intake(conn, covered)
        result.intake = intake.as_dict()
        result.findings += intake.findings
    result.findings.sort(key=lambda f: (f.notification_id is None, f.notification_id or 0, f.kind))
    return result


def _origin(conn: Connection, stored: list[Checkpoint]) -> str:
    named = next((c.origin for c in stored if c.origin), None)
    if named is not None:
        return named
    try:
        return ledger_origin(conn)
    except CheckpointRefused:  # LEDGER_ORIGIN differs: the stored one is this ledger's
        return str(
            conn.execute(select(audit_meta.c.value).where(audit_meta.c.name == "origin")).scalar()
        )


def _chain(
    trusted: Ed25519PublicKey, pinned: bool, rows: list[tuple[int, str]], origin: str
) -> KeyChain:
    """The keys in force: from the pinned key, or from the first rotation statement's old
    key up to the configured one."""
    first = trusted
    if not pinned and rows:
        try:
            first = parse_rotation(rows[0][1]).old.public
        except NoteError:
            first = trusted
    chain = key_chain(first, rows, origin)
    if not pinned and key_id(chain.last()) != key_id(trusted):
        chain.findings.append(
            Finding(
                "key_rotation",
                f"the configured key {key_id(trusted)} is not the key the rotation statements "
                f"end at ({key_id(chain.last())})",
            )
        )
    return chain


def _same(a: Checkpoint, b: Checkpoint) -> bool:
    return (a.seq, a.tree_size, a.root, a.last_notification_id, a.previous_root) == (
        b.seq,
        b.tree_size,
        b.root,
        b.last_notification_id,
        b.previous_root,
    )


def _signed(checkpoint: Checkpoint, key: Ed25519PublicKey) -> str | None:
    """None if ``key`` signed the checkpoint; else what is wrong (a finding's kind)."""
    if checkpoint.legacy is not None:
        claimed = checkpoint.claimed_key
        if (
            claimed is None
            or key_id(claimed) != key_id(key)
            or checkpoint.legacy.get("key_id") != key_id(key)
        ):
            return "checkpoint_key"
        if not verifies(key, checkpoint.signature, signed_bytes(checkpoint.legacy)):
            return "checkpoint_signature"
        return None
    note = checkpoint.parsed_note()
    expected = VerifierKey(checkpoint.origin or "", ED25519, key)
    if verify_signature(note, expected):
        return None
    if any(s.name == expected.name and s.key_id == expected.key_id for s in note.signatures):
        return "checkpoint_signature"
    return "checkpoint_key"


def _signer(checkpoint: Checkpoint) -> str:
    """Names the key that did sign: the stored public key if its signature holds."""
    claimed = checkpoint.claimed_key
    if claimed is not None and _signed(checkpoint, claimed) is None:
        shown = checkpoint.log_key() or key_id(claimed)
        return f"key {key_id(claimed)} ({shown})"
    if checkpoint.note is not None:
        lines = [f"{s.name}+{s.key_id.hex()}" for s in checkpoint.parsed_note().signatures]
        return f"an unknown key (signature lines {', '.join(lines)})"
    return f"an unknown key (it claims {checkpoint.key_id})"


def _held(name: str, held: Checkpoint, stored: list[Checkpoint], chain: KeyChain) -> list[Finding]:
    name = f"{name} (number {held.seq}: {held.tree_size} events up to notification "
    name += f"{held.last_notification_id}, root {held.root[:12]})"
    if _signed(held, chain.at(held.seq)) is not None:
        return [
            Finding(
                "checkpoint_signature",
                f"{name} is not signed by the key in force for it",
                checkpoint=held.seq,
            )
        ]
    same = [c for c in stored if c.seq == held.seq]
    newest = max((c.tree_size for c in stored if not c.problem), default=0)
    if not same:
        rolled = (
            f"; the newest stored checkpoint covers {newest} events: the checkpoints were "
            "rolled back or wiped"
            if held.tree_size > newest
            else ""
        )
        return [
            Finding(
                "checkpoint_withheld",
                f"{name} is no longer in the database{rolled}",
                checkpoint=held.seq,
            )
        ]
    if not _same(same[0], held):
        return [
            Finding(
                "checkpoint_withheld",
                f"{name} differs from the stored one ({same[0].tree_size} events up to "
                f"notification {same[0].last_notification_id}, root {same[0].root[:12]}): the "
                "stored checkpoints were replaced",
                checkpoint=held.seq,
            )
        ]
    return []


def _quorum(
    result: Verification,
    stored: list[Checkpoint],
    witnesses: Sequence[VerifierKey],
    quorum: int,
) -> list[Finding]:
    readable = [c for c in stored if not c.problem]
    if not readable:
        return [Finding("checkpoint_witness", "no checkpoint to require cosignatures on")]
    newest = readable[-1]
    if newest.note is None:
        return [
            Finding(
                "checkpoint_witness",
                f"checkpoint {newest.seq} is of format 1: it carries no cosignatures",
                checkpoint=newest.seq,
            )
        ]
    note = newest.parsed_note()
    signed = [w for w in witnesses if verify_cosignature(note, w) is not None]
    result.cosigned_by = [w.name for w in signed]
    if len(signed) >= quorum:
        return []
    missing = [w.name for w in witnesses if w not in signed]
    return [
        Finding(
            "checkpoint_witness",
            f"the newest checkpoint {newest.seq} ({newest.tree_size} events, root "
            f"{newest.root[:12]}) has {len(signed)} of the {quorum} witness cosignatures "
            f"required (none valid from {', '.join(missing)}): no witness vouches that it "
            "extends what they saw",
            checkpoint=newest.seq,
        )
    ]


UNTRUSTED = frozenset({"checkpoint_key", "checkpoint_signature", "checkpoint_unreadable"})
"""Findings that make a statement's figures meaningless (not compared with the log)."""


def _statements(stored: list[Checkpoint], chain: KeyChain, origin: str) -> list[Finding]:
    findings = []
    previous: Checkpoint | None = None
    unknown_previous = False  # the one before cannot be read: its root is not known
    for number, checkpoint in enumerate(stored, start=1):
        name = f"checkpoint {checkpoint.seq}"
        if checkpoint.problem:
            findings.append(
                Finding(
                    "checkpoint_unreadable",
                    f"{name} cannot be read: {checkpoint.problem}",
                    checkpoint=checkpoint.seq,
                )
            )
            unknown_previous = True
            continue
        key = chain.at(checkpoint.seq)
        wrong = _signed(checkpoint, key)
        if wrong == "checkpoint_key":
            findings.append(
                Finding(
                    "checkpoint_key",
                    f"{name} is signed by {_signer(checkpoint)}, which no key rotation "
                    f"statement introduces; the key in force is {key_id(key)}",
                    checkpoint=checkpoint.seq,
                )
            )
        elif wrong == "checkpoint_signature":
            findings.append(
                Finding(
                    "checkpoint_signature",
                    f"{name}'s signature does not match its statement",
                    checkpoint=checkpoint.seq,
                )
            )
        if checkpoint.origin is not None and checkpoint.origin != origin:
            findings.append(
                Finding(
                    "checkpoint_origin",
                    f"{name} names the log {checkpoint.origin}, not {origin}",
                    checkpoint=checkpoint.seq,
                )
            )
        if (
            wrong is None  # (of a note that fails its signature, the figures mean nothing)
            and checkpoint.stored_statement is not None
            and checkpoint.stored_statement != checkpoint.statement
        ):
            findings.append(
                Finding(
                    "checkpoint_statement",
                    f"the JSON copy of {name}'s figures differs from its signed note",
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
        if not unknown_previous and checkpoint.previous_root != expected_previous:
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
        previous, unknown_previous = checkpoint, False
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
