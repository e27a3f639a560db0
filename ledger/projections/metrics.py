"""Support and success metrics (R-MET) as pure functions of the read-model rows.

Window: ``[from_, to]`` on the instant each fact is about (tickets by ``opened_at``,
timers by ``started_at``, resolutions by ``resolved_at``, surveys and churn by when
they occurred); ``to`` defaults to ``as_of`` and ``from_`` to the beginning of the log.
Severities are as of ``as_of`` (a re-triaged ticket counts at its corrected severity);
timer compliance counts each interval at the severity it ran under.

Percentiles are nearest-rank (p90 of n values is the ceil(0.9 n)-th smallest), so every
figure is one of the observed values and exact.

Incident times (``incident_times``), in real minutes, per severity, for tickets opened in
the window, each counted once its end is recorded by the window's end (a span whose end
precedes its start, e.g. a response before the detection was recorded, is left out):

* ``detect``: from ``incident.impact_started`` to ``incident.detected`` (both recorded);
* ``acknowledge``: from detection (or, with none recorded, the opening) to the first
  public response;
* ``mitigate``: from the impact's start (or the opening) to ``incident.mitigated``;
* ``resolve``: from the impact's start (or the opening) to the resolution.

Follow-through of preventive actions and overdue actions per owner: see
``ledger.projections.actions``.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from ledger.projections.actions import follow_through, overdue_by_owner
from ledger.projections.sla import timer_state

Rows = dict[str, list[dict[str, Any]]]

REPEAT_WINDOW: Final = timedelta(days=30)
SEVERITIES: Final = (1, 2, 3, 4)


def nearest_rank(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def _minutes(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 60, 2)


def _within(at: datetime | None, from_: datetime | None, to: datetime) -> bool:
    return at is not None and at <= to and (from_ is None or at >= from_)


def _opened_within(
    tickets: list[dict[str, Any]], from_: datetime | None, to: datetime
) -> list[dict[str, Any]]:
    """The tickets opened in the window (``_within``), in their order."""
    if from_ is None:
        return [t for t in tickets if t["opened_at"] is not None and t["opened_at"] <= to]
    return [t for t in tickets if t["opened_at"] is not None and from_ <= t["opened_at"] <= to]


def _spread(values_by_severity: dict[int, list[float]], unit: str) -> list[dict[str, Any]]:
    return [
        {
            "severity": severity,
            "count": len(values_by_severity.get(severity, [])),
            f"median_{unit}": nearest_rank(values_by_severity.get(severity, []), 0.5),
            f"p90_{unit}": nearest_rank(values_by_severity.get(severity, []), 0.9),
        }
        for severity in SEVERITIES
    ]


def first_response(
    tickets: list[dict[str, Any]], from_: datetime | None, to: datetime
) -> list[dict[str, Any]]:
    """First-response minutes by severity (real minutes from opening to first response)."""
    return _first_response(_opened_within(tickets, from_, to), to)


def _first_response(opened: list[dict[str, Any]], to: datetime) -> list[dict[str, Any]]:
    values: dict[int, list[float]] = {}
    for t in opened:
        responded = t["first_response_at"]
        if responded is not None and responded <= to:
            values.setdefault(t["severity"], []).append(_minutes(t["opened_at"], responded))
    return _spread(values, "minutes")


def resolution(
    tickets: list[dict[str, Any]], from_: datetime | None, to: datetime
) -> list[dict[str, Any]]:
    """Time to resolution in hours by severity, for tickets resolved in the window."""
    values: dict[int, list[float]] = {}
    for t in tickets:
        if _within(t["resolved_at"], from_, to):
            hours = round((t["resolved_at"] - t["opened_at"]).total_seconds() / 3600, 2)
            values.setdefault(t["severity"], []).append(hours)
    return _spread(values, "hours")


def compliance(
    timers: list[dict[str, Any]], from_: datetime | None, to: datetime, as_of: datetime
) -> list[dict[str, Any]]:
    """Met and breached targeted timer intervals by severity, decided as of ``as_of``."""
    tally: dict[tuple[int, str], int] = {}
    for record in timers:
        started = record["started_at"]
        if (
            record["due_at"] is None
            or started is None
            or started > to
            or (from_ is not None and started < from_)
        ):
            continue  # (not ``_within`` the window)
        key = (record["severity"], timer_state(record, as_of)[0])
        tally[key] = tally.get(key, 0) + 1
    counts: dict[int, Counter[str]] = {s: Counter() for s in SEVERITIES}
    for (severity, state), n in tally.items():
        counts.setdefault(severity, Counter())[state] += n
    result = []
    for severity, c in sorted(counts.items()):
        decided = c["met"] + c["breached"]
        result.append(
            {
                "severity": severity,
                "met": c["met"],
                "breached": c["breached"],
                "open": c["running"] + c["paused"],
                "compliance_pct": round(100 * c["met"] / decided, 1) if decided else None,
            }
        )
    return result


def volume(
    tickets: list[dict[str, Any]], from_: datetime | None, to: datetime
) -> list[dict[str, Any]]:
    """Tickets opened by ISO week (UTC) and severity."""
    return _volume(_opened_within(tickets, from_, to))


def _volume(opened: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, int]] = Counter()
    for t in opened:
        year, week, _ = t["opened_at"].isocalendar()
        counts[(f"{year}-W{week:02d}", t["severity"])] += 1
    weeks = sorted({week for week, _ in counts})
    return [
        {
            "week": week,
            **{f"sev{s}": counts[(week, s)] for s in SEVERITIES},
            "total": sum(counts[(week, s)] for s in SEVERITIES),
        }
        for week in weeks
    ]


def repeat_incidents(
    tickets: list[dict[str, Any]], from_: datetime | None, to: datetime
) -> list[dict[str, Any]]:
    """Sev1/Sev2 tickets that repeat an earlier one of the same customer.

    A repeat: same category opened within 30 days after the earlier one, or the same
    ``root_cause_code``. Listed when the later ticket opened in the window.
    """
    serious = sorted(
        (t for t in tickets if t["max_severity"] <= 2 and t["opened_at"] <= to),
        key=lambda t: (t["opened_at"], t["ticket_id"]),
    )
    by_customer: dict[str, list[dict[str, Any]]] = {}
    repeats = []
    for later in serious:
        earlier_ones = by_customer.setdefault(later["customer_id"], [])
        if not _within(later["opened_at"], from_, to):
            earlier_ones.append(later)
            continue
        for earlier in earlier_ones:  # the customer's earlier ones, oldest first
            same_category = (
                earlier["category"] == later["category"]
                and later["opened_at"] - earlier["opened_at"] <= REPEAT_WINDOW
            )
            code = later["root_cause_code"]
            same_cause = code is not None and code == earlier["root_cause_code"]
            if same_category or same_cause:
                repeats.append(
                    {
                        "ticket_id": later["ticket_id"],
                        "repeats": earlier["ticket_id"],
                        "customer_id": later["customer_id"],
                        "why": "same_root_cause" if same_cause else "same_category_30d",
                    }
                )
                break
        earlier_ones.append(later)
    return repeats


INCIDENT_SPANS: Final = {
    "detect": (("impact_started_at",), "detected_at"),
    "acknowledge": (("detected_at", "opened_at"), "first_response_at"),
    "mitigate": (("impact_started_at", "opened_at"), "mitigated_at"),
    "resolve": (("impact_started_at", "opened_at"), "resolved_at"),
}
"""Each incident time: where it starts (the first of these recorded) and where it ends."""


def incident_times(
    tickets: list[dict[str, Any]], from_: datetime | None, to: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Time to detect, acknowledge, mitigate and resolve, in real minutes by severity
    (median and p90, nearest-rank), for tickets opened in the window."""
    values: dict[str, dict[int, list[float]]] = {name: {} for name in INCIDENT_SPANS}
    for t in tickets:
        if not _within(t["opened_at"], from_, to):
            continue
        for name, (starts, end_key) in INCIDENT_SPANS.items():
            start = next((t.get(k) for k in starts if t.get(k) is not None), None)
            end = t.get(end_key)
            if start is None or end is None or end > to or end < start:
                continue
            values[name].setdefault(t["severity"], []).append(_minutes(start, end))
    return {name: _spread(by_severity, "minutes") for name, by_severity in values.items()}


