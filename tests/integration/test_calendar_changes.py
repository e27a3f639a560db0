"""Calendar changes (R-CAL) through the ledger: the live board, the board as of any instant
(both time axes) and a replay of the log agree, on SQLite and PostgreSQL.

The week of 14 Dec 2026 at C-1 (Europe/Berlin, Mon-Fri 09:00-17:00, CET = UTC+1):

* CAL-1, approved Wed 16 Dec 12:00, from Thu 17 Dec 00:00: 17, 24 and 25 Dec are holidays;
* CAL-2, approved Fri 18 Dec 15:00, from Mon 21 Dec 00:00: hours 10:00-16:00, 6 h a day;
* T-1 Sev3, Mon 10:00, answered Tue 09:30: met before any change, due Tue 10:00;
* T-2 Sev4, Tue 14:00 (16 h): Tue 3 h, Wed 8 h, Thursday now a holiday, Fri 09-14: due
  Fri 18 Dec 14:00 (Thu 14:00 as of before CAL-1's approval);
* T-3 Sev2, Wed 11:00, answered 11:30; its update interval (one business day) spans CAL-1
  and waits on the customer from Fri 10:00 to Mon 09:00;
* T-4 Sev3 opened on the new holiday (Thu 10:00), re-triaged to Sev4 Fri 12:00: 16 h
  of CAL-1's business day, Fri 8 h, then CAL-2's 6 h days: due Tue 22 Dec 12:00;
* T-5 Sev1 (24x7), unaffected.

The inputs reach the ledger in several random orders across subjects (each subject's own
order kept), batch after batch, so that approvals are recorded after ticket events that
occurred after them and ticket events after approvals that occurred after them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, engine_for, read_models
from ledger.adapters.settings import Database
from ledger.projections.registry import fold, visible
from ledger.projections.sla import evaluate_record, sla_board
from ledger.services.intake import Ingestor, Input
from ledger.services.queries import log_events, rows_as_of
from ledger.services.timelines import ticket_timers
from replay.history import replay_board
from tests.conftest import FixedClock
from tests.support import Envelopes

BERLIN = ZoneInfo("Europe/Berlin")
SECOND = timedelta(seconds=1)
RECORDED_FROM = datetime(2026, 12, 22, 12, tzinfo=UTC)
OFFICE: dict[str, Any] = {"timezone": "Europe/Berlin"}
CAL_1: dict[str, Any] = {**OFFICE, "holidays": ["2026-12-17", "2026-12-24", "2026-12-25"]}
CAL_2: dict[str, Any] = {
    **CAL_1,
    "hours": {d: ["10:00", "16:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "hours_per_business_day": 6,
}


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


def _subjects() -> dict[str, list[dict[str, Any]]]:
    """Each subject's inputs in its own order."""
    env = Envelopes(seed=20)
    e = env.make
    respond = {"public": True, "message": "on it"}
    sev = {
        2: {"severity": 2, "category": "partial_outage"},
        3: {"severity": 3, "category": "feature_issue"},
        4: {"severity": 4, "category": "how_to"},
    }

    def propose(pid: str, calendar: dict[str, Any], effective: datetime, at: datetime) -> Any:
        data = {"proposal_id": pid, "calendar": calendar, "effective_at": effective.isoformat()}
        return e(
            "customer.calendar_change_proposed",
            "C-1",
            data,
            role="customer_success",
            actor_id="cs-jo",
            at=at,
        )

    def approve(pid: str, at: datetime) -> Any:
        data = {"proposal_id": pid}
        return e(
            "customer.calendar_change_approved",
            "C-1",
            data,
            role="leadership",
            actor_id="lead-maria",
            at=at,
        )

    return {
        "C-1": [
            env.customer("C-1", at=datetime(2026, 12, 1, 9, tzinfo=UTC)),
            propose("CAL-1", CAL_1, berlin(17, 0), berlin(16, 11)),
            approve("CAL-1", berlin(16, 12)),
            propose("CAL-2", CAL_2, berlin(21, 0), berlin(18, 14)),
            approve("CAL-2", berlin(18, 15)),
        ],
        "T-1": [
            env.ticket("T-1", at=berlin(14, 10), **sev[3]),
            e("ticket.responded", "T-1", respond, at=berlin(15, 9, 30)),
        ],
        "T-2": [env.ticket("T-2", at=berlin(15, 14), **sev[4])],
        "T-3": [
            env.ticket("T-3", at=berlin(16, 11), **sev[2]),
            e("ticket.responded", "T-3", respond, at=berlin(16, 11, 30)),
            e("ticket.status_changed", "T-3", {"status": "waiting_on_customer"}, at=berlin(18, 10)),
            e("ticket.status_changed", "T-3", {"status": "in_progress"}, at=berlin(21, 9)),
            e("ticket.update_posted", "T-3", {"message": "fixed in staging"}, at=berlin(21, 10)),
        ],
        "T-4": [
            env.ticket("T-4", at=berlin(17, 10), **sev[3]),
            e("ticket.triaged", "T-4", {**sev[4], "reason": "one user only"}, at=berlin(18, 12)),
        ],
        "T-5": [
            env.ticket("T-5", at=berlin(17, 10)),
            e("ticket.responded", "T-5", respond, at=berlin(17, 10, 20)),
            e("ticket.resolved", "T-5", {"resolution": "restarted"}, at=berlin(17, 11)),
        ],
    }


