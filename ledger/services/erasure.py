"""``ledger erase``: a customer's personal data removed without breaking the chain
(R-ERASE-1, GDPR Art. 17), and the erasure recorded on the log.

What belongs to a customer: its own events, the events of its tickets (every subject
whose ``ticket.opened`` names it), and the inputs the ledger rejected or keeps waiting
that are about them (their subject, or a ``data.customer_id`` naming it, or a ticket a
rejected ``ticket.opened`` of the customer named; an input that could not be read as an
envelope, when its bytes name the customer's id).

In one transaction (the batch write of the recording event, ``BatchWrite.rewrite``):

* each stored event loses the plaintext of the erased personal fields and its salt; it
  keeps their commitments and the salts of the personal fields it still shows
  (``ledger.aggregates.erasure``), so its hash recomputes unchanged;
* each rejected or waiting input is emptied (payload ``b""``, ``erased_at`` set), and the
  erased texts are cut out of its reason (a rejection may quote a value);
* each webhook outbox payload of those subjects is written again from the erased event;
* ``customer.data_erased`` is stored on the customer, through the wire contract and the
  aggregate's rule (R-ERASE-1), joining the customer's chain: who (the actor), when,
  which fields, how many events and rows, and the reason; never a value.

The read models follow from the log: a runner that meets ``customer.data_erased`` folds
the customer and its tickets again from their erased history (``ledger.adapters.projector``),
versions included. ``compact`` then removes the old bytes from SQLite's files.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import Engine, inspect, text

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.store import BatchWrite, Rewrite
from ledger.aggregates.base import ERASURE_ATTRIBUTE, EventMeta, LedgerEvent
from ledger.aggregates.chain import PERSONAL_FIELDS, canonical
from ledger.aggregates.customer import Customer
from ledger.aggregates.erasure import ERASED, erased_fields, erasing, texts
from ledger.aggregates.rules import RuleViolation
from ledger.aggregates.ticket import Ticket
from ledger.services.webhooks import message_body
from schemas import WireError, parse_canonical

SOURCE: Final = "ledger-erase"
ROLE: Final = "system"  # written by the ledger, on the operator's command (the actor)
LOCAL: Final = "local"  # the local operator, as ``producer`` records it
ATTEMPTS: Final = 3
PAGE: Final = 10_000
MIN_QUOTED: Final = 3  # shorter texts are not searched for in reasons (they match anywhere)


class ErasureError(Exception):
    """The erasure cannot be made (a user-facing message); nothing was changed."""


@dataclass
class ErasureReport:
    """What one ``ledger erase`` did (``event_id`` None: nothing was left to erase)."""

    customer: str
    requested: list[str]
    fields: list[str] = field(default_factory=list)  # erased now
    erased_before: list[str] = field(default_factory=list)
    subjects: int = 0
    events: int = 0
    rejections: int = 0
    deferred: int = 0
    deliveries: int = 0
    event_id: str | None = None
    actor: str = ""
    reason: str = ""

    @property
    def changed(self) -> bool:
        """Whether anything was erased (and the erasure recorded)."""
        return self.event_id is not None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "customer": self.customer,
            "erased": self.changed,
            "event_id": self.event_id,
            "actor": self.actor,
            "reason": self.reason,
            "requested_fields": self.requested,
            "fields": self.fields,
            "erased_before": self.erased_before,
            "subjects": self.subjects,
            "events": self.events,
            "rejections": self.rejections,
            "deferred": self.deferred,
            "deliveries": self.deliveries,
        }


def check_fields(names: Iterable[str] | None) -> frozenset[str]:
    """The personal fields named (all of them for None), or ``ErasureError`` naming the
    first that is not one."""
    if names is None:
        return PERSONAL_FIELDS
    chosen = [n.strip() for n in names if n.strip()]
    if not chosen:
        raise ErasureError("--fields names no field: leave it out to erase every personal field")
    for name in chosen:
        if name not in PERSONAL_FIELDS:
            raise ErasureError(
                f"--fields: {name!r} is not a personal field; erasable fields are "
                f"{', '.join(sorted(PERSONAL_FIELDS))}"
            )
    return frozenset(chosen)


def erase_customer(
    app: LedgerApp,
    engine: Engine,
    customer_id: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
    fields: frozenset[str] = PERSONAL_FIELDS,
) -> ErasureReport:
    """Erase ``fields`` of everything the customer's data is in, and record it."""
    if not reason.strip():
        raise ErasureError("--reason is blank: an erasure records why it was made")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _erase(app, engine, customer_id, fields, reason, actor, now)
        except IntegrityError:  # another writer stored an event of the customer meanwhile
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _erase(
    app: LedgerApp,
    engine: Engine,
    customer_id: str,
    fields: frozenset[str],
    reason: str,
    actor: str,
    now: datetime,
) -> ErasureReport:
    customer = app.find(customer_id)
    if not isinstance(customer, Customer):
        raise ErasureError(
            f"--customer {customer_id}: the ledger holds no customer {customer_id}; "
            "nothing was erased"
        )
    report = ErasureReport(customer_id, sorted(fields), actor=actor, reason=reason)
    head = app.store.max_notification_id() or 0
    tickets = _tickets_of(app, customer_id, head)
    subjects = [customer_id, *tickets]
    report.subjects = len(subjects)
    rewrite = Rewrite(erased_at=now)
    erased_now: set[str] = set()
    before: set[str] = set()
    quoted: set[str] = set()
    new_events: dict[int, LedgerEvent] = {}
    for notification in app.store.subject_events(subjects, head):
        event = app.mapper.to_domain_event(notification)
        if not isinstance(event, LedgerEvent) or isinstance(event, Customer.DataErased):
            continue
        before |= erased_fields(event) & fields
        change = erasing(event, fields)
        if change is None:
            continue
        state = app.mapper.transcoder.decode(notification.state)
        state.update(change.values)
        state["salt"] = ""
        state[ERASURE_ATTRIBUTE] = change.proof
        stored = StoredEvent(
            originator_id=notification.originator_id,
            originator_version=notification.originator_version,
            topic=notification.topic,
            state=app.mapper.transcoder.encode(state),
        )
        erased = app.mapper.to_domain_event(stored)
        assert isinstance(erased, LedgerEvent)
        if erased.computed_hash() != event.event_hash:  # never store what would not verify
            raise ErasureError(
                f"{event.originator_id} v{event.originator_version}: erased, its hash would "
                "not recompute; nothing was erased (run `ledger verify`)"
            )
        rewrite.events.append((str(stored.originator_id), stored.originator_version, stored.state))
        new_events[notification.id] = erased
        erased_now.update(change.fields)
        quoted.update(t for v in change.former.values() for t in texts(v))
    rows = _Inputs(engine, customer_id, set(subjects))
    for table, target in (
        ("ledger_rejections", rewrite.rejections),
        ("ledger_deferred", rewrite.deferred),
    ):
        for row_id, row_reason, document in rows.of(table):
            own = set(quoted)
            if isinstance(document, dict):
                own.update(_personal_texts(document.get("data")))
            target.append((row_id, _scrubbed(row_reason, own)))
    rewrite.deliveries.extend(_deliveries(engine, subjects, new_events))
    report.erased_before = sorted(before - erased_now)
    report.events = len(rewrite.events)
    report.rejections = len(rewrite.rejections)
    report.deferred = len(rewrite.deferred)
    report.deliveries = len(rewrite.deliveries)
    if not (rewrite.events or rewrite.rejections or rewrite.deferred or rewrite.deliveries):
        return report
    report.fields = sorted(erased_now or fields)
    report.event_id = _record(app, customer, report, rewrite, now)
    return report