def surveys(rows: list[dict[str, Any]], from_: datetime | None, to: datetime) -> dict[str, Any]:
    """CSAT (average of 1-5, share of 4-5) and NPS (% promoters - % detractors)."""
    csat = [s["score"] for s in rows if s["kind"] == "csat" and _within(s["at"], from_, to)]
    nps = [s["score"] for s in rows if s["kind"] == "nps" and _within(s["at"], from_, to)]
    promoters = sum(1 for s in nps if s >= 9)
    detractors = sum(1 for s in nps if s <= 6)
    return {
        "csat": {
            "responses": len(csat),
            "average": round(sum(csat) / len(csat), 2) if csat else None,
            "satisfied_pct": round(100 * sum(1 for s in csat if s >= 4) / len(csat), 1)
            if csat
            else None,
        },
        "nps": {
            "responses": len(nps),
            "score": round(100 * (promoters - detractors) / len(nps), 1) if nps else None,
            "promoters": promoters,
            "detractors": detractors,
        },
    }


def churn(
    customers: list[dict[str, Any]],
    contracts: list[dict[str, Any]],
    from_: datetime | None,
    to: datetime,
) -> dict[str, Any]:
    """Churn and retention of enterprise customers over the window.

    Base: enterprise customers onboarded before the window (by ``to`` when the window is
    open-ended) and not churned at its start. Churn rate: the share of the base that
    churned in the window (and was not renewed after); retention is the rest.
    """
    start = from_

    def churned_by(cid: str, at: datetime | None, strict: bool) -> bool:
        last = None
        for c in contracts:
            if c["customer_id"] == cid and (
                at is None or (c["at"] < at if strict else c["at"] <= at)
            ):
                last = c
        return last is not None and last["kind"] == "churned"

    base = [
        c["customer_id"]
        for c in customers
        if c["tier"] == "enterprise"
        and c["onboarded_at"] <= (start or to)
        and not (start is not None and churned_by(c["customer_id"], start, strict=True))
    ]
    lost = [cid for cid in base if churned_by(cid, to, strict=False)]
    churned_arr = sum(
        (
            float(c["arr"])
            for c in contracts
            if c["kind"] == "churned" and c["customer_id"] in lost and _within(c["at"], from_, to)
        ),
        0.0,
    )
    rate = round(100 * len(lost) / len(base), 1) if base else None
    return {
        "customers_at_start": len(base),
        "churned": len(lost),
        "churned_customers": sorted(lost),
        "churned_arr": f"{churned_arr:.2f}",
        "churn_rate_pct": rate,
        "retention_rate_pct": None if rate is None else round(100 - rate, 1),
        "renewals": sum(
            1 for c in contracts if c["kind"] == "renewed" and _within(c["at"], from_, to)
        ),
    }


