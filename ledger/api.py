"""The Python API for services that emit events without Kafka or files.

    from ledger.api import Ledger

    with Ledger.open() as ledger:                 # ./ledger.db, or LEDGER_DB_URL
        outcomes = ledger.submit([envelope, ...])  # one transaction
        for outcome in outcomes:
            print(outcome.status, outcome.rejection and outcome.rejection.reason)

An envelope is the same JSON object as on the wire (a dict, or its bytes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.settings import resolve_database
from ledger.adapters.store import StoredRejection
from ledger.aggregates.customer import Customer
from ledger.aggregates.ticket import Ticket
from ledger.services.intake import Ingestor, Input, Outcome
from ledger.services.queries import customer_state, ticket_state, trail


class Ledger:
    """A handle on one ledger database."""

    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self._ingestor = Ingestor(app)

    @classmethod
    def open(cls, url: str | None = None) -> Ledger:
        """Open the ledger at ``url`` (a SQLite path or postgresql+psycopg URL)."""
        return cls(open_app(resolve_database(url)))

    def submit(
        self, envelopes: Iterable[Mapping[str, Any] | bytes | str], origin: str = "api"
    ) -> list[Outcome]:
        """Ingest envelopes in one transaction; one outcome per envelope, in order."""
        inputs = [Input(e, f"{origin}:{n}") for n, e in enumerate(envelopes, start=1)]
        if not inputs:
            return []
        # Inputs deferred earlier and decided in this batch are not among these envelopes.
        return [o for o in self._ingestor.ingest_batch(inputs) if not o.released]

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """The ticket's state and trail, as ``ledger ticket show --json`` prints it."""
        ticket = self.app.find(ticket_id)
        if not isinstance(ticket, Ticket):
            return None
        return {**ticket_state(ticket), "trail": trail(self.app.history(ticket_id))}

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's state and trail, as ``ledger customer show --json`` prints it."""
        customer = self.app.find(customer_id)
        if not isinstance(customer, Customer):
            return None
        view = customer_state(customer, datetime.now(UTC))
        return {**view, "trail": trail(self.app.history(customer_id))}

    def rejections(self, rule: str | None = None) -> list[StoredRejection]:
        """Rejected inputs, oldest first."""
        return self.app.store.rejections(rule=rule)

    def close(self) -> None:
        """Release the database connections."""
        self.app.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