def _record(
    app: LedgerApp, customer: Customer, report: ErasureReport, rewrite: Rewrite, now: datetime
) -> str:
    """Store ``customer.data_erased`` with the rewrite, in one transaction."""
    event_id = str(uuid.uuid4())
    counts = {
        "subjects": report.subjects,
        "events": report.events,
        "rejections": report.rejections,
        "deferred": report.deferred,
        "deliveries": report.deliveries,
    }
    envelope = {
        "event_id": event_id,
        "type": Customer.DataErased.WIRE_TYPE,
        "schema_version": 1,
        "occurred_at": canonical(now),
        "source": SOURCE,
        "actor": {"id": report.actor, "role": ROLE},
        "subject": report.customer,
        "data": {"fields": report.fields, **counts, "reason": report.reason},
    }
    try:
        _, content = parse_canonical(envelope, allow_system=True)
        meta = EventMeta(event_id, now, report.actor, ROLE, SOURCE, now, LOCAL)
        customer.record_erasure(meta, report.fields, counts, report.reason)
    except (WireError, RuleViolation) as error:
        raise ErasureError(f"{error.field or 'erasure'}: {error.reason}") from None
    # The fingerprint of the content, as intake keeps it for every accepted event.
    fingerprint = hashlib.blake2b(content, digest_size=16).hexdigest()
    write = BatchWrite(
        received_at=now,
        event_keys=[(event_id, report.customer, customer.version, fingerprint)],
        rewrite=rewrite,
    )
    app.store_events([customer], batch=write)
    return event_id