COMPLAINT_SEVERITY: Final = 2
"""A complaint, for "outreach before complaint": a ticket that was ever Sev1 or Sev2."""
PLAY_RISKS: Final = ("silent", "low_health", "sharp_drop")
PLAY_OUTCOMES: Final = ("retained", "expanded", "churned", "no_action")


def plays(
    plays_rows: list[dict[str, Any]],
    tickets: list[dict[str, Any]],
    from_: datetime | None,
    to: datetime,
) -> dict[str, Any]:
    """Success plays (R-PLAY) opened in the window, and what became of them by ``to``.

    ``time_to_first_outreach``: hours from a play's opening to its first outreach, for
    the plays with one by ``to`` (median, p90). ``outreach_before_complaint``: a play is
    decided once it has an outreach or its customer a complaint (a ticket ever Sev1 or
    Sev2 opened at or after the play's opening), whichever comes first, by ``to``; its
    outreach came first when the first outreach is strictly earlier than the first such
    ticket, or there is none. Plays with neither are undecided and left out.
    """
    opened = [p for p in plays_rows if _within(p["opened_at"], from_, to)]
    complaints: dict[str, list[datetime]] = {}
    for t in tickets:
        if t["max_severity"] <= COMPLAINT_SEVERITY and t["opened_at"] <= to:
            complaints.setdefault(t["customer_id"], []).append(t["opened_at"])
    hours, before, decided = [], 0, 0
    for play in opened:
        first = play["first_outreach_at"]
        first = first if first is not None and first <= to else None
        if first is not None:
            hours.append(round((first - play["opened_at"]).total_seconds() / 3600, 2))
        complaint = min(
            (at for at in complaints.get(play["customer_id"], []) if at >= play["opened_at"]),
            default=None,
        )
        if first is not None and (complaint is None or first < complaint):
            before += 1
            decided += 1
        elif complaint is not None:
            decided += 1
    closed = [p for p in plays_rows if _within(p["closed_at"], from_, to)]
    return {
        "opened": len(opened),
        "by_risk": {risk: sum(1 for p in opened if p["risk"] == risk) for risk in PLAY_RISKS},
        "closed": len(closed),
        "outcomes": {o: sum(1 for p in closed if p["outcome"] == o) for o in PLAY_OUTCOMES},
        "time_to_first_outreach": {
            "count": len(hours),
            "median_hours": nearest_rank(hours, 0.5),
            "p90_hours": nearest_rank(hours, 0.9),
        },
        "outreach_before_complaint": {
            "decided": decided,
            "outreach_first": before,
            "pct": round(100 * before / decided, 1) if decided else None,
        },
    }


