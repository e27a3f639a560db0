"""Preventive actions as of any instant (R-RCA-4, R-RCA-5): pure functions of the
``rca_actions`` rows, no clock, no database.

An action is due on its ``due_date``; it is **overdue** from ``due_at``, the start of the
next day in UTC (``ledger.projections.tickets.overdue_instant``), while it is neither
completed nor cancelled. Completed before ``due_at`` it was on time. As of ``T`` (the
rows must be as of ``T``), an action's ``state`` is its status (``completed``,
``verified``, ``cancelled``), or ``overdue`` when open and ``due_at <= T``, or ``open``.

Follow-through over a window ``[from_, to]``: the actions whose ``due_at`` falls in the
window and has passed by ``as_of`` (decided), less those cancelled before their
``due_at`` (dropped on purpose, not missed); ``follow_through_pct`` is the share of them
completed before their ``due_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

DONE: Final = ("completed", "verified")
STATES: Final = ("open", "overdue", "completed", "verified", "cancelled")
"""An action's states as of an instant."""


def action_state(action: dict[str, Any], as_of: datetime) -> str:
    """The action's state as of ``as_of`` (its row must be as of ``as_of``)."""
    status = str(action["status"])
    if status == "open" and action["due_at"] <= as_of:
        return "overdue"
    return status


def evaluate_action(action: dict[str, Any], as_of: datetime) -> dict[str, Any]:
    """The action's row with how it stands as of ``as_of``: ``state``, ``overdue_by``
    (whole seconds since ``due_at`` while overdue, else None) and ``on_time`` (completed
    before ``due_at``: True or False once completed, None otherwise)."""
    state = action_state(action, as_of)
    completed = action["completed_at"]
    return {
        **action,
        "state": state,
        "overdue_by": int((as_of - action["due_at"]).total_seconds())
        if state == "overdue"
        else None,
        "on_time": None if completed is None else completed < action["due_at"],
    }


def overdue_since(action: dict[str, Any]) -> datetime | None:
    """When the action became overdue, as a fact of its history (what the tick writes
    ``rca.action_overdue`` for): ``due_at`` unless it was completed or cancelled before
    then (None)."""
    for done in (action["completed_at"], action["cancelled_at"]):
        if done is not None and done < action["due_at"]:
            return None
    return action["due_at"]  # type: ignore[no-any-return]


def _within(at: datetime, from_: datetime | None, to: datetime) -> bool:
    return at <= to and (from_ is None or at >= from_)


def follow_through(
    actions: list[dict[str, Any]], from_: datetime | None, to: datetime, as_of: datetime
) -> dict[str, Any]:
    """Preventive actions due in the window and decided by ``as_of``: how many were done
    on time (see the module docstring)."""
    due = completed_on_time = completed_late = cancelled = 0
    for action in actions:
        due_at = action["due_at"]
        if due_at > as_of or not _within(due_at, from_, to):
            continue
        cancelled_at = action["cancelled_at"]
        if cancelled_at is not None and cancelled_at < due_at:
            cancelled += 1
            continue
        due += 1
        completed = action["completed_at"]
        if completed is not None and completed < due_at:
            completed_on_time += 1
        elif completed is not None:
            completed_late += 1
    return {
        "due": due,
        "completed_on_time": completed_on_time,
        "completed_late": completed_late,
        "not_completed": due - completed_on_time - completed_late,
        "cancelled_before_due": cancelled,
        "follow_through_pct": round(100 * completed_on_time / due, 1) if due else None,
    }


def overdue_by_owner(actions: list[dict[str, Any]], as_of: datetime) -> list[dict[str, Any]]:
    """The actions overdue as of ``as_of``, counted by owner: most first, then by name."""
    counts: dict[str, int] = {}
    for action in actions:
        if action_state(action, as_of) == "overdue":
            counts[action["owner"]] = counts.get(action["owner"], 0) + 1
    return [
        {"owner": owner, "overdue": n}
        for owner, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
