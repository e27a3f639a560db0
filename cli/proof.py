"""``ledger proof``: RFC 9162 inclusion and consistency proofs, and their offline check.

``proof inclusion SUBJECT VERSION`` and ``proof consistency FROM TO`` (FROM and TO are
checkpoint numbers) read the checkpoints' stored leaves and subtree roots (O(log n) rows);
``proof verify FILE --checkpoint NOTE --key VKEY`` needs only the proof and the signed
checkpoint note(s): no database.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import typer

from cli.common import DbOption, HelpGroup, JsonOption, fail, out, print_json

if TYPE_CHECKING:
    from replay.checkpoint import Checkpoint
    from replay.note import CheckpointBody, Note, VerifierKey

proof_app = typer.Typer(
    help="RFC 9162 proofs: an event's inclusion in a checkpoint, a checkpoint's consistency "
    "with an earlier one; checked offline from the signed checkpoint notes.",
    no_args_is_help=True,
    cls=HelpGroup,
)

COMMANDS: Final = ["proof"]
EXAMPLES: Final = {
    "proof": ["ledger proof inclusion T-1001 3 --json > proof.json"],
    "proof inclusion": [
        "ledger proof inclusion T-1001 3 --json > proof.json",
        "ledger proof inclusion C-001 1 --checkpoint 2",
    ],
    "proof consistency": ["ledger proof consistency 1 4 --json > consistency.json"],
    "proof verify": [
        "ledger proof verify proof.json --checkpoint checkpoint.note --key ledger.pub",
        "ledger proof verify consistency.json --checkpoint c1.note --checkpoint c4.note "
        "--key ledger.vkey",
    ],
}


def _b64(data: bytes) -> str:
    from replay.note import b64

    return b64(data)


def _checkpoint(engine: Any, seq: int | None) -> Checkpoint:
    from replay.checkpoint import checkpoint_number, latest_checkpoint

    found = latest_checkpoint(engine) if seq is None else checkpoint_number(engine, seq)
    if found is None:
        fail(
            "no checkpoint yet: run `ledger checkpoint`"
            if seq is None
            else f"--checkpoint {seq}: no such checkpoint"
        )
    if found.problem:
        fail(f"checkpoint {found.seq} cannot be read ({found.problem}): run `ledger verify`")
    return found


@proof_app.command("inclusion")
def inclusion(
    subject: Annotated[str, typer.Argument(help="The event's subject, e.g. T-1001.")],
    version: Annotated[int, typer.Argument(help="The event's version (1, 2, ...).", min=1)],
    checkpoint: Annotated[
        int | None,
        typer.Option(
            "--checkpoint", help="Prove against this checkpoint (default: the newest).", min=1
        ),
    ] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Prove that an event is in the log a checkpoint signed: its leaf, the leaf's index,
    the tree size and the audit path to the root (RFC 9162 section 2.1.3)."""
    from sqlalchemy import select

    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.audit import leaf, leaves
    from replay.checkpoint import stored_tree
    from replay.merkle import leaf_hash, verify_inclusion

    database = resolve_database(db)
    with opened(database, create=False):
        engine = engine_for(database)
        signed = _checkpoint(engine, checkpoint)
        with engine.connect() as conn:
            row = conn.execute(
                select(leaves).where(leaves.c.subject == subject, leaves.c.version == version)
            ).first()
            if row is None:
                fail(
                    f"{subject} v{version}: no checkpoint covers such an event (a later "
                    "`ledger checkpoint` will if it is stored)"
                )
            if row.position >= signed.tree_size:
                fail(
                    f"{subject} v{version} is leaf {row.position}, after the {signed.tree_size} "
                    f"events checkpoint {signed.seq} covers: prove it against a later one"
                )
            try:
                path = stored_tree(conn).inclusion(int(row.position), signed.tree_size)
            except LookupError as error:
                fail(f"{error}: the checkpoints' leaves were altered; run `ledger verify`")
    hashed = leaf_hash(leaf(row.notification_id, row.subject, row.version, row.event_hash))
    root = bytes.fromhex(signed.root)
    if not verify_inclusion(hashed, int(row.position), signed.tree_size, path, root):
        fail(
            f"the stored leaves do not lead to checkpoint {signed.seq}'s signed root: "
            "run `ledger verify`"
        )
    proof = {
        "kind": "inclusion",
        "leaf": {
            "notification_id": row.notification_id,
            "subject": row.subject,
            "version": row.version,
            "event_hash": row.event_hash,
        },
        "leaf_hash": _b64(hashed),
        "leaf_index": int(row.position),
        "tree_size": signed.tree_size,
        "root": _b64(root),
        "proof": [_b64(h) for h in path],
        "checkpoint": signed.seq,
        "note": signed.note,
    }
    if json:
        print_json(proof)
        return
    out().print(
        f"{subject} v{version} (notification {row.notification_id}) is leaf {row.position} of "
        f"the {signed.tree_size}-event tree of checkpoint {signed.seq}, root {_b64(root)}; "
        f"audit path ({len(path)} hashes, leaf level first):",
        highlight=False,
    )
    for digest in path:
        out().print(f"  {_b64(digest)}", highlight=False)


