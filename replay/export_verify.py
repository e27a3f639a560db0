"""``ledger verify-export DIR``: check an export offline, from its files alone.

No database and no ledger state: the manifest's signature, each file's SHA-256, each
record's hash recomputed from its own fields (commitments standing in for redacted
ones), each subject's chain, each record's inclusion in the signed checkpoint, and the
records against the manifest's chain heads. Any edit to any file fails one of these.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.aggregates.chain import CHAIN_FORMATS, GENESIS, dumps, record_hash
from replay.audit import leaf
from replay.export import MANIFEST, read_records, render_manifest
from replay.keys import KeyError_, key_id, load_public, verifies
from replay.merkle import leaf_hash, verify_inclusion
from replay.note import (
    ED25519,
    NoteError,
    VerifierKey,
    parse_checkpoint,
    parse_note,
    verify_cosignature,
    verify_signature,
)
from replay.rotation import KeyChain, key_chain, parse_rotation

META = (
    "type",
    "subject",
    "version",
    "recorded_at",
    "event_id",
    "occurred_at",
    "actor_id",
    "actor_role",
    "source",
    "previous_hash",
)


@dataclass
class ExportCheck:
    """The outcome of checking one export directory."""

    key_id: str = ""
    key_pinned: bool = False
    cosigned_by: list[str] = field(default_factory=list)
    records: int = 0
    subjects: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "ok": self.ok,
            "records": self.records,
            "subjects": self.subjects,
            "key_id": self.key_id,
            "key_pinned": self.key_pinned,
            "cosigned_by": self.cosigned_by,
            "problems": self.problems,
        }


def verify_export(
    directory: Path,
    pinned: Ed25519PublicKey | None = None,
    witnesses: Sequence[VerifierKey] = (),
    quorum: int = 0,
) -> ExportCheck:
    """Check the export in ``directory``; ``pinned``: the first key of the ledger (the
    manifest's key rotation statements lead from it to the keys that signed); ``witnesses``,
    ``quorum``: the covering checkpoint must carry that many of their cosignatures."""
    check = ExportCheck(key_pinned=pinned is not None)
    try:
        raw = (directory / MANIFEST).read_bytes()
        manifest = json.loads(raw)
        embedded = load_public(manifest["public_key"])
    except (OSError, ValueError, KeyError, TypeError, KeyError_) as error:
        check.problems.append(f"{MANIFEST} cannot be read: {error}")
        return check
    try:
        chain = _key_chain(manifest, pinned, embedded, check)
        _check(directory, raw, manifest, chain, check)
        _cosignatures(manifest, witnesses, quorum, check)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        check.problems.append(f"{MANIFEST} is not as an export writes it: {error!r}")
    return check


def _key_chain(
    manifest: dict[str, Any],
    pinned: Ed25519PublicKey | None,
    embedded: Ed25519PublicKey,
    check: ExportCheck,
) -> KeyChain:
    """The keys in force: from the pinned key (else the first statement's old key, else the
    manifest's own key) through ``checkpoint.key_chain``."""
    cp = manifest.get("checkpoint") or {}
    notes = [str(n) for n in cp.get("key_chain") or []]
    origin = ""
    if cp.get("note"):
        try:
            origin = parse_checkpoint(parse_note(str(cp["note"])).text).origin
        except NoteError as error:
            check.problems.append(f"the covering checkpoint's note cannot be read: {error}")
    first = pinned or embedded
    if pinned is None and notes:
        try:
            first = parse_rotation(notes[0]).old.public
        except NoteError:
            first = embedded
    chain = key_chain(first, list(enumerate(notes, start=1)), origin)
    check.problems += [f"{f.kind}: {f.detail}" for f in chain.findings]
    return chain


def _cosignatures(
    manifest: dict[str, Any], witnesses: Sequence[VerifierKey], quorum: int, check: ExportCheck
) -> None:
    if quorum <= 0:
        return
    cp = manifest.get("checkpoint") or {}
    if not cp.get("note"):
        check.problems.append("the covering checkpoint is of format 1: it has no cosignatures")
        return
    try:
        note = parse_note(str(cp["note"]))
    except NoteError:
        return  # named by _key_chain
    signed = [w.name for w in witnesses if verify_cosignature(note, w) is not None]
    check.cosigned_by = signed
    if len(signed) < quorum:
        check.problems.append(
            f"the covering checkpoint has {len(signed)} of the {quorum} witness cosignatures "
            "required"
        )


def _check(
    directory: Path,
    raw: bytes,
    manifest: dict[str, Any],
    chain: KeyChain,
    check: ExportCheck,
) -> None:
    if raw != render_manifest(manifest):
        check.problems.append(f"{MANIFEST}: its bytes are not as written (edited)")
    key = chain.last()
    check.key_id = key_id(key)
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    signature = str(manifest.get("signature", ""))
    if signature != signature.lower() or not verifies(key, signature, dumps(unsigned)):
        check.problems.append(f"{MANIFEST}: the signature does not match (edited, or another key)")
    root, size = _checkpoint(manifest, chain, check)
    listed = set(manifest.get("files", {}))
    for extra in sorted(p.name for p in directory.iterdir() if p.name not in listed | {MANIFEST}):
        check.problems.append(f"{extra}: not listed in the manifest")
    chains: dict[str, list[dict[str, Any]]] = {}
    for name, expected in sorted(manifest.get("files", {}).items()):
        path = directory / name
        if not path.is_file():
            check.problems.append(f"{name}: listed in the manifest but missing")
            continue
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != expected["sha256"]:
            check.problems.append(
                f"{name}: SHA-256 differs from the manifest (the file was edited)"
            )
        count = 0
        try:
            for count, record in enumerate(read_records(path), start=1):
                _record(record, f"{name} record {count}", root, size, check)
                chains.setdefault(str(record.get("subject")), []).append(record)
        except (ValueError, KeyError, TypeError) as error:
            check.problems.append(f"{name}: cannot be parsed after record {count}: {error}")
        if count != expected.get("records"):
            check.problems.append(
                f"{name}: {count} records, the manifest says {expected['records']}"
            )
        check.records += count
    _chains(chains, manifest.get("subjects", {}), check)
    check.subjects = len(chains)


def _checkpoint(manifest: dict[str, Any], chain: KeyChain, check: ExportCheck) -> tuple[bytes, int]:
    cp = manifest.get("checkpoint") or {}
    if cp.get("note"):
        try:
            note = parse_note(str(cp["note"]))
            body = parse_checkpoint(note.text)
            seqs = [
                int(line.split(" ", 1)[1]) for line in body.extensions if line.startswith("seq ")
            ]
        except (NoteError, ValueError) as error:
            check.problems.append(f"the covering checkpoint's note cannot be read: {error}")
            return b"", 0
        # (a note without the ledger's seq line: the last key in force)
        key = chain.at(seqs[0]) if seqs else chain.last()
        if not verify_signature(note, VerifierKey(body.origin, ED25519, key)):
            check.problems.append(
                f"the covering checkpoint is not signed by the key in force for it ({key_id(key)})"
            )
        return body.root, body.size
    statement = cp.get("statement") or {}
    key = chain.at(int(statement.get("seq") or 1))
    if not verifies(key, str(cp.get("signature", "")), dumps(statement)):
        check.problems.append("the covering checkpoint's signature does not match")
    try:
        return bytes.fromhex(statement["root"]), int(statement["tree_size"])
    except (KeyError, ValueError, TypeError):
        check.problems.append("the covering checkpoint has no root")
        return b"", 0


def _record(record: dict[str, Any], where: str, root: bytes, size: int, check: ExportCheck) -> None:
    meta = {k: record[k] for k in META}
    if record.get("producer") is not None:  # hashed when the event has one (issue 18)
        meta["producer"] = record["producer"]
    fmt = record.get("chain_format", 1)  # an export older than the member: format 1
    if type(fmt) is not int or fmt not in CHAIN_FORMATS:
        check.problems.append(
            f"{where} ({record['subject']} v{record['version']}): chain_format {fmt!r} is "
            f"not one of {sorted(CHAIN_FORMATS)}"
        )
        return
    computed = record_hash(meta, record["data"], record["proof"], fmt=fmt)
    if computed != record["event_hash"]:
        check.problems.append(
            f"{where} ({record['subject']} v{record['version']}): its content does not match "
            "its hash"
        )
    hashed = leaf_hash(
        leaf(record["notification_id"], record["subject"], record["version"], record["event_hash"])
    )
    proof = [bytes.fromhex(h) for h in record["inclusion"]]
    if not verify_inclusion(hashed, int(record["leaf_index"]), size, proof, root):
        check.problems.append(
            f"{where} ({record['subject']} v{record['version']}): not in the signed checkpoint"
        )


def _chains(
    chains: dict[str, list[dict[str, Any]]], subjects: dict[str, Any], check: ExportCheck
) -> None:
    for subject in sorted(set(subjects) - set(chains)):
        check.problems.append(f"{subject}: in the manifest but no record of it is in the export")
    for subject, records in sorted(chains.items()):
        expected = subjects.get(subject)
        if expected is None:
            check.problems.append(f"{subject}: exported but not in the manifest")
            continue
        records.sort(key=lambda r: int(r["version"]))
        versions = [int(r["version"]) for r in records]
        first, last = expected["first_version"], expected["last_version"]
        if versions != list(range(first, last + 1)):
            check.problems.append(
                f"{subject}: versions {first}-{last} expected, the export holds {_spans(versions)}"
            )
        for before, after in itertools.pairwise(records):
            if int(after["version"]) == int(before["version"]) + 1 and (
                after["previous_hash"] != before["event_hash"]
            ):
                check.problems.append(
                    f"{subject} v{after['version']}: does not name v{before['version']}'s hash"
                )
        if records[0]["version"] == 1 and records[0]["previous_hash"] != GENESIS:
            check.problems.append(f"{subject} v1: does not start from genesis")
        if last == expected["head_version"] and records[-1]["event_hash"] != expected["head_hash"]:
            check.problems.append(f"{subject}: the last record is not the chain head")


def _spans(versions: list[int]) -> str:
    return ", ".join(str(v) for v in versions[:10]) + (" ..." if len(versions) > 10 else "")
