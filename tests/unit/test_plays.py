"""Success plays and revenue (issue 20): the rules on the aggregate, the fold's rows, the
``ledger plays`` rows as of an instant, and the metrics, each with figures worked out by
hand. No database."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.customer import PLAY_DUE, Customer, play_id_for
from ledger.aggregates.rules import RuleViolation
from ledger.projections import customers
from ledger.projections.metrics import plays as play_metrics
from ledger.projections.metrics import revenue
from ledger.services.plays import PlayQuery, play_queue
from schemas.fields import PLAY_ID_PATTERN
from tests.support import T0

H = timedelta(hours=1)
D = timedelta(days=1)


class Clerk:
    """Metas for one customer's events: producers' and the ledger's."""

    def __init__(self) -> None:
        self.n = 0

    def meta(self, at: datetime, *, system: bool = False) -> EventMeta:
        self.n += 1
        actor = ("ledger", "system") if system else ("cs-jo", "customer_success")
        return EventMeta(f"e{self.n}", at, *actor, "test", at)


def _customer(clerk: Clerk, owner: str = "cs-jo") -> Customer:
    return Customer.onboard(
        "C-7",
        clerk.meta(T0 - 40 * D),
        name="Acme",
        tier="enterprise",
        calendar={"timezone": "UTC"},
        success_owner=owner,
        escalation_contact="ops@acme.example",
        decision_maker={"name": "Dana", "email": "dana@acme.example"},
    )


def _open(customer: Customer, clerk: Clerk, at: datetime, risk: str = "silent") -> str | None:
    play = customer.open_play(
        clerk.meta(at, system=True), risk=risk, reason=f"{risk}: test", churn_risk_event_id="r"
    )
    return None if play is None else play.play_id


def _broken(action: Any) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        action()
    return caught.value


# The aggregate: R-PLAY-1..3, R-STATE-2/3, R-REV-1 ------------------------------------------


def test_one_open_play_at_a_time_numbered_per_customer() -> None:
    clerk = Clerk()
    customer = _customer(clerk)
    assert _open(customer, clerk, T0) == "P-7-1"
    play = customer.plays["P-7-1"]
    assert (play.owner, play.opened_at, play.due_at) == ("cs-jo", T0, T0 + 7 * D)
    assert PLAY_DUE == 7 * D
    assert _open(customer, clerk, T0 + 2 * D, "low_health") is None  # covered: still open
    customer.close_play(clerk.meta(T0 + 3 * D), "P-7-1", "retained", "fine")
    # A risk raised before the close (the tick wrote it late) was covered by P-7-1 too.
    assert _open(customer, clerk, T0 + 2 * D, "low_health") is None
    assert _open(customer, clerk, T0 + 3 * D, "low_health") == "P-7-2"  # closed by then
    assert list(customer.plays) == ["P-7-1", "P-7-2"]


def test_outreach_and_closing_are_checked() -> None:
    clerk = Clerk()
    customer = _customer(clerk)
    _open(customer, clerk, T0)
    cases = [
        (lambda: customer.log_outreach(clerk.meta(T0 + H), "P-7-9", "call", "x"), "R-STATE-3"),
        (lambda: customer.log_outreach(clerk.meta(T0 - H), "P-7-1", "call", "x"), "R-PLAY-2"),
        (lambda: customer.close_play(clerk.meta(T0 + H), "P-7-1", "retained", " "), "R-PLAY-3"),
    ]
    for action, rule in cases:
        error = _broken(action)
        assert error.rule == rule, error
    assert _broken(cases[0][0]).field == "data.play_id"
    assert _broken(cases[1][0]).field == "occurred_at"
    customer.log_outreach(clerk.meta(T0 + 2 * H), "P-7-1", "call", "called")
    customer.log_outreach(clerk.meta(T0 + 5 * H), "P-7-1", "email", "wrote")
    play = customer.plays["P-7-1"]
    assert (play.first_outreach_at, play.outreach_count) == (T0 + 2 * H, 2)
    late = _broken(lambda: customer.log_outreach(clerk.meta(T0 + H), "P-7-1", "call", "x"))
    assert late.rule == "R-IN-5"  # the customer's order still holds
    customer.close_play(clerk.meta(T0 + 6 * H), "P-7-1", "expanded", "signed more seats")
    again = _broken(lambda: customer.close_play(clerk.meta(T0 + 7 * H), "P-7-1", "retained", "x"))
    assert again.rule == "R-STATE-2"


