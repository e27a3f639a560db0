"""Metrics (R-MET) and health (R-CS-2..4) on hand-made read-model rows, worked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from ledger.projections.health import health
from ledger.projections.metrics import metrics, nearest_rank

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
D = timedelta(days=1)


def _ticket(tid: str, severity: int, opened: datetime, **kw: Any) -> dict[str, Any]:
    row = {
        "ticket_id": tid,
        "customer_id": "C-1",
        "category": "platform_down",
        "opened_severity": severity,
        "severity": severity,
        "max_severity": severity,
        "opened_at": opened,
        "first_response_at": None,
        "resolved_at": None,
        "root_cause_code": None,
    }
    row.update(kw)
    return row


def _timer(tid: str, severity: int, due: datetime, stopped: datetime | None) -> dict[str, Any]:
    return {
        "ticket_id": tid,
        "customer_id": "C-1",
        "policy_version": 1,
        "seq": 0,
        "timer": "first_response",
        "severity": severity,
        "clock": "24x7",
        "started_at": due - 60 * M,
        "due_at": due,
        "stopped_at": stopped,
        "paused_seconds": 0,
        "paused_since": None,
        "breached_at": due if stopped is not None and stopped > due else None,
    }


def _customer(cid: str = "C-1", onboarded: datetime = T0 - 100 * D) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "name": "Acme",
        "tier": "enterprise",
        "success_owner": "cs-jo",
        "onboarded_at": onboarded,
        "churned_at": None,
        "status": "active",
    }


def _rows(**tables: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    names = [
        "tickets",
        "sla_timers",
        "escalations",
        "customers",
        "customer_usage",
        "customer_surveys",
        "customer_check_ins",
        "customer_milestones",
        "customer_contracts",
    ]
    return {name: tables.get(name, []) for name in names}


def test_nearest_rank_percentiles() -> None:
    assert nearest_rank([50, 10, 20], 0.5) == 20
    assert nearest_rank([50, 10, 20], 0.9) == 50
    assert nearest_rank(list(range(1, 11)), 0.9) == 9
    assert nearest_rank([], 0.5) is None


def test_response_compliance_volume_repeats_surveys_and_churn() -> None:
    tickets = [
        _ticket("T-1", 1, T0, first_response_at=T0 + 10 * M, resolved_at=T0 + 2 * 60 * M),
        _ticket("T-2", 1, T0 + D, first_response_at=T0 + D + 20 * M, root_cause_code="CERT"),
        _ticket("T-3", 1, T0 + 8 * D, first_response_at=T0 + 8 * D + 50 * M),
        _ticket("T-4", 1, T0 + 40 * D, root_cause_code="CERT"),  # no response yet
        _ticket("T-5", 4, T0 + 40 * D, category="how_to"),
    ]
    timers = [
        _timer("T-1", 1, T0 + 60 * M, T0 + 10 * M),
        _timer("T-2", 1, T0 + D + 60 * M, T0 + D + 20 * M),
        _timer("T-3", 1, T0 + 8 * D + 60 * M, T0 + 8 * D + 50 * M),
        _timer("T-4", 1, T0 + 40 * D + 60 * M, None),  # running, due passes before as_of
    ]
    surveys = [
        {"customer_id": "C-1", "kind": "csat", "score": s, "at": T0 + D, "seq": i}
        for i, s in enumerate([5, 4, 2])
    ] + [
        {"customer_id": "C-1", "kind": "nps", "score": s, "at": T0 + D, "seq": 9 + i}
        for i, s in enumerate([10, 9, 7, 3])
    ]
    customers = [_customer("C-1"), _customer("C-2"), _customer("C-3", onboarded=T0 + 5 * D)]
    contracts = [
        {
            "customer_id": "C-2",
            "kind": "churned",
            "arr": "120000.00",
            "reason": "r",
            "at": T0 + 3 * D,
            "seq": 1,
        }
    ]
    as_of = T0 + 41 * D
    figures = metrics(
        _rows(
            tickets=tickets,
            sla_timers=timers,
            customers=customers,
            customer_surveys=surveys,
            customer_contracts=contracts,
        ),
        as_of,
        from_=T0,
    )
    sev1 = figures["first_response"][0]
    assert (sev1["count"], sev1["median_minutes"], sev1["p90_minutes"]) == (3, 20.0, 50.0)
    compliance = figures["sla_compliance"][0]
    assert (compliance["met"], compliance["breached"], compliance["compliance_pct"]) == (3, 1, 75.0)
    assert figures["tickets_opened"] == 5
    assert [(w["week"], w["sev1"], w["sev4"]) for w in figures["volume_by_week"]] == [
        ("2026-W10", 2, 0),
        ("2026-W11", 1, 0),
        ("2026-W15", 1, 1),  # 40 days after Monday 2 March: Saturday 11 April
    ]
    # T-2 repeats T-1 (same category within 30 days); T-3 too; T-4 shares T-2's root cause.
    assert [(r["ticket_id"], r["repeats"], r["why"]) for r in figures["repeat_incidents"]] == [
        ("T-2", "T-1", "same_category_30d"),
        ("T-3", "T-1", "same_category_30d"),
        ("T-4", "T-2", "same_root_cause"),
    ]
    assert figures["time_to_resolution"][0]["median_hours"] == 2.0
    assert figures["csat"] == {"responses": 3, "average": 3.67, "satisfied_pct": 66.7}
    assert figures["nps"]["score"] == 25.0  # 2 promoters, 1 detractor of 4
    churn = figures["churn"]
    # Base: C-1 and C-2 (C-3 came later); C-2 churned in the window.
    assert (churn["customers_at_start"], churn["churned"], churn["churn_rate_pct"]) == (2, 1, 50.0)
    assert churn["retention_rate_pct"] == 50.0 and churn["churned_arr"] == "120000.00"


def test_health_score_components_trend_flags_and_missed_check_ins() -> None:
    as_of = T0 + 60 * D
    usage = [
        {
            "customer_id": "C-1",
            "seq": i,
            "at": as_of - (40 - 20 * i) * D,
            "period_start": date(2026, 4, 1),
            "period_end": date(2026, 4, 1) + timedelta(days=7 * i),
            "active_users": users,
            "videos_localized": 100,
            "error_count": 1,
        }
        for i, users in enumerate([100, 80])
    ]
    tickets = [
        _ticket("T-1", 1, as_of - 5 * D),
        _ticket("T-2", 2, as_of - 10 * D),
        _ticket("T-9", 1, as_of - 45 * D),  # outside the 30 days
    ]
    check_ins = [
        {
            "customer_id": "C-1",
            "check_in_id": "Q1",
            "scheduled_at": T0,
            "due_at": as_of - 20 * D,
            "completed_at": as_of - 21 * D,
        },
        {
            "customer_id": "C-1",
            "check_in_id": "Q2",
            "scheduled_at": T0,
            "due_at": as_of - 2 * D,
            "completed_at": None,
        },
    ]
    surveys = [
        {
            "customer_id": "C-1",
            "seq": 1,
            "kind": "csat",
            "score": 4,
            "at": as_of - 33 * D,
            "ticket_id": None,
        }
    ]
    milestones = [{"customer_id": "C-1", "milestone": "first_dub", "at": T0}]
    rows = _rows(
        customers=[_customer()],
        customer_usage=usage,
        tickets=tickets,
        customer_check_ins=check_ins,
        customer_surveys=surveys,
        customer_milestones=milestones,
    )
    [record] = health(rows, as_of)
    # usage 80/100 -> 30 x 0.6 = 18; errors 1% -> 20 x 0.8 = 16; load 8 + 4 = 12 of 24 ->
    # 12.5; engagement 5 + 2.5 + 5 - 5 (Q2 missed) = 7.5.
    assert record["components"] == {
        "usage_trend": 18.0,
        "error_frequency": 16.0,
        "support_load": 12.5,
        "engagement": 7.5,
    }
    assert record["score"] == 54.0
    # 30 days earlier: one report (15), errors 16, load 8 (T-9) -> 16.7, engagement 2.5
    # (the survey) + 5 (the milestone) = 7.5 -> 55.2; trend 54.0 - 55.2 = -1.2.
    assert record["trend"] == -1.2
    assert record["flags"] == []  # Q1 was completed 21 days ago: not silent
    assert record["last_engagement_at"] == as_of - 21 * D
    assert record["missed_check_ins"] == [{"check_in_id": "Q2", "due_at": as_of - 2 * D}]


def test_churn_risk_flags() -> None:
    as_of = T0 + 60 * D
    quiet = _customer("C-1", onboarded=T0 - 100 * D)
    tickets = [_ticket(f"T-{i}", 1, as_of - i * D) for i in range(1, 4)]  # load 24: support 0
    [record] = health(_rows(customers=[quiet], tickets=tickets), as_of)
    # No reports: 15 + 10; support 0; engagement 0 -> 25: low, silent since onboarding.
    assert (record["score"], record["flags"]) == (25.0, ["low_health", "sharp_drop", "silent"])
    assert record["trend"] == -25.0  # 30 days ago: 15 + 10 + 25 + 0 = 50
    self_serve = {**quiet, "tier": "self_serve"}
    assert health(_rows(customers=[self_serve], tickets=tickets), as_of)[0]["flags"] == []
