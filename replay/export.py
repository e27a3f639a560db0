"""``ledger export``: the trail for compliance, with what it takes to prove it later.

The export directory holds the events (JSON Lines or CSV), and ``manifest.json``:
each file's SHA-256, the chain head of every exported subject, the signed checkpoint
covering them, and the manifest's own Ed25519 signature. Each record carries its hash,
its predecessor's hash, the per-field salts of the personal fields it shows (or only
the commitments of those it redacts) and a Merkle inclusion proof against the
checkpoint's root, so :mod:`replay.export_verify` can check all of it offline.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from ledger.adapters.event_store import LedgerApp
from ledger.aggregates.base import event_data
from ledger.aggregates.chain import canonical, dumps, event_meta, redacted
from ledger.aggregates.customer import Customer
from ledger.aggregates.erasure import event_proof
from ledger.aggregates.policy import POLICY_ID
from ledger.aggregates.ticket import Ticket
from ledger.services.audit_log import (
    DEFAULT_ACTOR,
    AuditError,
    check_actor,
    check_purpose,
    record_export,
)
from replay.audit import leaf, leaves, scan
from replay.checkpoint import take_checkpoint
from replay.keys import key_id, public_pem
from replay.merkle import inclusion_proof, leaf_hash, levels
from replay.rotation import stored_rotations

FORMAT: Final = 1
MANIFEST: Final = "manifest.json"
CSV_COLUMNS: Final = (
    "notification_id",
    "subject",
    "version",
    "type",
    "event_id",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "actor_role",
    "source",
    "producer",
    "chain_format",
    "data",
    "previous_hash",
    "event_hash",
    "proof",
    "leaf_index",
    "inclusion",
)
JSON_COLUMNS: Final = frozenset({"data", "proof", "inclusion"})


class ExportError(Exception):
    """The export cannot be written (a user-facing message)."""


@dataclass(frozen=True)
class Selection:
    """What to export: a period of occurrence, one customer, and what to redact."""

    start: datetime | None = None
    end: datetime | None = None
    customer: str | None = None
    redact: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "from": None if self.start is None else canonical(self.start),
            "to": None if self.end is None else canonical(self.end),
            "customer": self.customer,
            "redacted_fields": sorted(self.redact),
            "time_axis": "occurred_at, from inclusive, to exclusive",
        }


def export(
    app: LedgerApp,
    engine: Engine,
    key: Ed25519PrivateKey,
    out: Path,
    selection: Selection,
    *,
    fmt: str,
    now: datetime,
    purpose: str,
    actor: str = DEFAULT_ACTOR,
) -> dict[str, Any]:
    """Write the export into the new directory ``out``; return its manifest.

    The export is recorded on the log (``audit.export_recorded``, R-ERASE-2): ``actor``
    (who), ``now`` (when), the selection, the ``purpose`` (why), and the manifest's hash;
    the record's event id is in the returned manifest as ``recorded_as`` (not in the
    signed file: the record comes after it)."""
    if fmt not in ("jsonl", "csv"):
        raise ExportError(f"--format {fmt!r}: use jsonl or csv")
    try:
        check_purpose(purpose)
        check_actor(actor)
    except AuditError as error:
        raise ExportError(str(error)) from None
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty: an export goes into a new directory")
    _check_selection(app, selection)
    checkpoint, _ = take_checkpoint(app, engine, key, now)
    records, heads = _records(app, selection, checkpoint.last_notification_id)
    _prove(engine, checkpoint.tree_size, records)
    out.mkdir(parents=True, exist_ok=True)
    name = f"events.{fmt}"
    content = _jsonl(records) if fmt == "jsonl" else _csv(records)
    (out / name).write_bytes(content)
    subjects: dict[str, dict[str, Any]] = {}
    for record in records:
        entry = subjects.setdefault(
            record["subject"], {"first_version": record["version"], "records": 0}
        )
        entry["last_version"] = record["version"]
        entry["records"] += 1
    for subject, entry in subjects.items():
        entry["head_version"], entry["head_hash"] = heads[subject]
    public = key.public_key()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "kind": "ledger-export",
        "created_at": canonical(now),
        "selection": {**selection.as_dict(), "format": fmt},
        "files": {
            name: {
                "sha256": hashlib.sha256(content).hexdigest(),
                "bytes": len(content),
                "records": len(records),
            }
        },
        "subjects": dict(sorted(subjects.items())),
        "checkpoint": {**checkpoint.as_dict(), "key_chain": key_chain_notes(engine)},
        "key_id": key_id(public),
        "public_key": public_pem(public),
    }
    manifest["signature"] = key.sign(dumps(manifest)).hex()
    written = render_manifest(manifest)
    (out / MANIFEST).write_bytes(written)
    recorded = record_export(
        app,
        actor=actor,
        purpose=purpose,
        selection={
            "customer": selection.customer,
            "occurred_from": None if selection.start is None else canonical(selection.start),
            "occurred_before": None if selection.end is None else canonical(selection.end),
            "redacted_fields": sorted(selection.redact),
            "format": fmt,
        },
        records=len(records),
        subjects=len(subjects),
        checkpoint=checkpoint.seq,
        manifest_sha256=hashlib.sha256(written).hexdigest(),
        now=now,
    )
    return {**manifest, "recorded_as": recorded}


def key_chain_notes(engine: Engine) -> list[str]:
    """Every key rotation statement, first to last: what leads from the first key to the
    ones that signed the checkpoint and the manifest (the manifest's
    ``checkpoint.key_chain``)."""
    with engine.connect() as conn:
        return [note for _, note in stored_rotations(conn)]


def _check_selection(app: LedgerApp, selection: Selection) -> None:
    """A selection that names what the ledger does not hold, or an empty period, is a
    mistake, not an empty export: say so before anything is signed or written."""
    if (
        selection.start is not None
        and selection.end is not None
        and selection.start > selection.end
    ):
        raise ExportError(
            f"--from {canonical(selection.start)} is after --to {canonical(selection.end)}"
        )
    if selection.customer is not None and not isinstance(app.find(selection.customer), Customer):
        raise ExportError(
            f"--customer {selection.customer}: the ledger holds no customer "
            f"{selection.customer}; nothing was exported"
        )


def render_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest's one spelling on disk (so that any edit to its bytes shows)."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()


def _records(
    app: LedgerApp, selection: Selection, up_to: int
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """The selected events as records, and every selected subject's head at ``up_to``."""
    chosen: set[str] = {POLICY_ID}
    if selection.customer is not None:
        chosen.add(selection.customer)
    records: list[dict[str, Any]] = []
    heads: dict[str, tuple[int, str]] = {}
    for row in scan(app):
        if row.notification_id > up_to:
            break
        event = row.event
        if event is None:
            raise ExportError(
                f"{row.subject} v{row.version} (notification {row.notification_id}) cannot be "
                "read; run `ledger verify`"
            )
        if selection.customer is not None and row.subject not in chosen:
            if isinstance(event, Ticket.Opened) and event.customer_id == selection.customer:
                chosen.add(row.subject)
            else:
                continue
        heads[row.subject] = (row.version, event.event_hash)
        if selection.start is not None and event.occurred_at < selection.start:
            continue
        if selection.end is not None and event.occurred_at >= selection.end:
            continue
        data = event_data(event)
        meta = event_meta(event)
        records.append(
            {
                "notification_id": row.notification_id,
                **{k: v for k, v in meta.items() if k != "previous_hash"},
                "producer": event.producer,  # None (before issue 18, or the ledger's own)
                "chain_format": event.chain_format,  # how its hash is computed
                "data": redacted(data, selection.redact),
                "previous_hash": event.previous_hash,
                "event_hash": event.event_hash,
                "proof": event_proof(event, selection.redact),
            }
        )
    return records, heads


