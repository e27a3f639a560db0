"""Who may send and read: producers, readers and the local operator (issue 18).

A principal is what a token stands for. Producers send envelopes within a scope
(sources, actor roles, event types); readers read customers (some, or all); the local
operator is the embedded command line and the Python API, which need no token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import sqlalchemy

Kind = Literal["producer", "reader", "operator"]


@dataclass(frozen=True)
class Principal:
    """One identity the ledger knows (by name), with what it may do."""

    name: str
    kind: Literal["producer", "reader", "operator"]
    sources: frozenset[str] = frozenset()  # producer: envelope sources it may send
    roles: frozenset[str] = frozenset()  # producer: actor roles it may carry
    types: frozenset[str] = frozenset()  # producer: event types it may send
    customers: frozenset[str] | None = None  # reader: the customers it may read; None = all

    def may_read(self, customer_id: str) -> bool:
        """Whether this principal may read what belongs to ``customer_id``."""
        if self.kind == "operator":
            return True
        if self.kind != "reader":
            return False
        return self.customers is None or customer_id in self.customers


LOCAL_OPERATOR: Final = Principal(name="local", kind="operator")
"""The embedded command line / Python API path: trusted, recorded as ``local``."""


def authenticate(engine: sqlalchemy.Engine, token: str) -> Principal | None:
    """The principal a token stands for; None for an unknown or revoked token."""
    raise NotImplementedError
