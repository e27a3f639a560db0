"""Everything the ledger keeps is covered (issue 21): the rejected and deferred inputs'
chain, the event keys and the read models, attacked with SQL as an insider would, on
both backends. Each tamper must be found, by a finding that names what changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from ledger.adapters import intake_chain as ic
from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.projector import Projector
from ledger.adapters.settings import Database
from ledger.services.intake import Ingestor, Input
from replay.audit import Finding
from replay.checkpoint import take_checkpoint
from replay.intake_chain import intake_head, verify_intake
from replay.keys import signing_key
from replay.read_models import check_read_models
from replay.verify import Verification, verify
from tests.audit_support import Tamper
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
CHAIN_KINDS = "SELECT kind FROM ledger_intake_chain ORDER BY seq"


def _verify(ledger: LedgerApp, engine: Engine) -> Verification:
    return verify(ledger, engine, signing_key(create=True).public_key())


def _checkpoint(ledger: LedgerApp, engine: Engine) -> None:
    take_checkpoint(ledger, engine, signing_key(create=True), T0 + timedelta(hours=5))


def _kinds(findings: list[Finding]) -> set[str]:
    return {f.kind for f in findings}


class Story:
    """A ledger with events, rejections, inputs waiting and one released."""

    def __init__(self, ledger: LedgerApp, database: Database) -> None:
        self.ledger, self.tamper = ledger, Tamper(database)
        self.env = env = Envelopes()
        self.ingestor = Ingestor(ledger, clock=FixedClock(T0 + timedelta(hours=3)))
        self.update = env.make(
            "ticket.update_posted", "T-3", {"message": "still on it"}, at=T0 + 8 * M
        )
        self.ingest(
            env.customer("C-1", at=T0 - timedelta(days=2)),
            env.ticket("T-1", at=T0),
            env.make("ticket.assigned", "T-1", {"assignee": "se-ana"}, at=T0 + M),
            env.ticket("T-3", at=T0 + 2 * M),
            env.make("ticket.assigned", "T-3", {"assignee": "se-ana"}, at=T0 + 3 * M),
        )
        self.ingest(
            env.make("ticket.assigned", "T-1", {}, at=T0 + 4 * M),  # no assignee: rejected
            b"this is not JSON",  # rejected
            env.ticket("T-5", customer_id="C-404", at=T0 + 5 * M),  # waits for C-404
            env.make("ticket.assigned", "T-9", {"assignee": "se-bo"}, at=T0 + 7 * M),  # for T-9
        )
        self.ingest(env.ticket("T-9", at=T0 + 6 * M), self.update)  # releases T-9's input

    def ingest(self, *payloads: Any) -> None:
        self.ingestor.ingest_batch([Input(p, f"test:{n}") for n, p in enumerate(payloads)])

    def rejection_ids(self) -> list[int]:
        return [
            int(r[0]) for r in self.tamper.execute("SELECT id FROM ledger_rejections ORDER BY id")
        ]

    def deferred_ids(self) -> list[int]:
        return [
            int(r[0]) for r in self.tamper.execute("SELECT id FROM ledger_deferred ORDER BY id")
        ]


@pytest.fixture
def story(ledger: LedgerApp, database: Database) -> Story:
    return Story(ledger, database)


def _only(result: Verification, kind: str) -> Finding:
    found = [f for f in result.findings if f.kind == kind]
    assert found, f"no {kind} finding in {result.findings}"
    return found[0]


def test_an_untouched_ledger_verifies_clean_before_and_after_a_checkpoint(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    kinds = [
        r[0] for r in story.tamper.execute("SELECT kind FROM ledger_intake_chain ORDER BY seq")
    ]
    assert kinds == ["start", "rejected", "rejected", "deferred", "deferred", "released"]
    before = _verify(ledger, engine)
    assert before.ok, before.findings
    events = ledger.store.event_count()
    assert (before.uncovered_events, before.key_rows) == (events, events)
    assert before.intake is not None
    assert (before.intake["entries"], before.intake["rejections"], before.intake["deferred"]) == (
        6,
        2,
        1,
    )
    assert before.intake["uncovered"] == 6  # no checkpoint carries the intake head yet
    _checkpoint(ledger, engine)
    after = _verify(ledger, engine)
    assert after.ok, after.findings
    assert after.uncovered_events == 0
    assert after.intake is not None and after.intake["uncovered"] == 0  # the note carries it
    responded = {"public": True, "message": "hi"}
    story.ingest(story.env.make("ticket.responded", "T-3", responded, at=T0 + 9 * M))
    assert _verify(ledger, engine).uncovered_events == 1


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("rule", "R-IN-1", "rule"),
        ("reason", "nothing to see here", "reason"),
        ("payload", b'{"type": "ticket.assigned"}', "payload"),
    ],
)
def test_an_edited_rejection_is_named_with_its_column(
    ledger: LedgerApp, engine: Engine, story: Story, column: str, value: Any, named: str
) -> None:
    target = story.rejection_ids()[0]
    story.tamper.execute(f"UPDATE ledger_rejections SET {column} = ? WHERE id = ?", (value, target))
    result = _verify(ledger, engine)
    assert [f.kind for f in result.findings] == ["intake_altered"]
    finding = result.findings[0]
    assert finding.about == f"ledger_rejections id {target}"
    assert finding.detail.startswith(f"{named} changed since intake chain entry 2 recorded it")


def test_a_deleted_rejection_is_named(ledger: LedgerApp, engine: Engine, story: Story) -> None:
    target = story.rejection_ids()[1]
    story.tamper.execute("DELETE FROM ledger_rejections WHERE id = ?", (target,))
    result = _verify(ledger, engine)
    assert [(f.kind, f.about) for f in result.findings] == [
        ("intake_deleted", f"ledger_rejections id {target}")
    ]


def test_an_edited_and_a_deleted_deferred_input_are_named(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    (waiting,) = story.deferred_ids()
    story.tamper.execute("UPDATE ledger_deferred SET waits_for = 'C-1' WHERE id = ?", (waiting,))
    finding = _only(_verify(ledger, engine), "intake_altered")
    assert finding.about == f"ledger_deferred id {waiting}"
    assert finding.detail.startswith("waits_for changed")
    story.tamper.execute("DELETE FROM ledger_deferred WHERE id = ?", (waiting,))
    result = _verify(ledger, engine)
    assert [(f.kind, f.about) for f in result.findings] == [
        ("intake_deleted", f"ledger_deferred id {waiting}")
    ]


def test_a_released_input_put_back_is_named(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    (released,) = [
        int(r[0])
        for r in story.tamper.execute(
            "SELECT row_id FROM ledger_intake_chain WHERE kind = ?", ("released",)
        )
    ]
    (waiting,) = story.deferred_ids()
    columns = "received_at, rule, code, field, reason, event_id, event_type, subject, origin, "
    columns += "payload, payload_is_json, fingerprint, waits_for"
    story.tamper.execute(
        f"INSERT INTO ledger_deferred (id, {columns}) SELECT ?, {columns} FROM ledger_deferred "
        "WHERE id = ?",
        (released, waiting),
    )
    finding = _only(_verify(ledger, engine), "intake_inserted")
    assert finding.about == f"ledger_deferred id {released}"
    assert "released by intake chain entry 6" in finding.detail


def _rechain(tamper: Tamper, seq: int, **changes: str) -> None:
    """Rewrite entry ``seq`` and re-hash it and every entry after it, as an insider who
    read docs/architecture.md would."""
    rows = tamper.execute(
        f"SELECT {', '.join(ic.COLUMNS)} FROM ledger_intake_chain WHERE seq >= ? ORDER BY seq",
        (seq - 1,),
    )
    previous = str(rows[0][-1])
    for row in rows[1:]:
        entry = dict(zip(ic.COLUMNS, row, strict=True))
        if entry["seq"] == seq:
            entry.update(changes)
        entry["previous_hash"] = previous
        entry["entry_hash"] = ic.entry_hash(*[entry[c] for c in ic.COLUMNS[:-1]])
        tamper.execute(
            "UPDATE ledger_intake_chain SET fields = ?, digest = ?, payload_sha256 = ?, "
            "previous_hash = ?, entry_hash = ? WHERE seq = ?",
            (
                entry["fields"],
                entry["digest"],
                entry["payload_sha256"],
                entry["previous_hash"],
                entry["entry_hash"],
                entry["seq"],
            ),
        )
        previous = entry["entry_hash"]


def test_a_rewritten_chain_entry_is_named(ledger: LedgerApp, engine: Engine, story: Story) -> None:
    # Edited in place: its hash no longer matches.
    story.tamper.execute("UPDATE ledger_intake_chain SET digest = ? WHERE seq = 3", ("0" * 64,))
    result = _verify(ledger, engine)
    assert ("intake_chain", "intake chain entry 3") in {(f.kind, f.about) for f in result.findings}
    # Re-chained: the chain holds again, but the row it covers no longer matches it.
    _rechain(story.tamper, 3, digest="0" * 64)
    result = _verify(ledger, engine)
    second = story.rejection_ids()[1]
    assert [(f.kind, f.about) for f in result.findings] == [
        ("intake_altered", f"ledger_rejections id {second}")
    ]


def test_a_row_and_its_entry_rewritten_together_are_caught_by_the_checkpointed_head(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    """The attack a chain alone cannot show: the row edited, its entry rewritten to match
    and every later entry re-hashed. The checkpoint's note carries the intake head (size
    and hash), and verify holds the stored chain to it."""
    with engine.connect() as conn:
        held = intake_head(conn)
    assert held[0] == 6
    _checkpoint(ledger, engine)
    target = story.rejection_ids()[0]
    story.tamper.execute("UPDATE ledger_rejections SET reason = 'benign' WHERE id = ?", (target,))
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM ledger_rejections WHERE id = :id"), {"id": target}
        ).mappings()
        forged = ic.content(ic.REJECTIONS, row.one())
    _rechain(
        story.tamper,
        2,
        digest=forged.digest,
        fields=forged.fields,
        payload_sha256=forged.payload_sha256,
    )
    with engine.connect() as conn:
        assert not verify_intake(conn).findings  # the chain alone holds
        check = verify_intake(conn, covered=held)
    assert [(f.kind, f.about) for f in check.findings] == [("intake_head", "intake chain entry 6")]
    result = _verify(ledger, engine)
    assert [(f.kind, f.about) for f in result.findings] == [("intake_head", "intake chain entry 6")]


def test_an_erased_payload_verifies_but_another_change_to_the_row_does_not(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    target = story.rejection_ids()[0]
    story.tamper.execute(
        "UPDATE ledger_rejections SET payload = ?, erased_at = ? WHERE id = ?",
        (b"", T0.isoformat(), target),
    )
    result = _verify(ledger, engine)
    assert result.ok, result.findings
    assert result.intake is not None and result.intake["erased"] == 1
    story.tamper.execute("UPDATE ledger_rejections SET field = 'data' WHERE id = ?", (target,))
    finding = _only(_verify(ledger, engine), "intake_altered")
    assert finding.detail.startswith("field changed")


def test_a_deleted_key_row_that_let_an_event_be_stored_twice_names_both(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    event_id = story.update["event_id"]
    (first,) = story.tamper.execute(
        "SELECT subject, version FROM ledger_event_keys WHERE event_id = ?", (event_id,)
    )
    story.tamper.execute("DELETE FROM ledger_event_keys WHERE event_id = ?", (event_id,))
    story.ingest(story.update)  # R-IN-4 no longer sees it: stored again
    stored = [e for e in ledger.history("T-3") if e.event_id == event_id]
    assert len(stored) == 2
    result = _verify(ledger, engine)
    missing = _only(result, "key_missing")
    assert (missing.subject, missing.version) == (first[0], first[1])
    duplicate = _only(result, "duplicate_event_id")
    assert f"event_id {event_id} is stored 2 times" in duplicate.detail
    for event in stored:
        assert f"T-3 v{event.originator_version}" in duplicate.detail


def test_a_key_row_pointing_at_another_event_is_named(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    opened = ledger.history("T-1")
    story.tamper.execute(
        "UPDATE ledger_event_keys SET version = 2 WHERE subject = 'T-1' AND version = 1"
    )
    result = _verify(ledger, engine)
    by_kind = {(f.kind, f.subject, f.version) for f in result.findings}
    assert ("key_missing", "T-1", 1) in by_kind  # T-1 v1 lost its key row
    mismatch = _only(result, "key_mismatch")  # T-1 v2 is named by T-1 v1's key row
    assert (mismatch.subject, mismatch.version) == ("T-1", 2)
    assert opened[0].event_id in mismatch.detail


def test_a_key_row_of_no_stored_event_is_named(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    story.tamper.execute(
        "INSERT INTO ledger_event_keys (event_id, subject, version) VALUES ('x-1', 'T-1', 99)"
    )
    finding = _only(_verify(ledger, engine), "key_orphan")
    assert (finding.subject, finding.version) == ("T-1", 99)


def test_the_last_event_of_a_subject_deleted_before_any_checkpoint_is_named_by_its_key(
    ledger: LedgerApp, engine: Engine, story: Story
) -> None:
    """What the event chains alone cannot show (nothing follows it, nothing covers it)."""
    (nid,) = [r[0] for r in story.tamper.rows() if r[1] == "T-3" and r[2] == 3]
    story.tamper.delete(nid)
    result = _verify(ledger, engine)
    assert [(f.kind, f.subject, f.version) for f in result.findings if f.kind != "gap"] == [
        ("key_orphan", "T-3", 3)
    ]


def test_the_read_models_equal_a_fresh_fold_until_a_row_is_edited(
    ledger: LedgerApp, engine: Engine, story: Story, database: Database
) -> None:
    Projector(ledger, engine).catch_up()
    clean = check_read_models(ledger, engine, database)
    assert clean.findings == [] and clean.tables > 20 and clean.rows > 10
    story.tamper.execute("UPDATE tickets SET title = 'nothing happened' WHERE ticket_id = 'T-1'")
    story.tamper.execute(
        "UPDATE tickets_versions SET assignee = 'se-zed' WHERE ticket_id = 'T-3' "
        "AND assignee = 'se-ana'"
    )
    found = {f.about: f.detail for f in check_read_models(ledger, engine, database).findings}
    assert set(found) >= {"tickets ticket_id=T-1"}
    assert (
        "title: 'nothing happened', the log gives 'Dubbing jobs fail'"
        in found["tickets ticket_id=T-1"]
    )
    versions = [about for about in found if about.startswith("tickets_versions ticket_id=T-3")]
    assert versions and all("assignee: 'se-zed'" in found[v] for v in versions)


def test_a_ledger_made_before_the_intake_chain_adopts_its_rows_and_verifies(
    ledger: LedgerApp, engine: Engine, story: Story, database: Database
) -> None:
    tamper = story.tamper
    tamper.execute("DROP TABLE ledger_intake_chain")
    for table in ("ledger_rejections", "ledger_deferred"):
        tamper.execute(f"ALTER TABLE {table} DROP COLUMN erased_at")
    ledger.close()
    reopened = open_app(database)  # what opening an older ledger does
    try:
        result = _verify(reopened, engine)
        assert result.ok, result.findings
        assert result.intake is not None
        assert result.intake["adopted_when_started"] == 3
        assert result.intake["covered_from"] is not None
        kinds = [r[0] for r in tamper.execute(CHAIN_KINDS)]
        assert kinds == ["start", "adopted", "adopted", "adopted"]
        # and from then on, every change is recorded
        story.ingestor = Ingestor(reopened, clock=FixedClock(T0 + timedelta(hours=3)))
        story.ingest(story.env.make("ticket.assigned", "T-1", {}))
        assert _verify(reopened, engine).ok
        assert (
            tamper.execute("SELECT kind FROM ledger_intake_chain ORDER BY seq DESC LIMIT 1")[0][0]
            == "rejected"
        )
    finally:
        reopened.close()
