"""Replay from the log alone, as of an instant (R-TIME-1): one ticket, or the SLA board.

Nothing here reads the read models. The stored events are filtered to those that had
occurred by ``as_of`` and been recorded by ``known_at``, and folded through the same
projection functions the read models use, so a replay with ``--known-at`` equal to
``--as-of`` answers what the live projections answered at that instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.adapters.event_store import LedgerApp
from ledger.projections.registry import customer_rows, fold, ticket_rows, visible
from ledger.projections.sla import sla_board
from ledger.services.queries import instant, log_events, trail
from ledger.services.timelines import escalation_from, rca_from, ticket_history, timers_from


def replay_ticket(
    app: LedgerApp, ticket_id: str, as_of: datetime, known_at: datetime | None = None
) -> dict[str, Any] | None:
    """The ticket as it stood: state, its customer (id and name), timers, escalations, RCA
    and trail (None: not yet)."""
    history = ticket_history(app, ticket_id, as_of, known_at)
    if history is None:
        return None
    rows = ticket_rows(ticket_id, history)
    events = history.events(ticket_id)
    last = events[-1]
    customer_id = rows["tickets"][0]["customer_id"]
    # (a customer not visible as of then folds to no rows at all)
    customers = customer_rows(customer_id, history).get("customers", [])
    return {
        "as_of": instant(as_of),
        "known_at": instant(known_at),
        "ticket_id": ticket_id,
        "state": rows["tickets"][0],
        "customer": {
            "customer_id": customer_id,
            "name": customers[0]["name"] if customers else None,
        },
        "timers": timers_from(rows, as_of),
        "escalation": escalation_from(ticket_id, rows, as_of),
        "rca": rca_from(ticket_id, history, rows, as_of),
        "trail": trail(events),
        "chain_head": {"version": last.originator_version, "event_hash": last.event_hash},
    }


def replay_board(
    app: LedgerApp, as_of: datetime, known_at: datetime | None = None, **filters: Any
) -> list[dict[str, Any]]:
    """Every SLA timer as it stood at ``as_of`` (filters as for ``sla list``)."""
    rows = fold(visible(log_events(app), as_of, known_at))
    return sla_board(rows["sla_timers"], as_of, **filters)
