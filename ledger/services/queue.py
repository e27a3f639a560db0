"""The daily queues: tickets by their next breach, customers by their health.

Pure functions of the read-model rows (``Rows``, as ``rows_as_of`` gives them) and an
instant ``as_of``: no clock, no database. The ticket queue evaluates every timer with
``ledger.projections.sla.evaluate_record`` (as ``sla list`` does) and keeps one row per
ticket with the timer due next; the customer queue is ``ledger.projections.health`` with
each customer's open tickets beside it.

The timer due next of a ticket is one of its timers not stopped that has a target (the
resolution timer has none): a running or breached one before a paused one, the soonest
due first. In the ``next-breach`` order the tickets whose next timer runs (or has
breached: overdue tickets first) come first, soonest due first; then those whose next
timer is paused (the ticket waits on the customer; by where the deadline stood when the
clock stopped); then those with no timer that can breach. Ties go to the higher
severity, then the older ticket.

Option values are checked when a query is made (``TicketQuery``, ``CustomerQuery``):
``BadOption`` names the field at fault, so a bad value is one clear error before any
row is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ledger.aggregates.ticket import OPEN_STATUSES
from ledger.projections.fold import Rows
from ledger.projections.health import NO_SIGNALS, Signals, health, health_of, score
from ledger.projections.sla import evaluate_record

SORTS: Final = ("next-breach", "opened", "severity")
"""Orders of the ticket queue."""
STATUSES: Final = (*OPEN_STATUSES, "resolved", "closed")
"""A ticket's statuses (docs/rules.md)."""
UNRESOLVED: Final = "unresolved"
"""The default status filter: every ticket not resolved and not closed."""
ALL: Final = "all"
STATUS_CHOICES: Final = (UNRESOLVED, ALL, *STATUSES)
SEVERITIES: Final = (1, 2, 3, 4)


class BadOption(ValueError):
    """An option value a queue cannot take; ``field`` is the query field at fault."""

    def __init__(self, field: str, value: object, why: str) -> None:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        super().__init__(f"{field} {value}: {why}")
        self.field = field
        self.value = value
        self.why = why


def _either(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1]


