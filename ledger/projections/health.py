"""Customer health (R-CS-2), early warnings (R-CS-3) and missed check-ins (R-CS-4).

A pure function of the customer read-model rows and an instant ``as_of``; nothing is
stored, because every part of it moves with time. The formula (also in the README):

=================  ======  =======================================================
component          points  as of T
=================  ======  =======================================================
usage trend        0-30    latest usage report's ``active_users`` over the one
                           before: 30 x clamp((ratio - 0.5) / 0.5, 0, 1); 15 with
                           fewer than two reports
error frequency    0-20    latest report's ``error_count / videos_localized``:
                           20 x (1 - clamp(rate / 0.05, 0, 1)); 10 with no report
support load       0-25    tickets opened in the 30 days to T, weighted by their
                           opening severity (Sev1 8, Sev2 4, Sev3 2, Sev4 1):
                           25 x max(0, 1 - load / 24)
engagement         0-25    in the 90 days to T: completed check-ins 5 each (max 2),
                           survey answers 2.5 each (max 2); milestones ever reached
                           5 each (max 2); minus 5 per missed check-in; floor 0
=================  ======  =======================================================

``score`` is the sum, rounded to one decimal; ``trend`` is the score at T minus the
score at T - 30 days. Churn-risk flags, for active enterprise customers only:
``low_health`` (score below 50), ``sharp_drop`` (trend of -15 or worse) and ``silent``
(no check-in, survey or milestone, nor onboarding, in the 30 days to T). A check-in
is missed when it is due at or before T and was not completed by T.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

Rows = dict[str, list[dict[str, Any]]]

SEVERITY_WEIGHT: Final = {1: 8, 2: 4, 3: 2, 4: 1}
LOW_HEALTH: Final = 50.0
SHARP_DROP: Final = -15.0
SILENT_DAYS: Final = 30
TREND_DAYS: Final = 30
SUPPORT_DAYS: Final = 30
ENGAGEMENT_DAYS: Final = 90


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def _by_customer(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["customer_id"], []).append(row)
    return grouped


def _missed(check_ins: list[dict[str, Any]], as_of: datetime) -> list[dict[str, Any]]:
    return [
        c
        for c in check_ins
        if c["scheduled_at"] <= as_of
        and c["due_at"] <= as_of
        and (c["completed_at"] is None or c["completed_at"] > as_of)
    ]


def components(signals: dict[str, list[dict[str, Any]]], as_of: datetime) -> dict[str, float]:
    """The four components at ``as_of`` from one customer's signal rows."""
    usage = sorted(
        (u for u in signals["usage"] if u["at"] <= as_of), key=lambda u: (u["period_end"], u["at"])
    )
    if len(usage) >= 2:
        ratio = usage[-1]["active_users"] / max(usage[-2]["active_users"], 1)
        trend = 30 * _clamp((ratio - 0.5) / 0.5)
    else:
        trend = 15.0
    if usage:
        rate = usage[-1]["error_count"] / max(usage[-1]["videos_localized"], 1)
        errors = 20 * (1 - _clamp(rate / 0.05))
    else:
        errors = 10.0
    since = as_of - timedelta(days=SUPPORT_DAYS)
    load = sum(
        SEVERITY_WEIGHT.get(t["opened_severity"], 1)
        for t in signals["tickets"]
        if since < t["opened_at"] <= as_of
    )
    support = 25 * max(0.0, 1 - load / 24)
    window = as_of - timedelta(days=ENGAGEMENT_DAYS)
    done = [
        c
        for c in signals["check_ins"]
        if c["completed_at"] is not None and window < c["completed_at"] <= as_of
    ]
    surveys = [s for s in signals["surveys"] if window < s["at"] <= as_of]
    milestones = [m for m in signals["milestones"] if m["at"] <= as_of]
    missed = [c for c in _missed(signals["check_ins"], as_of) if c["due_at"] > window]
    engagement = (
        5 * min(len(done), 2) + 2.5 * min(len(surveys), 2) + 5 * min(len(milestones), 2)
    ) - 5 * len(missed)
    return {
        "usage_trend": round(trend, 1),
        "error_frequency": round(errors, 1),
        "support_load": round(support, 1),
        "engagement": round(max(engagement, 0.0), 1),
    }


def _last_engagement(
    customer: dict[str, Any], signals: dict[str, list[dict[str, Any]]], as_of: datetime
) -> datetime:
    instants: list[datetime] = [customer["onboarded_at"]]
    instants += [c["completed_at"] for c in signals["check_ins"] if c["completed_at"] is not None]
    instants += [s["at"] for s in signals["surveys"]]
    instants += [m["at"] for m in signals["milestones"]]
    return max(i for i in instants if i <= as_of)


def health(rows: Rows, as_of: datetime, customer_id: str | None = None) -> list[dict[str, Any]]:
    """One health record per customer onboarded by ``as_of``, lowest score first."""
    signals_of = {
        "usage": _by_customer(rows["customer_usage"]),
        "surveys": _by_customer(rows["customer_surveys"]),
        "check_ins": _by_customer(rows["customer_check_ins"]),
        "milestones": _by_customer(rows["customer_milestones"]),
        "tickets": _by_customer(rows["tickets"]),
    }
    records = []
    for customer in rows["customers"]:
        cid = customer["customer_id"]
        if customer_id is not None and cid != customer_id:
            continue
        if customer["onboarded_at"] > as_of:
            continue
        signals = {kind: grouped.get(cid, []) for kind, grouped in signals_of.items()}
        now = components(signals, as_of)
        before = components(signals, as_of - timedelta(days=TREND_DAYS))
        score = round(sum(now.values()), 1)
        trend = round(score - sum(before.values()), 1)
        last = _last_engagement(customer, signals, as_of)
        churned = customer["churned_at"] is not None and customer["churned_at"] <= as_of
        flags = []
        if not churned and customer["tier"] == "enterprise":
            if score < LOW_HEALTH:
                flags.append("low_health")
            if trend <= SHARP_DROP:
                flags.append("sharp_drop")
            if as_of - last > timedelta(days=SILENT_DAYS):
                flags.append("silent")
        records.append(
            {
                "customer_id": cid,
                "name": customer["name"],
                "tier": customer["tier"],
                "success_owner": customer["success_owner"],
                "status": "churned" if churned else "active",
                "score": score,
                "components": now,
                "trend": trend,
                "flags": flags,
                "last_engagement_at": last,
                "missed_check_ins": [
                    {"check_in_id": c["check_in_id"], "due_at": c["due_at"]}
                    for c in sorted(_missed(signals["check_ins"], as_of), key=lambda c: c["due_at"])
                ],
            }
        )
    records.sort(key=lambda r: (r["score"], r["customer_id"]))
    return records
