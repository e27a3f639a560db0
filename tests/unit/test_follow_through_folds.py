"""Issue 20's pure parts: the instant an action is overdue from and its edges, follow-
through counting, pain ranking ties, knowledge gaps, the hash of events stored before a
late field existed, and what the demo quarter tells."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from demo.quarter import DemoSpec, generate, quarter_end
from ledger.aggregates.base import EventMeta, event_data
from ledger.aggregates.chain import hash_event
from ledger.aggregates.ticket import Ticket
from ledger.projections.actions import (
    action_state,
    evaluate_action,
    follow_through,
    overdue_by_owner,
    overdue_since,
)
from ledger.projections.insights import knowledge_gaps, pain_by_area
from ledger.projections.tickets import overdue_instant

DUE = date(2026, 3, 10)
DUE_AT = datetime(2026, 3, 11, tzinfo=UTC)
S = timedelta(seconds=1)


def _action(**changes: Any) -> dict[str, Any]:
    row = {
        "ticket_id": "T-1",
        "action_id": "PA-1",
        "owner": "pe-li",
        "due_date": DUE,
        "due_at": DUE_AT,
        "status": "open",
        "completed_at": None,
        "cancelled_at": None,
    }
    return {**row, **changes}


def test_an_action_is_overdue_from_the_start_of_the_day_after_its_due_date() -> None:
    assert overdue_instant(DUE) == DUE_AT
    assert action_state(_action(), DUE_AT - S) == "open"
    assert action_state(_action(), DUE_AT) == "overdue"
    assert evaluate_action(_action(), DUE_AT + 90 * S)["overdue_by"] == 90
    on_time = _action(status="completed", completed_at=DUE_AT - S)
    late = _action(status="completed", completed_at=DUE_AT)
    assert (evaluate_action(on_time, DUE_AT)["on_time"], overdue_since(on_time)) == (True, None)
    assert (evaluate_action(late, DUE_AT)["on_time"], overdue_since(late)) == (False, DUE_AT)
    assert overdue_since(_action(status="cancelled", cancelled_at=DUE_AT - S)) is None


def test_follow_through_counts_decided_actions_due_in_the_window() -> None:
    actions = [
        _action(action_id="on-time", status="completed", completed_at=DUE_AT - S),
        _action(action_id="late", status="verified", completed_at=DUE_AT + S),
        _action(action_id="dropped", status="cancelled", cancelled_at=DUE_AT - S),
        _action(action_id="dropped-late", status="cancelled", cancelled_at=DUE_AT + S),
        _action(action_id="missed"),
        _action(action_id="not-yet", due_at=DUE_AT + timedelta(days=3)),
        _action(action_id="before", due_at=DUE_AT - timedelta(days=30), owner="pe-sam"),
    ]
    start = DUE_AT - timedelta(days=7)
    figures = follow_through(actions, start, DUE_AT + timedelta(days=1), DUE_AT + timedelta(days=1))
    # before: outside the window; not-yet: not decided; dropped: cancelled before its due
    # instant; dropped-late was overdue first, so it counts as not completed.
    assert figures == {
        "due": 4,
        "completed_on_time": 1,
        "completed_late": 1,
        "not_completed": 2,
        "cancelled_before_due": 1,
        "follow_through_pct": 25.0,
    }
    assert overdue_by_owner(actions, DUE_AT + timedelta(days=1)) == [
        {"owner": "pe-li", "overdue": 1},
        {"owner": "pe-sam", "overdue": 1},
    ]
    assert follow_through([], None, DUE_AT, DUE_AT)["follow_through_pct"] is None


def _ticket(tid: str, customer: str, area: str | None, severity: int, **row: Any) -> Any:
    return {
        "ticket_id": tid,
        "customer_id": customer,
        "category": "feature_issue" if severity == 3 else "how_to",
        "max_severity": severity,
        "root_cause_code": None,
        "product_area": area,
        "opened_at": DUE_AT,
        **row,
    }


def test_areas_of_equal_pain_rank_by_customers_then_tickets_then_name() -> None:
    def feedback(area: str, kind: str) -> dict[str, Any]:
        return {"customer_id": "C-1", "at": DUE_AT, "kind": kind, "product_area": area}

    rows = {
        "tickets": [
            _ticket("T-1", "C-1", "b-two-customers", 3),  # 2 points
            _ticket("T-2", "C-2", "b-two-customers", 4),  # 1 point
            _ticket("T-3", "C-1", "c-two-tickets", 3),
            _ticket("T-4", "C-1", "c-two-tickets", 4),
            _ticket("T-5", "C-1", "a-one-ticket", 3),
            _ticket("T-6", "C-1", "e-feedback", 4),
            _ticket("T-7", "C-1", "d-feedback", 4),
        ],
        "sla_timers": [],
        "customer_feedback": [
            feedback("a-one-ticket", "bug"),  # 2
            feedback("e-feedback", "ux"),  # 1 each
            feedback("e-feedback", "feature_request"),
            feedback("d-feedback", "ux"),
            feedback("d-feedback", "ux"),
        ],
    }
    # a: 2 + 2 = 4. Then 3 each: b (two customers), c (one customer, two tickets), then
    # d and e (one customer, one ticket) by name.
    found = pain_by_area(rows, DUE_AT)
    assert [(a["rank"], a["product_area"], a["pain"]) for a in found["areas"]] == [
        (1, "a-one-ticket", 4),
        (2, "b-two-customers", 3),
        (3, "c-two-tickets", 3),
        (4, "d-feedback", 3),
        (5, "e-feedback", 3),
    ]
    assert found["areas"][4]["feedback"] == {"bug": 0, "ux": 1, "feature_request": 1, "total": 2}


def test_knowledge_gaps_count_incidents_only_and_runbooks_only() -> None:
    def incident(tid: str, code: str, severity: int = 1) -> dict[str, Any]:
        return _ticket(tid, "C-1", None, severity, root_cause_code=code)

    rows = {
        "tickets": [
            incident("T-1", "A"),
            incident("T-2", "A", severity=2),
            incident("T-3", "B"),
            incident("T-4", "B", severity=3),  # not an incident
            incident("T-5", "C"),
            incident("T-6", "C"),
        ],
        "rca_knowledge_links": [
            {"ticket_id": "T-1", "kind": "faq"},  # an FAQ is no runbook
            {"ticket_id": "T-6", "kind": "runbook"},
        ],
    }
    assert [(g["root_cause_code"], g["tickets"]) for g in knowledge_gaps(rows, DUE_AT)] == [
        ("A", ["T-1", "T-2"])
    ]
    assert knowledge_gaps(rows, DUE_AT - S) == []  # opened after the instant


def test_events_stored_before_a_late_field_keep_their_hash() -> None:
    meta = EventMeta("e-1", DUE_AT, "u-1", "customer", "portal", DUE_AT, "local")
    opened = Ticket.open(
        "T-1",
        meta,
        customer_tier="enterprise",
        policy_version=1,
        customer_id="C-1",
        channel="support_portal",
        title="t",
        description="d",
        severity=4,
        category="how_to",
    )
    event = opened.pending_events[0]
    assert "product_area" not in event_data(event)
    old = object.__new__(type(event))  # as read back from a store that never had the field
    state = {k: v for k, v in event.__dict__.items() if k != "product_area"}
    object.__setattr__(old, "__dict__", state)
    assert old.computed_hash() == event.event_hash == hash_event(event, event_data(event))
    with_area = Ticket.open(
        "T-2",
        meta,
        customer_tier="enterprise",
        policy_version=1,
        customer_id="C-1",
        channel="support_portal",
        title="t",
        description="d",
        severity=4,
        category="how_to",
        product_area="admin",
    ).pending_events[0]
    assert event_data(with_area)["product_area"] == "admin"


def test_the_demo_quarter_tells_issue_20() -> None:
    accepted = [json.loads(line.raw) for line in generate() if line.expect == "accept"]
    end = quarter_end(DemoSpec())
    by_type = Counter(e["type"] for e in accepted)
    assert by_type["incident.mitigated"] == by_type["incident.detected"] > 50
    for kind in ("completed", "verified", "cancelled"):
        assert by_type[f"rca.preventive_action_{kind}"] >= 5, kind
    done = {
        (e["subject"], e["data"]["action_id"])
        for e in accepted
        if e["type"] in ("rca.preventive_action_completed", "rca.preventive_action_cancelled")
    }
    overdue = [
        e
        for e in accepted
        if e["type"] == "rca.preventive_action_added"
        and (e["subject"], e["data"]["action_id"]) not in done
        and overdue_instant(date.fromisoformat(e["data"]["due_date"])) <= end
    ]
    assert overdue  # the tick raises rca.action_overdue for these at the quarter's end
    feedback = [e for e in accepted if e["type"] == "customer.feedback_recorded"]
    assert len({e["subject"] for e in feedback}) >= 5
    assert {e["data"]["kind"] for e in feedback} == {"bug", "ux", "feature_request"}
    codes: dict[str, set[str]] = {}
    for e in accepted:
        if e["type"] == "rca.root_cause_identified":
            codes.setdefault(e["data"]["root_cause_code"], set()).add(e["subject"])
    runbooks = {
        e["subject"]
        for e in accepted
        if e["type"] == "rca.knowledge_linked" and e["data"]["kind"] == "runbook"
    }
    bare = [c for c, tickets in codes.items() if len(tickets) >= 2 and not tickets & runbooks]
    assert bare == ["SESSION-STORE-EVICTION"]
