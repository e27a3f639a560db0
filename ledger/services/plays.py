"""The success plays (R-PLAY): ``ledger plays``, one row per play, as of any instant.

A pure function of the ``success_plays`` rows (as ``rows_as_of`` gives them) and an
instant ``as_of``: no clock, no database. Whether a play is overdue moves with time
alone, so it is computed here from the stored ``due_at`` and ``closed_at``, as the SLA
board computes a breach (R-PLAY-4: overdue when its due instant passed and it was not
closed by then).

Each row: ``customer_id``, ``play_id``, ``risk`` (the churn risk that opened it),
``reason``, ``owner``, ``opened_at``, ``due_at``, ``state`` (``open``; ``overdue``: open
past its due instant; ``closed``), ``overdue`` (it missed its due instant: open past it,
or closed after it), ``overdue_by`` (whole seconds past due, while open and overdue),
``first_outreach_at``, ``outreach_count``, ``closed_at`` and ``outcome``. Open plays come
first, soonest due first (so the overdue lead); then the closed ones, latest closed first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ledger.projections.fold import Rows

STATES: Final = ("open", "overdue", "closed")


@dataclass(frozen=True)
class PlayQuery:
    """Which plays ``ledger plays`` shows: of one ``owner``, of one ``customer``, only
    those not closed (``open_only``, overdue ones included), only those open past their
    due instant (``overdue_only``)."""

    owner: str | None = None
    customer: str | None = None
    open_only: bool = False
    overdue_only: bool = False

    def wants(self, view: Mapping[str, Any]) -> bool:
        """Whether one play's view (``play_view``) passes the filters."""
        return (
            (self.owner is None or view["owner"] == self.owner)
            and (self.customer is None or view["customer_id"] == self.customer)
            and (not self.open_only or view["state"] != "closed")
            and (not self.overdue_only or view["state"] == "overdue")
        )


def play_view(customer_id: str, play: Mapping[str, Any], as_of: datetime) -> dict[str, Any]:
    """One play as of ``as_of`` (``play``: its read-model row, or the aggregate's fields)."""
    due_at, closed_at = play["due_at"], play["closed_at"]
    missed = due_at <= as_of and (closed_at is None or closed_at > due_at)
    state = "closed" if closed_at is not None else ("overdue" if missed else "open")
    return {
        "customer_id": customer_id,
        "play_id": play["play_id"],
        "risk": play["risk"],
        "reason": play["reason"],
        "owner": play["owner"],
        "opened_at": play["opened_at"],
        "due_at": due_at,
        "state": state,
        "overdue": missed,
        "overdue_by": int((as_of - due_at).total_seconds()) if state == "overdue" else None,
        "first_outreach_at": play["first_outreach_at"],
        "outreach_count": play["outreach_count"],
        "closed_at": closed_at,
        "outcome": play["outcome"],
    }


def _order(view: Mapping[str, Any]) -> tuple[Any, ...]:
    if view["closed_at"] is None:
        return (0, view["due_at"].timestamp(), view["customer_id"], view["play_id"])
    return (1, -view["closed_at"].timestamp(), view["customer_id"], view["play_id"])


def play_queue(rows: Rows, as_of: datetime, query: PlayQuery | None = None) -> list[dict[str, Any]]:
    """One row per play opened by ``as_of`` that ``query`` wants, in the queue's order
    (the rows must be as of ``as_of``)."""
    query = query or PlayQuery()
    views = [
        play_view(row["customer_id"], row, as_of)
        for row in rows["success_plays"]
        if row["opened_at"] <= as_of
    ]
    return sorted((v for v in views if query.wants(v)), key=_order)
