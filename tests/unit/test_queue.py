"""The daily queues (``ledger.services.queue``) over rows folded from hand-built histories.

No database: aggregates are driven with commands and their events folded with
``ledger.projections.registry.fold``, as a query as of an instant does. The default
policy: Sev1 first response 60 min and updates every 60 min (24x7), Sev2 first response
4 h (24x7), Sev3 first response one business day and no update cadence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.customer import Customer
from ledger.aggregates.rules import RuleViolation
from ledger.aggregates.ticket import Ticket
from ledger.projections.fold import Rows
from ledger.projections.registry import fold, visible
from ledger.projections.sla import sla_board
from ledger.services.queue import (
    BadOption,
    CustomerQuery,
    TicketQuery,
    customer_queue,
    require_customer,
    ticket_queue,
)

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # a Monday, 11:00 in Berlin
M = timedelta(minutes=1)
DAY = timedelta(days=1)
CATEGORY = {1: "platform_down", 2: "partial_outage", 3: "feature_issue", 4: "how_to"}


class World:
    """Customers and tickets driven by commands; their events folded as of any instant."""

    def __init__(self) -> None:
        self.n = 0
        self.customers: dict[str, Customer] = {}
        self.tickets: dict[str, Ticket] = {}

    def meta(self, at: datetime, role: str = "support_engineer") -> EventMeta:
        self.n += 1
        return EventMeta(f"e{self.n}", at, "se-ana", role, "test", at)

    def customer(self, customer_id: str, at: datetime, owner: str) -> Customer:
        self.customers[customer_id] = Customer.onboard(
            customer_id,
            self.meta(at, "customer_success"),
            name=f"Customer {customer_id}",
            tier="enterprise",
            calendar={"timezone": "Europe/Berlin"},
            success_owner=owner,
            escalation_contact="ops@example.com",
            decision_maker={"name": "Dana", "email": "dana@example.com"},
        )
        return self.customers[customer_id]

    def ticket(self, ticket_id: str, customer_id: str, at: datetime, severity: int) -> Ticket:
        self.tickets[ticket_id] = Ticket.open(
            ticket_id,
            self.meta(at, "customer"),
            customer_tier="enterprise",
            policy_version=1,
            customer_id=customer_id,
            channel="support_portal",
            title=f"trouble {ticket_id}",
            description="d",
            severity=severity,
            category=CATEGORY[severity],
        )
        return self.tickets[ticket_id]

    def events(self) -> list[LedgerEvent]:
        events = []
        for aggregate in (*self.customers.values(), *self.tickets.values()):
            for event in aggregate.pending_events:
                assert isinstance(event, LedgerEvent)
                events.append(event)
        return events

    def rows(self, as_of: datetime) -> Rows:
        return fold(visible(self.events(), as_of, None))


AS_OF = T0 + 90 * M


@pytest.fixture(scope="module")
def world() -> World:
    """Three customers and seven tickets; at T0+90m:

    * T-1 (C-1, Sev1, T0): no response; first response due T0+60m, overdue 30 minutes;
    * T-2 (C-1, Sev1, T0+30m): answered T0+40m; update due T0+100m, 10 minutes left;
    * T-3 (C-2, Sev2, T0+60m, assigned to se-bo): first response due T0+5h, 210 min left;
    * T-4 (C-2, Sev1, T0): answered T0+10m (update due T0+70m), waiting on the customer
      from T0+20m: paused with 50 minutes left;
    * T-5 (C-1, Sev1, T0): answered T0+5m, resolved T0+30m;
    * T-6 (C-1, Sev3, T0+10m = 11:10 in Berlin): due after 8 business hours, Tuesday
      11:10 in Berlin (T0+1d+10m);
    * T-7 (C-2, Sev3, T0+5m): answered T0+15m; Sev3 has no update cadence, so nothing
      can breach.

    C-2 missed a check-in due T0+60m; C-3 has no ticket and was onboarded 40 days ago.
    """
    w = World()
    w.customer("C-1", T0 - 10 * DAY, "cs-jo")
    c2 = w.customer("C-2", T0 - 10 * DAY, "cs-kim")
    w.customer("C-3", T0 - 40 * DAY, "cs-jo")
    c2.schedule_check_in(w.meta(T0 - DAY, "customer_success"), "CI-1", T0 + 60 * M)
    w.ticket("T-1", "C-1", T0, 1)
    w.ticket("T-2", "C-1", T0 + 30 * M, 1).respond(w.meta(T0 + 40 * M), True, "on it")
    w.ticket("T-3", "C-2", T0 + 60 * M, 2).assign(w.meta(T0 + 61 * M), "se-bo")
    t4 = w.ticket("T-4", "C-2", T0, 1)
    t4.respond(w.meta(T0 + 10 * M), True, "on it")
    t4.change_status(w.meta(T0 + 20 * M), "waiting_on_customer")
    t5 = w.ticket("T-5", "C-1", T0, 1)
    t5.respond(w.meta(T0 + 5 * M), True, "on it")
    t5.resolve(w.meta(T0 + 30 * M), "fixed")
    w.ticket("T-6", "C-1", T0 + 10 * M, 3)
    w.ticket("T-7", "C-2", T0 + 5 * M, 3).respond(w.meta(T0 + 15 * M), True, "looking")
    return w


@pytest.fixture(scope="module")
def rows(world: World) -> Rows:
    return world.rows(AS_OF)


def _ids(queue: list[dict[str, Any]]) -> list[str]:
    return [row["ticket_id"] for row in queue]


def test_the_queue_is_open_tickets_soonest_breach_first(rows: Rows) -> None:
    queue = ticket_queue(rows, AS_OF)
    shown = [
        (r["ticket_id"], r["timer"], r["timer_state"], r["due_at"], r["time_left"], r["overdue_by"])
        for r in queue
    ]
    assert shown == [
        ("T-1", "first_response", "breached", T0 + 60 * M, None, 30 * 60),
        ("T-2", "update", "running", T0 + 100 * M, 10 * 60, None),
        ("T-3", "first_response", "running", T0 + 300 * M, 210 * 60, None),
        ("T-6", "first_response", "running", T0 + DAY + 10 * M, (24 * 60 - 80) * 60, None),
        ("T-4", "update", "paused", T0 + 70 * M, 50 * 60, None),  # waits on the customer
        ("T-7", None, None, None, None, None),  # nothing can breach: last
    ]
    assert [r["paused"] for r in queue] == [False, False, False, False, True, False]
    t3 = queue[2]
    assert (t3["customer_id"], t3["severity"], t3["status"], t3["tier"], t3["assignee"]) == (
        "C-2",
        2,
        "open",
        "support_engineer",
        "se-bo",
    )
    assert (queue[4]["status"], queue[0]["assignee"]) == ("waiting_on_customer", None)


def test_filters(rows: Rows) -> None:
    def ids(**query: Any) -> list[str]:
        return _ids(ticket_queue(rows, AS_OF, TicketQuery(**query)))

    assert ids(status="all") == ["T-1", "T-2", "T-3", "T-6", "T-4", "T-5", "T-7"]
    assert ids(status="resolved") == ["T-5"]
    assert ids(status="waiting_on_customer") == ["T-4"]
    assert ids(status="open") == ["T-1", "T-2", "T-3", "T-6", "T-7"]
    assert ids(customer="C-2") == ["T-3", "T-4", "T-7"]
    assert ids(customer="C-3") == []
    assert ids(assignee="se-bo") == ["T-3"]
    assert ids(severity=3) == ["T-6", "T-7"]
    # running and due within MIN minutes, as sla list --at-risk: not T-1 (breached) nor
    # T-4 (paused)
    assert ids(breaching_within=10) == ["T-2"]
    assert ids(breaching_within=9) == []
    assert ids(breaching_within=210) == ["T-2", "T-3"]
    assert ids(limit=2) == ["T-1", "T-2"]
    assert ids(limit=0) == []


def test_orders(rows: Rows) -> None:
    def ids(sort: str) -> list[str]:
        return _ids(ticket_queue(rows, AS_OF, TicketQuery(sort=sort, status="all")))

    assert ids("severity") == ["T-1", "T-2", "T-4", "T-5", "T-3", "T-6", "T-7"]
    assert ids("opened") == ["T-1", "T-4", "T-5", "T-7", "T-6", "T-2", "T-3"]


def test_the_queue_moves_with_as_of(world: World) -> None:
    later = T0 + 110 * M
    queue = ticket_queue(world.rows(later), later)
    assert [(r["ticket_id"], r["timer_state"], r["overdue_by"]) for r in queue[:2]] == [
        ("T-1", "breached", 50 * 60),
        ("T-2", "breached", 10 * 60),
    ]
    before_t3 = T0 + 50 * M
    assert "T-3" not in _ids(ticket_queue(world.rows(before_t3), before_t3))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"sort": "oldest"}, "sort"),
        ({"limit": -1}, "limit"),
        ({"status": "pending"}, "status"),
        ({"severity": 5}, "severity"),
        ({"breaching_within": -5}, "breaching_within"),
    ],
)
def test_a_bad_option_value_names_its_field(query: dict[str, Any], field: str) -> None:
    with pytest.raises(BadOption) as raised:
        TicketQuery(**query)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field} {query[field]}: ")


def test_an_unknown_customer_is_an_error_not_an_empty_queue(rows: Rows) -> None:
    require_customer(rows, "C-3", AS_OF)
    with pytest.raises(BadOption, match="customer C-9: no such customer"):
        require_customer(rows, "C-9", AS_OF)
    with pytest.raises(BadOption, match="customer C-1"):
        require_customer(rows, "C-1", T0 - 11 * DAY)  # not onboarded yet


def test_the_customer_queue_lowest_health_first(rows: Rows) -> None:
    queue = customer_queue(rows, AS_OF)
    shown = [
        (
            r["customer_id"],
            r["success_owner"],
            r["score"],
            r["trend"],
            r["flags"],
            r["open_tickets"],
            [c["check_in_id"] for c in r["missed_check_ins"]],
        )
        for r in queue
    ]
    # Support load in the 30 days to T (Sev1 8, Sev2 4, Sev3 2): C-1 26 (T-1, T-2, T-5,
    # T-6) gives 0 of 25; C-2 14 gives 10.4 (its missed check-in takes engagement to 0);
    # C-3 none gives 25. Usage trend 15 and errors 10 without reports; 30 days earlier
    # each scored 50.
    assert shown == [
        ("C-1", "cs-jo", 25.0, -25.0, ["low_health", "sharp_drop"], 3, []),
        ("C-2", "cs-kim", 35.4, -14.6, ["low_health"], 3, ["CI-1"]),
        ("C-3", "cs-jo", 50.0, 0.0, ["silent"], 0, []),
    ]
    assert {(r["tier"], r["status"]) for r in queue} == {("enterprise", "active")}


def test_customer_filters(rows: Rows) -> None:
    def ids(**query: Any) -> list[str]:
        return [r["customer_id"] for r in customer_queue(rows, AS_OF, CustomerQuery(**query))]

    assert ids(owner="cs-jo") == ["C-1", "C-3"]
    assert ids(owner="cs-nobody") == []
    assert ids(health_below=50) == ["C-1", "C-2"]
    assert ids(health_below=35.4) == ["C-1"]  # below, not at
    with pytest.raises(BadOption, match="health_below -1"):
        CustomerQuery(health_below=-1)


# The queue agrees with the SLA board over random histories ------------------------------

ACTIONS = ("respond", "respond", "update", "triage", "wait", "resume", "resolve", "reopen")
GAPS = st.sampled_from([0, 1, 5, 10, 30, 60, 90, 240, 480, 1440])
STORY = st.tuples(
    st.integers(0, 600),  # minutes after T0 the ticket opens
    st.integers(1, 4),
    st.lists(st.tuples(GAPS, st.sampled_from(ACTIONS), st.integers(1, 4)), max_size=8),
)


def _drive(world: World, ticket: Ticket, at: datetime, action: str, severity: int) -> None:
    meta = world.meta(at)
    try:
        if action == "respond":
            ticket.respond(meta, True, "on it")
        elif action == "update":
            ticket.post_update(meta, "still on it")
        elif action == "triage":
            ticket.triage(meta, severity, CATEGORY[severity], "re-assessed")
        elif action == "wait":
            ticket.change_status(meta, "waiting_on_customer")
        elif action == "resume":
            ticket.change_status(meta, "in_progress")
        elif action == "resolve":
            ticket.resolve(meta, "fixed")
        else:
            ticket.reopen(meta, "came back")
    except RuleViolation:
        pass


@settings(max_examples=60, deadline=None)
@given(st.lists(STORY, min_size=1, max_size=5), st.integers(0, 3 * 24 * 60), st.integers(0, 300))
def test_the_queue_agrees_with_the_timers_of_sla_list(
    stories: list[tuple[int, int, list[tuple[int, str, int]]]], minutes: int, within: int
) -> None:
    world = World()
    world.customer("C-1", T0 - DAY, "cs-jo")
    for n, (opened, severity, steps) in enumerate(stories, start=1):
        at = T0 + opened * M
        ticket = world.ticket(f"T-{n}", "C-1", at, severity)
        for gap, action, new_severity in steps:
            at += gap * M
            _drive(world, ticket, at, action, new_severity)
    as_of = T0 + minutes * M
    rows = world.rows(as_of)
    queue = ticket_queue(rows, as_of, TicketQuery(status="all"))
    assert sorted(_ids(queue)) == sorted(t["ticket_id"] for t in rows["tickets"])

    board = sla_board(rows["sla_timers"], as_of, open_only=True)
    for row in queue:
        targeted = [
            b for b in board if b["ticket_id"] == row["ticket_id"] and b["due_at"] is not None
        ]
        if row["timer"] is None:
            assert targeted == []
            continue
        running = [b for b in targeted if b["state"] != "paused"]
        expected = min(running or targeted, key=lambda b: b["due_at"])
        assert (row["timer"], row["due_at"], row["timer_state"]) == (
            expected["timer"],
            expected["due_at"],
            expected["state"],
        )
        assert (row["time_left"], row["overdue_by"], row["paused"]) == (
            expected["time_left"],
            expected["overdue_by"],
            expected["paused"],
        )

    # Soonest due first among running (and overdue) timers, then paused ones, then none.
    groups = [2 if r["timer"] is None else int(r["timer_state"] == "paused") for r in queue]
    assert groups == sorted(groups)
    running_dues = [r["due_at"] for r, g in zip(queue, groups, strict=True) if g == 0]
    assert running_dues == sorted(running_dues)

    at_risk = sla_board(rows["sla_timers"], as_of, at_risk=within)
    breaching = ticket_queue(rows, as_of, TicketQuery(status="all", breaching_within=within))
    assert sorted(_ids(breaching)) == sorted(r["ticket_id"] for r in at_risk)