def _tickets_of(app: LedgerApp, customer_id: str, head: int) -> list[str]:
    """The tickets the log says the customer opened (their ``ticket.opened``)."""
    topic = get_topic(Ticket.Opened)
    found: list[str] = []
    position = 0
    while position < head:
        page = app.store.select_notifications(
            start=position, limit=PAGE, stop=head, topics=[topic], inclusive_of_start=False
        )
        if not page:
            break
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            if isinstance(event, Ticket.Opened) and event.customer_id == customer_id:
                found.append(event.originator_id)
        position = page[-1].id
    return found


def _personal_texts(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for name, value in data.items():
            if name in PERSONAL_FIELDS:
                yield from texts(value)


def _scrubbed(reason: str, quoted: set[str]) -> str:
    """``reason`` with every erased text it quotes cut out (longest first)."""
    for value in sorted(quoted, key=len, reverse=True):
        if len(value) >= MIN_QUOTED and value in reason:
            reason = reason.replace(value, ERASED)
    return reason


class _Inputs:
    """The rejected and waiting inputs about the customer, not emptied yet."""

    def __init__(self, engine: Engine, customer_id: str, subjects: set[str]) -> None:
        self.engine = engine
        self.customer_id = customer_id
        self.subjects = set(subjects)
        self.id_pattern = re.compile(
            rb"(?<![A-Za-z0-9._-])" + re.escape(customer_id.encode()) + rb"(?![A-Za-z0-9._-])"
        )
        self._rows: dict[str, list[tuple[int, str | None, str, bytes]]] = {}
        for table in ("ledger_rejections", "ledger_deferred"):
            self._rows[table] = self._read(table)
            # A ticket the customer tried to open (rejected or waiting) is the customer's:
            # so are the inputs about it.
            for _, subject, _, payload in self._rows[table]:
                document = _document(payload)
                if (
                    subject is not None
                    and isinstance(document, dict)
                    and document.get("type") == "ticket.opened"
                    and _data(document).get("customer_id") == customer_id
                ):
                    self.subjects.add(subject)

    def _read(self, table: str) -> list[tuple[int, str | None, str, bytes]]:
        with self.engine.connect() as conn:
            result = conn.execute(
                text(f"SELECT id, subject, reason, payload FROM {table} WHERE erased_at IS NULL")
            )
            return [(int(r[0]), r[1], str(r[2]), bytes(r[3])) for r in result]

    def of(self, table: str) -> Iterator[tuple[int, str, Any]]:
        """(id, reason, parsed payload or None) of each input of the customer."""
        for row_id, subject, reason, payload in self._rows[table]:
            document = _document(payload)
            if self._belongs(subject, document, payload):
                yield row_id, reason, document

    def _belongs(self, subject: str | None, document: Any, payload: bytes) -> bool:
        if subject in self.subjects:
            return True
        if isinstance(document, dict):
            named = document.get("subject")
            if isinstance(named, str) and named in self.subjects:
                return True
            if _data(document).get("customer_id") == self.customer_id:
                return True
            if subject is not None:
                return False
        # Not an envelope the ledger could read: its bytes may still name the customer.
        return bool(self.id_pattern.search(payload))


def _document(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def _data(document: dict[str, Any]) -> dict[str, Any]:
    data = document.get("data")
    return data if isinstance(data, dict) else {}


def _deliveries(
    engine: Engine, subjects: list[str], erased: dict[int, LedgerEvent]
) -> list[tuple[int, str]]:
    """The outbox rows of the subjects whose event was erased, with their new payload."""
    if not erased or not inspect(engine).has_table("webhook_deliveries"):
        return []
    wanted = set(subjects)
    changed: list[tuple[int, str]] = []
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, subject, notification_id, payload FROM webhook_deliveries")
        )
        for row_id, subject, notification_id, payload in rows:
            event = erased.get(int(notification_id))
            if subject not in wanted or event is None:
                continue
            body = message_body(int(notification_id), event).decode()
            if body != payload:
                changed.append((int(row_id), body))
    return changed
