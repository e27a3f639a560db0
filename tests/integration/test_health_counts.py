"""Health counted by the database answers as ``health`` over the replayed rows does.

``ledger health`` and ``ledger customers`` do not read every signal row: the database
counts the surveys, check-ins done, milestones and weighted tickets in each window and
finds each customer's last two usage reports by each instant (``health_inputs``). A
small ledger puts signals on the windows' edges (a ticket exactly 30 days before the
instant, a survey exactly 90 days before), usage reports that tie (a restated period
reported twice at one instant: the later one counts) and a late report for an old
period (it does not count as the latest), and records some of it later, so that a
``known_at`` in between leaves it out. At every instant where a window's edge falls on a
signal, just after it, and now, the records equal those of a replay of the log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector
from ledger.projections.health import health
from ledger.projections.registry import fold, visible
from ledger.services import answers, reads
from ledger.services.intake import Ingestor, Input
from ledger.services.queries import log_events
from ledger.services.queue import CustomerQuery, customer_queue
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def _usage(
    env: Envelopes, at: datetime, period_end: str, users: int, errors: int = 0
) -> dict[str, Any]:
    return env.make(
        "customer.usage_reported",
        "C-1",
        {
            "period_start": period_end[:8] + "01",
            "period_end": period_end,
            "active_users": users,
            "videos_localized": 40,
            "error_count": errors,
        },
        role="customer_success",
        at=at,
    )


def _event(env: Envelopes, type_: str, subject: str, at: datetime, **data: Any) -> dict[str, Any]:
    return env.make(type_, subject, data, role="customer_success", at=at)


def _signals(env: Envelopes) -> list[dict[str, Any]]:
    """Every envelope, in the order they occurred (each subject's in order: R-IN-5)."""
    envelopes = [
        env.customer("C-1", at=T0 - 200 * DAY),
        env.customer("C-2", at=T0 - 100 * DAY, tier="self_serve", success_owner="cs-kim"),
        env.customer("C-4", at=T0 - 50 * DAY),
        env.customer("C-3", at=T0 + 10 * DAY),
        _usage(env, T0 - 120 * DAY, "2025-10-31", 100),
        _usage(env, T0 - 90 * DAY, "2025-11-30", 120, errors=1),
        _usage(env, T0 - 60 * DAY, "2025-12-31", 60),
        _usage(env, T0 - 59 * DAY, "2025-12-31", 80, errors=2),  # December restated
        _usage(env, T0 - 59 * DAY, "2025-12-31", 90, errors=4),  # again, at that instant
        _usage(env, T0 - 20 * DAY, "2025-11-15", 500, errors=40),  # late, an old period
        _usage(env, T0 - 5 * DAY, "2026-02-28", 70, errors=3),
        _event(
            env,
            "customer.usage_reported",
            "C-2",
            T0 - 40 * DAY,
            period_start="2026-01-01",
            period_end="2026-01-31",
            active_users=9,
            videos_localized=0,
            error_count=5,
        ),
        *(
            _event(env, "customer.survey_recorded", "C-1", at, kind="nps", score=9)
            for at in (T0 - 95 * DAY, T0 - 90 * DAY, T0 - 30 * DAY, T0 - DAY)
        ),
        _event(env, "customer.survey_recorded", "C-2", T0, kind="csat", score=2),
        _event(
            env,
            "customer.check_in_scheduled",
            "C-1",
            T0 - 100 * DAY,
            check_in_id="CK-1",
            due_at=(T0 - 80 * DAY).isoformat(),
        ),
        _event(
            env, "customer.check_in_completed", "C-1", T0 - 85 * DAY, check_in_id="CK-1", notes="ok"
        ),
        _event(
            env,
            "customer.check_in_scheduled",
            "C-1",
            T0 - 40 * DAY,
            check_in_id="CK-2",
            due_at=(T0 - 31 * DAY).isoformat(),
        ),
        _event(
            env,
            "customer.check_in_scheduled",
            "C-1",
            T0 - 10 * DAY,
            check_in_id="CK-3",
            due_at=(T0 - 2 * DAY).isoformat(),
        ),
        _event(
            env, "customer.check_in_completed", "C-1", T0 - DAY, check_in_id="CK-3", notes="late"
        ),
        _event(
            env,
            "customer.check_in_scheduled",
            "C-4",
            T0 - 45 * DAY,
            check_in_id="CK-5",
            due_at=(T0 - 35 * DAY).isoformat(),
        ),
        *(
            _event(env, "customer.milestone_reached", "C-1", at, milestone=m)
            for m, at in (
                ("first_dub", T0 - 150 * DAY),
                ("first_100", T0 - 60 * DAY),
                ("sso_live", T0 - 60 * DAY),
            )
        ),
        env.ticket("T-1", at=T0 - 30 * DAY, severity=1),
        env.ticket("T-2", at=T0 - 29 * DAY, severity=2, category="partial_outage"),
        env.ticket("T-3", at=T0 - 45 * DAY, severity=3, category="feature_issue"),
        env.ticket("T-4", at=T0 - 61 * DAY, severity=4, category="how_to"),
        env.ticket("T-5", at=T0 - 2 * DAY, severity=2, category="partial_outage"),
        env.make("ticket.resolved", "T-5", {"resolution": "re-ran the job"}, at=T0 - DAY),
        env.ticket("T-6", at=T0 - 3 * DAY, severity=4, category="how_to", customer_id="C-4"),
    ]
    return sorted(envelopes, key=lambda e: datetime.fromisoformat(e["occurred_at"]))


@pytest.fixture
def signalled(ledger: LedgerApp, engine: Engine) -> tuple[LedgerApp, Engine, datetime]:
    """The ledger with its signals, those that occurred in the last ten days before T0
    (and after) recorded a day after the others; returns when the others were."""
    envelopes = _signals(Envelopes(T0 - 300 * DAY))
    cut = T0 - 10 * DAY
    first = [e for e in envelopes if datetime.fromisoformat(e["occurred_at"]) <= cut]
    later = envelopes[len(first) :]
    clock = FixedClock(T0 + 30 * DAY)
    ingestor = Ingestor(ledger, clock=clock)
    report = ingestor.ingest(Input(raw, f"t:{n}") for n, raw in enumerate(first))
    recorded = clock.now
    clock.now += DAY
    late = ingestor.ingest(Input(raw, f"l:{n}") for n, raw in enumerate(later))
    assert (report.accepted, late.accepted) == (len(first), len(later))
    Projector(ledger, engine).catch_up()
    return ledger, engine, recorded


def _instants(ledger: LedgerApp) -> list[datetime]:
    """Each signal's instant where a window's edge (30, 60, 90, 120 days) falls on it,
    and a second later."""
    occurred = sorted({e.occurred_at for e in log_events(ledger)})
    edges = (0 * DAY, 30 * DAY, 60 * DAY, 90 * DAY, 120 * DAY)
    return sorted(
        {at + edge + nudge for at in occurred for edge in edges for nudge in (0 * SECOND, SECOND)}
    )


def test_counted_health_equals_the_replay_at_every_edge(
    signalled: tuple[LedgerApp, Engine, datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, engine, recorded = signalled

    def not_here(*_: Any, **__: Any) -> Any:
        raise AssertionError("health read row by row, not counted by the database")

    for name in ("signals_of", "health_rows", "customer_rows"):  # (the way around it)
        monkeypatch.setattr(reads, name, not_here)
    instants = _instants(ledger)
    now = instants[-1] + DAY
    seen_flags: set[str] = set()
    for as_of, known_at in [(now, None), *((at, None) for at in instants), (now, recorded)]:
        replayed = fold(visible(log_events(ledger), as_of, known_at))
        expected = health(replayed, as_of)
        assert answers.health_records(ledger, engine, as_of, known_at) == expected, as_of
        queue = customer_queue(replayed, as_of)
        assert answers.customers(ledger, engine, as_of, known_at, CustomerQuery()) == queue
        for asked in (1, 2):  # (the customers page: a trend read for its customers only)
            page = min(asked, max(1, -(-len(queue) // 2)))
            assert answers.customers_page(
                ledger, engine, as_of, known_at, CustomerQuery(), lambda _: True, asked, 2
            ) == (len(queue), page, queue[(page - 1) * 2 : page * 2])
        assert answers.health_records(ledger, engine, as_of, known_at, "C-1") == (
            health(replayed, as_of, "C-1")
        )
        seen_flags |= {flag for record in expected for flag in record["flags"]}
    assert seen_flags == {"low_health", "sharp_drop", "silent"}


def test_the_restated_and_late_reports_count_as_health_says(
    signalled: tuple[LedgerApp, Engine, datetime],
) -> None:
    """By hand, at T0: the last report by period end is February's (70 users, 3 errors in
    40 videos: past 5%), the one before it December's restated at the instant of the
    first restatement and recorded after it (90 users), not November's late report; the
    tickets of the 30 days to T0 are T-2 and T-5 (Sev2: 4 each), T-1 opened exactly 30
    days before. Known when only the events to T0 - 10 days were: the last two are the
    two restatements (90 over 80 users: full marks) and the load is T-2's."""
    ledger, engine, recorded = signalled
    (c1,) = answers.health_records(ledger, engine, T0, None, "C-1")
    assert c1["components"]["usage_trend"] == round(30 * ((70 / 90) - 0.5) / 0.5, 1) == 16.7
    assert c1["components"]["error_frequency"] == 0.0
    assert c1["components"]["support_load"] == round(25 * (1 - 8 / 24), 1) == 16.7
    (earlier,) = answers.health_records(ledger, engine, T0, recorded, "C-1")
    assert earlier["components"]["usage_trend"] == 30.0
    assert earlier["components"]["error_frequency"] == 0.0  # 4 errors in 40 videos
    assert earlier["components"]["support_load"] == round(25 * (1 - 4 / 24), 1) == 20.8
