"""Producers and readers are principals (issue 18): tokens, scopes, and who sent each event.

On both backends: tokens authenticate until revoked and only their hash is stored; an
envelope outside its producer's scope is rejected and kept (R-AUTH-1..3); leadership
approvals come only from producers granted leadership; every stored event records its
producer (``local`` for the local operator), and older events without one still read,
verify and export.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.principals import principals_table
from ledger.adapters.settings import Database
from ledger.services import intake
from ledger.services.intake import Ingestor, Input, Outcome
from ledger.services.principals import (
    LOCAL_OPERATOR,
    Principal,
    PrincipalError,
    add_producer,
    add_reader,
    authenticate,
    listing,
    revoke,
    token_hash,
)
from ledger.services.queries import log_events, trail
from replay.checkpoint import take_checkpoint
from replay.export import Selection, export, read_records
from replay.export_verify import verify_export
from replay.keys import signing_key
from replay.verify import verify
from tests.audit_support import Tamper
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
NOW = T0 + timedelta(days=5)


def _producer(engine: Engine, name: str, **scope: list[str]) -> Principal:
    token = add_producer(
        engine,
        name,
        sources=scope.get("sources", ["portal"]),
        roles=scope.get("roles", ["customer", "support_engineer"]),
        types=scope.get("types", ["ticket.opened", "ticket.assigned"]),
    )
    principal = authenticate(engine, token)
    assert principal is not None
    return principal


def _ingest(ledger: LedgerApp, *items: tuple[dict[str, Any], Principal | None]) -> list[Outcome]:
    return Ingestor(ledger, clock=FixedClock(NOW)).ingest_batch(
        [Input(envelope, f"test:{n}", producer=who) for n, (envelope, who) in enumerate(items)]
    )


def _onboarded(ledger: LedgerApp, env: Envelopes) -> None:
    (outcome,) = _ingest(ledger, (env.customer("C-1"), None))
    assert outcome.status == "accepted"


def test_a_token_authenticates_its_principal_until_revoked(
    ledger: LedgerApp, engine: Engine
) -> None:  # (``ledger``: the database holds a ledger, the principals' table joins it)
    token = add_producer(
        engine, "portal", sources=["portal"], roles=["customer"], types=["ticket.opened"]
    )
    reader_token = add_reader(engine, "acme-bi", customers=["C-1"])
    assert authenticate(engine, token) == Principal(
        "portal",
        "producer",
        sources=frozenset({"portal"}),
        roles=frozenset({"customer"}),
        types=frozenset({"ticket.opened"}),
    )
    reader = authenticate(engine, reader_token)
    assert reader is not None and reader.kind == "reader"
    assert reader.may_read("C-1") and not reader.may_read("C-2")
    assert authenticate(engine, token + "x") is None
    assert authenticate(engine, "") is None

    assert revoke(engine, "producer", "portal") is True
    assert authenticate(engine, token) is None
    assert revoke(engine, "producer", "portal") is False  # already
    assert authenticate(engine, reader_token) is not None  # only the one revoked
    with pytest.raises(PrincipalError, match="no reader named 'portal'"):
        revoke(engine, "reader", "portal")
    with pytest.raises(PrincipalError, match="revoked; names are not reused"):
        add_producer(engine, "portal", sources=["*"], roles=["*"], types=["*"])
    (listed,) = listing(engine, "producer")
    assert listed["revoked_at"] is not None and "token" not in json.dumps(listed)

    with engine.connect() as conn:
        stored = [" ".join(str(v) for v in row) for row in conn.execute(principals_table.select())]
    assert not any(token in row or reader_token in row for row in stored)
    assert any(token_hash(token) in row for row in stored)


@pytest.mark.parametrize(
    ("change", "rule", "field"),
    [
        ({"source": "billing"}, "R-AUTH-1", "source"),
        ({"actor": {"id": "se-ana", "role": "leadership"}}, "R-AUTH-2", "actor.role"),
        ({"type": "ticket.triaged"}, "R-AUTH-3", "type"),
    ],
)
def test_an_envelope_outside_its_producers_scope_is_rejected_and_kept(
    ledger: LedgerApp, engine: Engine, change: dict[str, Any], rule: str, field: str
) -> None:
    env = Envelopes()
    _onboarded(ledger, env)
    portal = _producer(engine, "portal")
    anyone = _producer(engine, "anyone", sources=["*"], roles=["*"], types=["*"])
    envelope = {**env.ticket("T-1"), "source": "portal", **change}
    if change.get("type") == "ticket.triaged":
        envelope["data"] = {"severity": 1, "category": "platform_down", "reason": "x"}

    (outcome,) = _ingest(ledger, (envelope, portal))
    assert outcome.status == "rejected" and outcome.rejection is not None
    assert (outcome.rejection.rule, outcome.rejection.field) == (rule, field)
    assert f"{field}: producer 'portal' may not" in outcome.rejection.reason
    assert rule in outcome.rejection.reason
    (kept,) = ledger.store.rejections(rule=rule)
    assert kept.rejection.origin == "test:0 [producer portal]"
    assert ledger.find("T-1") is None

    (again,) = _ingest(ledger, (envelope, portal))  # the same sender again: rejected before
    assert again.repeat and again.status == "rejected"
    (allowed,) = _ingest(ledger, (envelope, anyone))  # a sender allowed to: decided anew
    assert not allowed.repeat and allowed.status in ("accepted", "deferred")
    assert len(ledger.store.rejections(rule=rule)) == 1


def _proposal(env: Envelopes) -> dict[str, Any]:
    targets = {
        "2": {
            "first_response": {"duration": "PT2H", "clock": "24x7"},
            "update_every": {"duration": "P1D", "clock": "business"},
        }
    }
    return env.make(
        "sla_policy.change_proposed",
        "SLA",
        {"proposal_id": "P-1", "targets": targets, "effective_at": env.now.isoformat()},
        role="customer",
        actor_id="u-1",
    )


def test_only_a_producer_granted_leadership_carries_a_leadership_approval(
    ledger: LedgerApp, engine: Engine
) -> None:
    env = Envelopes()
    portal = _producer(
        engine,
        "portal",
        roles=["customer"],
        types=["sla_policy.change_proposed", "sla_policy.change_approved"],
    )
    board = _producer(
        engine,
        "board",
        sources=["exec-console"],
        roles=["leadership"],
        types=["sla_policy.change_approved"],
    )
    proposal = _proposal(env)
    approval = env.make(
        "sla_policy.change_approved",
        "SLA",
        {"proposal_id": "P-1"},
        role="leadership",
        actor_id="lead-maria",
    )
    outcomes = _ingest(
        ledger,
        ({**proposal, "source": "portal"}, portal),
        ({**approval, "source": "portal"}, portal),  # a self-declared leader, by the portal
    )
    assert [o.status for o in outcomes] == ["accepted", "rejected"]
    refused = outcomes[1].rejection
    assert refused is not None and refused.rule == "R-AUTH-2"
    assert "only producers granted the leadership role" in refused.reason
    policy: Any = ledger.repository.get("SLA")
    assert [v.version for v in policy.versions] == [1]

    (approved,) = _ingest(ledger, ({**approval, "source": "exec-console"}, board))
    assert approved.status == "accepted", approved.rejection
    policy = ledger.repository.get("SLA")
    assert [v.version for v in policy.versions] == [1, 2]
    assert [e["producer"] for e in trail(log_events(ledger))] == ["portal", "board"]


def test_a_deferred_input_keeps_its_producer_until_it_is_decided(
    ledger: LedgerApp, engine: Engine
) -> None:
    env = Envelopes()
    portal = _producer(engine, "portal")
    opened = {**env.ticket("T-1", at=T0 + M), "source": "portal"}
    (waiting,) = _ingest(ledger, (opened, portal))
    assert waiting.status == "deferred"
    outcomes = _ingest(ledger, (env.customer("C-1", at=T0), None))  # a later batch
    assert [(o.status, o.released) for o in outcomes] == [("accepted", False), ("accepted", True)]
    ticket_trail = trail(e for e in log_events(ledger) if e.originator_id == "T-1")
    assert [(e["type"], e["producer"]) for e in ticket_trail] == [("ticket.opened", "portal")]


def _older_events(ledger: LedgerApp, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events stored as a ledger before issue 18 stored them: with no producer at all."""
    env = Envelopes()
    monkeypatch.setattr(intake, "_producer_name", lambda item: None)
    outcomes = _ingest(
        ledger,
        (env.customer("C-1", at=T0 - timedelta(days=1)), None),
        (env.ticket("T-1", at=T0), None),
        (env.make("ticket.assigned", "T-1", {"assignee": "se-bo"}, at=T0 + M), None),
    )
    assert [o.status for o in outcomes] == ["accepted"] * 3
    monkeypatch.undo()
    tamper = Tamper(database)
    for nid, _, _ in tamper.rows():
        state = tamper.state(nid)
        assert b'"producer":null' in state
        tamper.set_state(
            nid, state.replace(b',"producer":null', b"").replace(b'"producer":null,', b"")
        )
        assert b"producer" not in tamper.state(nid)


