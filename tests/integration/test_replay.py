"""Replay from the log as of T, known at T, answers what the live projections answered at T."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, read_models
from ledger.projections.sla import evaluate_record, sla_board
from ledger.services.intake import Ingestor, Input
from replay.history import replay_board, replay_ticket
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)


def _stages(env: Envelopes) -> list[tuple[datetime, list[dict[str, Any]]]]:
    """What arrives when: (recording instant, envelopes), some of them late."""
    e = env.make
    s1, s2, s3, s4 = T0 + 20 * M, T0 + 70 * M, T0 + 150 * M, T0 + 400 * M
    return [
        (
            s1,
            [
                env.customer("C-1", at=T0 - timedelta(days=2)),
                env.ticket("T-1", at=T0),
                env.ticket("T-2", at=T0 + 5 * M, severity=2, category="partial_outage"),
                e("ticket.assigned", "T-1", {"assignee": "se-ana"}, at=T0 + 10 * M),
            ],
        ),
        (
            s2,
            [
                e("ticket.responded", "T-1", {"public": True, "message": "on it"}, at=T0 + 30 * M),
                e(
                    "ticket.escalated",
                    "T-1",
                    {"to_tier": "platform_engineer", "reason": "needs a code fix"},
                    at=T0 + 45 * M,
                ),
                e(
                    "ticket.triaged",
                    "T-2",
                    {"severity": 1, "category": "platform_down", "reason": "all jobs now"},
                    at=T0 + 60 * M,
                ),
            ],
        ),
        (
            s3,
            [
                # Late: T-2's first answer happened before s2 but is only recorded now.
                e("ticket.responded", "T-2", {"public": True, "message": "seen"}, at=T0 + 65 * M),
                e(
                    "ticket.temporary_fix_applied",
                    "T-1",
                    {
                        "description": "failover",
                        "expires_at": (T0 + timedelta(days=2)).isoformat(),
                        "owner": "pe-li",
                    },
                    at=T0 + 120 * M,
                ),
                e("ticket.update_posted", "T-1", {"message": "failover done"}, at=T0 + 125 * M),
            ],
        ),
        (
            s4,
            [
                e("ticket.resolved", "T-1", {"resolution": "patched"}, at=T0 + 300 * M),
                e(
                    "rca.root_cause_identified",
                    "T-1",
                    {"root_cause": "bad deploy", "root_cause_code": "DEPLOY"},
                    at=T0 + 320 * M,
                ),
            ],
        ),
    ]


def _live(engine: Engine, at: datetime) -> dict[str, Any]:
    rows = read_models(engine)
    return {
        "tickets": {r["ticket_id"]: r for r in rows["tickets"]},
        "timers": {
            t: [evaluate_record(r, at) for r in rows["sla_timers"] if r["ticket_id"] == t]
            for t in ("T-1", "T-2")
        },
        "escalations": {
            t: [r for r in rows["escalations"] if r["ticket_id"] == t] for t in ("T-1", "T-2")
        },
        "board": sla_board(rows["sla_timers"], at),
    }


def test_replay_as_of_t_known_at_t_equals_the_live_projections_at_t(
    ledger: LedgerApp, engine: Engine
) -> None:
    clock = FixedClock()
    projector = Projector(ledger, engine)
    seen: list[tuple[datetime, dict[str, Any]]] = []
    for recorded_at, envelopes in _stages(Envelopes()):
        clock.now = recorded_at
        outcomes = Ingestor(ledger, clock=clock).ingest_batch([Input(e, "test") for e in envelopes])
        assert [o.rejection for o in outcomes if o.rejection] == []
        projector.catch_up()
        seen.append((recorded_at, _live(engine, recorded_at)))

    for at, live in seen:
        assert replay_board(ledger, at, at) == live["board"]
        for ticket in ("T-1", "T-2"):
            view = replay_ticket(ledger, ticket, at, at)
            assert view is not None
            assert view["state"] == live["tickets"][ticket]
            assert view["timers"] == live["timers"][ticket]
            assert view["escalation"]["steps"] == live["escalations"][ticket]


def test_known_at_separates_what_happened_from_what_the_ledger_knew(
    ledger: LedgerApp, engine: Engine
) -> None:
    clock = FixedClock()
    stages = _stages(Envelopes())
    for recorded_at, envelopes in stages:
        clock.now = recorded_at
        outcomes = Ingestor(ledger, clock=clock).ingest_batch([Input(e, "test") for e in envelopes])
        assert not [o.rejection for o in outcomes if o.rejection]
    s2 = stages[1][0]

    def t2_first_response(known_at: datetime | None) -> Any:
        view = replay_ticket(ledger, "T-2", s2, known_at)
        assert view is not None
        return view["state"]["first_response_at"]

    assert t2_first_response(known_at=s2) is None  # at s2 nobody knew of the answer
    assert t2_first_response(known_at=None) == T0 + 65 * M  # it had happened by s2
    assert replay_ticket(ledger, "T-2", T0 + 4 * M, None) is None  # not opened yet


def test_replay_carries_the_chain_head_it_stopped_at(ledger: LedgerApp) -> None:
    clock = FixedClock(T0 + timedelta(hours=8))
    for _, envelopes in _stages(Envelopes()):
        outcomes = Ingestor(ledger, clock=clock).ingest_batch([Input(e, "test") for e in envelopes])
        assert not [o.rejection for o in outcomes if o.rejection]
    view = replay_ticket(ledger, "T-1", T0 + 50 * M)
    assert view is not None
    third = ledger.history("T-1")[2]  # opened, assigned, responded; escalated at +45 is v4
    fourth = ledger.history("T-1")[3]
    assert view["chain_head"] == {"version": 4, "event_hash": fourth.event_hash}
    assert fourth.previous_hash == third.event_hash
    assert [e["type"] for e in view["trail"]][-1] == "ticket.escalated"