CENT: Final = Decimal("0.01")


def _money(amount: Decimal) -> str:
    """An amount as a decimal string with at least two places (exact: never rounded)."""
    exponent = amount.as_tuple().exponent
    return str(amount.quantize(CENT) if isinstance(exponent, int) and exponent > -2 else amount)


def _pct(part: Decimal, whole: Decimal) -> float | None:
    """``part`` over ``whole`` in percent, rounded half up to one decimal (None: no whole)."""
    if not whole:
        return None
    return float((100 * part / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def revenue(
    contracts: list[dict[str, Any]], from_: datetime | None, to: datetime
) -> dict[str, Any]:
    """Gross and net revenue retention and expansion over the window (R-MET), exact.

    A customer's ARR at an instant is the ``arr`` of its latest contract event by then
    (``customer.contract_changed``, ``customer.renewed``); after ``customer.churned`` it
    is 0. The base: customers with an ARR before ``from_`` (an event before it) who had
    not churned then; its starting ARR is the sum of theirs. Each is compared at ``to``
    with its own start: churned by then, its whole starting ARR is churn; otherwise a
    higher ARR is expansion and a lower one contraction (changes inside the window net
    out per customer). Customers new in the window are not in the base. GRR = (start -
    contraction - churn) / start (at most 100 %), NRR = (start + expansion - contraction
    - churn) / start, expansion rate = expansion / start. No ``from_`` (or a window that
    ends before it starts): no base.
    """
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(contracts, key=lambda c: (c["customer_id"], c["at"], c["seq"])):
        by_customer.setdefault(c["customer_id"], []).append(c)
    start = ending = expansion = contraction = churned = Decimal(0)
    base = []
    for cid, events in by_customer.items():
        before = [c for c in events if from_ is not None and c["at"] < from_ <= to]
        if not before or before[-1]["kind"] == "churned":
            continue
        at_start = Decimal(before[-1]["arr"])
        last = [c for c in events if c["at"] <= to][-1]
        at_end = Decimal(0) if last["kind"] == "churned" else Decimal(last["arr"])
        base.append(cid)
        start += at_start
        ending += at_end
        if last["kind"] == "churned":
            churned += at_start
        elif at_end > at_start:
            expansion += at_end - at_start
        else:
            contraction += at_start - at_end
    return {
        "customers_at_start": len(base),
        "starting_arr": _money(start),
        "expansion_arr": _money(expansion),
        "contraction_arr": _money(contraction),
        "churned_arr": _money(churned),
        "ending_arr": _money(ending),
        "gross_revenue_retention_pct": _pct(start - contraction - churned, start),
        "net_revenue_retention_pct": _pct(ending, start),
        "expansion_rate_pct": _pct(expansion, start),
    }


def metrics(
    rows: Rows, as_of: datetime, from_: datetime | None = None, to: datetime | None = None
) -> dict[str, Any]:
    """Every R-MET figure over the window ``[from_, to or as_of]``, evaluated at ``as_of``."""
    end = min(to or as_of, as_of)
    tickets = rows["tickets"]
    opened = _opened_within(tickets, from_, end)
    return {
        "as_of": as_of,
        "window": {"from": from_, "to": end},
        "tickets_opened": len(opened),
        "first_response": _first_response(opened, end),
        "sla_compliance": compliance(rows["sla_timers"], from_, end, as_of),
        "volume_by_week": _volume(opened),
        "repeat_incidents": repeat_incidents(tickets, from_, end),
        "time_to_resolution": resolution(tickets, from_, end),
        "incident_times": incident_times(tickets, from_, end),
        "preventive_actions": {
            **follow_through(rows.get("rca_actions", []), from_, end, as_of),
            "overdue_by_owner": overdue_by_owner(rows.get("rca_actions", []), as_of),
        },
        **surveys(rows["customer_surveys"], from_, end),
        "churn": churn(rows["customers"], rows["customer_contracts"], from_, end),
        "revenue": revenue(rows["customer_contracts"], from_, end),
        "plays": plays(rows.get("success_plays", []), tickets, from_, end),
    }
