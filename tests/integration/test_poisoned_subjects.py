"""One subject the folds cannot handle never stops the others.

A ledger written before the intake bounds can hold a ticket opened at
9999-12-31T23:59:59Z and an approved SLA policy with a ``P999999W`` target: folding the
ticket (and any ticket opened under that target) overflows the calendar. The runner,
a rebuild, the queries and the tick leave those tickets out, say so, and give every
other subject exactly the answers of a ledger without the poison.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.projector import Projector, engine_for, listed_failures, read_models
from ledger.adapters.settings import Database, resolve_database
from ledger.adapters.store import BatchWrite
from ledger.aggregates.base import EventMeta
from ledger.aggregates.policy import SlaPolicy
from ledger.aggregates.ticket import Ticket
from ledger.projections.health import health
from ledger.projections.metrics import metrics
from ledger.projections.registry import Rows, SubjectFailed
from ledger.projections.sla import sla_board
from ledger.services import answers as asked
from ledger.services.intake import Ingestor, Input
from ledger.services.queries import answer, rows_as_of
from ledger.services.queue import CustomerQuery
from ledger.services.tick import tick
from ledger.services.timelines import ticket_timers
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
# PostgreSQL cannot store 9999-12-31T23:59:59Z at all (intake rejects it as R-FAULT-1):
# there a day before, with a Sev4 target two business days long.
PG_FAR = datetime(9999, 12, 30, tzinfo=UTC)
RECORDED = datetime(2026, 6, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=2)
OVERFLOW = "OverflowError: date value out of range"
POISON_TARGETS = {"3": {"first_response": {"duration": "P999999W", "clock": "24x7"}}}


def normal_story(env: Envelopes) -> list[dict[str, Any]]:
    """C-1 with three Sev1/Sev2 tickets opened at T0 (before any policy change)."""
    e = env.make
    return [
        env.customer("C-1", at=T0 - timedelta(days=10)),
        env.ticket("T-1", at=T0),  # nobody answers; resolved at +3h: first response breached
        e("ticket.resolved", "T-1", {"resolution": "restarted the workers"}, at=T0 + 180 * M),
        env.ticket("T-2", at=T0),  # answered in time, resolved at +140m
        e("ticket.responded", "T-2", {"public": True, "message": "on it"}, at=T0 + 50 * M),
        e("ticket.resolved", "T-2", {"resolution": "fixed"}, at=T0 + 140 * M),
        env.ticket("T-3", at=T0, severity=2, category="partial_outage"),  # still open
    ]


def ingest(ledger: LedgerApp, envelopes: list[dict[str, Any]], clock: Any) -> None:
    outcomes = Ingestor(ledger, clock=clock).ingest_batch([Input(e, "test") for e in envelopes])
    assert [o.rejection for o in outcomes if o.rejection] == []


def store_opened_far_ahead(ledger: LedgerApp, kind: str) -> None:
    """T-9 opened at 9999-12-31T23:59:59Z, stored as a ledger written before the intake
    bounds holds it (intake refuses it now: the event is created directly, not ingested)."""
    at, severity, category = (
        (FAR, 1, "platform_down") if kind == "sqlite" else (PG_FAR, 4, "how_to")
    )
    meta = EventMeta("00000000-0000-4000-8000-0000000000b1", at, "u-1", "customer", "old", RECORDED)
    ticket = Ticket._create(
        Ticket.Opened,
        id="T-9",
        customer_id="C-1",
        channel="support_portal",
        title="From the far future",
        description="occurred_at 9999",
        severity=severity,
        category=category,
        reason=None,
        policy_version=1,
        **meta.event_kwargs(),
    )
    ledger.store_events([ticket], batch=BatchWrite(received_at=RECORDED))


def store_poisoned_policy(ledger: LedgerApp) -> None:
    """Version 2 of the policy with a Sev3 first-response target of 999999 weeks, stored
    through the aggregate's events as a ledger written before the intake bounds holds it
    (the wire and the commands may refuse such a target now: the events are triggered
    directly, not through ``propose``/``approve``)."""
    at = T0 + 60 * M

    def meta(event_id: str, actor: str, occurred_at: datetime) -> dict[str, Any]:
        return EventMeta(
            event_id, occurred_at, actor, "leadership", "old-ledger", at
        ).event_kwargs()

    policy = SlaPolicy._create(
        SlaPolicy.ChangeProposedFirst,
        id="SLA",
        proposal_id="P-1",
        targets=POISON_TARGETS,
        effective_at=at,
        **meta("00000000-0000-4000-8000-0000000000a1", "lead-maria", at),
    )
    policy.trigger_event(
        SlaPolicy.ChangeApproved,
        proposal_id="P-1",
        version=2,
        effective_from=at + M,
        **meta("00000000-0000-4000-8000-0000000000a2", "lead-tom", at + M),
    )
    ledger.store_events([policy], batch=BatchWrite(received_at=at + M))


def poison(ledger: LedgerApp, env: Envelopes, clock: FixedClock, kind: str) -> None:
    """T-9 opened at 9999-12-31T23:59:59Z, and T-8, a Sev3 ticket opened (through intake)
    under the 999999-week target."""
    store_opened_far_ahead(ledger, kind)
    store_poisoned_policy(ledger)
    ingest(ledger, [env.ticket("T-8", at=T0 + 90 * M, severity=3, category="feature_issue")], clock)


def without_policy(board: Rows) -> Rows:
    """The read models but the policy's (the poisoned ledger has a version 2)."""
    return {name: rows for name, rows in board.items() if name != "sla_policy_versions"}


