"""Issue 21: checkpoints as C2SP notes, proofs from the stored tree, key rotation, and the
insider's tampers that only a witness (a real `ledger witness serve` process) can expose."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.settings import Database
from replay.audit import leaf, leaves
from replay.checkpoint import (
    held_checkpoint,
    latest_checkpoint,
    origin_of,
    signed_bytes,
    stored_tree,
    take_checkpoint,
)
from replay.keys import install, key_id, public_pem, signing_key
from replay.merkle import leaf_hash, levels, verify_consistency, verify_inclusion
from replay.note import (
    COSIGNATURE_V1,
    ED25519,
    Note,
    VerifierKey,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    sign,
    verify_signature,
)
from replay.rotation import rotate
from replay.verify import Verification, verify
from replay.witness import fetch_view, request_cosignatures
from tests.audit_support import Tamper
from tests.integration.test_audit import _ingest, _story
from tests.support import T0, Envelopes

M = timedelta(minutes=1)


def _checkpoint(ledger: LedgerApp, engine: Engine, hours: int = 4) -> None:
    take_checkpoint(ledger, engine, signing_key(create=True), T0 + timedelta(hours=hours))


def _more(ledger: LedgerApp, seed: int, at: timedelta) -> None:
    env = Envelopes(seed=seed)
    _ingest(
        ledger,
        [
            env.make("ticket.reopened", "T-1", {"reason": "back again"}, at=T0 + at),
            env.make("ticket.resolved", "T-1", {"resolution": "patched"}, at=T0 + at + M),
        ],
    )


def _kinds(result: Verification) -> set[str]:
    return {f.kind for f in result.findings}


def test_a_checkpoint_is_a_c2sp_signed_note(ledger: LedgerApp, engine: Engine) -> None:
    _ingest(ledger, _story(Envelopes()))
    _checkpoint(ledger, engine)
    taken = latest_checkpoint(engine)
    assert taken is not None and taken.note is not None
    origin = origin_of(engine)
    assert origin.startswith("ledger.local/") and taken.origin == origin
    note = parse_note(taken.note)
    body = parse_checkpoint(note.text)
    assert (body.origin, body.size, body.root.hex()) == (origin, 11, taken.root)
    lines = note.text.splitlines()
    assert lines[3:6] == ["seq 1", f"notification {taken.last_notification_id}", "previous -"]
    assert lines[6].startswith("time 2026-")
    vkey = VerifierKey(origin, ED25519, signing_key(create=False).public_key())
    assert verify_signature(note, vkey)
    assert parse_vkey(vkey.encode()) == vkey and taken.log_key() == vkey.encode()
    _more(ledger, 99, 150 * M)
    _checkpoint(ledger, engine, 5)
    second = latest_checkpoint(engine)
    assert second is not None and second.previous_root == taken.root
    assert verify(ledger, engine, vkey.public).ok
    assert held_checkpoint(second.note or "").root == second.root  # a note held as text


def test_a_ledger_checkpointed_by_the_previous_release_keeps_verifying(
    ledger: LedgerApp, engine: Engine, database: Database
) -> None:
    _ingest(ledger, _story(Envelopes()))
    _checkpoint(ledger, engine)
    taken = latest_checkpoint(engine)
    assert taken is not None
    # Rewrite the row as the previous release wrote it: a JSON statement and a hex signature.
    key = signing_key(create=False)
    statement = {
        "format": 1,
        "seq": 1,
        "created_at": taken.created_at,
        "last_notification_id": taken.last_notification_id,
        "tree_size": taken.tree_size,
        "root": taken.root,
        "previous_root": None,
        "key_id": key_id(key.public_key()),
    }
    tamper = Tamper(database)
    tamper._sql(
        "UPDATE ledger_checkpoints SET statement = ?, signature = ?, note = NULL WHERE seq = 1",
        (json.dumps(statement), key.sign(signed_bytes(statement)).hex()),
    )
    old = latest_checkpoint(engine)
    assert old is not None and old.format == 1 and old.note is None
    assert verify(ledger, engine, key.public_key()).ok
    _more(ledger, 99, 150 * M)
    _checkpoint(ledger, engine, 5)  # the next one is a note, chained to the old root
    second = latest_checkpoint(engine)
    assert second is not None and second.format == 2 and second.previous_root == taken.root
    assert verify(ledger, engine, key.public_key()).ok
    statement["tree_size"] -= 1  # and an old statement edited still fails its signature
    tamper._sql(
        "UPDATE ledger_checkpoints SET statement = ? WHERE seq = 1", (json.dumps(statement),)
    )
    assert "checkpoint_signature" in _kinds(verify(ledger, engine, key.public_key()))


def test_proofs_from_the_stored_tree_verify_against_the_signed_roots(
    ledger: LedgerApp, engine: Engine
) -> None:
    _ingest(ledger, _story(Envelopes(), tickets=tuple(f"T-{n}" for n in range(1, 61))))
    _checkpoint(ledger, engine)
    first = latest_checkpoint(engine)
    _more(ledger, 10_000, 160 * M)
    _checkpoint(ledger, engine, 20)
    second = latest_checkpoint(engine)
    assert first is not None and second is not None and second.tree_size > 256
    with engine.connect() as conn:
        tree = stored_tree(conn)
        rows = conn.execute(
            select(
                leaves.c.notification_id, leaves.c.subject, leaves.c.version, leaves.c.event_hash
            ).order_by(leaves.c.position)
        ).all()
        hashed = [leaf_hash(leaf(*r)) for r in rows]
        for index in (0, 1, 255, 256, 257, len(hashed) - 1):
            path = tree.inclusion(index, second.tree_size)
            assert verify_inclusion(
                hashed[index], index, second.tree_size, path, bytes.fromhex(second.root)
            )
        assert levels(hashed)[-1][0].hex() == second.root
        proof = tree.consistency(first.tree_size, second.tree_size)
    assert verify_consistency(
        first.tree_size,
        second.tree_size,
        bytes.fromhex(first.root),
        bytes.fromhex(second.root),
        proof,
    )
    assert len(proof) <= 2 * second.tree_size.bit_length()


def test_key_rotation_is_followed_and_an_unannounced_key_is_named(
    ledger: LedgerApp, engine: Engine, database: Database
) -> None:
    _ingest(ledger, _story(Envelopes()))
    _checkpoint(ledger, engine)
    old = signing_key(create=False)
    new = Ed25519PrivateKey.generate()
    rotation = rotate(engine, origin_of(engine), old, new, T0 + timedelta(hours=5))
    assert rotation.from_seq == 2
    assert key_id(rotation.old.public) == key_id(old.public_key())
    install(new)
    assert key_id(signing_key(create=False).public_key()) == key_id(new.public_key())
    _more(ledger, 99, 150 * M)
    _checkpoint(ledger, engine, 6)
    pinned = verify(
        ledger, engine, old.public_key(), pinned=True
    )  # the auditor pinned the first key
    assert pinned.ok, pinned.findings
    assert pinned.keys == [key_id(old.public_key()), key_id(new.public_key())]
    configured = verify(ledger, engine, new.public_key(), pinned=False)
    assert configured.ok, configured.findings
    # An insider swaps in their own key and re-signs the newest checkpoint with it.
    forger = Ed25519PrivateKey.generate()
    taken = latest_checkpoint(engine)
    assert taken is not None and taken.note is not None and taken.origin is not None
    text = parse_note(taken.note).text
    Tamper(database)._sql(
        "UPDATE ledger_checkpoints SET note = ?, public_key = ? WHERE seq = 2",
        (
            Note(text, (sign(text, taken.origin, forger),)).render(),
            public_pem(forger.public_key()),
        ),
    )
    found = verify(ledger, engine, old.public_key(), pinned=True)
    named = [f for f in found.findings if f.kind == "checkpoint_key"]
    assert [f.checkpoint for f in named] == [2]
    assert key_id(forger.public_key()) in named[0].detail
    # and a forged rotation statement (not signed by the key in force) breaks the chain
    Tamper(database)._sql("DELETE FROM ledger_key_rotations")
    rotate(engine, taken.origin, forger, Ed25519PrivateKey.generate(), T0)
    assert "key_rotation" in _kinds(verify(ledger, engine, old.public_key(), pinned=True))


# with a witness -----------------------------------------------------------------------------


@dataclass
class Running:
    url: str
    vkey: VerifierKey
    process: subprocess.Popen[str]


@pytest.fixture
def witness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger: LedgerApp
) -> Iterator[Running]:
    """A `ledger witness serve` process trusting this test's log key, on a free port."""
    origin = f"test.example/{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("LEDGER_ORIGIN", origin)
    log_vkey = VerifierKey(origin, ED25519, signing_key(create=True).public_key()).encode()
    key_file = tmp_path / "witness.key"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "witness",
            "init",
            "--name",
            "w.example/1",
            "--key",
            str(key_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "witness",
            "serve",
            "--key",
            str(key_file),
            "--log-key",
            log_vkey,
            "--state",
            str(tmp_path),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once it listens
        assert " listening on http://" in line, (
            line,
            process.stderr.read() if process.stderr else "",
        )
        yield Running(line.split()[-1], parse_vkey(made.stdout.strip()), process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _witnessed(engine: Engine, witness: Running) -> None:
    taken = latest_checkpoint(engine)
    assert taken is not None
    outcomes = request_cosignatures(engine, taken, [witness.url])
    assert [o.cosigned for o in outcomes] == [True], outcomes


def _audit(ledger: LedgerApp, engine: Engine, witness: Running) -> Verification:
    """`verify --witness VKEY --quorum 1 --against URL`."""
    view = held_checkpoint(fetch_view(witness.url, origin_of(engine)))
    return verify(
        ledger,
        engine,
        signing_key(create=False).public_key(),
        witnesses=[witness.vkey],
        quorum=1,
        views=[("the checkpoint the witness cosigned", view)],
    )


def _rechain(
    ledger: LedgerApp, tamper: Tamper, subject: str, version: int, field: str, value: str
) -> None:
    """Edit one event and recompute its hash and every later hash of its subject, writing the
    stored rows as the ledger would have: a forgery that the chain alone cannot tell."""
    ids = {(s, v): nid for nid, s, v in tamper.rows()}
    previous = None
    for event in ledger.history(subject):
        if event.originator_version < version:
            previous = event.event_hash
            continue
        forged = copy.copy(event)
        if event.originator_version == version:
            object.__setattr__(forged, field, value)
        if previous is not None:
            object.__setattr__(forged, "previous_hash", previous)
        object.__setattr__(forged, "event_hash", forged.computed_hash())
        previous = forged.event_hash
        stored = ledger.mapper.to_stored_event(forged)
        tamper.set_state(ids[(subject, event.originator_version)], stored.state)


def test_a_rechained_forgery_with_checkpoints_resigned_is_caught_by_the_witness(
    ledger: LedgerApp, engine: Engine, database: Database, witness: Running
) -> None:
    _ingest(ledger, _story(Envelopes()))
    _checkpoint(ledger, engine)
    _witnessed(engine, witness)
    audited = _audit(ledger, engine, witness)
    assert audited.ok, audited.findings
    tamper = Tamper(database)
    _rechain(ledger, tamper, "T-2", 4, "message", "all fine")  # covered by the witnessed checkpoint
    tamper.drop_checkpoints()
    _checkpoint(ledger, engine, 5)  # re-signed with the key on the host
    assert verify(ledger, engine, signing_key(create=False).public_key()).ok  # alone: blind
    taken = latest_checkpoint(engine)
    assert taken is not None
    refused = request_cosignatures(engine, taken, [witness.url])
    assert not refused[0].cosigned and "409" in refused[0].detail  # same size, other root
    found = _audit(ledger, engine, witness)
    assert {"checkpoint_witness", "checkpoint_withheld", "checkpoint_root"} <= _kinds(found)
    withheld = next(f for f in found.findings if f.kind == "checkpoint_withheld")
    assert "differs from the stored one" in withheld.detail and withheld.checkpoint == 1
    root = next(f for f in found.findings if f.kind == "checkpoint_root")
    assert f"up to notification {tamper.rows()[-1][0]}" in root.detail


def test_a_forgery_between_two_checkpoints_is_caught_by_the_witness(
    ledger: LedgerApp, engine: Engine, database: Database, witness: Running
) -> None:
    _ingest(ledger, _story(Envelopes()))
    _checkpoint(ledger, engine)
    _witnessed(engine, witness)
    first = latest_checkpoint(engine)
    _more(ledger, 5_000, 150 * M)  # T-1 v6 (reopened), v7 (resolved)
    _checkpoint(ledger, engine, 5)
    _witnessed(engine, witness)
    tamper = Tamper(database)
    _rechain(ledger, tamper, "T-1", 6, "reason", "never")  # after checkpoint 1, inside checkpoint 2
    tamper.drop_checkpoints()
    _checkpoint(ledger, engine, 6)
    taken = latest_checkpoint(engine)
    assert taken is not None and first is not None
    assert not request_cosignatures(engine, taken, [witness.url])[0].cosigned
    found = _audit(ledger, engine, witness)
    assert {"checkpoint_witness", "checkpoint_withheld", "checkpoint_root"} <= _kinds(found)
    root = next(f for f in found.findings if f.kind == "checkpoint_root")
    assert root.checkpoint == 2 and f"{taken.tree_size} events" in root.detail


def test_a_replaced_signing_key_is_caught_by_the_witness_and_by_a_pinned_key(
    ledger: LedgerApp, engine: Engine, database: Database, witness: Running
) -> None:
    _ingest(ledger, _story(Envelopes()))
    _checkpoint(ledger, engine)
    _witnessed(engine, witness)
    original = signing_key(create=False).public_key()
    forger = Ed25519PrivateKey.generate()
    install(forger)  # the insider's own key becomes the configured one
    taken = latest_checkpoint(engine)
    assert taken is not None and taken.note is not None and taken.origin is not None
    note = parse_note(taken.note)
    resigned = Note(note.text, (sign(note.text, taken.origin, forger), *note.signatures[1:]))
    statement = json.dumps({**taken.statement, "key_id": key_id(forger.public_key())})
    Tamper(database)._sql(
        "UPDATE ledger_checkpoints SET note = ?, public_key = ?, statement = ? WHERE seq = 1",
        (resigned.render(), public_pem(forger.public_key()), statement),
    )
    assert verify(ledger, engine, forger.public_key()).ok  # trusting the host: blind
    found = _audit(ledger, engine, witness)
    assert "checkpoint_signature" in _kinds(found)  # the witness's copy: not the key in force
    pinned = verify(ledger, engine, original, pinned=True)
    named = next(f for f in pinned.findings if f.kind == "checkpoint_key")
    assert key_id(forger.public_key()) in named.detail
    # and the witness cosigns nothing the replaced key signs
    _more(ledger, 99, 150 * M)
    _checkpoint(ledger, engine, 6)
    newest = latest_checkpoint(engine)
    assert newest is not None
    outcome = request_cosignatures(engine, newest, [witness.url])[0]
    assert not outcome.cosigned and outcome.detail.startswith("403")


def test_a_rolled_back_checkpoint_is_refused_and_named_by_the_witness(
    ledger: LedgerApp, engine: Engine, database: Database, witness: Running
) -> None:
    _ingest(ledger, _story(Envelopes()))
    _checkpoint(ledger, engine)
    _witnessed(engine, witness)
    covered = latest_checkpoint(engine)
    assert covered is not None
    _more(ledger, 99, 150 * M)
    _checkpoint(ledger, engine, 5)
    _witnessed(engine, witness)
    tamper = Tamper(database)
    # Roll back: the newest checkpoint, its leaves and the events only it covered.
    tamper._sql("DELETE FROM ledger_checkpoints WHERE seq = 2")
    tamper._sql(
        "DELETE FROM ledger_checkpoint_leaves WHERE notification_id > ?",
        (covered.last_notification_id,),
    )
    tamper.truncate_after(covered.last_notification_id)
    tamper.drop_orphan_keys()
    tamper._sql("DELETE FROM ledger_audit_meta WHERE name LIKE ?", ("witness %",))
    assert verify(ledger, engine, signing_key(create=False).public_key()).ok  # alone: blind
    found = _audit(ledger, engine, witness)
    withheld = next(f for f in found.findings if f.kind == "checkpoint_withheld")
    assert withheld.checkpoint == 2 and "rolled back" in withheld.detail
    # Events arrive again; the witness will not cosign a tree that forks from what it saw.
    env = Envelopes(seed=7_000)
    _ingest(
        ledger,
        [
            env.make("ticket.reopened", "T-2", {"reason": "again"}, at=T0 + 170 * M),
            env.make("ticket.update_posted", "T-2", {"message": "x"}, at=T0 + 171 * M),
            env.make("ticket.resolved", "T-2", {"resolution": "y"}, at=T0 + 172 * M),
        ],
    )
    _checkpoint(ledger, engine, 6)
    newest = latest_checkpoint(engine)
    assert newest is not None
    outcome = request_cosignatures(engine, newest, [witness.url])[0]
    assert not outcome.cosigned and outcome.detail.startswith("422"), outcome
    assert "checkpoint_witness" in _kinds(_audit(ledger, engine, witness))


def test_the_witness_refuses_malformed_and_unknown_requests(witness: Running) -> None:
    import urllib.error
    import urllib.request

    def post(body: bytes) -> int:
        request = urllib.request.Request(witness.url + "/add-checkpoint", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    assert post(b"garbage") == 400
    assert post(b"old 0\n\nnot a note\n") == 400
    other = Ed25519PrivateKey.generate()
    text = "other.example/log\n1\n" + "A" * 43 + "=\n"
    assert (
        post(b"old 0\n\n" + Note(text, (sign(text, "other.example/log", other),)).render().encode())
        == 404
    )
    assert witness.process.poll() is None
    assert witness.vkey.kind == COSIGNATURE_V1