def test_contract_changes_need_a_value_and_a_customer_that_stays() -> None:
    clerk = Clerk()
    customer = _customer(clerk)
    zero = _broken(lambda: customer.change_contract(clerk.meta(T0), Decimal("0.00"), "x"))
    assert (zero.rule, zero.field) == ("R-REV-1", "data.arr")
    customer.change_contract(clerk.meta(T0), Decimal("120000.50"), "expansion")
    assert customer.arr == Decimal("120000.50")
    customer.record(clerk.meta(T0 + D), Customer.Churned, arr=Decimal("120000.50"), reason="x")
    gone = _broken(lambda: customer.change_contract(clerk.meta(T0 + 2 * D), Decimal(1), "x"))
    assert gone.rule == "R-STATE-2"


def test_play_ids_stay_within_the_id_pattern() -> None:
    long_id = "C-" + "a" * 126
    for number in (1, 12, 12345):
        play_id = play_id_for(long_id, number)
        assert len(play_id) == 128 and play_id.endswith(f"-{number}")
        assert re.fullmatch(PLAY_ID_PATTERN.strip("^$"), play_id)
    assert play_id_for("C-acme.eu", 3) == "P-acme.eu-3"


# The fold ---------------------------------------------------------------------------------


def _rows(events: list[LedgerEvent]) -> list[dict[str, Any]]:
    state = customers.INITIAL
    for event in events:
        state = customers.evolve(state, event)
    return customers.rows(state)["success_plays"]


def test_a_play_row_from_opening_to_closing_and_its_owner() -> None:
    clerk = Clerk()
    customer = _customer(clerk, owner="cs-jo")
    _open(customer, clerk, T0)
    customer.change_owner(clerk.meta(T0 + H), "cs-kim", "rotation")  # the open play moves
    customer.log_outreach(clerk.meta(T0 + 3 * H), "P-7-1", "call", "called")
    customer.log_outreach(clerk.meta(T0 + 4 * H), "P-7-1", "meeting", "met")
    customer.close_play(clerk.meta(T0 + 5 * H), "P-7-1", "retained", "fine")
    customer.change_owner(clerk.meta(T0 + 6 * H), "cs-ravi", "rotation")  # a closed one not
    # The tick writes a play at an instant before the latest owner change: its owner is the
    # one it knew, and the change before its opening does not move it.
    customer.change_owner(clerk.meta(T0 + 9 * H), "cs-lena", "rotation")
    _open(customer, clerk, T0 + 8 * H, "low_health")
    events = [e for e in customer.pending_events if isinstance(e, LedgerEvent)]
    rows = _rows(events)
    assert [(r["play_id"], r["owner"], r["risk"]) for r in rows] == [
        ("P-7-1", "cs-kim", "silent"),
        ("P-7-2", "cs-lena", "low_health"),
    ]
    first = rows[0]
    assert (first["opened_at"], first["due_at"]) == (T0, T0 + 7 * D)
    assert (first["first_outreach_at"], first["outreach_count"]) == (T0 + 3 * H, 2)
    assert (first["closed_at"], first["outcome"], first["last_occurred_at"]) == (
        T0 + 5 * H,
        "retained",
        T0 + 5 * H,
    )
    assert rows[1]["last_occurred_at"] == T0 + 8 * H
    assert {k: customer.plays["P-7-1"].__dict__[k] for k in ("owner", "closed_at")} == {
        "owner": "cs-kim",
        "closed_at": T0 + 5 * H,
    }


# ledger plays: the rows as of an instant --------------------------------------------------


def _play(play_id: str, **row: Any) -> dict[str, Any]:
    return {
        "customer_id": row.pop("customer_id", "C-1"),
        "play_id": play_id,
        "risk": "silent",
        "reason": "silent: test",
        "owner": row.pop("owner", "cs-jo"),
        "opened_at": row.pop("opened_at", T0),
        "due_at": row.pop("due_at", T0 + 7 * D),
        "first_outreach_at": row.pop("first_outreach_at", None),
        "outreach_count": row.pop("outreach_count", 0),
        "closed_at": row.pop("closed_at", None),
        "outcome": row.pop("outcome", None),
        "last_occurred_at": T0,
        **row,
    }