@dataclass(frozen=True)
class TicketQuery:
    """Which tickets the queue shows, in which order, how many.

    ``status``: one of ``STATUSES``, ``all``, or ``unresolved`` (the default: not
    resolved, not closed); ``breaching_within``: only tickets whose next timer runs and
    is due within that many minutes of ``as_of`` (as ``sla list --at-risk``: not
    breached yet, not paused); ``limit``: at most that many rows, after sorting.
    """

    status: str = UNRESOLVED
    severity: int | None = None
    customer: str | None = None
    assignee: str | None = None
    breaching_within: int | None = None
    sort: str = "next-breach"
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUS_CHOICES:
            raise BadOption("status", self.status, f"use {_either(STATUS_CHOICES)}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise BadOption("severity", self.severity, "use 1, 2, 3 or 4")
        if self.breaching_within is not None and self.breaching_within < 0:
            why = "must be 0 or more (minutes)"
            raise BadOption("breaching_within", self.breaching_within, why)
        if self.sort not in SORTS:
            raise BadOption("sort", self.sort, f"use {_either(SORTS)}")
        if self.limit is not None and self.limit < 0:
            raise BadOption("limit", self.limit, "must be 0 or more")

    def wants(self, ticket: dict[str, Any]) -> bool:
        """Whether the ticket's summary row passes the filters on its fields."""
        status = ticket["status"]
        if self.status == UNRESOLVED:
            if status not in OPEN_STATUSES:
                return False
        elif self.status != ALL and status != self.status:
            return False
        return (
            (self.severity is None or ticket["severity"] == self.severity)
            and (self.customer is None or ticket["customer_id"] == self.customer)
            and (self.assignee is None or ticket["assignee"] == self.assignee)
        )


@dataclass(frozen=True)
class CustomerQuery:
    """Which customers the queue shows: ``owner`` (their success owner) and
    ``health_below`` (a score from 0 to 100: only customers scoring below it)."""

    owner: str | None = None
    health_below: float | None = None

    def __post_init__(self) -> None:
        if self.health_below is not None and not 0 <= self.health_below <= 100:
            raise BadOption("health_below", self.health_below, "must be a score from 0 to 100")


def require_customer(rows: Rows, customer_id: str, as_of: datetime) -> None:
    """``BadOption`` unless the customer was onboarded by ``as_of``: a filter on a
    customer the ledger does not hold is a mistake, not an empty queue."""
    for customer in rows["customers"]:
        if customer["customer_id"] == customer_id and customer["onboarded_at"] <= as_of:
            return
    why = f"no such customer in the ledger as of {as_of.isoformat()}"
    raise BadOption("customer", customer_id, why)


def next_timer(timers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The timer due next among one ticket's evaluated timer rows: not stopped, with a
    target; running or breached before paused; soonest due first (None: none can breach)."""
    open_timers = [t for t in timers if t["stopped_at"] is None and t["due_at"] is not None]
    if not open_timers:
        return None
    return min(open_timers, key=lambda t: (_waiting(t), t["due_at"], t["seq"]))


def _waiting(timer: dict[str, Any]) -> bool:
    """Paused with time left: its clock stands still and it cannot breach meanwhile."""
    return bool(timer["state"] == "paused")


def ticket_queue(
    rows: Rows, as_of: datetime, query: TicketQuery | None = None
) -> list[dict[str, Any]]:
    """One row per ticket the query wants, with its next timer as of ``as_of``, sorted.

    The rows must be as of ``as_of`` (``rows_as_of``). Each row: the ticket's
    ``ticket_id``, ``customer_id``, ``title``, ``status``, ``severity``, ``tier``,
    ``assignee``, ``opened_at``; its next timer's ``timer`` (kind), ``timer_state``,
    ``due_at``, ``time_left``, ``overdue_by`` and ``paused`` (see
    ``ledger.projections.sla.timer_clock``), all null (``paused`` false) when no timer of
    the ticket can breach. A customer filter does not check that the customer exists:
    ``require_customer`` does.
    """
    query = query or TicketQuery()
    timers_of: dict[str, list[dict[str, Any]]] = {}
    for record in rows["sla_timers"]:
        timers_of.setdefault(record["ticket_id"], []).append(record)
    queue = []
    for ticket in rows["tickets"]:
        if not query.wants(ticket):
            continue
        timers = [evaluate_record(r, as_of) for r in timers_of.get(ticket["ticket_id"], [])]
        timer = next_timer(timers)
        if query.breaching_within is not None and not _due_within(
            timer, as_of, query.breaching_within
        ):
            continue
        queue.append(_ticket_row(ticket, timer))
    queue.sort(key=_ORDERS[query.sort])
    return queue if query.limit is None else queue[: query.limit]


def _due_within(timer: dict[str, Any] | None, as_of: datetime, minutes: int) -> bool:
    """The same test as ``sla list --at-risk``: running, due within ``minutes``."""
    if timer is None or timer["state"] != "running":
        return False
    return bool((timer["due_at"] - as_of).total_seconds() / 60 <= minutes)


def _ticket_row(ticket: dict[str, Any], timer: dict[str, Any] | None) -> dict[str, Any]:
    row = {
        key: ticket[key]
        for key in (
            "ticket_id",
            "customer_id",
            "title",
            "status",
            "severity",
            "tier",
            "assignee",
            "opened_at",
        )
    }
    if timer is None:
        row.update(
            timer=None,
            timer_state=None,
            due_at=None,
            time_left=None,
            overdue_by=None,
            paused=False,
        )
        return row
    row.update(
        timer=timer["timer"],
        timer_state=timer["state"],
        due_at=timer["due_at"],
        time_left=timer["time_left"],
        overdue_by=timer["overdue_by"],
        paused=timer["paused"],
    )
    return row


def _by_breach(row: dict[str, Any]) -> tuple[Any, ...]:
    """Running (or overdue) by due instant, then paused by due instant, then no timer."""
    if row["timer"] is None:
        return (2, *_by_severity_age(row))
    group = 1 if row["timer_state"] == "paused" else 0
    return (group, row["due_at"], *_by_severity_age(row))


def _by_severity_age(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["severity"], row["opened_at"], row["ticket_id"])


_ORDERS: Final[dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {
    "next-breach": _by_breach,
    "opened": lambda row: (row["opened_at"], row["ticket_id"]),
    "severity": lambda row: (row["severity"], *_by_breach(row)),
}


def customer_queue(
    rows: Rows, as_of: datetime, query: CustomerQuery | None = None
) -> list[dict[str, Any]]:
    """One row per customer onboarded by ``as_of`` the query wants, lowest health first.

    Each row: ``customer_id``, ``name``, ``tier``, ``status`` (active or churned),
    ``success_owner``, ``score`` and ``trend`` (R-CS-2), ``flags`` (churn risks, R-CS-3),
    ``open_tickets`` (not resolved, not closed), ``missed_check_ins`` (R-CS-4, each
    with its id and due instant) and ``last_engagement_at``.
    """
    return customer_queue_of(health(rows, as_of), open_tickets(rows["tickets"], as_of), query)


def open_tickets(tickets: list[dict[str, Any]], as_of: datetime) -> dict[str, int]:
    """Each customer's tickets opened by ``as_of`` and not resolved nor closed."""
    found: dict[str, int] = {}
    for ticket in tickets:
        if ticket["status"] in OPEN_STATUSES and ticket["opened_at"] <= as_of:
            found[ticket["customer_id"]] = found.get(ticket["customer_id"], 0) + 1
    return found


def customer_queue_of(
    records: list[dict[str, Any]],
    open_counts: dict[str, int],
    query: CustomerQuery | None = None,
) -> list[dict[str, Any]]:
    """``customer_queue`` from the customers' health records (``health``) and their
    open tickets (``open_tickets``)."""
    query = query or CustomerQuery()
    queue = []
    for record in records:
        if query.owner is not None and record["success_owner"] != query.owner:
            continue
        if query.health_below is not None and not record["score"] < query.health_below:
            continue
        queue.append(
            {
                "customer_id": record["customer_id"],
                "name": record["name"],
                "tier": record["tier"],
                "status": record["status"],
                "success_owner": record["success_owner"],
                "score": record["score"],
                "trend": record["trend"],
                "flags": record["flags"],
                "open_tickets": open_counts.get(record["customer_id"], 0),
                "missed_check_ins": record["missed_check_ins"],
                "last_engagement_at": record["last_engagement_at"],
            }
        )
    return queue


def customer_page(
    customers: list[dict[str, Any]],
    signals: Mapping[str, Signals],
    open_counts: dict[str, int],
    as_of: datetime,
    query: CustomerQuery,
    wanted: Callable[[str], bool],
    page: int,
    size: int,
    completing: Callable[[set[str]], None] | None = None,
) -> tuple[int, int, list[dict[str, Any]]]:
    """One page of ``customer_queue``'s rows (the customers' rows, their ``Signals`` and
    open tickets as of ``as_of``), ``size`` a page, of the customers ``wanted`` keeps:
    how many rows in all, the page (``page`` from 1; the last, when past it) and its
    rows. Every customer is scored, which orders and filters them; only the page's get
    a whole record (their trend, flags, missed check-ins, last engagement), once
    ``completing`` has been given their ids (to read what only their records need)."""
    ranked = []
    for customer in customers:
        cid = customer["customer_id"]
        if customer["onboarded_at"] > as_of or not wanted(cid):
            continue
        if query.owner is not None and customer["success_owner"] != query.owner:
            continue
        scored = score(signals.get(cid, NO_SIGNALS), as_of)
        if query.health_below is not None and not scored < query.health_below:
            continue
        ranked.append((scored, cid))
    ranked.sort()  # (as ``health`` orders its records: by score, then customer id)
    page = min(max(page, 1), max(1, -(-len(ranked) // size)))
    shown = {cid for _, cid in ranked[(page - 1) * size : page * size]}
    if completing is not None:
        completing(shown)
    records = health_of([c for c in customers if c["customer_id"] in shown], signals, as_of)
    return len(ranked), page, customer_queue_of(records, open_counts, query)
