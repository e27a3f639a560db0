"""The read models' versions answer any instant exactly as a replay of the log does.

A demo quarter is ingested out of order across subjects (half the customers, then the
SLA policy's changes and the other half, each in several batches under a later recording
clock), so that ``--known-at`` splits it in many places and some tickets were stored
before a policy change that was in force at their opening. At random instants ``T`` and
``K`` (R-TIME-1), the rows the queries read (``rows_as_of``: live read models or their
versions, never a fold of the whole log) must equal a fold of the events visible then,
which is what ``ledger replay`` computes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from demo.quarter import DemoSpec, generate, quarter_end
from ledger.adapters import tables
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, engine_for
from ledger.adapters.settings import Database
from ledger.projections.health import health
from ledger.projections.metrics import metrics
from ledger.projections.registry import fold, visible
from ledger.projections.sla import sla_board
from ledger.services import answers
from ledger.services.intake import Ingestor, Input
from ledger.services.queries import log_events, rows_as_of
from ledger.services.queue import CustomerQuery, customer_queue
from ledger.services.reads import health_rows, metrics_rows, timer_records
from tests.conftest import FixedClock

SPEC = DemoSpec(seed=3, customers=4)
SECOND = timedelta(seconds=1)


def _groups(lines: list[bytes]) -> list[list[bytes]]:
    """Half the customers (with their tickets), then the policy and the other half."""
    customer_of: dict[str, str] = {}
    for raw in lines:
        try:
            envelope = json.loads(raw)
            subject = envelope["subject"]
        except (ValueError, KeyError, TypeError):
            continue
        if envelope.get("type") == "ticket.opened" and isinstance(envelope.get("data"), dict):
            customer_of[subject] = str(envelope["data"].get("customer_id"))
    first: list[bytes] = []
    second: list[bytes] = []
    for raw in lines:
        try:
            subject = str(json.loads(raw)["subject"])
        except (ValueError, KeyError, TypeError):
            second.append(raw)  # bad lines: rejected wherever they go
            continue
        customer = customer_of.get(subject, subject)
        (first if customer.startswith("C-") and hash_of(customer) % 2 == 0 else second).append(raw)
    return [first, second]


def hash_of(text: str) -> int:
    return sum(text.encode())


def _ingest_out_of_order(ledger: LedgerApp) -> list[datetime]:
    """The demo in two halves, three batches each, each batch recorded an hour later."""
    lines = [line.raw for line in generate(SPEC)]
    clock = FixedClock(quarter_end(SPEC) + timedelta(days=1))
    ingestor = Ingestor(ledger, clock=clock)
    recorded = []
    for group in _groups(lines):
        third = len(group) // 3 + 1
        for start in range(0, len(group), third):
            clock.now += timedelta(hours=1)
            recorded.append(clock.now)
            batch = group[start : start + third]
            ingestor.ingest((Input(raw, f"t:{start + n}") for n, raw in enumerate(batch)))
    return recorded


def _sorted(board: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {
        name: sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))
        for name, rows in board.items()
    }


@pytest.fixture
def quarter(ledger: LedgerApp, engine: Engine) -> tuple[LedgerApp, Engine, list[datetime]]:
    recorded = _ingest_out_of_order(ledger)
    Projector(ledger, engine).catch_up()
    return ledger, engine, recorded


def _instants(ledger: LedgerApp) -> list[datetime]:
    occurred = sorted({e.occurred_at for e in log_events(ledger)})
    return occurred


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_versions_answer_every_instant_as_the_replay_does(
    quarter: tuple[LedgerApp, Engine, list[datetime]], data: st.DataObject
) -> None:
    ledger, engine, recorded = quarter
    occurred = _instants(ledger)
    as_of = data.draw(st.sampled_from(occurred)) + data.draw(
        st.sampled_from([-SECOND, 0 * SECOND, SECOND])
    )
    known_at = data.draw(
        st.one_of(
            st.none(),
            st.sampled_from(recorded).map(lambda k: k - timedelta(minutes=30)),
            st.sampled_from(recorded),
        )
    )
    expected = _sorted(fold(visible(log_events(ledger), as_of, known_at)))
    assert _sorted(rows_as_of(ledger, engine, as_of, known_at)) == expected


def test_the_versions_hold_more_than_the_live_rows(
    quarter: tuple[LedgerApp, Engine, list[datetime]],
) -> None:
    """Versions are kept, not only the last: every ticket has at least one per event that
    changed its row."""
    _, engine, _ = quarter
    with engine.connect() as conn:
        live = conn.execute(select(func.count()).select_from(tables.tickets)).scalar_one()
        kept = conn.execute(
            select(func.count()).select_from(tables.VERSIONS["tickets"])
        ).scalar_one()
    assert live > 20
    assert kept > 3 * live


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_board_reads_only_its_timers_and_answers_as_the_replay_does(
    quarter: tuple[LedgerApp, Engine, list[datetime]], data: st.DataObject
) -> None:
    ledger, engine, recorded = quarter
    occurred = _instants(ledger)
    as_of = data.draw(st.sampled_from(occurred)) + data.draw(
        st.sampled_from([-SECOND, 0 * SECOND, SECOND, timedelta(days=3)])
    )
    known_at = data.draw(st.one_of(st.none(), st.sampled_from(recorded)))
    replayed = fold(visible(log_events(ledger), as_of, known_at))
    filters: dict[str, Any] = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "customer": st.sampled_from(
                    sorted({r["customer_id"] for r in replayed["tickets"]} or {"C-none"})
                ),
                "severity": st.integers(1, 4),
                "breached": st.booleans(),
                "open_only": st.booleans(),
                "at_risk": st.sampled_from([0, 30, 240, 10_000]),
            },
        )
    )
    records = timer_records(ledger, engine, as_of, known_at, **filters)
    assert sla_board(records, as_of, **filters) == sla_board(
        replayed["sla_timers"], as_of, **filters
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_metrics_read_only_their_window_and_answer_as_the_replay_does(
    quarter: tuple[LedgerApp, Engine, list[datetime]], data: st.DataObject
) -> None:
    ledger, engine, recorded = quarter
    occurred = _instants(ledger)
    as_of = data.draw(st.sampled_from(occurred)) + data.draw(
        st.sampled_from([0 * SECOND, SECOND, timedelta(days=10)])
    )
    known_at = data.draw(st.one_of(st.none(), st.sampled_from(recorded)))
    from_ = data.draw(st.one_of(st.none(), st.sampled_from(occurred)))
    to = data.draw(st.one_of(st.none(), st.sampled_from(occurred)))
    replayed = fold(visible(log_events(ledger), as_of, known_at))
    rows = metrics_rows(ledger, engine, as_of, known_at, from_, to)
    assert metrics(rows, as_of, from_, to) == metrics(replayed, as_of, from_, to)


def test_a_ledger_projected_before_versions_gets_them_when_opened(
    ledger: LedgerApp, engine: Engine, database: Database
) -> None:
    """A ledger whose read models were projected before they kept versions is rebuilt
    once when a runner opens it, so its past instants answer as a replay does."""
    lines = [line.raw for line in generate(SPEC)]
    Ingestor(ledger).ingest(Input(raw, "t") for raw in lines)
    Projector(ledger, engine).catch_up()
    with engine.begin() as conn:  # what such a ledger looks like: no versions at all
        for table in tables.VERSIONS.values():
            table.drop(conn)
    opened = engine_for(database)  # opening it, as a new process does
    Projector(ledger, opened)
    as_of = _instants(ledger)[len(_instants(ledger)) // 2]
    expected = _sorted(fold(visible(log_events(ledger), as_of, None)))
    assert _sorted(rows_as_of(ledger, opened, as_of)) == expected
    opened.dispose()
    assert any(expected.values())


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_health_reads_only_its_window_and_answers_as_the_replay_does(
    quarter: tuple[LedgerApp, Engine, list[datetime]], data: st.DataObject
) -> None:
    ledger, engine, recorded = quarter
    as_of = data.draw(st.sampled_from(_instants(ledger))) + data.draw(
        st.sampled_from([0 * SECOND, timedelta(days=20)])
    )
    known_at = data.draw(st.one_of(st.none(), st.sampled_from(recorded)))
    replayed = fold(visible(log_events(ledger), as_of, known_at))
    rows = health_rows(ledger, engine, as_of, known_at)
    assert health(rows, as_of) == health(replayed, as_of)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_health_and_customers_counted_by_the_database_answer_as_the_replay_does(
    quarter: tuple[LedgerApp, Engine, list[datetime]], data: st.DataObject
) -> None:
    """``ledger health`` and ``ledger customers`` count the signals in the database
    (``health_inputs``), or fold from the log the subjects a replay reads otherwise: the
    records equal ``health`` and ``customer_queue`` of the replayed rows."""
    ledger, engine, recorded = quarter
    as_of = data.draw(st.sampled_from(_instants(ledger))) + data.draw(
        st.sampled_from([0 * SECOND, SECOND, timedelta(days=20)])
    )
    known_at = data.draw(st.one_of(st.none(), st.sampled_from(recorded)))
    replayed = fold(visible(log_events(ledger), as_of, known_at))
    assert answers.health_records(ledger, engine, as_of, known_at) == health(replayed, as_of)
    assert answers.customers(ledger, engine, as_of, known_at, CustomerQuery()) == (
        customer_queue(replayed, as_of)
    )
    for customer in {r["customer_id"] for r in replayed["customers"]}:
        assert answers.health_records(ledger, engine, as_of, known_at, customer) == (
            health(replayed, as_of, customer)
        )