@proof_app.command("consistency")
def consistency(
    first: Annotated[int, typer.Argument(help="The earlier checkpoint's number.", min=1)],
    second: Annotated[int, typer.Argument(help="The later checkpoint's number.", min=1)],
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Prove that checkpoint SECOND's tree extends checkpoint FIRST's (RFC 9162 section
    2.1.4): nothing FIRST covered was changed, removed or reordered."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.checkpoint import stored_tree
    from replay.merkle import verify_consistency

    if first > second:
        fail(f"FROM {first} is after TO {second}: a later tree extends an earlier one")
    database = resolve_database(db)
    with opened(database, create=False):
        engine = engine_for(database)
        old, new = _checkpoint(engine, first), _checkpoint(engine, second)
        with engine.connect() as conn:
            try:
                path = stored_tree(conn).consistency(old.tree_size, new.tree_size)
            except LookupError as error:
                fail(f"{error}: the checkpoints' leaves were altered; run `ledger verify`")
    old_root, new_root = bytes.fromhex(old.root), bytes.fromhex(new.root)
    if not verify_consistency(old.tree_size, new.tree_size, old_root, new_root, path):
        fail(
            f"the stored leaves do not lead from checkpoint {first}'s root to checkpoint "
            f"{second}'s: run `ledger verify`"
        )
    proof = {
        "kind": "consistency",
        "from": {"checkpoint": old.seq, "tree_size": old.tree_size, "root": _b64(old_root)},
        "to": {"checkpoint": new.seq, "tree_size": new.tree_size, "root": _b64(new_root)},
        "proof": [_b64(h) for h in path],
        "notes": [old.note, new.note],
    }
    if json:
        print_json(proof)
        return
    out().print(
        f"checkpoint {second} ({new.tree_size} events, root {_b64(new_root)}) extends "
        f"checkpoint {first} ({old.tree_size} events, root {_b64(old_root)}); "
        f"consistency proof ({len(path)} hashes):",
        highlight=False,
    )
    for digest in path:
        out().print(f"  {_b64(digest)}", highlight=False)


def _note_file(path: Path) -> tuple[Note, CheckpointBody]:
    import json as json_

    from replay.note import NoteError, parse_checkpoint, parse_note

    try:
        data = path.read_text(encoding="utf-8")
        if data.lstrip().startswith("{"):
            document = json_.loads(data)
            data = str((document.get("checkpoint") or document)["note"])
        note = parse_note(data)
        return note, parse_checkpoint(note.text)
    except (OSError, UnicodeDecodeError) as error:
        fail(f"--checkpoint {path}: {error}")
    except (NoteError, ValueError, KeyError, TypeError, AttributeError) as error:
        fail(f"--checkpoint {path}: not a checkpoint note ({error})")


def _log_vkey(given: str, origin: str) -> VerifierKey:
    from replay.keys import KeyError_, read_public
    from replay.note import ED25519, NoteError, VerifierKey, parse_vkey

    text = given
    if Path(given).is_file():
        text = Path(given).read_text(errors="replace")
    for line in text.splitlines():
        try:
            vkey = parse_vkey(line)
        except NoteError:
            continue  # a PEM line, or not a key: the PEM is read below
        else:
            if vkey.kind != ED25519:
                fail(f"--key {given}: a witness (cosigner) key, not the log's key")
            return vkey
    try:
        return VerifierKey(origin, ED25519, read_public(given, "--key"))
    except KeyError_ as error:
        fail(str(error))


def _b64_list(values: Any, what: str) -> list[bytes]:
    from replay.note import NoteError, unb64

    if not isinstance(values, list):
        raise ValueError(f"{what} is not a list")
    try:
        return [unb64(str(v), what) for v in values]
    except NoteError as error:
        raise ValueError(str(error)) from error


@proof_app.command("verify")
def verify_proof(
    file: Annotated[Path, typer.Argument(help="A proof (`ledger proof ... --json` output).")],
    checkpoint: Annotated[
        list[Path],
        typer.Option(
            "--checkpoint",
            help="A signed checkpoint note (or `ledger checkpoint --json` output); a "
            "consistency proof needs both of its checkpoints.",
            metavar="NOTE-FILE",
        ),
    ],
    key: Annotated[
        list[str],
        typer.Option(
            "--key",
            help="The log's key: its verifier key (name+id+key), or a file holding it or the "
            "PEM (`ledger key public` output); repeat for the keys of a rotation.",
            metavar="VKEY",
        ),
    ],
    json: JsonOption = False,
) -> None:
    """Check a proof against signed checkpoint notes only (no database): exit 1 if it fails."""
    import json as json_

    from replay.audit import leaf
    from replay.merkle import leaf_hash, verify_consistency, verify_inclusion
    from replay.note import verify_signature

    try:
        proof = json_.loads(file.read_text(encoding="utf-8"))
        if not isinstance(proof, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        fail(f"{file}: not a proof ({error})")
    notes = [_note_file(path) for path in checkpoint]
    for (note, body), path in zip(notes, checkpoint, strict=True):
        if not any(verify_signature(note, _log_vkey(k, body.origin)) for k in key):
            _verdict(False, f"{path} is not signed by the log key {', '.join(key)}", json)
    by_size = {body.size: body for _, body in notes}
    try:
        if proof.get("kind") == "inclusion":
            entry = proof["leaf"]
            size, index = int(proof["tree_size"]), int(proof["leaf_index"])
            hashed = leaf_hash(
                leaf(
                    int(entry["notification_id"]),
                    str(entry["subject"]),
                    int(entry["version"]),
                    str(entry["event_hash"]),
                )
            )
            signed = by_size.get(size)
            if signed is None:
                _verdict(False, f"no --checkpoint of {size} events (the proof's tree size)", json)
            ok = verify_inclusion(
                hashed, index, size, _b64_list(proof["proof"], "proof"), signed.root
            )
            what = (
                f"{entry['subject']} v{entry['version']} (notification "
                f"{entry['notification_id']}, hash {entry['event_hash']}) is leaf {index} of the "
                f"{size}-event tree signed as {signed.origin}"
            )
            _verdict(ok, what if ok else f"NOT proven: {what}", json)
        if proof.get("kind") == "consistency":
            old, new = int(proof["from"]["tree_size"]), int(proof["to"]["tree_size"])
            first, second = by_size.get(old), by_size.get(new)
            if first is None or second is None:
                _verdict(False, f"give the --checkpoint notes of {old} and of {new} events", json)
            ok = verify_consistency(
                old, new, first.root, second.root, _b64_list(proof["proof"], "proof")
            )
            what = f"the {new}-event tree extends the {old}-event tree of {second.origin}"
            _verdict(ok, what if ok else f"NOT proven: {what}", json)
    except (KeyError, TypeError, ValueError) as error:
        fail(f"{file}: not a proof ({error!r})")
    fail(f"{file}: kind must be inclusion or consistency")


def _verdict(ok: bool, detail: str, json: bool) -> NoReturn:
    if json:
        print_json({"ok": ok, "detail": detail})
    else:
        out().print(
            ("[green]verified[/]: " if ok else "[red]FAILED[/]: ") + detail, highlight=False
        )
    sys.exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    """Add the ``proof`` group."""
    app.add_typer(proof_app, name="proof")