def test_the_trail_names_each_events_producer_and_old_events_still_verify_and_export(
    ledger: LedgerApp,
    engine: Engine,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _older_events(ledger, database, monkeypatch)
    env = Envelopes(start=T0 + 10 * M, seed=7)
    portal = _producer(engine, "portal", sources=["test-suite"])
    outcomes = _ingest(
        ledger,
        (env.make("ticket.assigned", "T-1", {"assignee": "se-li"}), portal),
        (env.make("ticket.assigned", "T-1", {"assignee": "se-mo"}), None),
    )
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    fresh = open_app(database)  # read back from the database, no cache
    try:
        ticket = [e for e in log_events(fresh) if e.originator_id == "T-1"]
        assert [e["producer"] for e in trail(ticket)] == [None, None, "portal", "local"]
        assert LOCAL_OPERATOR.name == "local"
        assert all(e.computed_hash() == e.event_hash for e in ticket)

        key = signing_key(create=True)
        take_checkpoint(fresh, engine, key, NOW)
        result = verify(fresh, engine, key.public_key())
        assert result.ok, result.findings
        for fmt in ("jsonl", "csv"):
            export(
                fresh, engine, key, tmp_path / fmt, Selection(), fmt=fmt, now=NOW, purpose="test"
            )
            checked = verify_export(tmp_path / fmt, key.public_key())
            assert checked.ok, checked.problems
            records = list(read_records(tmp_path / fmt / f"events.{fmt}"))
            assert [r["producer"] for r in records if r["subject"] == "T-1"] == [
                None,
                None,
                "portal",
                "local",
            ]
    finally:
        fresh.close()

    # The producer is covered by the hash: changing who sent an event is tampering.
    tamper = Tamper(database)
    last = tamper.rows()[-1][0]
    tamper.set_state(last, tamper.state(last).replace(b'"producer":"local"', b'"producer":"lokal"'))
    again = open_app(database)
    try:
        assert not verify(again, engine, signing_key(create=False).public_key()).ok
    finally:
        again.close()


def test_principals_live_in_the_ledgers_own_database(ledger: LedgerApp, engine: Engine) -> None:
    add_reader(engine, "everyone")
    with engine.connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM ledger_principals")).scalar_one()
    assert count == 1
    assert listing(engine, "reader")[0]["customers"] is None
