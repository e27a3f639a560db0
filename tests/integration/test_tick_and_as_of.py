"""The tick writes what came due exactly once; answers as of any instant ignore whether it ran."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp
from ledger.projections.metrics import metrics
from ledger.projections.sla import sla_board
from ledger.services.intake import Ingestor, Input
from ledger.services.queries import rows_as_of
from ledger.services.tick import tick
from ledger.services.timelines import escalation_timeline, rca_document, ticket_timers
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)


def _story(env: Envelopes) -> list[dict[str, Any]]:
    """Four Sev1 tickets of C-1 opened at T0 (a Monday, 10:00 Berlin)."""
    e = env.make
    return [
        env.customer("C-1", at=T0 - timedelta(days=10)),
        # T-1: nobody answers; resolved at +3h. First response breached at +60m.
        env.ticket("T-1", at=T0),
        e("ticket.resolved", "T-1", {"resolution": "restarted the workers"}, at=T0 + 180 * M),
        # T-2: answered at +50m, updated at +100m, resolved at +140m: nothing breached.
        env.ticket("T-2", at=T0),
        e("ticket.responded", "T-2", {"public": True, "message": "on it"}, at=T0 + 50 * M),
        e("ticket.update_posted", "T-2", {"message": "still on it"}, at=T0 + 100 * M),
        e("ticket.resolved", "T-2", {"resolution": "fixed"}, at=T0 + 140 * M),
        # T-3: answered at +10m, then silence until resolved at +5h: one update breach.
        env.ticket("T-3", at=T0),
        e("ticket.responded", "T-3", {"public": True, "message": "looking"}, at=T0 + 10 * M),
        e("ticket.resolved", "T-3", {"resolution": "config fix"}, at=T0 + 300 * M),
        # T-4: re-triaged to Sev3 at +30m, before its Sev1 target: that breach never happens.
        env.ticket("T-4", at=T0),
        e(
            "ticket.triaged",
            "T-4",
            {"severity": 3, "category": "feature_issue", "reason": "one report only"},
            at=T0 + 30 * M,
        ),
    ]


def _ingest(ledger: LedgerApp, envelopes: list[dict[str, Any]], clock: FixedClock) -> None:
    outcomes = Ingestor(ledger, clock=clock).ingest_batch([Input(e, "test") for e in envelopes])
    assert [o.rejection for o in outcomes if o.rejection] == []


def test_the_tick_writes_each_breach_once_and_only_real_ones(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    _ingest(ledger, _story(Envelopes()), clock)
    early = tick(ledger, engine, T0 + 30 * M)
    assert "sla.breached" not in early.written

    now = T0 + 10 * 60 * M
    before = sla_board(rows_as_of(ledger, engine, now)["sla_timers"], now)
    report = tick(ledger, engine, now)
    assert report.written["sla.breached"] == 2
    breaches = {
        (e.originator_id, getattr(e, "timer", ""), e.occurred_at)
        for t in ("T-1", "T-2", "T-3", "T-4")
        for e in ledger.history(t)
        if e.WIRE_TYPE == "sla.breached"
    }
    assert breaches == {("T-1", "first_response", T0 + 60 * M), ("T-3", "update", T0 + 70 * M)}
    assert tick(ledger, engine, now).written == {}  # twice: nothing new
    later = tick(ledger, engine, now + timedelta(days=3))
    # Resolved tickets run no timers, so their breaches stop; T-4 (Sev3, still open) is
    # breached one business day after its start (R-SLA-4: due = start + the new target):
    # opened Monday 10:00 Berlin, due Tuesday 10:00 Berlin.
    assert [(d.subject, d.occurred_at) for d in later.events if d.type == "sla.breached"] == [
        ("T-4", T0 + timedelta(days=1))
    ]
    after = sla_board(rows_as_of(ledger, engine, now)["sla_timers"], now)
    assert after == before  # R-SLA-5: the same answer whether or not the tick ran


def test_expired_temporary_fix_and_silent_customer_are_raised_once(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    env = Envelopes()
    expires = T0 + timedelta(days=1)
    _ingest(
        ledger,
        [
            env.customer("C-1", at=T0 - timedelta(days=40)),
            env.ticket("T-1", at=T0),
            env.make(
                "ticket.temporary_fix_applied",
                "T-1",
                {"description": "failover", "expires_at": expires.isoformat(), "owner": "pe-li"},
                at=T0 + 20 * M,
            ),
        ],
        clock,
    )
    now = T0 + timedelta(days=2)
    written = tick(ledger, engine, now).written
    assert written["fix.temporary_expired"] == 1
    assert written["customer.churn_risk_raised"] >= 1
    expired = [e for e in ledger.history("T-1") if type(e).__name__ == "TemporaryFixExpired"]
    assert [e.occurred_at for e in expired] == [expires]
    silent = [e for e in ledger.history("C-1") if "silent" in getattr(e, "reason", "")]
    assert [e.occurred_at for e in silent] == [T0 - timedelta(days=10)]  # onboarding + 30 days
    assert tick(ledger, engine, now).written == {}


def test_a_history_imported_today_answers_as_of_last_quarter(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    clock.now = datetime.fromisoformat("2026-11-23T08:00:00+00:00")  # long after T0
    _ingest(ledger, _story(Envelopes()), clock)
    at_55 = {r["ticket_id"]: r for r in _first_response(ledger, engine, T0 + 55 * M)}
    assert at_55["T-1"]["state"] == "running" and at_55["T-2"]["state"] == "met"
    at_61 = {r["ticket_id"]: r for r in _first_response(ledger, engine, T0 + 61 * M)}
    assert at_61["T-1"]["state"] == "breached"
    assert at_61["T-1"]["breached_at"] == T0 + 60 * M
    # T-4 runs on the Sev3 business clock from the re-triage: due the next business day.
    assert at_61["T-4"]["severity"] == 3 and at_61["T-4"]["state"] == "running"
    figures = metrics(rows_as_of(ledger, engine, T0 + 61 * M), T0 + 61 * M)
    assert figures["tickets_opened"] == 4
    sev1 = next(r for r in figures["sla_compliance"] if r["severity"] == 1)
    assert (sev1["met"], sev1["breached"]) == (2, 1)  # T-2 and T-3 answered; T-1 breached


def _first_response(ledger: LedgerApp, engine: Engine, at: datetime) -> list[dict[str, Any]]:
    board = sla_board(rows_as_of(ledger, engine, at)["sla_timers"], at)
    return [r for r in board if r["timer"] == "first_response"]


def test_known_at_shows_what_the_board_showed_then(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    env = Envelopes()
    clock.now = T0 + 5 * M
    _ingest(
        ledger, [env.customer("C-1", at=T0 - timedelta(days=1)), env.ticket("T-1", at=T0)], clock
    )
    clock.now = T0 + 120 * M  # the response, written at +30m, reaches the ledger late
    _ingest(
        ledger,
        [env.make("ticket.responded", "T-1", {"public": True, "message": "hi"}, at=T0 + 30 * M)],
        clock,
    )
    then = _first_response_at(ledger, engine, T0 + 90 * M, T0 + 90 * M)
    now_known = _first_response_at(ledger, engine, T0 + 90 * M, None)
    assert then["state"] == "breached" and then["breached_at"] == T0 + 60 * M
    assert now_known["state"] == "met" and now_known["stopped_at"] == T0 + 30 * M
    timers = ticket_timers(ledger, "T-1", T0 + 90 * M, T0 + 90 * M)
    assert timers is not None and timers[0]["state"] == "breached"


def _first_response_at(
    ledger: LedgerApp, engine: Engine, at: datetime, known: datetime | None
) -> dict[str, Any]:
    rows = rows_as_of(ledger, engine, at, known)["sla_timers"]
    return next(r for r in sla_board(rows, at) if r["timer"] == "first_response")


def test_escalation_timeline_and_rca_timeline(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    env = Envelopes(start=T0 + 100 * M)  # the RCA parts follow at a minute each
    e = env.make
    _ingest(
        ledger,
        [
            env.customer("C-1", at=T0 - timedelta(days=1)),
            env.ticket("T-1", at=T0),
            e(
                "ticket.escalated",
                "T-1",
                {"to_tier": "platform_engineer", "reason": "cluster down"},
                at=T0 + 20 * M,
            ),
            e(
                "ticket.escalated",
                "T-1",
                {"to_tier": "security_infra_lead", "reason": "keys involved"},
                role="platform_engineer",
                actor_id="pe-sam",
                at=T0 + 65 * M,
            ),
            e("ticket.responded", "T-1", {"public": True, "message": "mitigated"}, at=T0 + 70 * M),
            e("ticket.resolved", "T-1", {"resolution": "rotated keys"}, at=T0 + 90 * M),
            e(
                "rca.timeline_entry_added",
                "T-1",
                {"at": (T0 - 10 * M).isoformat(), "entry": "alert fired"},
                at=T0 + 100 * M,
            ),
            *env.rca("T-1"),
        ],
        clock,
    )
    timeline = escalation_timeline(ledger, "T-1", T0 + 200 * M)
    assert timeline is not None
    steps = [
        (s["from_tier"], s["to_tier"], s["actor_id"], s["seconds_at_previous_tier"])
        for s in timeline["steps"]
    ]
    assert steps == [
        ("support_engineer", "platform_engineer", "se-ana", 20 * 60),
        ("platform_engineer", "security_infra_lead", "pe-sam", 45 * 60),
    ]
    assert escalation_timeline(ledger, "T-1", T0 + 30 * M)["steps"][-1]["to_tier"] == (  # type: ignore[index]
        "platform_engineer"
    )
    document = rca_document(ledger, "T-1", T0 + 300 * M)
    assert document is not None and document["published"]
    kinds = [(entry["kind"], entry["at"]) for entry in document["timeline"]]
    assert kinds[0] == ("manual", T0 - 10 * M)  # manual entries merge in occurred_at order
    assert ("SLA breached", T0 + 60 * M) in kinds  # derived, whether or not the tick ran
    assert [k for k, _ in kinds].index("escalated") < [k for k, _ in kinds].index("resolved")
    assert [at for _, at in kinds] == sorted(at for _, at in kinds)


def test_a_pause_after_the_due_instant_leaves_one_breach_in_the_trail(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    """Sev1 answered at +10m (update due +70m), waiting on the customer +180m..+240m.

    T-1 stays silent; T-2 posts an update at +210m, inside the pause. The update target
    passed before the pause, so each has one breach at +70m: the pause neither moves it
    to its end (a second ``sla.breached``) nor lets the update meet it.
    """
    env = Envelopes()
    e = env.make
    history = [env.customer("C-1", at=T0 - timedelta(days=1))]
    for ticket in ("T-1", "T-2"):
        history += [
            env.ticket(ticket, at=T0),
            e("ticket.responded", ticket, {"public": True, "message": "on it"}, at=T0 + 10 * M),
            e("ticket.status_changed", ticket, {"status": "waiting_on_customer"}, at=T0 + 180 * M),
        ]
    history.append(e("ticket.update_posted", "T-2", {"message": "any logs?"}, at=T0 + 210 * M))
    for ticket in ("T-1", "T-2"):
        history.append(
            e("ticket.status_changed", ticket, {"status": "in_progress"}, at=T0 + 240 * M)
        )
    _ingest(ledger, history, clock)

    for now in (T0 + 200 * M, T0 + 230 * M, T0 + 270 * M):
        tick(ledger, engine, now)
        board = sla_board(rows_as_of(ledger, engine, now)["sla_timers"], now)
        first_updates = [r for r in board if r["timer"] == "update" and r["seq"] == 2]
        assert [(r["ticket_id"], r["state"], r["breached_at"]) for r in first_updates] == [
            ("T-1", "breached", T0 + 70 * M),
            ("T-2", "breached", T0 + 70 * M),
        ], now
    breaches = {
        t: [
            (getattr(ev, "timer", ""), ev.occurred_at)
            for ev in ledger.history(t)
            if ev.WIRE_TYPE == "sla.breached"
        ]
        for t in ("T-1", "T-2")
    }
    assert breaches == {"T-1": [("update", T0 + 70 * M)], "T-2": [("update", T0 + 70 * M)]}
    # T-2's next interval started paused at +210m and counts from +240m: due at +300m.
    later = tick(ledger, engine, T0 + 301 * M)
    assert [(d.subject, d.occurred_at) for d in later.events if d.type == "sla.breached"] == [
        ("T-2", T0 + 300 * M)
    ]
