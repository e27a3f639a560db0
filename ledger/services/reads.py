"""What a question reads from the read models, as of any instant (R-TIME-1).

A question about now (everything known, and ``as_of`` at or after the last thing that
occurred) reads the live tables; any other instant reads the versions visible then
(``ledger.adapters.versions``), both after catching up with the log. Each question asks
only for its own rows: its filters go into the query as conditions that keep at least
what its own evaluation keeps, so that evaluation (``sla_board``, ``metrics``) stays the
one place that decides.

The versions of a ticket were folded under the reading of its customer's calendar and of
the policy that the runner had; the tickets visible under another reading than the one
visible as of the question, and the subjects left out of the read models, are folded
from the log, as a replay does, and their rows replace what the tables gave.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import BindParameter, Engine, and_, bindparam, case, func, or_

from ledger.adapters import tables
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import CatchUp, Projector, latest_occurred, listed_failures
from ledger.adapters.versions import (
    Totals,
    Where,
    read_latest,
    read_rows,
    read_totals,
    tickets_read_elsewhere,
    together,
)
from ledger.aggregates.ticket import OPEN_STATUSES, Ticket
from ledger.projections.fold import Rows
from ledger.projections.health import (
    ENGAGEMENT_DAYS,
    SEVERITY_WEIGHT,
    SUPPORT_DAYS,
    TREND_DAYS,
    Counts,
    Signals,
    signals_of,
)
from ledger.projections.registry import (
    BY_NAME,
    POLICY_SUBJECT,
    PROJECTIONS,
    EventsBySubject,
    guarded,
    visible,
)
from ledger.services.plays import PlayQuery
from ledger.services.queue import ALL, UNRESOLVED, TicketQuery, open_tickets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ask:
    """What a question asks of one read model: rows meeting ``where`` (None: all), and
    of each row the columns ``only`` (None: all); by key, unless its evaluation does not
    depend on their order (``ordered`` false: in any order)."""

    where: Where | None = None
    only: tuple[str, ...] | None = None
    ordered: bool = True


EVERY_TABLE: Mapping[str, Ask] = {n: Ask() for p in PROJECTIONS for n in p.tables}
"""Every read model, whole."""


def read_as_of(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    wanted: Mapping[str, Ask] = EVERY_TABLE,
) -> Rows:
    """The rows of the ``wanted`` read models as of ``as_of`` known at ``known_at``, as
    each ``Ask`` says. Rows of subjects folded from the log are all theirs, whole (a
    superset of what the conditions keep)."""
    return read_with(app, engine, reading(app, engine, as_of, known_at, wanted), wanted)


@dataclass(frozen=True)
class Reading:
    """Where a question as of ``as_of`` known at ``known_at`` reads its read models,
    once caught up with the log: the live tables (``live``) or the versions, and the
    subjects (projection, subject) whose rows are folded from the log instead
    (``refold``)."""

    as_of: datetime
    known_at: datetime | None
    live: bool
    refold: frozenset[tuple[str, str]] = frozenset()


def reading(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    tables_read: Iterable[str],
) -> Reading:
    """Catch up with the log, then where a question reading ``tables_read`` reads: a
    question about now reads the live tables (warning of the subjects they leave out);
    any other the versions, and folds from the log the subjects left out and the
    tickets whose versions were folded under another reading than the one visible then
    (only those of the projections it reads)."""
    names = set(tables_read)
    report = Projector(app, engine).catch_up()
    if known_at is None:
        latest = latest_occurred(engine)
        if latest is None or latest <= as_of:
            log_left_out(engine, report)
            return Reading(as_of, known_at, live=True)
    failures = listed_failures(engine)
    refold = {(f["projection"], f["subject"]) for f in failures if f["projection"] != "policy"}
    if names & set(BY_NAME["tickets"].tables):
        left_out = {f["subject"] for f in failures if f["projection"] == "customers"}
        refold |= {
            ("tickets", ticket)
            for ticket in tickets_read_elsewhere(engine, as_of, known_at, left_out)
        }
    refold = {(p, s) for p, s in refold if names & set(BY_NAME[p].tables)}
    return Reading(as_of, known_at, live=False, refold=frozenset(refold))


def read_with(app: LedgerApp, engine: Engine, where_to: Reading, wanted: Mapping[str, Ask]) -> Rows:
    """The rows of the ``wanted`` read models, read as ``where_to`` says."""
    as_of, known_at = where_to.as_of, where_to.known_at
    rows = {
        name: read_rows(
            engine,
            name,
            as_of,
            known_at,
            live=where_to.live,
            where=a.where,
            only=a.only,
            ordered=a.ordered,
        )
        for name, a in wanted.items()
    }
    if where_to.refold:
        fold_from_log(app, rows, set(where_to.refold), as_of, known_at)
    return rows


def log_left_out(engine: Engine, report: CatchUp) -> None:
    """Warn of each subject the live read models leave out (the catch-up that just ran
    warned of those it met)."""
    logged = {(f.projection, f.subject) for f in report.failed}
    for failure in listed_failures(engine):
        if (failure["projection"], failure["subject"]) not in logged:
            log.warning(
                "projection %s: %s left out: %s",
                failure["projection"],
                failure["subject"],
                failure["error"],
            )


def fold_from_log(
    app: LedgerApp,
    rows: Rows,
    subjects: set[tuple[str, str]],
    as_of: datetime,
    known_at: datetime | None,
) -> None:
    """Replace the rows of ``subjects`` (projection, subject) in the tables ``rows``
    holds with their fold of the visible log, as a replay computes them (a subject that
    cannot be folded is left out, logged)."""
    by_projection: dict[str, set[str]] = {}
    for name, subject in subjects:
        by_projection.setdefault(name, set()).add(subject)
    wanted = {POLICY_SUBJECT}
    for name, chosen in by_projection.items():
        wanted |= chosen
        if name == "tickets":
            for subject in chosen:
                opened = app.history(subject)[:1]
                wanted |= {e.customer_id for e in opened if isinstance(e, Ticket.Opened)}
    history = EventsBySubject(
        event
        for subject in sorted(wanted)
        for event in visible(app.history(subject), as_of, known_at)
    )
    for name, chosen in by_projection.items():
        projection = BY_NAME[name]
        column = projection.subject_column
        assert column is not None
        held = [table for table in projection.tables if table in rows]
        for table in held:
            rows[table] = [row for row in rows[table] if row[column] not in chosen]
        for subject in sorted(chosen):
            if not history.events(subject):
                continue  # not visible yet
            folded = guarded(name, subject, partial(projection.rows, subject, history))
            for table, table_rows in (folded or {}).items():
                if table in rows:
                    rows[table].extend(table_rows)
        for table in held:
            rows[table].sort(key=_by_key(table))


def _by_key(table: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    keys = tables.key_columns(tables.metadata.tables[table])
    return lambda row: tuple(row[k] for k in keys)


# The SLA board --------------------------------------------------------------------------


def timer_records(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None = None,
    *,
    customer: str | None = None,
    severity: int | None = None,
    breached: bool = False,
    open_only: bool = False,
    at_risk: int | None = None,
    warned: bool = False,
) -> list[dict[str, Any]]:
    """The stored timer records the board needs as of ``as_of`` known at ``known_at``:
    at least the rows ``sla_board`` keeps with the same filters."""
    where = _board(as_of, customer, severity, breached, open_only, at_risk, warned)
    return read_as_of(app, engine, as_of, known_at, {"sla_timers": Ask(where)})["sla_timers"]


def _board(
    as_of: datetime,
    customer: str | None,
    severity: int | None,
    breached: bool,
    open_only: bool,
    at_risk: int | None,
    warned: bool = False,
) -> Where:
    """The board's filters as SQL conditions, each keeping at least the rows it keeps
    once evaluated at ``as_of``: breached by then (breached at a stored instant, or
    running past its due instant), not stopped, running and due within the window, or
    not stopped and warned by then."""

    def where(c: Any) -> list[Any]:
        conditions = []
        if customer is not None:
            conditions.append(c.customer_id == customer)
        if severity is not None:
            conditions.append(c.severity == severity)
        if breached:
            conditions.append(
                or_(
                    and_(c.breached_at.is_not(None), c.breached_at <= as_of),
                    and_(
                        c.breached_at.is_(None),
                        c.due_at < as_of,
                        c.stopped_at.is_(None),
                        c.paused_since.is_(None),
                    ),
                )
            )
        if open_only or warned:
            conditions.append(c.stopped_at.is_(None))
        if warned:
            conditions.append(and_(c.warn_at.is_not(None), c.warn_at <= as_of))
        if at_risk is not None:
            conditions.append(
                and_(
                    c.stopped_at.is_(None),
                    c.paused_since.is_(None),
                    c.due_at <= as_of + timedelta(minutes=at_risk),
                )
            )
        return conditions

    return where


# Metrics --------------------------------------------------------------------------------


METRIC_TICKET_COLUMNS = (
    "ticket_id",
    "customer_id",
    "category",
    "severity",
    "max_severity",
    "root_cause_code",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "impact_started_at",
    "detected_at",
    "mitigated_at",
)
"""What ``metrics`` reads of a ticket."""
METRIC_TIMER_COLUMNS = (
    "ticket_id",
    "seq",
    "severity",
    "started_at",
    "due_at",
    "stopped_at",
    "paused_since",
    "breached_at",
)
"""What ``metrics`` reads of a timer (its state at an instant: ``timer_state``)."""


def metrics_rows(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    from_: datetime | None,
    to: datetime | None,
) -> Rows:
    """The rows ``metrics`` needs for the window ``[from_, to]`` as of ``as_of``: tickets
    opened or resolved in the window and the serious ones opened before its end (repeat
    incidents look back), timers started in it, surveys answered in it, plays opened or
    closed in it, and customers, contracts and preventive actions whole (churn and revenue
    look at the whole base); what ``metrics`` reads of each, and in any order where its
    figures do not depend on it."""
    end = min(to or as_of, as_of)

    def within(column: Any) -> Any:
        return and_(column >= from_, column <= end) if from_ is not None else column <= end

    wanted = {
        "tickets": Ask(
            lambda c: [
                or_(
                    within(c.opened_at),
                    within(c.resolved_at),
                    and_(c.max_severity <= 2, c.opened_at <= end),
                )
            ],
            METRIC_TICKET_COLUMNS,
            ordered=False,
        ),
        "sla_timers": Ask(
            lambda c: [c.due_at.is_not(None), within(c.started_at)],
            METRIC_TIMER_COLUMNS,
            ordered=False,
        ),
        "customer_surveys": Ask(
            lambda c: [within(c.at)], ("customer_id", "seq", "kind", "score", "at"), ordered=False
        ),
        "customers": Ask(),
        "customer_contracts": Ask(),
        "success_plays": Ask(lambda c: [or_(within(c.opened_at), within(c.closed_at))]),
        "rca_actions": Ask(),
    }
    return read_as_of(app, engine, as_of, known_at, wanted)


# Follow-through and the product loop (issue 20) -------------------------------------------


def action_rows(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    *,
    ticket: str | None = None,
    customers: frozenset[str] | None = None,
) -> Rows:
    """The rows ``ledger actions`` needs: the preventive actions (of one ticket, or of
    some customers' tickets, when asked), and the ticket a filter names (whose opening
    the answer checks)."""

    def mine(c: Any) -> list[Any]:
        conditions = []
        if ticket is not None:
            conditions.append(c.ticket_id == ticket)
        if customers is not None:
            conditions.append(c.customer_id.in_(sorted(customers)))
        return conditions

    wanted = {"rca_actions": Ask(mine)}
    if ticket is not None:
        wanted["tickets"] = Ask(
            lambda c: [c.ticket_id == ticket], ("ticket_id", "customer_id", "opened_at")
        )
    return read_as_of(app, engine, as_of, known_at, wanted)


INSIGHT_TICKET_COLUMNS = (
    "ticket_id",
    "customer_id",
    "category",
    "max_severity",
    "root_cause_code",
    "product_area",
    "opened_at",
)
"""What ``insights`` reads of a ticket."""


def insight_rows(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    from_: datetime | None,
    to: datetime | None,
) -> Rows:
    """The rows ``insights`` needs for the window ``[from_, to]`` as of ``as_of``: the
    tickets opened in it and every incident (Sev1/Sev2) opened by ``as_of`` (repeat
    incidents look back; knowledge gaps are not windowed), the timers breached by
    ``as_of``, the feedback recorded in the window, and the knowledge links."""
    end = min(to or as_of, as_of)

    def within(column: Any) -> Any:
        return and_(column >= from_, column <= end) if from_ is not None else column <= end

    wanted = {
        "tickets": Ask(
            lambda c: [or_(within(c.opened_at), and_(c.max_severity <= 2, c.opened_at <= as_of))],
            INSIGHT_TICKET_COLUMNS,
        ),
        "sla_timers": Ask(_board(as_of, None, None, True, False, None), METRIC_TIMER_COLUMNS),
        "customer_feedback": Ask(lambda c: [within(c.at)]),
        "rca_knowledge_links": Ask(lambda c: [c.kind == "runbook"]),
    }
    return read_as_of(app, engine, as_of, known_at, wanted)


# The queues -----------------------------------------------------------------------------


def unresolved(c: Any) -> Any:
    """A ticket not resolved nor closed, with the statuses written out in the query (as
    the partial index of unresolved tickets has them: a bound value would not match)."""
    statuses: BindParameter[Any] = bindparam(
        "unresolved", list(OPEN_STATUSES), expanding=True, literal_execute=True, unique=True
    )
    return c.status.in_(statuses)


def ticket_rows(
    app: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None, query: TicketQuery
) -> Rows:
    """The rows ``ticket_queue`` needs for ``query`` as of ``as_of``: the tickets its
    filters on their fields keep, the timers not stopped and with a target (the only ones
    ``next_timer`` picks; of the query's customer only, when it names one), and the
    customers (only the named one, whose onboarding ``require_customer`` checks)."""

    def wanted_tickets(c: Any) -> list[Any]:
        conditions = []
        if query.status == UNRESOLVED:
            conditions.append(unresolved(c))
        elif query.status != ALL:
            conditions.append(c.status == query.status)
        if query.severity is not None:
            conditions.append(c.severity == query.severity)
        if query.customer is not None:
            conditions.append(c.customer_id == query.customer)
        if query.assignee is not None:
            conditions.append(c.assignee == query.assignee)
        return conditions

    def wanted_timers(c: Any) -> list[Any]:
        conditions = [c.stopped_at.is_(None), c.due_at.is_not(None)]
        if query.customer is not None:
            conditions.append(c.customer_id == query.customer)
        return conditions

    def wanted_customers(c: Any) -> list[Any]:
        return [] if query.customer is None else [c.customer_id == query.customer]

    wanted = {
        "tickets": Ask(wanted_tickets),
        "sla_timers": Ask(wanted_timers),
        "customers": Ask(wanted_customers),
    }
    return read_as_of(app, engine, as_of, known_at, wanted)


def customer_rows(
    app: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None
) -> Rows:
    """The rows ``customer_queue`` needs as of ``as_of``: ``health_rows``' and, of the
    tickets, also those still open (whose count it gives)."""
    return read_as_of(app, engine, as_of, known_at, _customer_asks(as_of))


def _customer_asks(as_of: datetime) -> dict[str, Ask]:
    since = as_of - timedelta(days=SUPPORT_DAYS + TREND_DAYS)
    return {
        **_health_asks(since, as_of),
        "tickets": Ask(
            lambda c: [
                c.opened_at <= as_of,
                or_(c.opened_at > since, unresolved(c)),
            ],
            ("ticket_id", "customer_id", "opened_severity", "opened_at", "status"),
        ),
    }


def owner_known(
    app: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None, owner: str
) -> bool:
    """Whether ``owner`` owns a success play opened by ``as_of``, or is the success owner
    of a customer onboarded by then."""
    wanted = {
        "success_plays": Ask(
            lambda c: [c.owner == owner, c.opened_at <= as_of],
            ("customer_id", "play_id", "owner", "opened_at"),
        ),
        "customers": Ask(
            lambda c: [c.success_owner == owner, c.onboarded_at <= as_of],
            ("customer_id", "success_owner", "onboarded_at"),
        ),
    }
    rows = read_as_of(app, engine, as_of, known_at, wanted)  # (a refold gives whole rows)
    return any(
        p["owner"] == owner and p["opened_at"] <= as_of for p in rows["success_plays"]
    ) or any(c["success_owner"] == owner and c["onboarded_at"] <= as_of for c in rows["customers"])


def play_rows(
    app: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None, query: PlayQuery
) -> Rows:
    """The rows ``play_queue`` needs for ``query`` as of ``as_of``: the plays its filters on
    their fields keep (open ones: not closed as of then), and the customers (only the
    named one, whose onboarding ``require_customer`` checks)."""

    def wanted_plays(c: Any) -> list[Any]:
        conditions = [c.opened_at <= as_of]
        if query.owner is not None:
            conditions.append(c.owner == query.owner)
        if query.customer is not None:
            conditions.append(c.customer_id == query.customer)
        if query.open_only or query.overdue_only:
            conditions.append(c.closed_at.is_(None))
        if query.overdue_only:
            conditions.append(c.due_at <= as_of)
        return conditions

    def wanted_customers(c: Any) -> list[Any]:
        return [] if query.customer is None else [c.customer_id == query.customer]

    wanted = {
        "success_plays": Ask(wanted_plays),
        "customers": Ask(wanted_customers, ("customer_id", "onboarded_at")),
    }
    return read_as_of(app, engine, as_of, known_at, wanted)


# Health ---------------------------------------------------------------------------------


def health_rows(app: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None) -> Rows:
    """The rows ``health`` needs as of ``as_of``: every customer and success signal (a
    customer's own, few), and the tickets opened in the support-load window of the
    score now and of the score a trend compares it with."""
    since = as_of - timedelta(days=SUPPORT_DAYS + TREND_DAYS)
    return read_as_of(app, engine, as_of, known_at, _health_asks(since, as_of))


HEALTH_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "customers": ("customer_id", "name", "tier", "success_owner", "onboarded_at", "churned_at"),
    "customer_usage": (
        "customer_id",
        "seq",
        "at",
        "period_end",
        "active_users",
        "videos_localized",
        "error_count",
    ),
    "customer_surveys": ("customer_id", "seq", "at"),
    "customer_check_ins": ("customer_id", "check_in_id", "scheduled_at", "due_at", "completed_at"),
    "customer_milestones": ("customer_id", "milestone", "at"),
}
"""What ``health`` reads of each customer read model (``tickets``: ``_health_asks``)."""


def _health_asks(since: datetime, as_of: datetime) -> dict[str, Ask]:
    return {
        "tickets": Ask(
            lambda c: [c.opened_at > since, c.opened_at <= as_of],
            ("ticket_id", "customer_id", "opened_severity", "opened_at"),
        ),
        **{name: Ask(only=columns) for name, columns in HEALTH_COLUMNS.items()},
    }


@dataclass(frozen=True)
class HealthInputs:
    """What the health questions read as of an instant: the customers' rows, each
    customer's ``Signals`` and open tickets (not resolved nor closed), and where they
    were read (``reading``). ``trends``: the usage reports the score 30 days before
    needs are in the signals (false: only those the score now needs; ``with_trends``
    adds them for some customers)."""

    customers: list[dict[str, Any]]
    signals: dict[str, Signals]
    open_tickets: dict[str, int]
    reading: Reading
    trends: bool = True


def health_inputs(
    app: LedgerApp,
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    customer_id: str | None = None,
    *,
    trends: bool = True,
) -> HealthInputs:
    """``HealthInputs`` as of ``as_of`` known at ``known_at`` (of one customer only,
    when named): the customers' rows, their usage reports by ``as_of`` and check-ins that
    can be missed (``Signals``), and what the other signals count for (``Counts``),
    counted by the database: one row per customer, not the signal rows. When some
    subject is folded from the log (``Reading.refold``), from the rows, as ``health``
    counts them (``signals_of``). Without ``trends``, the usage reports of the score now
    only (``with_trends`` reads the others' for the customers that need them)."""
    before = as_of - timedelta(days=TREND_DAYS)
    asks = _customer_asks(as_of)
    where_to = reading(app, engine, as_of, known_at, asks)
    if where_to.refold:
        rows = read_with(app, engine, where_to, asks)
        return HealthInputs(
            rows["customers"],
            signals_of(rows, as_of),
            open_tickets(rows["tickets"], as_of),
            where_to,
        )

    def theirs(conditions: Where) -> Where:
        if customer_id is None:
            return conditions
        return lambda c: [c.customer_id == customer_id, *conditions(c)]

    def total(
        name: str, conditions: Where, columns: tuple[str, ...], totals: Totals
    ) -> dict[Any, dict[str, Any]]:
        return read_totals(
            engine,
            name,
            as_of,
            known_at,
            columns,
            totals,
            live=where_to.live,
            where=theirs(conditions),
        )

    asked = {
        "customers": Ask(theirs(lambda c: []), HEALTH_COLUMNS["customers"]),
        "customer_check_ins": Ask(
            theirs(
                lambda c: [
                    c.scheduled_at <= as_of,
                    c.due_at <= as_of,
                    or_(c.completed_at.is_(None), c.completed_at > before),
                ]
            ),
            HEALTH_COLUMNS["customer_check_ins"],
        ),
    }
    instants = {"now": as_of, "before": before}
    support = {n: (at - timedelta(days=SUPPORT_DAYS), at) for n, at in instants.items()}
    engaged = {n: (at - timedelta(days=ENGAGEMENT_DAYS), at) for n, at in instants.items()}
    # (every ticket read opened by ``as_of``, which the sums and the count check: a range
    # on ``opened_at`` in the query leads SQLite through nearly every ticket by that index)
    # The reads are independent: they run at once, each on a connection of its own (as
    # one after the other they were, each its own transaction), so that the database
    # answers one while Python reads the rows of another (``together``).
    tickets = partial(
        total,
        "tickets",
        lambda c: [or_(c.opened_at > support["before"][0], unresolved(c))],
        ("opened_at", "opened_severity", "status"),
        lambda c: {
            **{
                f"load_{n}": func.sum(case((_within(c.opened_at, *span), _weight(c)), else_=0))
                for n, span in support.items()
            },
            "open": func.count(case((and_(unresolved(c), c.opened_at <= as_of), 1))),
        },
    )
    surveys = partial(
        total,
        "customer_surveys",
        lambda c: [c.at <= as_of],
        ("at",),
        lambda c: {
            **{
                f"count_{n}": func.count(case((_within(c.at, *span), 1)))
                for n, span in engaged.items()
            },
            "last": func.max(c.at),
        },
    )
    milestones = partial(
        total,
        "customer_milestones",
        lambda c: [c.at <= as_of],
        ("at",),
        lambda c: {
            "count_now": func.count(),
            "count_before": func.count(case((c.at <= before, 1))),
            "last": func.max(c.at),
        },
    )
    done = partial(
        total,
        "customer_check_ins",
        lambda c: [c.completed_at <= as_of],
        ("completed_at",),
        lambda c: {
            **{
                f"count_{n}": func.count(case((_within(c.completed_at, *span), 1)))
                for n, span in engaged.items()
            },
            "last": func.max(c.completed_at),
        },
    )
    last_usage = partial(
        _last_usage, engine, where_to, (as_of, before) if trends else (as_of,), theirs(lambda c: [])
    )
    read = together(
        engine,
        {
            **{
                name: partial(read_with, app, engine, where_to, {name: ask})
                for name, ask in asked.items()
            },
            "tickets": tickets,
            "surveys": surveys,
            "milestones": milestones,
            "done": done,
            "usage": last_usage,
        },
    )
    rows = {name: read[name][name] for name in asked}
    tickets, surveys, milestones, done = (
        read["tickets"],
        read["surveys"],
        read["milestones"],
        read["done"],
    )
    usage = _grouped(read["usage"])
    check_ins = _grouped(rows["customer_check_ins"])
    none: dict[str, Any] = {}
    signals = {}
    for customer in rows["customers"]:
        cid = customer["customer_id"]
        found = [t.get(cid, none) for t in (tickets, done, surveys, milestones)]
        counted = {
            n: Counts(
                support_load=int(found[0].get(f"load_{n}") or 0),
                check_ins_done=int(found[1].get(f"count_{n}") or 0),
                surveys=int(found[2].get(f"count_{n}") or 0),
                milestones=int(found[3].get(f"count_{n}") or 0),
            )
            for n in instants
        }
        latest = [f["last"] for f in found[1:] if f.get("last") is not None]
        signals[cid] = Signals(
            usage=usage.get(cid, []),
            check_ins=check_ins.get(cid, []),
            now=counted["now"],
            before=counted["before"],
            last_signal=max(latest, default=None),
        )
    open_counts = {cid: int(t["open"]) for cid, t in tickets.items() if t["open"]}
    return HealthInputs(rows["customers"], signals, open_counts, where_to, trends)


def with_trends(engine: Engine, found: HealthInputs, customer_ids: Collection[str]) -> None:
    """Add to ``found`` (read without ``trends``) the usage reports the score 30 days
    before needs, of the customers named: their signals then hold what ``health_inputs``
    gives with ``trends``."""
    if found.trends or not customer_ids:
        return
    before = found.reading.as_of - timedelta(days=TREND_DAYS)
    named = sorted(customer_ids)
    extra = _grouped(
        _last_usage(engine, found.reading, (before,), lambda c: [c.customer_id.in_(named)])
    )
    for cid, rows in extra.items():
        theirs = found.signals.get(cid)
        if theirs is not None:
            by_seq = {row["seq"]: row for row in (*theirs.usage, *rows)}
            theirs.usage = [by_seq[seq] for seq in sorted(by_seq)]


def _last_usage(
    engine: Engine, where_to: Reading, instants: tuple[datetime, ...], where: Where
) -> list[dict[str, Any]]:
    """Each customer's last two usage reports by each of ``instants`` (as ``components``
    sorts them: period end, report instant, then sequence), by key."""
    return read_latest(
        engine,
        "customer_usage",
        where_to.as_of,
        where_to.known_at,
        by=("period_end", "at", "seq"),
        at="at",
        instants=instants,
        count=2,
        only=HEALTH_COLUMNS["customer_usage"],
        live=where_to.live,
        where=where,
    )


def _within(column: Any, start: datetime, end: datetime) -> Any:
    """``start < column <= end``."""
    return and_(column > start, column <= end)


def _weight(c: Any) -> Any:
    """A ticket's weight in the support load (``SEVERITY_WEIGHT``; any other: 1)."""
    return case(
        *((c.opened_severity == severity, w) for severity, w in SEVERITY_WEIGHT.items()),
        else_=1,
    )


def _grouped(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["customer_id"], []).append(row)
    return grouped
