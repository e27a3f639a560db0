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

What a customer's signal rows count for at an instant (``Counts``: support load,
check-ins done, surveys, milestones) and the rest ``health`` reads of them (``Signals``)
come from the rows (``signals_of``) or, from the read models, from a query that counts
the same rows (``ledger.services.reads.health_inputs``); ``health_of`` scores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

Rows = dict[str, list[dict[str, Any]]]

SEVERITY_WEIGHT: Final = {1: 8, 2: 4, 3: 2, 4: 1}
"""A ticket's weight in the support load by its opening severity (any other: 1)."""
LOW_HEALTH: Final = 50.0
SHARP_DROP: Final = -15.0
SILENT_DAYS: Final = 30
TREND_DAYS: Final = 30
SUPPORT_DAYS: Final = 30
ENGAGEMENT_DAYS: Final = 90
_ENGAGEMENT: Final = timedelta(days=ENGAGEMENT_DAYS)


class Counts(NamedTuple):
    """What one customer's signals count for at an instant ``X``: its tickets opened in
    the 30 days to ``X`` weighted by opening severity (``support_load``), its check-ins
    completed and survey answers in the 90 days to ``X``, and its milestones reached by
    ``X``; each whole (the formula caps them)."""

    support_load: int = 0
    check_ins_done: int = 0
    surveys: int = 0
    milestones: int = 0


NONE: Final = Counts()
"""Nothing counted."""


@dataclass(slots=True)
class Signals:
    """What ``health`` reads of one customer as of ``T``, for the score then and the
    score 30 days before (``B``): its usage reports (at least those reported by ``T``),
    its check-ins (at least those scheduled and due by ``T`` and not completed by ``B``:
    the ones that can be missed then), its ``Counts`` at ``T`` and at ``B``, and the
    latest instant by ``T`` it completed a check-in, answered a survey or reached a
    milestone (None: none)."""

    usage: list[dict[str, Any]] = field(default_factory=list)
    check_ins: list[dict[str, Any]] = field(default_factory=list)
    now: Counts = NONE
    before: Counts = NONE
    last_signal: datetime | None = None


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


def counts(
    tickets: list[dict[str, Any]],
    check_ins: list[dict[str, Any]],
    surveys: list[dict[str, Any]],
    milestones: list[dict[str, Any]],
    at: datetime,
) -> Counts:
    """One customer's ``Counts`` at ``at`` from its rows."""
    since = at - timedelta(days=SUPPORT_DAYS)
    window = at - timedelta(days=ENGAGEMENT_DAYS)
    return Counts(
        support_load=sum(
            SEVERITY_WEIGHT.get(t["opened_severity"], 1)
            for t in tickets
            if since < t["opened_at"] <= at
        ),
        check_ins_done=sum(
            1
            for c in check_ins
            if c["completed_at"] is not None and window < c["completed_at"] <= at
        ),
        surveys=sum(1 for s in surveys if window < s["at"] <= at),
        milestones=sum(1 for m in milestones if m["at"] <= at),
    )


def signals_of(rows: Rows, as_of: datetime) -> dict[str, Signals]:
    """Each customer's ``Signals`` as of ``as_of`` from the read-model rows (customers
    with none left out)."""
    before = as_of - timedelta(days=TREND_DAYS)
    usage = _by_customer(rows["customer_usage"])
    surveys = _by_customer(rows["customer_surveys"])
    check_ins = _by_customer(rows["customer_check_ins"])
    milestones = _by_customer(rows["customer_milestones"])
    tickets = _by_customer(rows["tickets"])
    found = {}
    for cid in {*usage, *surveys, *check_ins, *milestones, *tickets}:
        theirs = (
            tickets.get(cid, []),
            check_ins.get(cid, []),
            surveys.get(cid, []),
            milestones.get(cid, []),
        )
        instants = [c["completed_at"] for c in theirs[1] if c["completed_at"] is not None]
        instants += [s["at"] for s in theirs[2]]
        instants += [m["at"] for m in theirs[3]]
        found[cid] = Signals(
            usage=usage.get(cid, []),
            check_ins=theirs[1],
            now=counts(*theirs, as_of),
            before=counts(*theirs, before),
            last_signal=max((i for i in instants if i <= as_of), default=None),
        )
    return found