def test_the_queue_as_of_an_instant() -> None:
    plays = [
        _play("P-1-1"),  # due T0+7d, never closed
        _play("P-2-1", customer_id="C-2", owner="cs-kim", due_at=T0 + 2 * D),
        _play("P-3-1", customer_id="C-3", closed_at=T0 + D, outcome="retained"),
        _play("P-4-1", customer_id="C-4", closed_at=T0 + 9 * D, outcome="churned"),
        _play("P-5-1", customer_id="C-5", opened_at=T0 + 20 * D, due_at=T0 + 27 * D),
    ]

    def as_of(at: datetime) -> dict[str, list[dict[str, Any]]]:
        """The rows as of ``at``: closings after it not there yet (as the versions give)."""
        return {
            "success_plays": [
                p
                if p["closed_at"] is None or p["closed_at"] <= at
                else {**p, "closed_at": None, "outcome": None}
                for p in plays
            ]
        }

    at = T0 + 3 * D
    shown = play_queue(as_of(at), at)
    assert [(p["play_id"], p["state"], p["overdue"], p["overdue_by"]) for p in shown] == [
        ("P-2-1", "overdue", True, 86400),  # due T0+2d: one day past it
        ("P-1-1", "open", False, None),
        ("P-4-1", "open", False, None),
        ("P-3-1", "closed", False, None),
    ]  # open soonest due first (P-1-1 and P-4-1 both due T0+7d: by customer), then closed
    later = T0 + 10 * D
    assert [(p["play_id"], p["state"], p["overdue"]) for p in play_queue(as_of(later), later)] == [
        ("P-2-1", "overdue", True),
        ("P-1-1", "overdue", True),
        ("P-4-1", "closed", True),  # closed after its due: it was overdue; latest closed first
        ("P-3-1", "closed", False),
    ]  # P-5-1 opens later
    mine = play_queue(as_of(later), later, PlayQuery(owner="cs-kim"))
    assert [p["play_id"] for p in mine] == ["P-2-1"]
    overdue = play_queue(as_of(at), at, PlayQuery(overdue_only=True))
    assert [p["play_id"] for p in overdue] == ["P-2-1"]
    still_open = play_queue(as_of(at), at, PlayQuery(open_only=True))
    assert [p["play_id"] for p in still_open] == ["P-2-1", "P-1-1", "P-4-1"]
    theirs = play_queue(as_of(later), later, PlayQuery(customer="C-4"))
    assert [(p["play_id"], p["outcome"]) for p in theirs] == [("P-4-1", "churned")]


# Metrics ----------------------------------------------------------------------------------


def test_plays_metrics_outreach_before_complaint() -> None:
    """A: outreach +2h, complaint +1d: first. B: complaint +1h, outreach +3h: after. C:
    neither: undecided. E: outreach +5h, no complaint: first. F: a complaint at the same
    instant as its outreach: after. G: opened before the window: not counted."""
    plays_rows = [
        _play("P-A", customer_id="C-A", first_outreach_at=T0 + 2 * H),
        _play("P-B", customer_id="C-B", first_outreach_at=T0 + 3 * H),
        _play("P-C", customer_id="C-C", closed_at=T0 + 4 * D, outcome="no_action"),
        _play("P-E", customer_id="C-E", first_outreach_at=T0 + 5 * H),
        _play("P-F", customer_id="C-F", first_outreach_at=T0 + 6 * H),
        _play("P-G", customer_id="C-G", opened_at=T0 - 3 * D, closed_at=T0 + D, outcome="churned"),
    ]

    def ticket(customer: str, at: datetime, severity: int = 2) -> dict[str, Any]:
        return {"customer_id": customer, "max_severity": severity, "opened_at": at}

    tickets = [
        ticket("C-A", T0 + D),
        ticket("C-A", T0 - D),  # before the play: not its complaint
        ticket("C-B", T0 + H, severity=1),
        ticket("C-C", T0 + 2 * H, severity=3),  # Sev3: no complaint
        ticket("C-F", T0 + 6 * H),
    ]
    figures = play_metrics(plays_rows, tickets, T0, T0 + 30 * D)
    assert figures["opened"] == 5
    assert figures["by_risk"] == {"silent": 5, "low_health": 0, "sharp_drop": 0}
    assert (figures["closed"], figures["outcomes"]["no_action"]) == (2, 1)
    assert figures["outcomes"]["churned"] == 1  # closed in the window, opened before it
    # Hours to first outreach: 2, 3, 5, 6; nearest rank: median the 2nd, p90 the 4th.
    assert figures["time_to_first_outreach"] == {"count": 4, "median_hours": 3.0, "p90_hours": 6.0}
    assert figures["outreach_before_complaint"] == {"decided": 4, "outreach_first": 2, "pct": 50.0}
    # As of an earlier end, B's complaint is there and its outreach not yet: still after.
    early = play_metrics(plays_rows, tickets, T0, T0 + 90 * timedelta(minutes=1))
    assert early["outreach_before_complaint"] == {"decided": 1, "outreach_first": 0, "pct": 0.0}
    assert early["time_to_first_outreach"]["count"] == 0


