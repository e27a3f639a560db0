"""The product loop (R-CS-5, R-RCA-6): customer pain by product area, and the root causes
that keep coming back with no runbook. Pure functions of the read-model rows as of an
instant; no clock, no database.

**Pain by product area** over the window ``[from_, to]`` (``to`` defaults to ``as_of``),
on the instant each fact is about. A ticket's product area is its latest: set at opening,
changed by a triage or by the RCA's root cause (as of ``as_of``); tickets with none are
counted apart (``without_area``). For each area:

* ``tickets``: tickets opened in the window;
* ``severity_points``: their severity weights, by the highest severity each ever had
  (Sev1 8, Sev2 4, Sev3 2, Sev4 1, the health score's weights);
* ``repeat_incidents``: those tickets that repeat an earlier incident of their customer
  (``ledger.projections.metrics.repeat_incidents``, R-MET);
* ``breaches``: those tickets' SLA timer intervals breached as of ``as_of``;
* ``feedback``: feedback recorded in the window, by kind (``bug``, ``ux``,
  ``feature_request``) and in all;
* ``customers_affected``: distinct customers with such a ticket or feedback;
* ``pain``: ``severity_points + 4 x repeat_incidents + 2 x breaches + 2 x bug feedback +
  ux feedback + feature requests``.

Areas are ranked by ``pain``, then ``customers_affected``, then ``tickets`` (most first),
then by name.

**Knowledge gaps**: a root cause code on two or more incidents (tickets that ever were
Sev1 or Sev2, with that ``root_cause_code`` as of ``as_of``) none of which has a
``runbook`` linked (``rca.knowledge_linked``) as of ``as_of``. Not windowed: the
knowledge base as it stands. Most incidents first, then by code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from ledger.projections.health import SEVERITY_WEIGHT
from ledger.projections.metrics import repeat_incidents
from ledger.projections.sla import timer_state

FEEDBACK_KINDS: Final = ("bug", "ux", "feature_request")
REPEAT_POINTS: Final = 4
BREACH_POINTS: Final = 2
FEEDBACK_POINTS: Final = {"bug": 2, "ux": 1, "feature_request": 1}
INCIDENT_SEVERITIES: Final = (1, 2)

Rows = dict[str, list[dict[str, Any]]]


def _within(at: datetime | None, from_: datetime | None, to: datetime) -> bool:
    return at is not None and at <= to and (from_ is None or at >= from_)


def pain_by_area(
    rows: Rows, as_of: datetime, from_: datetime | None = None, to: datetime | None = None
) -> dict[str, Any]:
    """Product areas ranked by customer pain over the window (see the module docstring):
    ``{"areas": [...], "without_area": {"tickets": n, "severity_points": p}}``."""
    end = min(to or as_of, as_of)
    tickets = [t for t in rows["tickets"] if _within(t["opened_at"], from_, end)]
    area_of = {t["ticket_id"]: t["product_area"] for t in tickets}
    areas: dict[str, dict[str, Any]] = {}

    def area(name: str) -> dict[str, Any]:
        found = areas.get(name)
        if found is None:
            found = areas[name] = {
                "product_area": name,
                "pain": 0,
                "tickets": 0,
                "severity_points": 0,
                "repeat_incidents": 0,
                "breaches": 0,
                "feedback": dict.fromkeys((*FEEDBACK_KINDS, "total"), 0),
                "customers": set(),
            }
        return found

    without = {"tickets": 0, "severity_points": 0}
    for ticket in tickets:
        points = SEVERITY_WEIGHT.get(ticket["max_severity"], 1)
        if ticket["product_area"] is None:
            without["tickets"] += 1
            without["severity_points"] += points
            continue
        found = area(ticket["product_area"])
        found["tickets"] += 1
        found["severity_points"] += points
        found["customers"].add(ticket["customer_id"])
    for repeat in repeat_incidents(rows["tickets"], from_, end):
        name = area_of.get(repeat["ticket_id"])
        if name is not None:
            area(name)["repeat_incidents"] += 1
    for record in rows["sla_timers"]:
        name = area_of.get(record["ticket_id"])
        breached = record["due_at"] is not None and timer_state(record, as_of)[0] == "breached"
        if name is not None and breached:
            area(name)["breaches"] += 1
    for feedback in rows["customer_feedback"]:
        if not _within(feedback["at"], from_, end):
            continue
        found = area(feedback["product_area"])
        found["feedback"][feedback["kind"]] += 1
        found["feedback"]["total"] += 1
        found["customers"].add(feedback["customer_id"])
    ranked = []
    for found in areas.values():
        customers = found.pop("customers")
        found["customers_affected"] = len(customers)
        found["pain"] = (
            found["severity_points"]
            + REPEAT_POINTS * found["repeat_incidents"]
            + BREACH_POINTS * found["breaches"]
            + sum(FEEDBACK_POINTS[k] * found["feedback"][k] for k in FEEDBACK_KINDS)
        )
        ranked.append(found)
    ranked.sort(
        key=lambda a: (-a["pain"], -a["customers_affected"], -a["tickets"], a["product_area"])
    )
    for rank, found in enumerate(ranked, start=1):
        found["rank"] = rank
    return {"areas": ranked, "without_area": without}


def knowledge_gaps(rows: Rows, as_of: datetime) -> list[dict[str, Any]]:
    """Root cause codes on two or more incidents, none with a runbook linked, as of
    ``as_of`` (see the module docstring)."""
    incidents: dict[str, list[dict[str, Any]]] = {}
    for ticket in rows["tickets"]:
        code = ticket["root_cause_code"]
        if (
            code is not None
            and ticket["max_severity"] in INCIDENT_SEVERITIES
            and ticket["opened_at"] <= as_of
        ):
            incidents.setdefault(code, []).append(ticket)
    with_runbook = {
        link["ticket_id"] for link in rows["rca_knowledge_links"] if link["kind"] == "runbook"
    }
    gaps = []
    for code, found in incidents.items():
        if len(found) < 2 or any(t["ticket_id"] in with_runbook for t in found):
            continue
        found.sort(key=lambda t: (t["opened_at"], t["ticket_id"]))
        gaps.append(
            {
                "root_cause_code": code,
                "incidents": len(found),
                "tickets": [t["ticket_id"] for t in found],
                "customers": sorted({t["customer_id"] for t in found}),
                "product_areas": sorted({t["product_area"] for t in found if t["product_area"]}),
                "first_opened_at": found[0]["opened_at"],
                "last_opened_at": found[-1]["opened_at"],
            }
        )
    gaps.sort(key=lambda g: (-g["incidents"], g["root_cause_code"]))
    return gaps


def insights(
    rows: Rows, as_of: datetime, from_: datetime | None = None, to: datetime | None = None
) -> dict[str, Any]:
    """``ledger insights``: the window, the areas ranked by pain, the tickets without an
    area, and the knowledge gaps."""
    end = min(to or as_of, as_of)
    pain = pain_by_area(rows, as_of, from_, end)
    return {
        "window": {"from": from_, "to": end},
        "areas": pain["areas"],
        "without_area": pain["without_area"],
        "knowledge_gaps": knowledge_gaps(rows, as_of),
    }