def answers(ledger: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None) -> Any:
    rows = rows_as_of(ledger, engine, as_of, known_at)
    return {
        "sla": sla_board(rows["sla_timers"], as_of),
        "metrics": metrics(rows, as_of, None, None),
        "health": health(rows, as_of),
    }


@pytest.fixture
def clean(tmp_path: Any, clock: FixedClock) -> Any:
    """The same ledger without the poison (SQLite: answers do not depend on the backend)."""
    database = resolve_database(str(tmp_path / "clean.db"))
    ledger, engine = open_app(database), engine_for(database)
    ingest(ledger, normal_story(Envelopes()), clock)
    yield ledger, engine
    engine.dispose()
    ledger.close()


@pytest.fixture
def poisoned(ledger: LedgerApp, clock: FixedClock, database: Database) -> LedgerApp:
    env = Envelopes()
    ingest(ledger, normal_story(env), clock)
    poison(ledger, env, clock, database.kind)
    return ledger


def test_project_and_rebuild_leave_the_poisoned_tickets_out_and_list_them(
    poisoned: LedgerApp,
    engine: Engine,
    clean: tuple[LedgerApp, Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    head = poisoned.store.max_notification_id()
    assert head == 11
    projector = Projector(poisoned, engine)
    with caplog.at_level(logging.WARNING):
        report = projector.catch_up()
    assert report.positions == dict.fromkeys(("tickets", "customers", "policy"), head)
    assert [str(f) for f in report.failed] == [
        f"tickets T-9: {OVERFLOW}",
        f"tickets T-8: {OVERFLOW}",
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"projection tickets: T-9 left out: {OVERFLOW}",
        f"projection tickets: T-8 left out: {OVERFLOW}",
    ]
    listed = [
        {"projection": "tickets", "subject": "T-8", "notification_id": head, "error": OVERFLOW},
        {"projection": "tickets", "subject": "T-9", "notification_id": head, "error": OVERFLOW},
    ]
    assert listed_failures(engine) == listed

    clean_ledger, clean_engine = clean
    Projector(clean_ledger, clean_engine).catch_up()
    expected = without_policy(read_models(clean_engine))
    live = read_models(engine)
    assert without_policy(live) == expected
    assert [r["ticket_id"] for r in live["tickets"]] == ["T-1", "T-2", "T-3"]
    assert [r["version"] for r in live["sla_policy_versions"]] == [1, 2]

    rebuilt = projector.rebuild()
    assert [str(f) for f in rebuilt.failed] == [
        f"tickets T-8: {OVERFLOW}",
        f"tickets T-9: {OVERFLOW}",
    ]
    assert read_models(engine) == live  # rebuild equals live
    assert listed_failures(engine) == listed


def test_page_by_page_the_failed_subject_has_no_rows_and_rebuild_equals_live(
    poisoned: LedgerApp, engine: Engine, clean: tuple[LedgerApp, Engine]
) -> None:
    """One event a page, folds kept between pages: the poisoned tickets fail on their
    own pages, the others' rows are written; a later rebuild writes the same rows."""
    projector = Projector(poisoned, engine, page_size=1)
    report = projector.catch_up()
    assert [f.subject for f in report.failed] == ["T-9", "T-8"]
    assert [(f["subject"], f["notification_id"]) for f in listed_failures(engine)] == [
        ("T-8", 11),  # the page of its ticket.opened
        ("T-9", 8),
    ]
    live = read_models(engine)
    clean_ledger, clean_engine = clean
    Projector(clean_ledger, clean_engine).catch_up()
    assert without_policy(live) == without_policy(read_models(clean_engine))
    projector.rebuild()
    assert read_models(engine) == live


def test_queries_and_the_tick_answer_for_every_other_subject(
    poisoned: LedgerApp,
    engine: Engine,
    clean: tuple[LedgerApp, Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clean_ledger, clean_engine = clean
    # Now (the live tables), and as of an instant through the fold of the filtered log
    # (known_at forces that path; T-8 is visible from T0+90m and fails there too).
    for as_of, known_at in ((NOW, None), (T0 + 150 * M, NOW + timedelta(days=999))):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            got = answers(poisoned, engine, as_of, known_at)
        assert got == answers(clean_ledger, clean_engine, as_of, known_at)
        warned = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
        assert f"projection tickets: T-8 left out: {OVERFLOW}" in warned
    sla = answers(poisoned, engine, NOW, None)["sla"]
    assert [(r["ticket_id"], r["timer"], r["state"], r["breached_at"]) for r in sla] == [
        ("T-1", "resolution", "measured", None),
        ("T-2", "resolution", "measured", None),
        ("T-3", "resolution", "running", None),
        ("T-1", "first_response", "breached", T0 + 60 * M),
        ("T-2", "first_response", "met", None),
        ("T-2", "update", "breached", T0 + 110 * M),  # answered at +50m, no update by +110m
        ("T-3", "first_response", "breached", T0 + 240 * M),  # Sev2: 4 hours
    ]

    report = tick(poisoned, engine, NOW)
    assert report.as_dict() == tick(clean_ledger, clean_engine, NOW).as_dict()
    assert report.written == {
        "sla.breached": 3,
        "sla.warning": 1,  # T-2's update interval from +50m, warned at +80m (R-SLA-7)
        "customer.churn_risk_raised": 2,
        # Two churn risks of one customer: the first opens its play, which covers the second.
        "play.opened": 1,
    }

    with pytest.raises(SubjectFailed, match="T-8 cannot be projected"):
        ticket_timers(poisoned, "T-8", NOW)
    assert ticket_timers(poisoned, "T-1", NOW) == ticket_timers(clean_ledger, "T-1", NOW)


def test_a_row_a_question_cannot_evaluate_is_left_out_and_named(
    poisoned: LedgerApp,
    engine: Engine,
    clean: tuple[LedgerApp, Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A subject whose stored rows break a question (here a timer row with a corrupt
    pause) is left out of that answer, named; an error no subject explains raises."""
    rows = rows_as_of(poisoned, engine, NOW)
    bad = dict(rows["sla_timers"][0], ticket_id="T-X", stopped_at=None, paused_since="garbage")
    rows["sla_timers"].append(bad)
    with caplog.at_level(logging.WARNING):
        board = answer(rows, lambda r: sla_board(r["sla_timers"], NOW), "sla list")
    clean_ledger, clean_engine = clean
    assert board == sla_board(rows_as_of(clean_ledger, clean_engine, NOW)["sla_timers"], NOW)
    assert (
        "sla list: tickets T-X left out: TypeError: unsupported operand type(s) for -: "
        "'datetime.datetime' and 'str'"
    ) in {r.getMessage() for r in caplog.records}

    def broken(_: Rows) -> None:
        raise ValueError("no subject's fault")

    with pytest.raises(ValueError, match="no subject's fault"):
        answer(rows, broken, "metrics")


def _counted(app: LedgerApp, db: Engine, as_of: datetime, known_at: datetime | None) -> Any:
    """``ledger health``, ``ledger customers`` and its first page, ``ledger metrics``."""
    return (
        asked.health_records(app, db, as_of, known_at),
        asked.customers(app, db, as_of, known_at, CustomerQuery()),
        asked.customers_page(app, db, as_of, known_at, CustomerQuery(), lambda _: True, 1, 100),
        asked.metrics(app, db, as_of, known_at, None, None),
    )


def test_health_customers_and_metrics_answer_for_every_other_subject(
    poisoned: LedgerApp, engine: Engine, clean: tuple[LedgerApp, Engine]
) -> None:
    """The questions that count in the database or read only some columns fold the
    poisoned tickets from the log as the others do, and answer as the clean ledger."""
    clean_ledger, clean_engine = clean
    for as_of, known_at in ((NOW, None), (T0 + 150 * M, NOW + timedelta(days=999))):
        assert _counted(poisoned, engine, as_of, known_at) == (
            _counted(clean_ledger, clean_engine, as_of, known_at)
        )
