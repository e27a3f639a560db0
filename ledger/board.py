"""The read-model rows a query needs, as of any instant on both time axes (R-TIME-1).

When the question is about now (everything known, and ``as_of`` at or after the last
thing that occurred), the live read models answer, after catching up with the log.
Otherwise the log is read once, filtered to the events that occurred by ``as_of`` and
were recorded by ``known_at``, and folded through the same projection functions, so
both paths give the same rows for the same question.

A subject that cannot be folded is left out of the rows, with a warning naming it (the
runner lists it in ``projection_failures``; the as-of fold skips it the same way), and
``answer`` leaves out a subject whose rows a question cannot evaluate: one bad subject
never hides every good one, and a failure that is no one subject's still raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine

from ledger.aggregates.base import LedgerEvent
from ledger.app import LedgerApp
from ledger.projections.registry import (
    BY_NAME,
    PROJECTIONS,
    Rows,
    describe,
    fold,
    not_the_subject,
)
from ledger.projector import Projector, listed_failures, read_models

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def visible(
    events: list[LedgerEvent], as_of: datetime, known_at: datetime | None
) -> list[LedgerEvent]:
    """The events that had occurred by ``as_of`` and were recorded by ``known_at``."""
    return [
        e
        for e in events
        if e.occurred_at <= as_of and (known_at is None or e.recorded_at <= known_at)
    ]


def log_events(app: LedgerApp) -> list[LedgerEvent]:
    """The whole log, decoded, in notification order."""
    return list(app.log_events())


def _latest(rows: Rows) -> datetime | None:
    instants: list[Any] = [r["last_occurred_at"] for r in rows["tickets"]]
    instants += [r["last_occurred_at"] for r in rows["customers"]]
    return max(instants, default=None)


def rows_as_of(
    app: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None = None
) -> Rows:
    """Every read model's rows as of ``as_of``, from what was recorded by ``known_at``."""
    if known_at is None:
        report = Projector(app, engine).catch_up()
        rows = read_models(engine)
        latest = _latest(rows)
        if latest is None or latest <= as_of:
            logged = {(f.projection, f.subject) for f in report.failed}
            for failure in listed_failures(engine):
                if (failure["projection"], failure["subject"]) not in logged:
                    log.warning(
                        "projection %s: %s left out: %s",
                        failure["projection"],
                        failure["subject"],
                        failure["error"],
                    )
            return rows
    return fold(visible(log_events(app), as_of, known_at))


def answer(rows: Rows, compute: Callable[[Rows], _T], question: str) -> _T:
    """``compute(rows)``; when it raises, the subjects whose rows alone make it raise are
    found (customers alone, then tickets with their customer, halving each time), left
    out with a warning naming them, and the answer computed from the others. An error
    no single subject explains is raised as it was: a mistake is never an empty answer.
    """
    try:
        return compute(rows)
    except not_the_subject():
        raise
    except Exception as failed:
        whole = failed

    def probe(keep: Mapping[str, Collection[str]]) -> Exception | None:
        try:
            compute(_only(rows, keep))
        except not_the_subject():
            raise
        except Exception as error:
            return error
        return None

    customers = sorted(_subjects(rows, "customers"))
    bad_customers = _culprits(customers, lambda chosen: probe({"customers": chosen}))
    customer_of: dict[str, set[str]] = {}
    for table in BY_NAME["tickets"].tables:
        for row in rows.get(table.name, []):
            if row.get("customer_id") is not None:
                customer_of.setdefault(row["ticket_id"], set()).add(row["customer_id"])

    def tickets_probe(chosen: list[str]) -> Exception | None:
        theirs = set().union(*(customer_of.get(t, set()) for t in chosen)) - bad_customers.keys()
        return probe({"tickets": chosen, "customers": theirs})

    bad_tickets = _culprits(sorted(_subjects(rows, "tickets")), tickets_probe)
    if not bad_customers and not bad_tickets:
        raise whole
    for projection, bad in (("customers", bad_customers), ("tickets", bad_tickets)):
        for subject, error in bad.items():
            log.warning("%s: %s %s left out: %s", question, projection, subject, describe(error))
    return compute(
        _only(
            rows,
            {
                "customers": _subjects(rows, "customers") - bad_customers.keys(),
                "tickets": _subjects(rows, "tickets") - bad_tickets.keys(),
            },
        )
    )


def _subjects(rows: Rows, projection: str) -> set[str]:
    found = BY_NAME[projection]
    column = found.subject_column
    assert column is not None
    return {row[column] for table in found.tables for row in rows.get(table.name, [])}


def _only(rows: Rows, keep: Mapping[str, Collection[str]]) -> Rows:
    """The rows of the kept subjects of each projection named (others' rows: all)."""
    kept: Rows = {}
    for projection in PROJECTIONS:
        column, chosen = projection.subject_column, keep.get(projection.name)
        for table in projection.tables:
            table_rows = rows.get(table.name, [])
            if column is not None and chosen is not None:
                wanted = set(chosen)
                table_rows = [row for row in table_rows if row[column] in wanted]
            kept[table.name] = table_rows
    return kept


def _culprits(
    subjects: list[str], probe: Callable[[list[str]], Exception | None]
) -> dict[str, Exception]:
    """The subjects that make ``probe`` fail on their own, by halving the failing sets."""
    if not subjects:
        return {}
    error = probe(subjects)
    if error is None:
        return {}
    if len(subjects) == 1:
        return {subjects[0]: error}
    middle = len(subjects) // 2
    return {**_culprits(subjects[:middle], probe), **_culprits(subjects[middle:], probe)}