def _prove(engine: Engine, tree_size: int, records: list[dict[str, Any]]) -> None:
    """Give each record its leaf index and inclusion proof under the checkpoint's root."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(leaves).where(leaves.c.position < tree_size).order_by(leaves.c.position)
        ).all()
    position = {row.notification_id: row.position for row in rows}
    tree = levels(
        [leaf_hash(leaf(r.notification_id, r.subject, r.version, r.event_hash)) for r in rows]
    )
    for record in records:
        index = position[record["notification_id"]]
        record["leaf_index"] = index
        record["inclusion"] = [h.hex() for h in inclusion_proof(tree, index)]


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(dumps(r) + b"\n" for r in records)


def _csv(records: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow(
            dumps(record[c]).decode() if c in JSON_COLUMNS else record[c] for c in CSV_COLUMNS
        )
    return buffer.getvalue().encode()


def _chain_format(cell: str | None) -> int | str:
    """A CSV record's chain format: 1 in an export older than the column; as written
    (so that verification names it) if it is not a number."""
    if not cell:
        return 1
    return int(cell) if cell.isdigit() else cell


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an export file, as written (JSON Lines or CSV)."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                yield {
                    c: json.loads(row[c])
                    if c in JSON_COLUMNS
                    else int(row[c])
                    if c in ("notification_id", "version", "leaf_index")
                    else (row.get(c) or None)  # an export older than the column: None
                    if c == "producer"
                    else _chain_format(row.get(c))
                    if c == "chain_format"
                    else row[c]
                    for c in CSV_COLUMNS
                }
        return
    with path.open(encoding="utf-8") as file:
        for line in file:
            if line.strip():
                yield json.loads(line)
