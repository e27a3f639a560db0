"""The projection runner on SQLite and PostgreSQL: exactly once, gap-safe, rebuild = live."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from demo.quarter import DemoSpec, generate
from ledger.adapters import projector as projector_module
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, engine_for, read_models, read_models_as_of
from ledger.adapters.settings import Database
from ledger.projections.registry import fold, visible
from ledger.services.intake import Ingestor, Input
from ledger.services.queries import log_events
from tests.support import Envelopes


class Crash(Exception):
    """The failure a test injects inside a page."""


def _ingest_demo(ledger: LedgerApp, customers: int, batch_size: int = 500) -> None:
    lines = generate(DemoSpec(seed=11, customers=customers))
    Ingestor(ledger).ingest(
        (Input(line.raw, f"demo:{n}") for n, line in enumerate(lines)), batch_size=batch_size
    )


def _sorted(board: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {
        name: sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))
        for name, rows in board.items()
    }


def test_a_crash_inside_a_page_then_a_restart_equals_a_clean_run(
    ledger: LedgerApp, engine: Engine
) -> None:
    _ingest_demo(ledger, customers=3)
    head = ledger.store.max_notification_id() or 0
    assert head > 300
    chooser = random.Random(2026)
    crash_points = [*sorted(chooser.sample(range(1, head + 1), 4)), -1]  # -1: before commit
    projector = Projector(ledger, engine, page_size=97)
    for point in crash_points:

        def fault(notification_id: int, point: int = point) -> None:
            if notification_id == point:
                raise Crash(point)

        with pytest.raises(Crash):
            projector.catch_up(fault=fault)
        positions = projector.positions()
        # Nothing of the failed page is visible: positions sit on page boundaries before it.
        assert all(p < point or point == -1 for p in positions.values())
    projector.catch_up()
    recovered = read_models(engine)
    assert projector.positions() == dict.fromkeys(("tickets", "customers", "policy"), head)

    clean = _sorted(fold(log_events(ledger)))
    assert _sorted(recovered) == clean
    # The versions the crashed pages began were thrown away with them: every past
    # instant still answers as a replay does.
    instants = sorted({e.occurred_at for e in log_events(ledger)})
    for as_of in instants[:: max(1, len(instants) // 7)]:
        replayed = _sorted(fold(visible(log_events(ledger), as_of, None)))
        assert _sorted(read_models_as_of(engine, as_of, None)) == replayed
    projector.rebuild()
    assert _sorted(read_models(engine)) == clean
    assert sum(len(rows) for rows in clean.values()) > 200


def test_rebuild_equals_live_after_a_demo_sized_history(ledger: LedgerApp, engine: Engine) -> None:
    """Live: the runner follows a quarter of ingest batch by batch; then rebuild from scratch."""
    lines = generate(DemoSpec(seed=5, customers=24))
    projector = Projector(ledger, engine, page_size=500)
    ingestor = Ingestor(ledger)
    inputs = [Input(line.raw, f"demo:{n}") for n, line in enumerate(lines)]
    for start in range(0, len(inputs), 700):
        ingestor.ingest_batch(inputs[start : start + 700])
        projector.catch_up()
    live = _sorted(read_models(engine))
    assert len(live["tickets"]) > 300 and len(live["sla_timers"]) > 1000
    report = projector.rebuild(["tickets"])
    assert report.applied["tickets"] == ledger.store.max_notification_id()
    assert _sorted(read_models(engine)) == live
    projector.rebuild()
    assert _sorted(read_models(engine)) == live


def test_a_runner_that_lost_the_race_applies_nothing(
    ledger: LedgerApp, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runners: the one whose position went stale gets a conflict, re-reads, moves on."""
    _ingest_demo(ledger, customers=2)
    first, second = Projector(ledger, engine, page_size=50), Projector(ledger, engine)
    stale = dict.fromkeys(("tickets", "customers", "policy"), 0)
    second.catch_up()
    answers = iter([stale])
    real = first.positions
    monkeypatch.setattr(first, "positions", lambda: next(answers, None) or real())
    report = first.catch_up(["tickets"])
    assert report.applied["tickets"] == 0  # its page was refused, nothing applied twice
    assert _sorted(read_models(engine)) == _sorted(fold(log_events(ledger)))


@pytest.mark.postgres
def test_the_runner_steps_over_gaps_in_postgres_notification_ids(
    pg_database: Database,
) -> None:
    from ledger.adapters.event_store import open_app

    ledger = open_app(pg_database)
    engine = engine_for(pg_database)
    try:
        env = Envelopes()
        ingestor = Ingestor(ledger)
        ingestor.ingest_batch([Input(env.customer("C-1"), "t"), Input(env.ticket("T-1"), "t")])
        # Burn sequence values as a rolled-back insert would: a permanent gap.
        with psycopg.connect(
            host=pg_database.host, user=pg_database.user, dbname=pg_database.dbname, autocommit=True
        ) as conn:
            for _ in range(5):
                conn.execute(
                    f"SELECT nextval(pg_get_serial_sequence('{pg_database.schema}.ledger_events',"
                    " 'notification_id'))"
                )
        ingestor.ingest_batch([Input(env.ticket("T-2"), "t")])
        ids = [n.id for n in ledger.store.select_notifications(start=None, limit=100)]
        assert ids[-1] - ids[-2] == 6  # the gap is there
        Projector(ledger, engine, page_size=1).catch_up()
        assert {r["ticket_id"] for r in read_models(engine)["tickets"]} == {"T-1", "T-2"}
    finally:
        engine.dispose()
        ledger.close()


