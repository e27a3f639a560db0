"""The one shape of a projection: ``evolve(state, event) -> state`` on immutable state.

A fold module (``tickets``, ``customers``) gives ``evolve``, which returns the next state
and leaves the one it was given unchanged, and ``rows``, the read-model rows of a state
by table name. Where a fold starts (a customer's calendar, the policy's targets) and when
it must start again is the runner's business (``ledger.projections.registry``,
``ledger.adapters.projector``), as is keeping states between pages of the log: a fold
reads nothing but its state and the event, so the same events always give the same rows.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from ledger.aggregates.base import LedgerEvent

Rows = dict[str, list[dict[str, Any]]]
"""Rows by table name."""

S = TypeVar("S")


class Fold(Protocol[S]):
    """A projection of one subject's events, in the Decider's shape (``evolve`` only: the
    commands that decide events are the aggregates')."""

    def evolve(self, state: S, event: LedgerEvent, /) -> S:
        """The state after one more event of the subject, in log order."""
        ...

    def rows(self, state: S, /) -> Rows:
        """The state's read-model rows by table name (the caller copies what it changes:
        a table's rows may be the very list an earlier state gave, when they did not
        change)."""
        ...