def _batches(seed: int) -> list[list[dict[str, Any]]]:
    """The inputs in a random order across subjects (each subject's kept), cut into 3 to
    6 batches; the onboarding first (tickets would wait for it otherwise, R-IN-6)."""
    rng = random.Random(seed)
    queues = {s: list(inputs) for s, inputs in _subjects().items()}
    order = [queues["C-1"].pop(0)]
    while any(queues.values()):
        subject = rng.choice([s for s, q in queues.items() if q])
        order.append(queues[subject].pop(0))
    cuts = sorted(rng.sample(range(1, len(order)), rng.randint(2, 5)))
    return [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]


def _ingest(ledger: LedgerApp, seed: int) -> list[datetime]:
    clock = FixedClock(RECORDED_FROM)
    ingestor = Ingestor(ledger, clock=clock)
    recorded = []
    for batch in _batches(seed):
        clock.now += timedelta(hours=1)
        recorded.append(clock.now)
        outcomes = ingestor.ingest_batch([Input(envelope, "test") for envelope in batch])
        assert [o.rejection for o in outcomes if o.rejection] == []
    return recorded


@pytest.fixture(params=[1, 2, 3, 4])
def changed(
    request: pytest.FixtureRequest, ledger: LedgerApp, engine: Engine
) -> tuple[LedgerApp, Engine, list[datetime]]:
    """The week, ingested in one of four orders, projected two notifications a page (so
    that approvals and ticket events fall in different pages)."""
    recorded = _ingest(ledger, request.param)
    Projector(ledger, engine, page_size=2).catch_up()
    return ledger, engine, recorded


