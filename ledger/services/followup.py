"""The RCA's follow-through: ``ledger actions``, the preventive actions as of any instant
(R-RCA-4, R-RCA-5), as a pure function of the ``rca_actions`` rows.

Option values are checked when a query is made (``ActionQuery``): ``BadOption`` names
the field at fault, so a bad value is one clear error before any row is read. A ticket
or an owner that has no action at all as of the instant is a mistake (a typo), not an
empty list: ``action_list`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ledger.projections.actions import STATES, evaluate_action
from ledger.projections.fold import Rows
from ledger.services.queue import BadOption

PENDING: Final = "pending"
"""The default status filter: open or overdue (not completed, verified or cancelled)."""
ALL: Final = "all"
STATUS_CHOICES: Final = (PENDING, ALL, *STATES)


@dataclass(frozen=True)
class ActionQuery:
    """Which preventive actions to list: ``status`` (``pending``, the default: open or
    overdue; ``all``; or one state), ``owner``, ``ticket``; ``overdue`` is ``status``
    ``overdue``."""

    status: str = PENDING
    owner: str | None = None
    ticket: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUS_CHOICES:
            choices = ", ".join(STATUS_CHOICES[:-1]) + " or " + STATUS_CHOICES[-1]
            raise BadOption("status", self.status, f"use {choices}")

    def wants(self, action: dict[str, Any]) -> bool:
        """Whether the evaluated action passes the filters."""
        state = action["state"]
        if self.status == PENDING and state not in ("open", "overdue"):
            return False
        if self.status not in (PENDING, ALL) and state != self.status:
            return False
        return (self.owner is None or action["owner"] == self.owner) and (
            self.ticket is None or action["ticket_id"] == self.ticket
        )


def require_filters(rows: Rows, as_of: datetime, query: ActionQuery) -> None:
    """``BadOption`` for a ``ticket`` not opened by ``as_of``, or an ``owner`` who owns no
    action (of any state) as of ``as_of`` (the rows must be as of ``as_of``)."""
    if query.ticket is not None and not any(
        t["ticket_id"] == query.ticket and t["opened_at"] <= as_of for t in rows.get("tickets", [])
    ):
        raise BadOption("ticket", query.ticket, f"no such ticket as of {as_of.isoformat()}")
    if query.owner is not None and not any(a["owner"] == query.owner for a in rows["rca_actions"]):
        why = f"owns no preventive action as of {as_of.isoformat()}"
        raise BadOption("owner", query.owner, why)


def action_list(rows: Rows, as_of: datetime, query: ActionQuery) -> list[dict[str, Any]]:
    """The actions the query wants as of ``as_of`` (rows as of ``as_of``), soonest due
    first: overdue ones lead. Each row: the action's columns, ``state``, ``overdue_by``
    and ``on_time`` (``ledger.projections.actions.evaluate_action``)."""
    actions = [evaluate_action(a, as_of) for a in rows["rca_actions"]]
    wanted = [a for a in actions if query.wants(a)]
    wanted.sort(key=lambda a: (a["due_at"], a["ticket_id"], a["action_id"]))
    return wanted
