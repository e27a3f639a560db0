"""The audit log: who looked at the ledger's data (R-ERASE-2, issue 21 "who looked").

One subject, ``AUDIT``, created by the first export it records. Every ``ledger export``
adds ``audit.export_recorded``: who exported (the actor), when, what (the selection:
customer, period, redaction, format), why (the purpose), how much, and which signed
checkpoint and manifest. Erasures are recorded on the customer they erased
(``customer.data_erased``); ``ledger audit log`` lists both.
"""

from __future__ import annotations

from typing import Any, Final

from ledger.aggregates.base import (
    EventMeta,
    LedgerAggregate,
    LedgerCreated,
    LedgerEvent,
    domain_event,
)
from ledger.aggregates.rules import is_blank, require

AUDIT_ID: Final = "AUDIT"
"""The audit log's subject id."""


class AuditLog(LedgerAggregate):
    """The single audit log aggregate; created by the first export it records."""

    @domain_event
    class Event(LedgerEvent):
        """Base of the audit log's events: all written by the ledger."""

        SYSTEM = True

        def apply(self, aggregate: Any) -> None:
            aggregate.exports += 1

    @domain_event
    class ExportRecordedFirst(Event, LedgerCreated):
        """The first export recorded, which also creates the audit log."""

        WIRE_TYPE = "audit.export_recorded"
        purpose: str
        selection: dict[str, Any]
        records: int
        subjects: int
        checkpoint: int
        manifest_sha256: str

    @domain_event
    class ExportRecorded(Event):
        """An export: who, when, what, why (the purpose), and its manifest's hash."""

        WIRE_TYPE = "audit.export_recorded"
        purpose: str
        selection: dict[str, Any]
        records: int
        subjects: int
        checkpoint: int
        manifest_sha256: str

    def __init__(self) -> None:
        self.exports = 0

    @classmethod
    def record_first(cls, meta: EventMeta, **data: Any) -> AuditLog:
        """Create the audit log with its first export."""
        _check(data)
        return cls._create(cls.ExportRecordedFirst, id=AUDIT_ID, **data, **meta.event_kwargs())

    def record(self, meta: EventMeta, **data: Any) -> None:
        """Record one more export."""
        _check(data)
        self.trigger_event(self.ExportRecorded, **data, **meta.event_kwargs())


def _check(data: dict[str, Any]) -> None:
    require(
        not is_blank(data.get("purpose")),
        "R-ERASE-2",
        "an export records why it was made: purpose is blank",
        field="data.purpose",
    )