def _sorted(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {
        name: sorted(table, key=lambda r: tuple(str(v) for v in r.values()))
        for name, table in rows.items()
    }


def _timer(
    rows: list[dict[str, Any]], ticket: str, timer: str = "first_response"
) -> dict[str, Any]:
    return next(r for r in rows if r["ticket_id"] == ticket and r["timer"] == timer)


def test_the_live_board_is_the_week_as_computed_by_hand(
    changed: tuple[LedgerApp, Engine, list[datetime]],
) -> None:
    ledger, engine, _ = changed
    now = berlin(22, 9)
    board = sla_board(rows_as_of(ledger, engine, now)["sla_timers"], now)
    t1, t2, t4 = (_timer(board, t) for t in ("T-1", "T-2", "T-4"))
    assert (t1["state"], t1["due_at"], t1["calendar_version"], t1["calendar_version_end"]) == (
        "met",
        berlin(15, 10),
        1,
        1,
    )
    assert (t2["state"], t2["due_at"], t2["breached_at"]) == (
        "breached",
        berlin(18, 14),
        berlin(18, 14),
    )
    assert (t2["calendar_version"], t2["calendar_version_end"]) == (1, 2)
    assert (t4["state"], t4["due_at"], t4["severity"]) == ("running", berlin(22, 12), 4)
    assert (t4["calendar_version"], t4["calendar_version_end"]) == (2, 3)
    # T-3's update interval from Wed 11:30: 5.5 h on Wednesday, Thursday a holiday, Fri
    # 09-10 (6.5 h), paused Fri 10:00 to Mon 09:00 with 1.5 h left, Mon 10-11:30 on
    # CAL-2's hours; it was updated Mon 10:00, in time.
    updates = [r for r in board if r["ticket_id"] == "T-3" and r["timer"] == "update"]
    assert [(u["state"], u["due_at"]) for u in updates] == [
        ("met", berlin(21, 11, 30)),
        ("breached", berlin(21, 16)),  # from Mon 10:00, CAL-2's business day is 6 h
    ]
    assert all(r["calendar_version"] is None for r in board if r["ticket_id"] == "T-5")


def test_the_board_as_of_before_an_approval_is_the_board_then(
    changed: tuple[LedgerApp, Engine, list[datetime]],
) -> None:
    ledger, engine, _ = changed
    before = berlin(16, 11, 59)
    board = sla_board(rows_as_of(ledger, engine, before)["sla_timers"], before)
    t2 = _timer(board, "T-2")
    assert (t2["state"], t2["due_at"], t2["calendar_version_end"]) == ("running", berlin(17, 14), 1)
    after = berlin(16, 12)
    t2 = _timer(sla_board(rows_as_of(ledger, engine, after)["sla_timers"], after), "T-2")
    assert (t2["state"], t2["due_at"], t2["calendar_version_end"]) == ("running", berlin(18, 14), 2)
    # What the board showed when only the first batches were known equals a replay.
    timers = ticket_timers(ledger, "T-2", after)
    assert timers is not None and timers[0]["due_at"] == berlin(18, 14)


def test_live_rebuild_and_replay_agree(changed: tuple[LedgerApp, Engine, list[datetime]]) -> None:
    ledger, engine, _ = changed
    replayed = _sorted(fold(log_events(ledger)))
    live = _sorted(read_models(engine))
    assert live == replayed
    Projector(ledger, engine).rebuild()
    assert _sorted(read_models(engine)) == replayed
    now = berlin(22, 9)
    assert replay_board(ledger, now) == sla_board(
        rows_as_of(ledger, engine, now)["sla_timers"], now
    )


def _instants() -> list[datetime]:
    occurred = {datetime.fromisoformat(e["occurred_at"]) for q in _subjects().values() for e in q}
    due = {berlin(17, 14), berlin(18, 14), berlin(18, 11, 30), berlin(22, 12), berlin(21, 0)}
    return sorted((occurred | due | {berlin(17, 0)}), key=lambda t: t.astimezone(UTC))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_instant_on_both_axes_answers_as_the_replay_does(
    changed: tuple[LedgerApp, Engine, list[datetime]], data: st.DataObject
) -> None:
    """The read models (live or versions, and the tickets they refold) equal a fold of the
    events visible then, at random ``as_of`` and ``known_at``."""
    ledger, engine, recorded = changed
    as_of = data.draw(st.sampled_from(_instants())) + data.draw(
        st.sampled_from([-SECOND, 0 * SECOND, SECOND])
    )
    known_at = data.draw(
        st.one_of(
            st.none(),
            st.sampled_from(recorded),
            st.sampled_from(recorded).map(lambda k: k - timedelta(minutes=30)),
        )
    )
    expected = _sorted(fold(visible(log_events(ledger), as_of, known_at)))
    assert _sorted(rows_as_of(ledger, engine, as_of, known_at)) == expected
    board = rows_as_of(ledger, engine, as_of, known_at)["sla_timers"]
    assert [evaluate_record(r, as_of) for r in board] == [
        evaluate_record(r, as_of)
        for r in sorted(expected["sla_timers"], key=lambda r: (r["ticket_id"], r["seq"]))
    ]


def test_a_customer_without_changes_costs_no_refold(ledger: LedgerApp, engine: Engine) -> None:
    """The check for calendar readings asks only customers whose calendar changed: a
    ledger with none answers as of any instant from its versions alone (and right)."""
    subjects = _subjects()
    subjects["C-1"] = subjects["C-1"][:1]
    clock = FixedClock(RECORDED_FROM)
    Ingestor(ledger, clock=clock).ingest_batch(
        [Input(e, "t") for q in subjects.values() for e in q]
    )
    at = berlin(17, 12)
    assert _sorted(rows_as_of(ledger, engine, at)) == _sorted(
        fold(visible(log_events(ledger), at, None))
    )
    t2 = _timer(sla_board(rows_as_of(ledger, engine, at)["sla_timers"], at), "T-2")
    assert (t2["state"], t2["due_at"]) == ("running", berlin(17, 14))


def test_a_ledger_projected_before_calendar_versions_gets_them_when_opened(
    ledger: LedgerApp, engine: Engine, database: Database
) -> None:
    """A ledger whose read models lack the calendar columns and table (projected by an
    earlier version) gets them and is rebuilt once, when a runner first opens it."""
    _ingest(ledger, 1)
    Projector(ledger, engine).catch_up()
    with engine.begin() as conn:  # what such a ledger looks like
        for name in ("customer_calendars", "customer_calendars_versions"):
            conn.execute(text(f"DROP TABLE {name}"))
        for table in ("tickets", "tickets_versions"):
            for column in ("calendar_version", "calendar_settled_at"):
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    opened = engine_for(database)  # opening it, as a new process does
    try:
        Projector(ledger, opened)
        assert _sorted(read_models(opened)) == _sorted(fold(log_events(ledger)))
        at, known = berlin(18, 16), RECORDED_FROM + timedelta(hours=2)
        assert _sorted(rows_as_of(ledger, opened, at, known)) == _sorted(
            fold(visible(log_events(ledger), at, known))
        )
    finally:
        opened.dispose()