def components(
    usage: list[dict[str, Any]],
    check_ins: list[dict[str, Any]],
    counted: Counts,
    at: datetime,
) -> dict[str, float]:
    """The four components at ``at`` from one customer's usage reports (sorted by
    period end, then report instant: ``_by_period``), check-ins and ``Counts`` then."""
    reported = [u for u in usage if u["at"] <= at]
    if len(reported) >= 2:
        ratio = reported[-1]["active_users"] / max(reported[-2]["active_users"], 1)
        trend = 30 * _clamp((ratio - 0.5) / 0.5)
    else:
        trend = 15.0
    if reported:
        rate = reported[-1]["error_count"] / max(reported[-1]["videos_localized"], 1)
        errors = 20 * (1 - _clamp(rate / 0.05))
    else:
        errors = 10.0
    support = 25 * max(0.0, 1 - counted.support_load / 24)
    missed = 0
    if check_ins:
        window = at - _ENGAGEMENT
        missed = sum(1 for c in _missed(check_ins, at) if c["due_at"] > window)
    engagement = (
        5 * min(counted.check_ins_done, 2)
        + 2.5 * min(counted.surveys, 2)
        + 5 * min(counted.milestones, 2)
    ) - 5 * missed
    return {
        "usage_trend": round(trend, 1),
        "error_frequency": round(errors, 1),
        "support_load": round(support, 1),
        "engagement": round(max(engagement, 0.0), 1),
    }


def _by_period(usage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Usage reports by period end, then report instant (in their order on ties)."""
    return sorted(usage, key=lambda u: (u["period_end"], u["at"]))


def health(rows: Rows, as_of: datetime, customer_id: str | None = None) -> list[dict[str, Any]]:
    """One health record per customer onboarded by ``as_of``, lowest score first."""
    return health_of(rows["customers"], signals_of(rows, as_of), as_of, customer_id)


NO_SIGNALS: Final = Signals()


def score(signals: Signals, as_of: datetime) -> float:
    """A customer's score at ``as_of`` from its ``Signals``, as its record has it."""
    return _now(_by_period(signals.usage), signals, as_of)[1]


def _now(
    usage: list[dict[str, Any]], signals: Signals, as_of: datetime
) -> tuple[dict[str, float], float]:
    """The components at ``as_of`` and their sum, the score, rounded to one decimal."""
    now = components(usage, signals.check_ins, signals.now, as_of)
    return now, round(sum(now.values()), 1)


def health_of(
    customers: Iterable[dict[str, Any]],
    signals: Mapping[str, Signals],
    as_of: datetime,
    customer_id: str | None = None,
) -> list[dict[str, Any]]:
    """``health`` from the customers' rows and their ``Signals`` as of ``as_of``."""
    records = []
    before = as_of - timedelta(days=TREND_DAYS)
    for customer in customers:
        cid = customer["customer_id"]
        if customer_id is not None and cid != customer_id:
            continue
        if customer["onboarded_at"] > as_of:
            continue
        theirs = signals.get(cid, NO_SIGNALS)
        usage = _by_period(theirs.usage)
        now, score = _now(usage, theirs, as_of)
        then = components(usage, theirs.check_ins, theirs.before, before)
        trend = round(score - sum(then.values()), 1)
        last: datetime = customer["onboarded_at"]
        if theirs.last_signal is not None and theirs.last_signal > last:
            last = theirs.last_signal
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
                    for c in sorted(_missed(theirs.check_ins, as_of), key=lambda c: c["due_at"])
                ],
            }
        )
    records.sort(key=lambda r: (r["score"], r["customer_id"]))
    return records
