"""Who looked (R-ERASE-2): every export recorded on the log, and the audit log's listing.

``record_export`` stores ``audit.export_recorded`` on the ``AUDIT`` subject through the
wire contract and the aggregate's rule, as the erasure service stores
``customer.data_erased``: who (the actor), when, the selection, the purpose, how much,
and the signed checkpoint and manifest hash that tie the record to the export's files.
``audit_log`` lists both kinds, in log order.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Final

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.store import BatchWrite
from ledger.aggregates.audit import AUDIT_ID, AuditLog
from ledger.aggregates.base import EventMeta, LedgerEvent, event_data
from ledger.aggregates.chain import canonical
from ledger.aggregates.customer import Customer
from ledger.aggregates.rules import RuleViolation
from schemas import WireError, parse_canonical

SOURCE: Final = "ledger-export"
ROLE: Final = "system"  # written by the ledger, on the operator's command (the actor)
LOCAL: Final = "local"  # the local operator, as ``producer`` records it
DEFAULT_ACTOR: Final = "local"
ATTEMPTS: Final = 3
PAGE: Final = 10_000


class AuditError(Exception):
    """The record cannot be made (a user-facing message)."""


def check_purpose(purpose: str | None) -> str:
    """The purpose, or ``AuditError`` when there is none to record."""
    if purpose is None or not purpose.strip():
        raise AuditError(
            "--purpose is required: say why this export is made (recorded on the log with "
            "who exported what and when, R-ERASE-2), e.g. --purpose 'SOC 2 audit 2026'"
        )
    return purpose


def check_actor(actor: str) -> str:
    """The actor id, or ``AuditError`` naming the rule of labels it breaks."""
    if (
        not actor.strip()
        or len(actor) > 128
        or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in actor)
    ):
        raise AuditError(
            f"--actor {actor!r}: an actor id is 1 to 128 characters with no control characters"
        )
    return actor


def record_export(
    app: LedgerApp,
    *,
    actor: str,
    purpose: str,
    selection: dict[str, Any],
    records: int,
    subjects: int,
    checkpoint: int,
    manifest_sha256: str,
    now: datetime,
) -> str:
    """Store ``audit.export_recorded``; its event id."""
    data = {
        "purpose": check_purpose(purpose),
        "selection": selection,
        "records": records,
        "subjects": subjects,
        "checkpoint": checkpoint,
        "manifest_sha256": manifest_sha256,
    }
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _store(app, check_actor(actor), data, now)
        except IntegrityError:  # another export recorded meanwhile: the next version
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _store(app: LedgerApp, actor: str, data: dict[str, Any], now: datetime) -> str:
    event_id = str(uuid.uuid4())
    envelope = {
        "event_id": event_id,
        "type": AuditLog.ExportRecorded.WIRE_TYPE,
        "schema_version": 1,
        "occurred_at": canonical(now),
        "source": SOURCE,
        "actor": {"id": actor, "role": ROLE},
        "subject": AUDIT_ID,
        "data": data,
    }
    try:
        _, content = parse_canonical(envelope, allow_system=True)
        meta = EventMeta(event_id, now, actor, ROLE, SOURCE, now, LOCAL)
        log = app.find(AUDIT_ID)
        if log is None:
            log = AuditLog.record_first(meta, **data)
        elif isinstance(log, AuditLog):
            log.record(meta, **data)
        else:
            raise AuditError(f"subject {AUDIT_ID} is not the audit log")
    except (WireError, RuleViolation) as error:
        raise AuditError(f"{error.field or 'export record'}: {error.reason}") from None
    fingerprint = hashlib.blake2b(content, digest_size=16).hexdigest()
    write = BatchWrite(received_at=now, event_keys=[(event_id, AUDIT_ID, log.version, fingerprint)])
    app.store_events([log], batch=write)
    return event_id


KINDS: Final = {
    AuditLog.ExportRecorded.WIRE_TYPE: "export",
    Customer.DataErased.WIRE_TYPE: "erasure",
}


def audit_log(
    app: LedgerApp, *, kind: str | None = None, customer: str | None = None
) -> list[dict[str, Any]]:
    """Every export and erasure recorded, in log order (``kind``: only ``export`` or
    ``erasure``; ``customer``: only those about the customer)."""
    topics = [
        get_topic(cls)
        for cls in (AuditLog.ExportRecordedFirst, AuditLog.ExportRecorded, Customer.DataErased)
    ]
    head = app.store.max_notification_id() or 0
    entries: list[dict[str, Any]] = []
    position = 0
    while position < head:
        page = app.store.select_notifications(
            start=position, limit=PAGE, stop=head, topics=topics, inclusive_of_start=False
        )
        if not page:
            break
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            if isinstance(event, LedgerEvent):
                entry = _entry(notification.id, event)
                if (kind is None or entry["kind"] == kind) and (
                    customer is None or entry["customer"] == customer
                ):
                    entries.append(entry)
        position = page[-1].id
    return entries


def _entry(notification_id: int, event: LedgerEvent) -> dict[str, Any]:
    data = {k: canonical(v) for k, v in event_data(event).items()}
    about = (
        event.originator_id
        if isinstance(event, Customer.DataErased)
        else data["selection"].get("customer")
    )
    return {
        "kind": KINDS[event.WIRE_TYPE],
        "type": event.WIRE_TYPE,
        "notification_id": notification_id,
        "subject": event.originator_id,
        "version": event.originator_version,
        "event_id": event.event_id,
        "at": canonical(event.occurred_at),
        "actor": event.actor_id,
        "producer": event.producer,
        "customer": about,
        "data": data,
    }