def test_folds_kept_between_pages_equal_a_fold_of_the_whole_log(
    ledger: LedgerApp, engine: Engine
) -> None:
    """One event per page, the policy changing while a ticket is open: the folds the
    runner keeps between pages give what a fold of the whole log gives."""
    env = Envelopes()
    targets = {"3": {"first_response": {"duration": "PT8H", "clock": "business"}}}
    stream = [
        env.customer("C-9", calendar={"timezone": "Asia/Tokyo"}),
        env.ticket("T-9", customer_id="C-9", severity=3, category="feature_issue"),
        env.make("ticket.responded", "T-9", {"public": True, "message": "looking"}),
        env.make(
            "sla_policy.change_proposed",
            "SLA",
            {"proposal_id": "P-1", "targets": targets, "effective_at": env.now.isoformat()},
        ),
        env.make("sla_policy.change_approved", "SLA", {"proposal_id": "P-1"}, role="leadership"),
        env.ticket("T-10", customer_id="C-9", severity=3, category="feature_issue"),
        env.make("ticket.status_changed", "T-9", {"status": "waiting_on_customer"}),
        env.make("ticket.status_changed", "T-9", {"status": "in_progress"}),
        env.make("customer.milestone_reached", "C-9", {"milestone": "first_video"}),
        env.make("ticket.resolved", "T-9", {"resolution": "explained"}),
        env.make("ticket.responded", "T-10", {"public": True, "message": "on it"}),
    ]
    report = Ingestor(ledger).ingest(Input(e, "t") for e in stream)
    assert report.accepted == len(stream), report.examples
    Projector(ledger, engine, page_size=1).catch_up()
    live = _sorted(read_models(engine))
    assert live == _sorted(fold(log_events(ledger)))
    assert {row["policy_version"] for row in live["tickets"]} == {1, 2}


def test_a_rebuild_keeping_almost_nothing_between_pages_equals_a_fold_of_the_whole_log(
    ledger: LedgerApp, engine: Engine
) -> None:
    """Histories and folds dropped between pages (bounds of 3 and 2, far below the
    demo's subjects) are loaded and folded again: the rows do not change."""
    _ingest_demo(ledger, customers=3)
    Projector(ledger, engine, page_size=97, history_subjects=3, fold_subjects=2).rebuild()
    assert _sorted(read_models(engine)) == _sorted(fold(log_events(ledger)))


def test_a_rebuild_in_small_chunks_of_subjects_equals_a_fold_of_the_whole_log(
    ledger: LedgerApp, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild folds subject by subject, a chunk per transaction: seven subjects a
    chunk, with histories dropped between chunks, changes no row; and what was stored
    after the rebuild began is caught up too."""
    _ingest_demo(ledger, customers=3)
    monkeypatch.setattr(projector_module, "REBUILD_SUBJECTS", 7)
    projector = Projector(ledger, engine, history_subjects=3)
    env = Envelopes(start=datetime(2026, 9, 1, tzinfo=UTC))
    late = [env.customer("C-LATE"), env.ticket("T-LATE", customer_id="C-LATE")]
    real_chunk = projector._rebuild_chunk
    calls = []

    def chunk_then_ingest(*args: Any) -> None:
        calls.append(args[1])
        real_chunk(*args)
        if len(calls) == 1:  # a producer goes on while the rebuild runs
            assert Ingestor(ledger).ingest(Input(e, "late") for e in late).accepted == 2

    monkeypatch.setattr(projector, "_rebuild_chunk", chunk_then_ingest)
    seen: list[tuple[int, int]] = []
    report = projector.rebuild(progress=lambda done, total: seen.append((done, total)))

    head = ledger.store.max_notification_id()
    assert len(calls) > 5 and all(len(chunk) <= 7 for chunk in calls)
    assert report.applied == dict.fromkeys(("tickets", "customers", "policy"), head)
    assert projector.positions() == dict.fromkeys(("tickets", "customers", "policy"), head)
    board = _sorted(read_models(engine))
    assert board == _sorted(fold(log_events(ledger)))
    assert "T-LATE" in {row["ticket_id"] for row in board["tickets"]}
    assert seen[-1][0] == seen[-1][1]  # the progress bar ends full


def test_a_runner_that_moves_on_during_a_rebuild_takes_it_over(
    ledger: LedgerApp, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another runner catches up from 0 while a rebuild is between chunks: the rebuild's
    next chunk sees the position moved, commits nothing, and carries on from there as a
    catch-up; the rows are those of a fold of the log, whatever the chunks left."""
    _ingest_demo(ledger, customers=3)
    monkeypatch.setattr(projector_module, "REBUILD_SUBJECTS", 5)
    rebuilding, other = Projector(ledger, engine), Projector(ledger, engine, page_size=50)
    real_chunk = rebuilding._rebuild_chunk
    calls = []

    def chunk_then_race(*args: Any) -> None:
        calls.append(args[0].name)
        real_chunk(*args)
        if len(calls) == 2:
            other.catch_up(["tickets"])

    monkeypatch.setattr(rebuilding, "_rebuild_chunk", chunk_then_race)
    rebuilding.rebuild()

    assert calls.count("tickets") == 3  # the third chunk found the position moved on
    head = ledger.store.max_notification_id()
    assert rebuilding.positions() == dict.fromkeys(("tickets", "customers", "policy"), head)
    assert _sorted(read_models(engine)) == _sorted(fold(log_events(ledger)))
