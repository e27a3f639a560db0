"""The projections' one shape, ``evolve(state, event) -> state``, on random histories.

No database. What the runner relies on: ``evolve`` leaves the state it was given as it
was (a runner keeps states between pages, and a page that does not commit must not have
changed them), and a state folded page by page gives the rows of one fold of the whole
history, from every point of it.
"""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.customer import Customer
from ledger.aggregates.policy import DEFAULT_TARGETS
from ledger.aggregates.rules import TIERS, RuleViolation
from ledger.projections import customers, tickets
from ledger.projections.fold import Fold, Rows
from tests.unit.test_sla_properties import (
    ACTIONS,
    CALENDAR,
    OPENINGS,
    History,
    M,
    Step,
    _steps,
)

FOLDS = settings(max_examples=60, deadline=None)
ESCALATIONS = (*ACTIONS, "escalate", "deescalate", "fix", "note")


def _ticket_events(opened_at: datetime, severity: int, steps: list[Step]) -> list[LedgerEvent]:
    history = History(opened_at, severity)
    at = opened_at
    for gap, action, new_severity in steps:
        at += gap * M
        if action in ACTIONS:
            history.do(at, action, new_severity)
        else:  # what only the ticket's rows see
            _extra(history, at, action)
    return history.events


def _extra(history: History, at: datetime, action: str) -> None:
    t, meta = history.ticket, history._meta(at)
    try:
        if action == "escalate":
            t.escalate(meta, TIERS[min(t.tier, 3)], "needs an engineer", escalated_to="se-bo")
        elif action == "deescalate":
            t.deescalate(meta, TIERS[0], "handled")
        elif action == "fix":
            t.apply_temporary_fix(meta, "restart", at + 600 * M, "se-bo")
        elif action == "note":
            t.assign(meta, "se-bo")
    except RuleViolation:
        pass


def _unchanged_by_evolve(fold: Fold[Any], state: Any, events: list[LedgerEvent]) -> Any:
    for event in events:
        before = copy.deepcopy(state)
        rows_before = fold.rows(state)
        after = fold.evolve(state, event)
        assert state == before, f"evolve changed the state it was given ({event.WIRE_TYPE})"
        assert fold.rows(state) == rows_before
        state = after
    return state


def _whole(fold: Fold[Any], start: Any, events: list[LedgerEvent]) -> Rows:
    state = start
    for event in events:
        state = fold.evolve(state, event)
    return fold.rows(state)


@FOLDS
@given(st.sampled_from(OPENINGS), st.integers(1, 4), _steps(ESCALATIONS), st.integers(0, 12))
def test_ticket_fold_leaves_its_input_state_alone_and_pages_add_up(
    opened_at: datetime, severity: int, steps: list[Step], cut: int
) -> None:
    events = _ticket_events(opened_at, severity, steps)
    start = tickets.initial(CALENDAR, {1: DEFAULT_TARGETS})
    cut = min(cut, len(events))
    kept = _unchanged_by_evolve(tickets, start, events[:cut])  # one page, kept
    final = _unchanged_by_evolve(tickets, kept, events[cut:])  # the next page on top
    assert tickets.rows(final) == _whole(tickets, start, events)
    assert tickets.rows(kept) == _whole(tickets, start, events[:cut])
    rows = tickets.rows(final)
    assert rows["tickets"][0]["ticket_id"] == "T-1"
    assert [s["seq"] for s in rows["escalations"]] == list(range(1, len(rows["escalations"]) + 1))


SIGNALS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "usage",
                "survey",
                "schedule",
                "complete",
                "milestone",
                "renew",
                "contract",
                "risk",
                "outreach",
                "close",
                "owner",
            ]
        ),
        st.integers(0, 3),
    ),
    max_size=15,
)


def _customer_events(signals: list[tuple[str, int]]) -> list[LedgerEvent]:
    n = 0

    def meta(day: int) -> EventMeta:
        nonlocal n
        n += 1
        at = OPENINGS[0] + day * 1440 * M
        return EventMeta(f"c{n}", at, "csm-eve", "success_manager", "test", at)

    customer = Customer.onboard(
        "C-1",
        meta(0),
        name="Acme",
        tier="enterprise",
        calendar={"timezone": "Europe/Berlin"},
        success_owner="csm-eve",
        escalation_contact="ops@acme.example",
        decision_maker={"name": "Dana", "email": "dana@acme.example"},
    )
    for day, (kind, k) in enumerate(signals, start=1):
        try:
            if kind == "usage":
                period = OPENINGS[0].date()
                customer.record(
                    meta(day),
                    Customer.UsageReported,
                    period_start=period,
                    period_end=period,
                    active_users=10 + k,
                    videos_localized=5,
                    error_count=k,
                )
            elif kind == "survey":
                customer.record(
                    meta(day), Customer.SurveyRecorded, kind="csat", score=1 + k, ticket_id=None
                )
            elif kind == "schedule":
                customer.schedule_check_in(meta(day), f"ci-{k}", OPENINGS[0] + day * 1440 * M)
            elif kind == "complete":
                customer.complete_check_in(meta(day), f"ci-{k}", "fine")
            elif kind == "milestone":
                customer.record(meta(day), Customer.MilestoneReached, milestone=f"m-{k}")
            elif kind == "renew":
                customer.record(
                    meta(day), Customer.Renewed, arr=Decimal(1000 * (k + 1)), reason="renewed"
                )
            elif kind == "contract":
                customer.change_contract(meta(day), Decimal(500 * (k + 1)), "grew")
            elif kind == "risk":  # the tick's: a play unless one is open, maybe days back
                customer.open_play(
                    meta(day - k), risk="silent", reason="silent", churn_risk_event_id=f"r{n}"
                )
            elif kind in ("outreach", "close"):
                play_id = f"P-1-{k + 1}"
                if kind == "outreach":
                    customer.log_outreach(meta(day), play_id, "call", "called")
                else:
                    customer.close_play(meta(day), play_id, "retained", "fine")
            elif kind == "owner":
                customer.change_owner(meta(day), f"csm-{k}", "rotation")
        except RuleViolation:
            pass
    return [e for e in customer.pending_events if isinstance(e, LedgerEvent)]


@FOLDS
@given(SIGNALS, st.integers(0, 15))
def test_customer_fold_leaves_its_input_state_alone_and_pages_add_up(
    signals: list[tuple[str, int]], cut: int
) -> None:
    events = _customer_events(signals)
    cut = min(cut, len(events))
    kept = _unchanged_by_evolve(customers, customers.INITIAL, events[:cut])
    final = _unchanged_by_evolve(customers, kept, events[cut:])
    assert customers.rows(final) == _whole(customers, customers.INITIAL, events)
    assert customers.rows(final)["customers"][0]["customer_id"] == "C-1"
