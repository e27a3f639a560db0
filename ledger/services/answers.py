"""The questions every entry point asks, answered whole: the command line's ``--json`` and
the HTTP API (``web/``) call these and only format what they return.

Each function takes the ledger (``LedgerApp``), the read models' engine where it reads
them, and the instants of the question: ``as_of`` and ``known_at`` (R-TIME-1). Lists
come back as rows (instants as ``datetime``, for human output); ``document`` makes any
answer the JSON object both entry points print, starting with the ``as_of`` and
``known_at`` it was computed for.

A subject the question names that the ledger does not hold (as of the instant) is
``Absent``; a filter value a question cannot take is ``ledger.services.queue.BadOption``.

The command line imports this module for every question, so what only some questions
use (the read paths, the projector, the wire contract's pydantic models) is imported by
the functions that use them: ``ledger escalations`` need not load them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.store import StoredRejection
from ledger.aggregates.customer import Customer
from ledger.aggregates.ticket import Ticket
from ledger.projections.health import health, health_of
from ledger.projections.metrics import metrics as metric_figures
from ledger.projections.registry import not_the_subject
from ledger.projections.sla import sla_board
from ledger.services.followup import ActionQuery, action_list, require_filters
from ledger.services.queries import (
    answer,
    answered_at,
    customer_state,
    plain,
    rejected_input,
    rejections_seen,
    subject_as_of,
    ticket_state,
    trail,
)
from ledger.services.queue import (
    BadOption,
    CustomerQuery,
    TicketQuery,
    customer_page,
    customer_queue,
    customer_queue_of,
    require_customer,
    ticket_queue,
)
from ledger.services.timelines import escalation_timeline, rca_document, ticket_timers

if TYPE_CHECKING:  # (SQLAlchemy itself only where a question reads a table directly)
    from sqlalchemy import Engine

    from ledger.services.plays import PlayQuery


class Absent(LookupError):
    """The subject a question names is not in the ledger as of the instant asked.

    ``stored``: it has a history (only not yet as of the instant); ``inputs``: how many of
    its inputs were rejected (and count then), and ``rules``: the rules they broke, which
    are often the reason."""

    def __init__(
        self, kind: str, subject: str, stored: bool, rejected: list[StoredRejection]
    ) -> None:
        super().__init__(f"no {kind} {subject} in the ledger")
        self.kind = kind
        self.subject = subject
        self.stored = stored
        self.inputs = len(rejected)
        self.rules = sorted({r.rejection.rule for r in rejected})


def document(as_of: datetime, known_at: datetime | None, **parts: Any) -> dict[str, Any]:
    """An answer as JSON: ``as_of`` and ``known_at`` (UTC) first, then ``parts``."""
    return {**answered_at(as_of, known_at), **plain(parts)}


# the queues --------------------------------------------------------------------------------


def tickets(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    query: TicketQuery,
) -> list[dict[str, Any]]:
    """``ledger tickets``: one row per ticket the query wants, by its next breach (a
    customer filter naming a customer not onboarded by ``as_of`` is ``BadOption``)."""
    from ledger.services.reads import ticket_rows

    rows = ticket_rows(app, engine, as_of, known_at, query)
    if query.customer is not None:
        require_customer(rows, query.customer, as_of)
    return answer(rows, lambda r: ticket_queue(r, as_of, query), "tickets")


def customers(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    query: CustomerQuery,
) -> list[dict[str, Any]]:
    """``ledger customers``: one row per customer the query wants, lowest health first."""
    from ledger.services.reads import customer_rows, health_inputs

    found = health_inputs(app, engine, as_of, known_at)
    try:
        records = health_of(found.customers, found.signals, as_of)
        return customer_queue_of(records, found.open_tickets, query)
    except not_the_subject():
        raise
    except Exception:  # (a subject that cannot be evaluated: the rows find it, ``answer``)
        rows = customer_rows(app, engine, as_of, known_at)
        return answer(rows, lambda r: customer_queue(r, as_of, query), "customers")


def customers_page(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    query: CustomerQuery,
    wanted: Callable[[str], bool],
    page: int,
    size: int,
) -> tuple[int, int, list[dict[str, Any]]]:
    """One page of ``customers``' rows, ``size`` a page, of the customers ``wanted``
    keeps (the web board's customers page): how many rows in all, the page (the last,
    when ``page`` is past it) and its rows, each as ``customers`` gives it. What only a
    record needs is read for the page's customers alone (their usage reports as of 30
    days before, for the trend)."""
    from ledger.services.reads import health_inputs, with_trends

    found = health_inputs(app, engine, as_of, known_at, trends=False)
    try:
        return customer_page(
            found.customers,
            found.signals,
            found.open_tickets,
            as_of,
            query,
            wanted,
            page,
            size,
            lambda shown: with_trends(engine, found, shown),
        )
    except not_the_subject():
        raise
    except Exception:  # (a subject that cannot be evaluated: the rows find it, ``answer``)
        everyone = customers(app, engine, as_of, known_at, query)
        rows = [r for r in everyone if wanted(r["customer_id"])]
        page = min(max(page, 1), max(1, -(-len(rows) // size)))
        return len(rows), page, rows[(page - 1) * size : page * size]


def plays(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    query: PlayQuery,
) -> list[dict[str, Any]]:
    """``ledger plays``: one row per success play the query wants, open ones soonest due
    first (a customer filter naming a customer not onboarded by ``as_of`` is
    ``BadOption``)."""
    from ledger.services.plays import play_queue
    from ledger.services.reads import owner_known, play_rows

    rows = play_rows(app, engine, as_of, known_at, query)
    if query.customer is not None:
        require_customer(rows, query.customer, as_of)
    found = answer(rows, lambda r: play_queue(r, as_of, query), "plays")
    if (
        not found
        and query.owner is not None
        and not owner_known(app, engine, as_of, known_at, query.owner)
    ):
        why = f"owns no success play and no customer as of {as_of.isoformat()}"
        raise BadOption("owner", query.owner, why)
    return found


def board(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    *,
    breached: bool = False,
    at_risk: int | None = None,
    open_only: bool = False,
    customer: str | None = None,
    severity: int | None = None,
    warned: bool = False,
) -> list[dict[str, Any]]:
    """``ledger sla list``: the SLA board, every timer interval evaluated at ``as_of``."""
    from ledger.services.reads import timer_records

    filters: dict[str, Any] = {
        "breached": breached,
        "at_risk": at_risk,
        "open_only": open_only,
        "customer": customer,
        "severity": severity,
        "warned": warned,
    }
    records = {"sla_timers": timer_records(app, engine, as_of, known_at, **filters)}
    return answer(records, lambda rows: sla_board(rows["sla_timers"], as_of, **filters), "sla list")


def metrics(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """``ledger metrics``: every R-MET figure over ``[start, end or as_of]``. (The figures'
    own ``as_of`` is left out: the document's, in UTC, says it.)"""
    from ledger.services.reads import metrics_rows

    rows = metrics_rows(app, engine, as_of, known_at, start, end)
    figures = answer(rows, lambda r: metric_figures(r, as_of, start, end), "metrics")
    return {k: v for k, v in figures.items() if k != "as_of"}


def actions(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    query: ActionQuery,
    customers: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """``ledger actions``: the preventive actions the query wants, soonest due first (of
    ``customers``' tickets only, when given: a reader scoped to them)."""
    from ledger.services.reads import action_rows

    rows = action_rows(app, engine, as_of, known_at, ticket=query.ticket, customers=customers)
    if customers is not None:  # (subjects folded from the log come whole: keep theirs only)
        rows = {n: [r for r in found if r["customer_id"] in customers] for n, found in rows.items()}
    require_filters(rows, as_of, query)
    return answer(rows, lambda r: action_list(r, as_of, query), "actions")


def insights(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """``ledger insights``: product areas ranked by customer pain over ``[start, end or
    as_of]``, and the root causes repeated with no runbook."""
    from ledger.projections.insights import insights as insight_figures
    from ledger.services.reads import insight_rows

    rows = insight_rows(app, engine, as_of, known_at, start, end)
    return answer(rows, lambda r: insight_figures(r, as_of, start, end), "insights")


def health_records(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    customer_id: str | None = None,
) -> list[dict[str, Any]]:
    """``ledger health``: each customer's health record (or one customer's), lowest first."""
    from ledger.services.reads import health_inputs, health_rows

    found = health_inputs(app, engine, as_of, known_at, customer_id)
    try:
        return health_of(found.customers, found.signals, as_of, customer_id)
    except not_the_subject():
        raise
    except Exception:  # (a subject that cannot be evaluated: the rows find it, ``answer``)
        rows = health_rows(app, engine, as_of, known_at)
        return answer(rows, lambda r: health(r, as_of, customer_id), "health")


# one subject -------------------------------------------------------------------------------


def ticket_view(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None
) -> dict[str, Any]:
    """``ledger ticket show``: state, timers, rejected inputs and trail (JSON-ready but for
    the timers' instants). ``Absent`` when no ticket; ``SubjectFailed`` when it cannot be
    folded."""
    found = subject_as_of(app, ticket_id, as_of, known_at)
    if not isinstance(found.aggregate, Ticket):
        raise Absent("ticket", ticket_id, found.exists, found.rejected)
    timers = ticket_timers(app, ticket_id, as_of, known_at) or []
    return {
        **ticket_state(found.aggregate),
        # the customer exception it runs under (R-EXC), as its timers record it
        "exception_id": next((t["exception_id"] for t in timers), None),
        "timers": timers,
        "rejected": [rejected_input(r) for r in found.rejected],
        "trail": trail(found.events),
    }


def customer_view(
    app: LedgerApp, customer_id: str, as_of: datetime, known_at: datetime | None
) -> dict[str, Any]:
    """``ledger customer show``: state (its calendar versions and the one in force as of
    ``as_of``), rejected inputs and trail. ``Absent`` when none."""
    found = subject_as_of(app, customer_id, as_of, known_at)
    if not isinstance(found.aggregate, Customer):
        raise Absent("customer", customer_id, found.exists, found.rejected)
    return {
        **customer_state(found.aggregate, as_of),
        "open_play": open_play(found.aggregate, as_of),
        "rejected": [rejected_input(r) for r in found.rejected],
        "trail": trail(found.events),
    }


def open_play(customer: Customer, as_of: datetime) -> dict[str, Any] | None:
    """The customer's open success play as of ``as_of`` (R-PLAY-1: one at most), with
    whether it is overdue then and by how many seconds (None: no play is open)."""
    from ledger.services.plays import play_view

    for play in customer.plays.values():
        if play.closed_at is None:
            view: dict[str, Any] = plain(play_view(customer.id, vars(play), as_of))
            return view
    return None


def escalations(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None
) -> dict[str, Any]:
    """``ledger escalations``: the ticket's escalation timeline. ``Absent`` when none."""
    timeline = escalation_timeline(app, ticket_id, as_of, known_at)
    if timeline is None:
        raise Absent("ticket", ticket_id, bool(app.find(ticket_id)), [])
    return timeline


def rca(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None
) -> dict[str, Any]:
    """``ledger rca --json``: the ticket's RCA document. ``Absent`` when no ticket."""
    found = rca_document(app, ticket_id, as_of, known_at)
    if found is None:
        raise Absent("ticket", ticket_id, bool(app.find(ticket_id)), [])
    return found


def customer_of(app: LedgerApp, subject: str) -> str | None:
    """The customer a subject belongs to: itself, or the ticket's customer (None: no
    such subject, or the policy)."""
    found = app.find(subject)
    if isinstance(found, Customer):
        return str(found.id)
    if isinstance(found, Ticket):
        return found.customer_id
    return None


# inputs and the ledger's state -------------------------------------------------------------


RULE_ID: Final = re.compile(r"R-[A-Z]+-[0-9]+")
"""What a rule id looks like (R-AREA-N)."""


def known_type(app: LedgerApp, wire_type: str) -> bool:
    """Whether a rejections filter names a wire type of the contract, or one a rejected
    input named (a typo must not read as "nothing was rejected")."""
    from schemas import PRODUCER_TYPES, SYSTEM_TYPES

    return (
        wire_type in PRODUCER_TYPES
        or wire_type in SYSTEM_TYPES
        or wire_type in app.store.rejected_types()
    )


def rejections(
    app: LedgerApp,
    *,
    rule: str | None = None,
    subject: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> list[StoredRejection]:
    """``ledger rejects list``: rejected inputs, oldest first (``rejection_view`` lists
    one). With ``as_of`` or ``known_at``: only those that count then (``rejection_seen``)."""
    if as_of is None and known_at is None:
        return app.store.rejections(
            rule=rule, subject=subject, event_type=event_type, since=since, limit=limit
        )
    seen = rejections_seen(
        app,
        as_of or datetime.now(UTC),
        known_at,
        rule=rule,
        subject=subject,
        event_type=event_type,
        since=since,
    )
    return seen if limit is None else seen[:limit]


@dataclass(frozen=True)
class Lag:
    """How far the read models are behind the log: its head, and each projection's
    position."""

    head: int
    positions: dict[str, int]

    @property
    def behind(self) -> int:
        """Events the slowest projection has still to apply."""
        return max((self.head - p for p in self.positions.values()), default=0)


def lag(app: LedgerApp, engine: Engine) -> Lag:
    """The log's head and where each projection stands."""
    from ledger.adapters.projector import Projector

    projector = Projector(app, engine)
    return Lag(projector.head(), projector.positions())


def status(app: LedgerApp, engine: Engine, label: str) -> dict[str, Any]:
    """``ledger status``: the log, projections, publishers, consumers, rejections."""
    from sqlalchemy import select

    from ledger.adapters import tables
    from ledger.adapters.projector import Projector

    projector = Projector(app, engine)
    head = projector.head()
    projections = projector.positions()
    failed = projector.failures()
    with engine.connect() as conn:
        rows = conn.execute(
            select(tables.publish_positions.c.stream, tables.publish_positions.c.position)
        )
        publishers: dict[str, int] = {str(stream): int(at) for stream, at in rows}
    consumers = [
        {"group": p.consumer, "topic": p.topic, "partition": p.partition, "offset": p.offset}
        for p in app.store.positions(None)
    ]
    rejected = app.store.rejection_counts()
    return {
        "database": label,
        "events": app.store.event_count(),
        "log_head": head,
        "projections": {n: {"position": p, "behind": head - p} for n, p in projections.items()},
        "publishers": publishers,
        "consumers": consumers,
        "rejections": sum(rejected.values()),
        "deferred": app.store.deferred_count(),
        "projection_failures": failed,
    }


# the web board (issue 19) ------------------------------------------------------------------


def health_trend(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    customer_id: str,
    days: int = 90,
) -> list[dict[str, Any]]:
    """One customer's health record at midnight UTC of each of the ``days`` days before
    ``as_of``, and at ``as_of`` (last: ``health_records``' record for the customer),
    oldest first; none before it was onboarded. The rows are read once, as of ``as_of``
    known at ``known_at``, and each day's score computed from them, as ``health`` computes
    its own trend (the score 30 days before)."""
    from datetime import timedelta

    from ledger.projections.health import SUPPORT_DAYS, TREND_DAYS
    from ledger.services.reads import Ask, read_as_of

    since = as_of - timedelta(days=days + SUPPORT_DAYS + TREND_DAYS)
    wanted = {
        "tickets": Ask(
            lambda c: [c.customer_id == customer_id, c.opened_at > since, c.opened_at <= as_of],
            ("ticket_id", "customer_id", "opened_severity", "opened_at"),
        ),
        "customers": Ask(lambda c: [c.customer_id == customer_id]),
        **{
            name: Ask(lambda c: [c.customer_id == customer_id])
            for name in (
                "customer_usage",
                "customer_surveys",
                "customer_check_ins",
                "customer_milestones",
            )
        },
    }
    rows = read_as_of(app, engine, as_of, known_at, wanted)
    rows = {
        n: [r for r in found if r.get("customer_id") == customer_id] for n, found in rows.items()
    }
    day = as_of.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    instants = [
        day - timedelta(days=n) for n in range(days - 1, -1, -1) if day - timedelta(days=n) < as_of
    ]
    instants.append(as_of)

    def trend(found: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return [
            {"at": at, **record} for at in instants for record in health(found, at, customer_id)
        ]

    return answer(rows, trend, "health")


def customer_zones(engine: Engine, customer_ids: list[str] | None = None) -> dict[str, str]:
    """Each customer's business-calendar time zone (IANA name), as the live table holds it
    (of the customers named only, when named): what the pages show a customer's local time
    in."""
    from sqlalchemy import select

    from ledger.adapters import tables

    column = tables.customers.c
    query = select(column.customer_id, column.timezone)
    if customer_ids is not None:
        query = query.where(column.customer_id.in_(customer_ids))
    with engine.connect() as conn:
        found = conn.execute(query)
        return {str(cid): str(zone or "UTC") for cid, zone in found}


def latest_activity(engine: Engine) -> datetime | None:
    """The latest instant an event of the ledger occurred at (None: none yet)."""
    from ledger.adapters.projector import latest_occurred

    return latest_occurred(engine)
