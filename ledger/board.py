"""The read-model rows a query needs, as of any instant on both time axes (R-TIME-1).

When the question is about now (everything known, and ``as_of`` at or after the last
thing that occurred), the live read models answer, after catching up with the log.
Otherwise the log is read once, filtered to the events that occurred by ``as_of`` and
were recorded by ``known_at``, and folded through the same projection functions, so
both paths give the same rows for the same question.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from ledger.aggregates.base import LedgerEvent
from ledger.app import LedgerApp
from ledger.projections.registry import Rows, fold
from ledger.projector import Projector, read_models


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
        Projector(app, engine).catch_up()
        rows = read_models(engine)
        latest = _latest(rows)
        if latest is None or latest <= as_of:
            return rows
    return fold(visible(log_events(app), as_of, known_at))