def _contract(customer: str, seq: int, kind: str, arr: str, at: datetime) -> dict[str, Any]:
    return {"customer_id": customer, "seq": seq, "kind": kind, "arr": arr, "reason": "r", "at": at}


def test_revenue_retention_worked_by_hand() -> None:
    """Start (before T0): A 100k, B 50k, C 30k, F 20k = 200k. In the window: A renews at
    120k (+20k), B goes to 80k then 40k (-10k net), C churns (-30k); D is new, E churned
    before, F changes after the window. End: 120k + 40k + 0 + 20k = 180k. GRR (200 - 10 -
    30) / 200 = 80 %, NRR 180 / 200 = 90 %, expansion 20 / 200 = 10 %."""
    before, end = T0 - 10 * D, T0 + 30 * D
    contracts = [
        _contract("C-A", 1, "changed", "100000.00", before),
        _contract("C-A", 2, "renewed", "120000", T0 + D),
        _contract("C-B", 1, "changed", "50000", before),
        _contract("C-B", 2, "changed", "80000.00", T0 + 2 * D),
        _contract("C-B", 3, "changed", "40000.00", T0 + 3 * D),
        _contract("C-C", 1, "changed", "30000", before),
        _contract("C-C", 2, "churned", "30000", T0 + 4 * D),
        _contract("C-D", 1, "changed", "70000", T0 + D),
        _contract("C-E", 1, "changed", "10000", before - D),
        _contract("C-E", 2, "churned", "10000", before),
        _contract("C-F", 1, "changed", "20000", before),
        _contract("C-F", 2, "changed", "90000", end + D),
    ]
    assert revenue(contracts, T0, end) == {
        "customers_at_start": 4,
        "starting_arr": "200000.00",
        "expansion_arr": "20000.00",
        "contraction_arr": "10000.00",
        "churned_arr": "30000.00",
        "ending_arr": "180000.00",
        "gross_revenue_retention_pct": 80.0,
        "net_revenue_retention_pct": 90.0,
        "expansion_rate_pct": 10.0,
    }
    # Up to T0+2d only A's renewal and B's 80k have happened: +20k +30k.
    early = revenue(contracts, T0, T0 + 2 * D)
    assert (early["expansion_arr"], early["ending_arr"]) == ("50000.00", "250000.00")
    assert early["net_revenue_retention_pct"] == 125.0
    assert early["gross_revenue_retention_pct"] == 100.0  # at most 100 %: nothing lost
    # No window start: no base.
    assert revenue(contracts, None, end)["customers_at_start"] == 0
    assert revenue(contracts, None, end)["net_revenue_retention_pct"] is None
    assert revenue(contracts, T0 + D, T0)["customers_at_start"] == 0  # ends before it starts


def test_revenue_is_exact_and_rounds_half_up() -> None:
    contracts = [
        _contract("C-A", 1, "changed", "3", T0 - D),
        _contract("C-A", 2, "changed", "2.0005", T0 + D),  # 2.0005 / 3 = 66.683 %
        _contract("C-B", 1, "changed", "1000", T0 - D),
        _contract("C-B", 2, "changed", "1000.125", T0 + D),
    ]
    figures = revenue(contracts, T0, T0 + 2 * D)
    assert figures["starting_arr"] == "1003.00"
    assert (figures["contraction_arr"], figures["expansion_arr"]) == ("0.9995", "0.125")
    assert figures["ending_arr"] == "1002.1255"
    # 1002.1255 / 1003 = 99.91281...; 0.125 / 1003 = 0.01246...
    assert figures["net_revenue_retention_pct"] == 99.9
    assert figures["expansion_rate_pct"] == 0.0
    half = revenue(
        [
            _contract("C-A", 1, "changed", "1000", T0 - D),
            _contract("C-A", 2, "changed", "1000.5", T0),
        ],
        T0,
        T0,
    )
    assert half["expansion_rate_pct"] == 0.1  # 0.05 % rounds half up to 0.1
