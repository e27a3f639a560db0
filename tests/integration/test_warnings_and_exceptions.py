"""Pre-breach warnings (R-SLA-7) and reviewed exceptions (R-EXC) through the whole ledger,
on SQLite and PostgreSQL: intake, the read models, their versions, the tick and the
webhook outbox.

C-1 (Europe/Berlin) is onboarded ten days before T0 (a Monday, 09:00Z) on the default
policy: Sev1 answered within 60 minutes, updated every 60, warned at 30, all 24x7."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, text

from consumers.relay import Relay
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, engine_for
from ledger.adapters.settings import Database
from ledger.aggregates.customer import Customer
from ledger.aggregates.ticket import Ticket
from ledger.projections.registry import fold, visible
from ledger.projections.sla import sla_board
from ledger.services.intake import Ingestor, Input
from ledger.services.queries import log_events, rows_as_of
from ledger.services.tick import tick
from ledger.services.webhooks import ALERT_TYPES, Webhooks
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
H = timedelta(hours=1)
DAY = timedelta(days=1)
EXCEPTION_TARGETS = {
    "1": {
        "first_response": {"duration": "PT2H", "clock": "24x7"},
        "update_every": {"duration": "PT2H", "clock": "24x7", "warn_after": "PT90M"},
    }
}


def _ingest(ledger: LedgerApp, envelopes: list[dict[str, Any]], clock: FixedClock) -> None:
    outcomes = Ingestor(ledger, clock=clock).ingest_batch([Input(e, "test") for e in envelopes])
    assert [o.rejection for o in outcomes if o.rejection] == []


def _sorted(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {
        name: sorted(table, key=lambda r: tuple(str(v) for v in r.values()))
        for name, table in rows.items()
    }


def _timers(ledger: LedgerApp, engine: Engine, at: datetime) -> dict[tuple[str, str], Any]:
    board = sla_board(rows_as_of(ledger, engine, at)["sla_timers"], at)
    return {(r["ticket_id"], r["timer"]): r for r in board}


def _warnings(ledger: LedgerApp, ticket_id: str) -> list[Ticket.SlaWarning]:
    return [e for e in ledger.history(ticket_id) if isinstance(e, Ticket.SlaWarning)]


def test_the_tick_writes_each_warning_once_and_the_alert_reaches_the_outbox(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    env = Envelopes()
    e = env.make
    respond = {"public": True, "message": "on it"}
    _ingest(
        ledger,
        [
            env.customer("C-1", at=T0 - 10 * DAY),
            # T-1: answered T0+10m, then silence: warned T0+40m, due T0+70m.
            env.ticket("T-1", at=T0),
            e("ticket.responded", "T-1", respond, at=T0 + 10 * M),
            # T-2: answered T0+10m, updated T0+30m (in time), resolved T0+50m, before the
            # second interval's threshold (T0+60m): no warning at all.
            env.ticket("T-2", at=T0),
            e("ticket.responded", "T-2", respond, at=T0 + 10 * M),
            e("ticket.update_posted", "T-2", {"message": "still on it"}, at=T0 + 30 * M),
            e("ticket.resolved", "T-2", {"resolution": "fixed"}, at=T0 + 50 * M),
        ],
        clock,
    )
    assert "sla.warning" in ALERT_TYPES and "customer.exception_expired" in ALERT_TYPES
    hooks = Webhooks(ledger, engine, clock=FixedClock(T0 + DAY))
    subscription = hooks.add("http://127.0.0.1:9/never", ["sla.warning"])

    assert "sla.warning" not in tick(ledger, engine, T0 + 39 * M).written  # (churn risks: yes)
    assert _timers(ledger, engine, T0 + 39 * M)[("T-1", "update")]["warned"] is False
    first = tick(ledger, engine, T0 + 45 * M)
    assert first.written == {"sla.warning": 1}  # T-1's, at T0+40m
    assert tick(ledger, engine, T0 + 45 * M).written == {}  # twice: nothing new
    later = tick(ledger, engine, T0 + 3 * H)
    assert later.written == {"sla.breached": 1}  # T-1's update at T0+70m; no new warning
    (warning,) = _warnings(ledger, "T-1")
    assert (warning.occurred_at, warning.warn_at, warning.due_at) == (
        T0 + 40 * M,
        T0 + 40 * M,
        T0 + 70 * M,
    )
    assert (warning.timer, warning.policy_version, warning.actor_id) == ("update", 1, "ledger")
    assert _warnings(ledger, "T-2") == []

    assert hooks.fill() == 1
    (delivery,) = hooks.deliveries()
    assert (delivery["event_type"], delivery["subject"]) == ("sla.warning", "T-1")
    assert delivery["subscription_id"] == subscription.id
    (stored,) = hooks.outbox.deliveries()
    body = json.loads(stored.payload)
    assert body["type"] == "sla.warning"
    assert body["timestamp"] == (T0 + 40 * M).isoformat()
    assert body["data"]["data"]["due_at"] == (T0 + 70 * M).isoformat()

    # The relay sends it to ledger.alerts as well as ledger.events, as every alert.
    relay = Relay(ledger, engine, cast(Any, None), events_topic="ev", alerts_topic="al")
    (stored_warning,) = [
        n
        for n in ledger.store.select_notifications(start=None, limit=10**6)
        if n.originator_id == "T-1" and n.topic.endswith("SlaWarning")
    ]
    assert [topic for topic, _, _ in relay._messages(stored_warning)] == ["ev", "al"]

    # Answers as of any instant are the same whether or not the tick ran.
    at = T0 + 50 * M
    replayed = fold(e for e in log_events(ledger) if not e.SYSTEM)
    assert sla_board(rows_as_of(ledger, engine, at)["sla_timers"], at) == sla_board(
        replayed["sla_timers"], at
    )
    warned = sla_board(rows_as_of(ledger, engine, at)["sla_timers"], at, warned=True)
    assert [(r["ticket_id"], r["timer"], r["warn_at"]) for r in warned] == [
        ("T-1", "update", T0 + 40 * M)
    ]


def _exception_story(env: Envelopes) -> list[dict[str, Any]]:
    """EXC-1 for C-1: requested by its success owner two days before T0, approved by
    leadership the day before, effective from then until T0 + 1 day."""
    return [
        env.customer("C-1", at=T0 - 10 * DAY),
        env.make(
            "customer.exception_requested",
            "C-1",
            {
                "exception_id": "EXC-1",
                "kind": "sla_targets",
                "targets": EXCEPTION_TARGETS,
                "reason": "exam week: their desk takes Sev1 updates every two hours",
                "effective_at": (T0 - DAY).isoformat(),
                "expires_at": (T0 + DAY).isoformat(),
            },
            role="customer_success",
            actor_id="cs-jo",
            at=T0 - 2 * DAY,
        ),
        env.make(
            "customer.exception_approved",
            "C-1",
            {"exception_id": "EXC-1"},
            role="leadership",
            actor_id="lead-maria",
            at=T0 - DAY,
        ),
    ]


def test_a_ticket_opened_under_an_exception_runs_under_its_targets(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    env = Envelopes()
    _ingest(
        ledger,
        [
            *_exception_story(env),
            env.ticket("T-1", at=T0),  # under EXC-1: first response due T0 + 2h
            env.make(
                "ticket.responded",
                "T-1",
                {"public": True, "message": "on it"},
                at=T0 + 30 * M,
            ),
            env.ticket("T-2", at=T0 + DAY),  # at expires_at: back on the policy
        ],
        clock,
    )
    at = T0 + DAY + 10 * M
    timers = _timers(ledger, engine, at)
    first = timers[("T-1", "first_response")]
    assert (first["due_at"], first["exception_id"], first["policy_version"]) == (
        T0 + 2 * H,
        "EXC-1",
        1,
    )
    update = timers[("T-1", "update")]  # every 2 hours, warned at 90 minutes
    assert (update["warn_at"], update["due_at"]) == (T0 + 120 * M, T0 + 150 * M)
    assert update["exception_id"] == "EXC-1"
    after = timers[("T-2", "first_response")]
    assert (after["due_at"], after["exception_id"]) == (T0 + DAY + H, None)
    tickets = {r["ticket_id"]: r for r in rows_as_of(ledger, engine, at)["tickets"]}
    assert (tickets["T-1"]["exception_id"], tickets["T-2"]["exception_id"]) == ("EXC-1", None)

    written = tick(ledger, engine, T0 + 2 * DAY).written
    assert written["customer.exception_expired"] == 1
    assert "customer.exception_expired" not in tick(ledger, engine, T0 + 3 * DAY).written
    expired = [e for e in ledger.history("C-1") if isinstance(e, Customer.ExceptionExpired)]
    assert [(e.exception_id, e.occurred_at) for e in expired] == [("EXC-1", T0 + DAY)]
    # The exception expired; the ticket opened under it keeps it (as its policy version).
    later = _timers(ledger, engine, T0 + 3 * DAY)
    assert later[("T-1", "update")]["exception_id"] == "EXC-1"


def test_an_approval_stored_after_the_ticket_applies_to_it_and_known_at_before_it_not(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    """Across partitions the approval reaches the ledger after a ticket it applies to: the
    live rows fold the ticket again when it arrives, and a question known at an instant
    before it was recorded answers under the policy, as a replay does."""
    env = Envelopes()
    request, approval = _exception_story(env)[1:]
    clock.now = T0 + 2 * H
    _ingest(ledger, [env.customer("C-1", at=T0 - 10 * DAY), request], clock)
    clock.now = T0 + 3 * H
    _ingest(ledger, [env.ticket("T-1", at=T0)], clock)
    Projector(ledger, engine).catch_up()
    before = _timers(ledger, engine, T0 + 4 * H)[("T-1", "first_response")]
    assert (before["due_at"], before["exception_id"]) == (T0 + H, None)
    known_before = clock.now
    clock.now = T0 + 4 * H
    _ingest(ledger, [approval], clock)  # occurred T0 - 1 day, recorded T0 + 4 h

    now = T0 + 5 * H
    live = _timers(ledger, engine, now)[("T-1", "first_response")]
    assert (live["due_at"], live["exception_id"]) == (T0 + 2 * H, "EXC-1")
    events = log_events(ledger)
    for as_of, known_at in (
        (now, None),
        (T0 + 30 * M, None),
        (T0 + 30 * M, known_before),
        (now, known_before),
        (now, clock.now),
    ):
        expected = _sorted(fold(visible(events, as_of, known_at)))
        assert _sorted(rows_as_of(ledger, engine, as_of, known_at)) == expected, (as_of, known_at)
    then = rows_as_of(ledger, engine, T0 + 30 * M, known_before)["sla_timers"]
    assert {r["exception_id"] for r in then} == {None}


def test_one_page_with_an_exception_and_a_calendar_approval_refolds_what_each_reaches(
    ledger: LedgerApp, engine: Engine, clock: FixedClock
) -> None:
    """Both kinds of approval wake a customer's tickets stored before them, in one page:
    EXC-1's approval (occurred the day before T0, recorded T0 + 4 h) reaches the tickets
    opened from its effective_from; a calendar change approved Monday 14:00 local (T0 +
    4 h), making Tuesday 3 March a holiday from its midnight, reaches those with a
    business timer open. T-2 (Sev3, opened T0 = Mon 10:00 local) needs one business day:
    Mon 10-17 (7 h), then Tue 09-10 on the old calendar, due Tue 09:00Z; with Tuesday
    off, due Wed 10:00 local (09:00Z). Both run under EXC-1 (its span holds their
    opening). T-3 (Sev4, two business days, opened Fri 27 Feb 16:00 local, before EXC-1
    applies) only the calendar change reaches: Fri 1 h, Mon 8 h, Tue 09-16 on the old
    calendar; with Tuesday off, due Wed 4 March 16:00 local (15:00Z). Every answer, on
    both axes, is a replay's."""
    env = Envelopes()
    onboarding, request, approval = _exception_story(env)
    clock.now = T0 + 2 * H
    _ingest(ledger, [onboarding, request], clock)
    clock.now = T0 + 3 * H
    sev3 = {"severity": 3, "category": "feature_issue"}
    sev4 = {"severity": 4, "category": "how_to"}
    friday = datetime(2026, 2, 27, 15, 0, tzinfo=UTC)
    opened = [env.ticket("T-1", at=T0), env.ticket("T-2", at=T0, **sev3)]
    _ingest(ledger, [*opened, env.ticket("T-3", at=friday, **sev4)], clock)
    Projector(ledger, engine).catch_up()
    known_before = clock.now
    tuesday = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # Tue 3 March 00:00 local
    proposal = {
        "proposal_id": "CAL-1",
        "calendar": {"timezone": "Europe/Berlin", "holidays": ["2026-03-03"]},
        "effective_at": tuesday.isoformat(),
    }
    clock.now = T0 + 4 * H
    _ingest(
        ledger,
        [
            approval,
            env.make(
                "customer.calendar_change_proposed",
                "C-1",
                proposal,
                role="customer_success",
                actor_id="cs-jo",
                at=T0 + 3 * H + 30 * M,
            ),
            env.make(
                "customer.calendar_change_approved",
                "C-1",
                {"proposal_id": "CAL-1"},
                role="leadership",
                actor_id="lead-maria",
                at=T0 + 4 * H,
            ),
        ],
        clock,
    )
    Projector(ledger, engine).catch_up()  # the three approvals' events in one page

    now = T0 + 5 * H
    live = _timers(ledger, engine, now)
    first = live[("T-1", "first_response")]
    assert (first["due_at"], first["exception_id"]) == (T0 + 2 * H, "EXC-1")
    business = live[("T-2", "first_response")]
    assert (business["due_at"], business["exception_id"]) == (T0 + 2 * DAY, "EXC-1")
    assert (business["calendar_version"], business["calendar_version_end"]) == (1, 2)
    reached = live[("T-3", "first_response")]
    assert (reached["due_at"], reached["exception_id"]) == (T0 + 2 * DAY + 6 * H, None)
    tickets = {r["ticket_id"]: r for r in rows_as_of(ledger, engine, now)["tickets"]}
    assert (tickets["T-2"]["calendar_version"], tickets["T-3"]["calendar_version"]) == (2, 2)
    events = log_events(ledger)
    for as_of, known_at in (
        (now, None),
        (T0 + 30 * M, None),
        (T0 + 30 * M, known_before),
        (now, known_before),
        (T0 + 2 * DAY, None),
    ):
        expected = _sorted(fold(visible(events, as_of, known_at)))
        assert _sorted(rows_as_of(ledger, engine, as_of, known_at)) == expected, (as_of, known_at)
    then = rows_as_of(ledger, engine, now, known_before)
    assert {r["exception_id"] for r in then["sla_timers"]} == {None}
    assert _timer(then["sla_timers"], "T-2")["due_at"] == T0 + DAY
    assert _timer(then["sla_timers"], "T-3")["due_at"] == T0 + DAY + 6 * H


