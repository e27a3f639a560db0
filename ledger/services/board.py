"""The SLA board as of any instant: only the timer records a question can show are read.

``sla list`` used to read every read model and filter in Python; the board now asks the
database for the timers of the question (the live table for now, the versions for any
other instant), with its filters pushed into the query as conditions that keep every
timer the board's own evaluation (``ledger.projections.sla.sla_board``) could keep, so
that evaluation stays the one place that decides a timer's state. Tickets whose versions
were folded under another reading of their customer's calendar or of the policy than the
one visible then, and subjects left out of the read models, are folded from the log,
as a replay does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, latest_occurred, listed_failures
from ledger.adapters.versions import Where, read_rows, tickets_read_elsewhere
from ledger.services.queries import fold_from_log, log_left_out


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
) -> list[dict[str, Any]]:
    """The stored timer records the board needs as of ``as_of`` known at ``known_at``:
    a superset of the rows ``sla_board`` keeps with the same filters."""
    report = Projector(app, engine).catch_up()
    where = _conditions(as_of, customer, severity, breached, open_only, at_risk)
    if known_at is None:
        latest = latest_occurred(engine)
        if latest is None or latest <= as_of:
            log_left_out(engine, report)
            return read_rows(engine, "sla_timers", as_of, None, live=True, where=where)
    records = read_rows(engine, "sla_timers", as_of, known_at, where=where)
    failures = listed_failures(engine)
    left_out = {f["subject"] for f in failures if f["projection"] == "customers"}
    refold = tickets_read_elsewhere(engine, as_of, known_at, left_out)
    refold |= {f["subject"] for f in failures if f["projection"] == "tickets"}
    if not refold:
        return records
    rows: dict[str, list[dict[str, Any]]] = {
        "tickets": [],
        "sla_timers": [],
        "escalations": [],
        "customers": [],
    }
    fold_from_log(app, rows, {("tickets", t) for t in refold}, as_of, known_at)
    kept = [r for r in records if r["ticket_id"] not in refold]
    return kept + [
        r
        for r in rows["sla_timers"]
        if (customer is None or r["customer_id"] == customer)
        and (severity is None or r["severity"] == severity)
    ]


def _conditions(
    as_of: datetime,
    customer: str | None,
    severity: int | None,
    breached: bool,
    open_only: bool,
    at_risk: int | None,
) -> Where:
    """The board's filters as SQL conditions, each keeping at least the rows it keeps
    once evaluated at ``as_of``: breached by then (breached at a stored instant, or
    running past its due instant), not stopped, or running and due within the window."""

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
        if open_only:
            conditions.append(c.stopped_at.is_(None))
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
