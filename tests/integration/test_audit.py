"""Tamper evidence: the chain, checkpoints and `verify`, attacked with SQL on both backends."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.settings import Database
from ledger.aggregates.base import event_data
from ledger.aggregates.chain import body, commitments_of, digest, event_meta
from ledger.services.intake import Ingestor, Input
from replay.checkpoint import (
    CheckpointRefused,
    held_checkpoint,
    latest_checkpoint,
    take_checkpoint,
)
from replay.keys import key_id, public_pem, signing_key
from replay.note import Note, parse_note, sign
from replay.verify import Verification, verify
from tests.audit_support import Tamper
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)


def _story(env: Envelopes, tickets: tuple[str, ...] = ("T-1", "T-2")) -> list[dict[str, Any]]:
    e = env.make
    story = [env.customer("C-1", at=T0 - timedelta(days=3))]
    for n, ticket in enumerate(tickets):
        at = T0 + n * M
        story += [
            env.ticket(ticket, at=at),
            e("ticket.assigned", ticket, {"assignee": "se-ana"}, at=at + 2 * M),
            e("ticket.responded", ticket, {"public": True, "message": "on it"}, at=at + 5 * M),
            e("ticket.update_posted", ticket, {"message": "still on it"}, at=at + 40 * M),
            e("ticket.resolved", ticket, {"resolution": "restarted"}, at=at + 90 * M),
        ]
    return sorted(story, key=lambda envelope: envelope["occurred_at"])


def _ingest(ledger: LedgerApp, envelopes: list[dict[str, Any]]) -> None:
    clock = FixedClock(T0 + timedelta(hours=3))
    outcomes = Ingestor(ledger, clock=clock).ingest_batch([Input(e, "test") for e in envelopes])
    assert [o.rejection for o in outcomes if o.rejection] == []


def _checkpoint(ledger: LedgerApp, engine: Engine) -> None:
    take_checkpoint(ledger, engine, signing_key(create=True), T0 + timedelta(hours=4))


def _verify(ledger: LedgerApp, engine: Engine) -> Verification:
    return verify(ledger, engine, signing_key(create=False).public_key())


def _first(result: Verification) -> tuple[str | None, int | None, int | None]:
    first = result.first_bad()
    assert first is not None, "tampering went undetected"
    return first.subject, first.version, first.notification_id


@pytest.fixture
def logged(ledger: LedgerApp, engine: Engine, database: Database) -> Tamper:
    """Two tickets of C-1, checkpointed, then two more events after the checkpoint."""
    _ingest(ledger, _story(Envelopes()))
    _checkpoint(ledger, engine)
    env = Envelopes(seed=99)
    _ingest(
        ledger,
        [
            env.make("ticket.reopened", "T-1", {"reason": "back again"}, at=T0 + 150 * M),
            env.make("ticket.resolved", "T-1", {"resolution": "patched"}, at=T0 + 160 * M),
        ],
    )
    return Tamper(database)


def test_an_untouched_log_verifies_clean(ledger: LedgerApp, engine: Engine, logged: Tamper) -> None:
    result = _verify(ledger, engine)
    assert result.ok, result.findings
    assert (result.events, result.subjects, result.checkpoints) == (13, 3, 1)
    _checkpoint(ledger, engine)
    again = _verify(ledger, engine)
    assert again.ok and again.checkpoints == 2
    assert again.covered_up_to == logged.rows()[-1][0]


def test_each_event_names_the_hash_of_its_subjects_previous_event(ledger: LedgerApp) -> None:
    _ingest(ledger, _story(Envelopes()))
    for subject in ("C-1", "T-1", "T-2"):
        history = ledger.history(subject)
        assert history[0].previous_hash == "0" * 64
        for before, after in itertools.pairwise(history):
            assert after.previous_hash == before.event_hash
        assert all(e.event_hash == e.computed_hash() for e in history)
        # the one-pass hash of ingest is the layered one exports are checked with
        for e in history:
            data = event_data(e)
            fmt = e.chain_format
            commitments = commitments_of(e.salt, data, fmt=fmt)
            assert e.event_hash == digest(body(event_meta(e), data, commitments, fmt=fmt))
        assert len({e.event_hash for e in history}) == len(history)


def test_one_changed_byte_is_named(ledger: LedgerApp, engine: Engine, logged: Tamper) -> None:
    nid, subject, version = next(r for r in logged.rows() if r[1] == "T-2" and r[2] == 4)
    logged.flip_byte(nid, b'"message')  # "still on it" -> "rtill on it"
    result = _verify(ledger, engine)
    assert _first(result) == (subject, version, nid)
    assert result.first_bad().kind == "altered"  # type: ignore[union-attr]


def test_a_changed_byte_after_the_last_checkpoint_is_named_too(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    nid, subject, version = logged.rows()[-1]
    logged.flip_byte(nid, b'"resolution')
    assert _first(_verify(ledger, engine)) == (subject, version, nid)


def test_a_deleted_event_is_named(ledger: LedgerApp, engine: Engine, logged: Tamper) -> None:
    nid, subject, version = next(r for r in logged.rows() if r[1] == "T-1" and r[2] == 3)
    logged.delete(nid)
    result = _verify(ledger, engine)
    assert _first(result) == (subject, version, nid)
    assert {f.kind for f in result.findings} >= {"deleted", "missing", "checkpoint_root"}


def test_a_deleted_last_event_of_a_subject_is_named_by_the_checkpoint(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    nid, subject, version = next(r for r in logged.rows() if r[1] == "T-2" and r[2] == 5)
    logged.delete(nid)
    assert _first(_verify(ledger, engine)) == (subject, version, nid)


def test_two_swapped_events_are_named(ledger: LedgerApp, engine: Engine, logged: Tamper) -> None:
    rows = [r for r in logged.rows() if r[1] == "T-1"]
    (a, subject, version), (b, _, _) = rows[1], rows[2]
    logged.swap_states(a, b)
    result = _verify(ledger, engine)
    assert _first(result) == (subject, version, a)
    assert any(f.notification_id == b for f in result.findings)


def test_a_truncated_log_names_the_first_missing_event(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    rows = logged.rows()
    keep = rows[4][0]
    logged.truncate_after(keep)
    result = _verify(ledger, engine)
    assert _first(result) == (rows[5][1], rows[5][2], rows[5][0])
    deleted = [f.notification_id for f in result.findings if f.kind == "deleted"]
    assert deleted == [r[0] for r in rows[5:11]]  # every checkpointed event that went


def test_a_checkpoint_edited_in_place_fails_its_signature(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    note = logged.checkpoint_note(1)
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) - 1)  # the tree size the note signs
    logged.set_checkpoint(1, note="\n".join(lines))
    result = _verify(ledger, engine)
    assert [f.kind for f in result.findings] == ["checkpoint_signature"]
    assert result.first_bad().checkpoint == 1  # type: ignore[union-attr]
    logged.set_checkpoint(1, note=note)
    statement = json.loads(logged.checkpoint_statement(1))
    statement["last_notification_id"] -= 1  # the JSON copy others read (metrics, pages)
    logged.set_checkpoint(1, statement=json.dumps(statement))
    assert [f.kind for f in _verify(ledger, engine).findings] == ["checkpoint_statement"]


def test_a_checkpoint_forged_with_another_key_is_refused(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    # The attacker deletes an event and signs a matching checkpoint with their own key.
    nid = logged.rows()[3][0]
    logged.delete(nid)
    forger = Ed25519PrivateKey.generate()
    text = parse_note(logged.checkpoint_note(1)).text
    origin = text.split("\n")[0]
    logged.set_checkpoint(
        1,
        note=Note(text, (sign(text, origin, forger),)).render(),
        public_key=public_pem(forger.public_key()),
    )
    result = _verify(ledger, engine)
    named = [f for f in result.findings if f.kind == "checkpoint_key"]
    assert named and key_id(forger.public_key()) in named[0].detail
    assert not result.ok


def test_a_checkpoint_is_not_signed_over_a_log_that_does_not_verify(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    nid, subject, version = logged.rows()[-1]  # after checkpoint 1: not covered yet
    logged.flip_byte(nid, b'"resolution')
    with pytest.raises(CheckpointRefused) as refused:
        _checkpoint(ledger, engine)
    assert (refused.value.finding.subject, refused.value.finding.version) == (subject, version)
    assert _verify(ledger, engine).checkpoints == 1


def test_a_checkpoint_with_nothing_new_signs_nothing(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    key = signing_key(create=False)
    first, new = take_checkpoint(ledger, engine, key, T0 + timedelta(hours=5))
    again, new_again = take_checkpoint(ledger, engine, key, T0 + timedelta(hours=6))
    assert (new, new_again) == (True, False)
    assert again.statement == first.statement
    assert again.statement["previous_root"] is not None


def test_a_checkpoint_held_elsewhere_shows_what_was_wiped_from_the_database(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    latest = latest_checkpoint(engine)
    assert latest is not None
    held = held_checkpoint({"checkpoint": latest.as_dict()})
    nid = next(r[0] for r in logged.rows() if r[1] == "T-2" and r[2] == 5)
    logged.delete(nid)  # T-2's last event, then every trace of the checkpoint
    # and of the event's key row, which would name the event deleted (key_orphan)
    logged.execute("DELETE FROM ledger_event_keys WHERE subject = 'T-2' AND version = 5")
    logged.drop_checkpoints()
    public = signing_key(create=False).public_key()
    if logged.sqlite:
        assert [f.kind for f in verify(ledger, engine, public).findings] == ["gap"]
    else:
        assert verify(ledger, engine, public).ok  # nothing in the database can tell
    found = verify(ledger, engine, public, held)
    assert {"checkpoint_withheld", "checkpoint_root"} <= {f.kind for f in found.findings}


def test_checkpoints_are_not_signed_with_a_key_other_than_the_ledgers(
    ledger: LedgerApp, engine: Engine, logged: Tamper
) -> None:
    with pytest.raises(CheckpointRefused, match="was signed by key"):
        take_checkpoint(ledger, engine, Ed25519PrivateKey.generate(), T0 + timedelta(hours=9))