def _timer(rows: list[dict[str, Any]], ticket: str) -> dict[str, Any]:
    return next(r for r in rows if r["ticket_id"] == ticket and r["timer"] == "first_response")


def test_read_models_made_before_these_columns_are_rebuilt_when_opened(
    ledger: LedgerApp, engine: Engine, clock: FixedClock, database: Database
) -> None:
    """A ledger projected by an earlier version has no ``customer_exceptions`` and no
    ``sla_timers.warn_at``: a runner opening it rebuilds those projections, so its answers
    are a replay's again."""
    env = Envelopes()
    _ingest(
        ledger,
        [
            *_exception_story(env),
            env.ticket("T-1", at=T0),
            env.make("ticket.responded", "T-1", {"public": True, "message": "on"}, at=T0 + M),
        ],
        clock,
    )
    Projector(ledger, engine).catch_up()
    with engine.begin() as conn:  # what such a ledger looks like
        for name in ("customer_exceptions", "customer_exceptions_versions"):
            conn.execute(text(f"DROP TABLE {name}"))
        conn.execute(text("ALTER TABLE sla_timers DROP COLUMN warn_at"))
    opened = engine_for(database)  # opening it, as a new process does
    try:
        Projector(ledger, opened)
        now = T0 + 2 * H
        expected = _sorted(fold(visible(log_events(ledger), now, None)))
        assert _sorted(rows_as_of(ledger, opened, now)) == expected
        assert [r["exception_id"] for r in expected["customer_exceptions"]] == ["EXC-1"]
        assert {r["warn_at"] for r in expected["sla_timers"] if r["timer"] == "update"} == {
            T0 + M + 90 * M
        }
    finally:
        opened.dispose()
