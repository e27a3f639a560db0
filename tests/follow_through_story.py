"""A hand-made ledger for issue 20: incident milestones, preventive actions followed
through after closure, product areas, feedback and knowledge links.

T0 = 2026-03-02 09:00Z, a Monday (10:00 in Berlin, both customers' calendar). Policy 1.

* T-1 (C-1, Sev1 platform_down, area ``dubbing``): impact started T0-20m, detected
  T0-8m (both recorded at T0+5m), answered T0+10m, updated T0+65m, mitigated T0+50m
  (recorded at T0+70m), resolved T0+120m. Its RCA (root cause ``DB-FAILOVER``, placed in
  area ``database``) adds PA-1 (pe-li, due 03-10), PA-2 (pe-sam, due 03-12) and PA-3
  (pe-li, due 03-20); published, closed T0+1d. An FAQ is linked after closure.
* T-2 (C-2, Sev2 partial_outage, area ``exports``): opened T0+60m, answered T0+90m,
  resolved T0+5h; RCA (``CDN-REGION``) with PA-1 (pe-sam, due 03-05); closed T0+1d.
* T-3 (C-1, Sev3 feature_issue, area ``player``, triaged to ``exports`` at T0+3h): opened
  T0+2h, never answered: its first response (1 business day) is breached.
* T-4 (C-2, Sev4 how_to, no area): opened T0+2h.
* T-5 (C-1, Sev1 platform_down, area ``dubbing``): opened T0+2d, answered T0+2d+10m,
  resolved T0+2d+30m; root cause ``DB-FAILOVER``: it repeats T-1.
* Feedback: C-1 FB-1 bug on ``exports`` (T0+3h), C-2 FB-1 ux on ``editor`` (T0+4h), C-2
  FB-2 feature_request on ``exports`` about T-2 (T0+5h).

Recorded in two batches: the story up to the closures (``STORY``, recorded at
``RECORDED_STORY``), then the follow-through (``FOLLOW_THROUGH``, at
``RECORDED_FOLLOW_THROUGH``):

* T-2 PA-1 completed 03-07 12:00Z by pe-sam: late (overdue from 03-06 00:00Z);
* T-1 PA-2 cancelled 03-05 with a reason (before its due instant 03-13 00:00Z);
* T-1 PA-1 completed 03-10 18:00Z by pe-li (on time: due instant 03-11 00:00Z), verified
  03-12 by lead-maria;
* T-1 PA-3 stays open: overdue from 03-21 00:00Z;
* a runbook for ``DB-FAILOVER`` is linked to T-5 on 03-24 12:00Z.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import T0, Envelopes

M = timedelta(minutes=1)
D = timedelta(days=1)
RECORDED_STORY = datetime(2026, 3, 4, 12, tzinfo=UTC)
RECORDED_FOLLOW_THROUGH = datetime(2026, 3, 24, 18, tzinfo=UTC)
RUNBOOK_AT = datetime(2026, 3, 24, 12, tzinfo=UTC)


def _at(instant: datetime) -> str:
    return instant.isoformat()


def _action(action_id: str, owner: str, due: str) -> dict[str, Any]:
    return {
        "action_id": action_id,
        "description": f"do {action_id}",
        "owner": owner,
        "due_date": due,
    }


def story(env: Envelopes) -> list[dict[str, Any]]:
    """Everything up to the closures (and T-5), in order per subject."""
    e = env.make
    public = {"public": True, "message": "on it"}
    return [
        env.customer("C-1", at=T0 - 10 * D),
        env.customer("C-2", at=T0 - 10 * D),
        # T-1
        env.ticket("T-1", at=T0, product_area="dubbing"),
        e("incident.impact_started", "T-1", {"at": _at(T0 - 20 * M)}, at=T0 + 5 * M),
        e(
            "incident.detected",
            "T-1",
            {"at": _at(T0 - 8 * M), "note": "paged"},
            at=T0 + 5 * M,
        ),
        e("ticket.responded", "T-1", public, at=T0 + 10 * M),
        e("ticket.update_posted", "T-1", {"message": "recovering"}, at=T0 + 65 * M),
        e("incident.mitigated", "T-1", {"at": _at(T0 + 50 * M)}, at=T0 + 70 * M),
        e("ticket.resolved", "T-1", {"resolution": "failed over"}, at=T0 + 120 * M),
        e(
            "rca.root_cause_identified",
            "T-1",
            {
                "root_cause": "failover stalled",
                "root_cause_code": "DB-FAILOVER",
                "product_area": "database",
            },
            at=T0 + 3 * 60 * M,
        ),
        e(
            "rca.impact_assessed",
            "T-1",
            {"impact": "jobs failed", "customers_affected": 1, "duration_minutes": 140},
            at=T0 + 3 * 60 * M,
        ),
        e(
            "rca.preventive_action_added",
            "T-1",
            _action("PA-1", "pe-li", "2026-03-10"),
            at=T0 + 4 * 60 * M,
        ),
        e(
            "rca.preventive_action_added",
            "T-1",
            _action("PA-2", "pe-sam", "2026-03-12"),
            at=T0 + 4 * 60 * M,
        ),
        e(
            "rca.preventive_action_added",
            "T-1",
            _action("PA-3", "pe-li", "2026-03-20"),
            at=T0 + 4 * 60 * M,
        ),
        e("rca.owner_assigned", "T-1", {"owner": "pe-li"}, at=T0 + 4 * 60 * M),
        e("rca.published", "T-1", {}, at=T0 + 5 * 60 * M),
        e("ticket.closed", "T-1", {}, at=T0 + D),
        # T-2
        env.ticket(
            "T-2",
            at=T0 + 60 * M,
            customer_id="C-2",
            severity=2,
            category="partial_outage",
            product_area="exports",
        ),
        e("ticket.responded", "T-2", public, at=T0 + 90 * M),
        e("ticket.resolved", "T-2", {"resolution": "purged"}, at=T0 + 5 * 60 * M),
        e(
            "rca.root_cause_identified",
            "T-2",
            {"root_cause": "stale manifests", "root_cause_code": "CDN-REGION"},
            at=T0 + 6 * 60 * M,
        ),
        e(
            "rca.impact_assessed",
            "T-2",
            {"impact": "exports failed", "customers_affected": 1, "duration_minutes": 240},
            at=T0 + 6 * 60 * M,
        ),
        e(
            "rca.preventive_action_added",
            "T-2",
            _action("PA-1", "pe-sam", "2026-03-05"),
            at=T0 + 6 * 60 * M,
        ),
        e("rca.owner_assigned", "T-2", {"owner": "pe-sam"}, at=T0 + 6 * 60 * M),
        e("rca.published", "T-2", {}, at=T0 + 7 * 60 * M),
        e("ticket.closed", "T-2", {}, at=T0 + D),
        # T-3, T-4
        env.ticket(
            "T-3", at=T0 + 120 * M, severity=3, category="feature_issue", product_area="player"
        ),
        e(
            "ticket.triaged",
            "T-3",
            {
                "severity": 3,
                "category": "feature_issue",
                "reason": "the exports team owns it",
                "product_area": "exports",
            },
            at=T0 + 180 * M,
        ),
        env.ticket("T-4", at=T0 + 120 * M, customer_id="C-2", severity=4, category="how_to"),
        # feedback
        e(
            "customer.feedback_recorded",
            "C-1",
            {"feedback_id": "FB-1", "kind": "bug", "product_area": "exports", "text": "drops"},
            role="customer",
            at=T0 + 180 * M,
        ),
        e(
            "customer.feedback_recorded",
            "C-2",
            {"feedback_id": "FB-1", "kind": "ux", "product_area": "editor", "text": "clicks"},
            role="customer",
            at=T0 + 240 * M,
        ),
        e(
            "customer.feedback_recorded",
            "C-2",
            {
                "feedback_id": "FB-2",
                "kind": "feature_request",
                "product_area": "exports",
                "text": "schedule exports",
                "ticket_id": "T-2",
            },
            role="customer",
            at=T0 + 300 * M,
        ),
        # T-5
        env.ticket("T-5", at=T0 + 2 * D, product_area="dubbing"),
        e("ticket.responded", "T-5", public, at=T0 + 2 * D + 10 * M),
        e("ticket.resolved", "T-5", {"resolution": "failed over"}, at=T0 + 2 * D + 30 * M),
        e(
            "rca.root_cause_identified",
            "T-5",
            {"root_cause": "failover stalled again", "root_cause_code": "DB-FAILOVER"},
            at=T0 + 2 * D + 60 * M,
        ),
    ]


def follow_through(env: Envelopes) -> list[dict[str, Any]]:
    """The follow-through after the closures, in time order."""
    e = env.make
    return [
        e(
            "rca.preventive_action_cancelled",
            "T-1",
            {"action_id": "PA-2", "reason": "covered by the platform migration"},
            role="platform_engineer",
            actor_id="pe-sam",
            at=datetime(2026, 3, 5, 9, tzinfo=UTC),
        ),
        e(
            "rca.preventive_action_completed",
            "T-2",
            {"action_id": "PA-1", "note": "purge on publish"},
            role="platform_engineer",
            actor_id="pe-sam",
            at=datetime(2026, 3, 7, 12, tzinfo=UTC),
        ),
        e(
            "rca.preventive_action_completed",
            "T-1",
            {"action_id": "PA-1"},
            role="platform_engineer",
            actor_id="pe-li",
            at=datetime(2026, 3, 10, 18, tzinfo=UTC),
        ),
        e(
            "rca.knowledge_linked",
            "T-1",
            {"kind": "faq", "ref": "KB-101", "title": "Why jobs fail during a failover"},
            at=datetime(2026, 3, 11, 9, tzinfo=UTC),
        ),
        e(
            "rca.preventive_action_verified",
            "T-1",
            {"action_id": "PA-1", "note": "checked in production"},
            role="leadership",
            actor_id="lead-maria",
            at=datetime(2026, 3, 12, 9, tzinfo=UTC),
        ),
        e(
            "rca.knowledge_linked",
            "T-5",
            {
                "kind": "runbook",
                "ref": "https://runbooks.example.com/db-failover",
                "title": "Database failover",
            },
            at=RUNBOOK_AT,
        ),
    ]
