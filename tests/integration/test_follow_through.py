"""Issue 20 in the ledger: the rules of preventive actions, milestones, feedback and
knowledge links (rejected and kept, with rule and field); ``rca.action_overdue`` written
once by the tick; ``ledger actions``, ``ledger metrics`` and ``ledger insights`` as of
any instant equal to a fold of the log; rebuild equal to live; a ledger made before the
new read models projected again when opened.

The ledger is ``tests/follow_through_story.py``'s; expected figures are worked out by
hand in each test from the story's instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, engine_for, read_models
from ledger.adapters.settings import Database
from ledger.projections.insights import insights as insight_figures
from ledger.projections.metrics import metrics as metric_figures
from ledger.projections.registry import fold, visible
from ledger.services import answers
from ledger.services.followup import ALL, ActionQuery, action_list
from ledger.services.intake import Ingestor, Input, Outcome
from ledger.services.queries import log_events
from ledger.services.tick import tick
from ledger.services.webhooks import ALERT_TYPES
from tests.conftest import FixedClock
from tests.follow_through_story import (
    RECORDED_FOLLOW_THROUGH,
    RECORDED_STORY,
    RUNBOOK_AT,
    follow_through,
    story,
)
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
D = timedelta(days=1)
LATE = datetime(2026, 3, 25, tzinfo=UTC)  # after everything


def _ingest(ledger: LedgerApp, envelopes: list[dict[str, Any]], at: datetime) -> list[Outcome]:
    return Ingestor(ledger, clock=FixedClock(at)).ingest_batch(
        [Input(e, "test") for e in envelopes]
    )


def _all_accepted(outcomes: list[Outcome]) -> None:
    assert [(o.rejection.rule, o.rejection.reason) for o in outcomes if o.rejection] == []
    assert {o.status for o in outcomes} == {"accepted"}


@pytest.fixture
def told(ledger: LedgerApp) -> LedgerApp:
    """The story, then its follow-through, each recorded at its own instant."""
    env = Envelopes()
    _all_accepted(_ingest(ledger, story(env), RECORDED_STORY))
    _all_accepted(_ingest(ledger, follow_through(env), RECORDED_FOLLOW_THROUGH))
    return ledger


def _rule(outcome: Outcome) -> tuple[str, str]:
    assert outcome.rejection is not None, outcome
    return outcome.rejection.rule, outcome.rejection.field


# the rules -------------------------------------------------------------------------------


def test_follow_through_rules_are_enforced_with_their_ids(told: LedgerApp) -> None:
    env = Envelopes(start=datetime(2026, 3, 24, 13, tzinfo=UTC), seed=99)
    e = env.make

    def pe(actor: str) -> dict[str, Any]:
        return {"role": "platform_engineer", "actor_id": actor}

    attempts = [
        # an action the RCA never added
        e("rca.preventive_action_completed", "T-1", {"action_id": "PA-9"}, **pe("pe-li")),
        # verifying an open action, then completing it and verifying it oneself
        e("rca.preventive_action_verified", "T-1", {"action_id": "PA-3"}, **pe("pe-sam")),
        e("rca.preventive_action_completed", "T-1", {"action_id": "PA-3"}, **pe("pe-li")),
        e("rca.preventive_action_verified", "T-1", {"action_id": "PA-3"}, **pe(" PE-LI ")),
        # completing twice; cancelling a completed one; a blank reason
        e("rca.preventive_action_completed", "T-1", {"action_id": "PA-3"}, **pe("pe-li")),
        e("rca.preventive_action_cancelled", "T-1", {"action_id": "PA-3", "reason": "no"}),
        e("rca.preventive_action_cancelled", "T-2", {"action_id": "PA-1", "reason": " "}),
        # anything after a cancellation; restating a cancelled action
        e("rca.preventive_action_completed", "T-1", {"action_id": "PA-2"}, **pe("pe-sam")),
        e(
            "rca.preventive_action_added",
            "T-1",
            {"action_id": "PA-2", "description": "again", "owner": "x", "due_date": "2026-05-01"},
        ),
        # a new action on the closed ticket is fine; so is a knowledge link, not twice
        e(
            "rca.preventive_action_added",
            "T-1",
            {
                "action_id": "PA-4",
                "description": "more",
                "owner": "pe-li",
                "due_date": "2026-05-01",
            },
        ),
        e("rca.knowledge_linked", "T-1", {"kind": "faq", "ref": "KB-101", "title": "Again"}),
        e("rca.knowledge_linked", "T-1", {"kind": "playbook", "ref": " ", "title": "Blank"}),
        # but the closed ticket takes nothing else
        e("incident.mitigated", "T-1", {"at": (T0 + 40 * M).isoformat()}),
        e("ticket.update_posted", "T-1", {"message": "late news"}),
    ]
    outcomes = _ingest(told, attempts, datetime(2026, 3, 25, tzinfo=UTC))
    assert [o.status if o.rejection is None else _rule(o) for o in outcomes] == [
        ("R-STATE-3", "data.action_id"),
        ("R-RCA-4", "data.action_id"),
        "accepted",
        ("R-RCA-4", "actor.id"),
        ("R-RCA-4", "data.action_id"),
        ("R-RCA-4", "data.action_id"),
        ("R-RCA-4", "data.reason"),
        ("R-RCA-4", "data.action_id"),
        ("R-RCA-4", "data.action_id"),
        "accepted",
        ("R-RCA-6", "data.ref"),
        ("R-RCA-6", "data.ref"),
        ("R-STATE-2", ""),
        ("R-STATE-2", ""),
    ]
    kept = {(r.rejection.rule, r.rejection.event_type) for r in told.store.rejections()}
    assert ("R-RCA-4", "rca.preventive_action_verified") in kept  # kept, never dropped


def test_milestones_keep_their_order_and_may_be_corrected(ledger: LedgerApp) -> None:
    env = Envelopes()
    e = env.make
    _all_accepted(
        _ingest(
            ledger,
            [env.customer("C-1", at=T0 - D), env.ticket("T-1", at=T0)],
            T0 + D,
        )
    )

    def milestone(kind: str, at: datetime, occurred: datetime) -> dict[str, Any]:
        return e(f"incident.{kind}", "T-1", {"at": at.isoformat()}, at=occurred)

    outcomes = _ingest(
        ledger,
        [
            milestone("detected", T0 + 20 * M, T0 + 10 * M),  # at after occurred_at
            milestone("detected", T0 - 5 * M, T0 + 10 * M),
            milestone("impact_started", T0 - 4 * M, T0 + 11 * M),  # after the detection
            milestone("impact_started", T0 - 30 * M, T0 + 12 * M),
            milestone("mitigated", T0 - 10 * M, T0 + 13 * M),  # before detection
            milestone("mitigated", T0 + 10 * M, T0 + 14 * M),
            milestone("detected", T0 + 11 * M, T0 + 15 * M),  # a correction past mitigation
            milestone("detected", T0 - 25 * M, T0 + 16 * M),  # a correction that fits
        ],
        T0 + D,
    )
    assert [o.status if o.rejection is None else _rule(o) for o in outcomes] == [
        ("R-INC-1", "data.at"),
        "accepted",
        ("R-INC-1", "data.at"),
        "accepted",
        ("R-INC-1", "data.at"),
        "accepted",
        ("R-INC-1", "data.at"),
        "accepted",
    ]
    view = answers.ticket_view(ledger, "T-1", T0 + D, None)
    assert view["milestones"] == {
        "impact_started_at": (T0 - 30 * M).isoformat(),
        "detected_at": (T0 - 25 * M).isoformat(),
        "mitigated_at": (T0 + 10 * M).isoformat(),
    }


def test_feedback_names_a_ticket_of_its_customer_or_waits_for_it(ledger: LedgerApp) -> None:
    env = Envelopes()
    e = env.make

    def feedback(customer: str, fid: str, ticket: str | None, words: str = "slow") -> Any:
        data = {"feedback_id": fid, "kind": "bug", "product_area": "editor", "text": words}
        if ticket is not None:
            data["ticket_id"] = ticket
        return e("customer.feedback_recorded", customer, data, role="customer")

    outcomes = _ingest(
        ledger,
        [
            env.customer("C-1", at=T0 - D),
            env.customer("C-2", at=T0 - D),
            env.ticket("T-1", at=T0),
            feedback("C-2", "FB-1", "T-1"),  # C-1's ticket
            feedback("C-1", "FB-1", None, words="  "),
            feedback("C-1", "FB-1", "T-1"),
            feedback("C-1", "FB-1", None),  # the same id again
            feedback("C-1", "FB-2", "T-7"),  # not opened yet: waits
        ],
        T0 + D,
    )
    assert [o.status if o.status in ("accepted", "deferred") else _rule(o) for o in outcomes][
        3:
    ] == [
        ("R-CS-5", "data.ticket_id"),
        ("R-CS-5", "data.text"),
        "accepted",
        ("R-STATE-3", "data.feedback_id"),
        "deferred",
    ]
    assert outcomes[-1].waits_for == "T-7"
    opened = _ingest(ledger, [env.ticket("T-7")], T0 + D)
    assert [(o.status, o.released) for o in opened] == [("accepted", False), ("accepted", True)]
    recorded = [
        (type(event).__name__, getattr(event, "feedback_id", None))
        for event in ledger.history("C-1")
    ]
    assert recorded[-2:] == [("FeedbackRecorded", "FB-1"), ("FeedbackRecorded", "FB-2")]


# the tick --------------------------------------------------------------------------------


def test_the_tick_writes_each_overdue_action_once_at_its_due_instant(
    told: LedgerApp, engine: Engine
) -> None:
    assert "rca.action_overdue" in ALERT_TYPES  # an alert like any the ledger writes
    report = tick(told, engine, LATE)
    overdue = sorted(
        (e.originator_id, e.action_id, e.occurred_at, e.owner)
        for ticket in ("T-1", "T-2")
        for e in told.history(ticket)
        if type(e).__name__ == "ActionOverdue"
    )
    # T-2 PA-1 (due 03-05) was completed 03-07: overdue from 03-06 all the same; T-1 PA-3
    # (due 03-20) is still open. T-1 PA-1 was on time and PA-2 cancelled before its due.
    assert overdue == [
        ("T-1", "PA-3", datetime(2026, 3, 21, tzinfo=UTC), "pe-li"),
        ("T-2", "PA-1", datetime(2026, 3, 6, tzinfo=UTC), "pe-sam"),
    ]
    assert report.written["rca.action_overdue"] == 2
    assert "rca.action_overdue" not in tick(told, engine, LATE).written  # once
    assert "rca.action_overdue" not in tick(told, engine, LATE + 10 * D).written


def test_the_tick_writes_nothing_before_the_due_instant(told: LedgerApp, engine: Engine) -> None:
    # As of 03-05 23:59 nothing is overdue yet (T-2 PA-1 is due on 03-05, all that day).
    early = tick(told, engine, datetime(2026, 3, 5, 23, 59, tzinfo=UTC))
    assert "rca.action_overdue" not in early.written
    on_the_dot = tick(told, engine, datetime(2026, 3, 6, tzinfo=UTC))
    assert on_the_dot.written.get("rca.action_overdue") == 1


# the answers -----------------------------------------------------------------------------


def _actions(ledger: LedgerApp, engine: Engine, as_of: datetime, **query: Any) -> list[Any]:
    found = answers.actions(
        ledger, engine, as_of, query.pop("known_at", None), ActionQuery(**query)
    )
    return [
        (a["ticket_id"], a["action_id"], a["state"], a["overdue_by"], a["on_time"]) for a in found
    ]


def test_actions_as_of_any_instant(told: LedgerApp, engine: Engine) -> None:
    assert _actions(told, engine, LATE, status=ALL) == [
        ("T-2", "PA-1", "completed", None, False),
        ("T-1", "PA-1", "verified", None, True),
        ("T-1", "PA-2", "cancelled", None, None),
        ("T-1", "PA-3", "overdue", 4 * 86400, None),  # overdue from 03-21 00:00Z
    ]
    assert _actions(told, engine, LATE) == [("T-1", "PA-3", "overdue", 4 * 86400, None)]
    noon = datetime(2026, 3, 6, 12, tzinfo=UTC)
    assert _actions(told, engine, noon, status="overdue") == [
        ("T-2", "PA-1", "overdue", 12 * 3600, None)
    ]
    assert _actions(told, engine, datetime(2026, 3, 11, tzinfo=UTC), owner="pe-li", status=ALL) == [
        ("T-1", "PA-1", "completed", None, True),
        ("T-1", "PA-3", "open", None, None),
    ]
    # known at 03-10 the follow-through was not recorded yet: everything is overdue by 03-25
    known = datetime(2026, 3, 10, tzinfo=UTC)
    assert [a[:3] for a in _actions(told, engine, LATE, known_at=known)] == [
        ("T-2", "PA-1", "overdue"),
        ("T-1", "PA-1", "overdue"),
        ("T-1", "PA-2", "overdue"),
        ("T-1", "PA-3", "overdue"),
    ]


def test_action_filters_that_name_nothing_are_errors(told: LedgerApp, engine: Engine) -> None:
    from ledger.services.queue import BadOption

    with pytest.raises(BadOption, match="ticket T-9: no such ticket"):
        answers.actions(told, engine, LATE, None, ActionQuery(ticket="T-9"))
    with pytest.raises(BadOption, match="owner pe-nobody: owns no preventive action"):
        answers.actions(told, engine, LATE, None, ActionQuery(owner="pe-nobody"))
    with pytest.raises(BadOption, match="status done: use pending, all, open"):
        ActionQuery(status="done")
    assert _actions(told, engine, LATE, ticket="T-2") == []  # a ticket with nothing pending


def test_metrics_add_incident_times_and_follow_through(told: LedgerApp, engine: Engine) -> None:
    figures = answers.metrics(told, engine, LATE, None, datetime(2026, 3, 1, tzinfo=UTC), None)
    times = figures["incident_times"]
    sev = {name: {r["severity"]: r for r in rows} for name, rows in times.items()}
    # T-1 (Sev1): impact T0-20m, detected T0-8m, answered T0+10m, mitigated T0+50m,
    # resolved T0+120m. T-5 (Sev1): no milestones, answered +10m, resolved +30m.
    assert (sev["detect"][1]["count"], sev["detect"][1]["median_minutes"]) == (1, 12.0)
    assert [sev["acknowledge"][1][k] for k in ("count", "median_minutes", "p90_minutes")] == [
        2,
        10.0,
        18.0,
    ]
    assert (sev["mitigate"][1]["count"], sev["mitigate"][1]["median_minutes"]) == (1, 70.0)
    assert [sev["resolve"][1][k] for k in ("count", "median_minutes", "p90_minutes")] == [
        2,
        30.0,
        140.0,
    ]
    # T-2 (Sev2): opened T0+60m, answered T0+90m, resolved T0+5h; no milestones.
    assert (sev["acknowledge"][2]["median_minutes"], sev["resolve"][2]["median_minutes"]) == (
        30.0,
        240.0,
    )
    assert sev["detect"][2]["count"] == sev["mitigate"][2]["count"] == 0
    # Due in the window and passed by 03-25: T-2 PA-1 (late), T-1 PA-1 (on time), T-1 PA-3
    # (not done); T-1 PA-2 was cancelled before its due instant.
    assert figures["preventive_actions"] == {
        "due": 3,
        "completed_on_time": 1,
        "completed_late": 1,
        "not_completed": 1,
        "cancelled_before_due": 1,
        "follow_through_pct": 33.3,
        "overdue_by_owner": [{"owner": "pe-li", "overdue": 1}],
    }


def _areas(figures: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            a["rank"],
            a["product_area"],
            a["pain"],
            a["tickets"],
            a["severity_points"],
            a["repeat_incidents"],
            a["breaches"],
            a["feedback"]["total"],
            a["customers_affected"],
        )
        for a in figures["areas"]
    ]


def test_insights_rank_areas_by_pain_and_flag_repeated_causes(
    told: LedgerApp, engine: Engine
) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    figures = answers.insights(told, engine, LATE, None, start, None)
    # dubbing: T-5 (Sev1: 8) repeats T-1 (+4) = 12. exports: T-2 (Sev2: 4) and T-3 (Sev3:
    # 2), T-3's first response breached (+2), a bug (+2) and a feature request (+1) = 11;
    # C-1 and C-2. database: T-1 (Sev1: 8), its cause placed there. editor: one ux (+1).
    assert _areas(figures) == [
        (1, "dubbing", 12, 1, 8, 1, 0, 0, 1),
        (2, "exports", 11, 2, 6, 0, 1, 2, 2),
        (3, "database", 8, 1, 8, 0, 0, 0, 1),
        (4, "editor", 1, 0, 0, 0, 0, 1, 1),
    ]
    exports = figures["areas"][1]["feedback"]
    assert exports == {"bug": 1, "ux": 0, "feature_request": 1, "total": 2}
    assert figures["without_area"] == {"tickets": 1, "severity_points": 1}  # T-4 (Sev4)
    assert figures["knowledge_gaps"] == []  # the runbook linked to T-5 on 03-24
    before = answers.insights(told, engine, RUNBOOK_AT - M, None, start, None)
    assert [(g["root_cause_code"], g["tickets"]) for g in before["knowledge_gaps"]] == [
        ("DB-FAILOVER", ["T-1", "T-5"])
    ]
    assert before["knowledge_gaps"][0]["product_areas"] == ["database", "dubbing"]


@pytest.mark.parametrize(
    ("as_of", "known_at"),
    [
        (LATE, None),
        (datetime(2026, 3, 6, 12, tzinfo=UTC), None),
        (LATE, datetime(2026, 3, 10, tzinfo=UTC)),
        (T0 + 3 * 60 * M, None),
        (RUNBOOK_AT - M, RECORDED_FOLLOW_THROUGH),
    ],
)
def test_read_model_answers_equal_a_fold_of_the_log(
    told: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None
) -> None:
    rows = fold(visible(log_events(told), as_of, known_at))
    start = datetime(2026, 3, 1, tzinfo=UTC)
    replayed = action_list(rows, as_of, ActionQuery(status=ALL))
    assert answers.actions(told, engine, as_of, known_at, ActionQuery(status=ALL)) == replayed
    figures = answers.insights(told, engine, as_of, known_at, start, None)
    assert figures == insight_figures(rows, as_of, start, None)
    ours = answers.metrics(told, engine, as_of, known_at, start, None)
    theirs = metric_figures(rows, as_of, start, None)
    for key in ("incident_times", "preventive_actions"):
        assert ours[key] == theirs[key]


def test_rebuild_equals_live(told: LedgerApp, engine: Engine) -> None:
    projector = Projector(told, engine)
    projector.catch_up()
    live = read_models(engine)
    assert [r["action_id"] for r in live["rca_actions"]] == ["PA-1", "PA-2", "PA-3", "PA-1"]
    assert len(live["rca_knowledge_links"]) == 2 and len(live["customer_feedback"]) == 3
    projector.rebuild()
    assert read_models(engine) == live


def test_a_ledger_made_before_the_new_read_models_is_projected_again(
    told: LedgerApp, database: Database
) -> None:
    engine = engine_for(database)
    Projector(told, engine).catch_up()
    live = read_models(engine)
    with engine.begin() as conn:  # as an earlier version left it
        conn.execute(text("DROP TABLE rca_actions"))
        conn.execute(text("DROP TABLE rca_actions_versions"))
        conn.execute(text("ALTER TABLE tickets DROP COLUMN product_area"))
    engine.dispose()
    again = engine_for(database)  # a new process: a new engine
    try:
        Projector(told, again).catch_up()
        assert read_models(again) == live
    finally:
        again.dispose()
