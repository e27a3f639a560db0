"""eventsourcing's recorders, extended with the ledger's own tables.

Three tables ride in the same transaction as the domain events of an ingest batch,
so that a batch is all-or-nothing:

* ``ledger_event_keys``: every accepted ``event_id`` (R-IN-4), with the stored event
  it became and the fingerprint of its content: a duplicate (same id, same content) or
  a conflict (same id, other content) is found by one query per batch;
* ``ledger_rejections``: every rejected input with its original bytes, rule id, field,
  reason, time and fingerprint (rejected, never dropped; the same input sent again is
  found by its fingerprint and not stored twice);
* ``ledger_deferred``: inputs waiting for a subject the ledger has not stored yet
  (R-IN-6), with their bytes, what they wait for, and the rule they would be rejected
  under when their grace period passes;
* ``ledger_positions``: the last consumed offset per consumer, topic and partition,
  for exactly-once ingest from Kafka.

The recorders subclass eventsourcing's *process* recorders, so the notification
tracking table is there too for the projection runners. What both share is here (the
records, the protocol the services use, the rows); SQLite's recorder is in
``ledger.adapters.sqlite``, PostgreSQL's in ``ledger.adapters.postgres``, so that a
ledger on SQLite never imports psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final, Protocol

import orjson
import rfc8785
from eventsourcing.persistence import Notification, StoredEvent

from ledger.aggregates import chain

IN_CHUNK = 500  # ids per IN (...) query

ORJSON_CANONICAL: Final = partial(orjson.dumps, option=orjson.OPT_SORT_KEYS)
"""The hash chain's canonical JSON, written by orjson: the bytes of the domain's own
``chain.standard_dumps`` (``tests/unit/test_canonical_json.py``), faster. The domain
knows no serializer of infrastructure, so the adapter that brings orjson installs it."""
chain.use_canonical_json(ORJSON_CANONICAL)

_JCS_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_SORTS_APART: Final = re.compile(rb"[\xee-\xf4]")  # U+E000 and above, in UTF-8


def _jcs_number(value: Any) -> orjson.Fragment:
    if type(value) is chain.JcsNumber:  # orjson hands float subclasses to ``default``
        return orjson.Fragment(rfc8785.dumps(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def orjson_jcs(value: Any) -> bytes:
    """RFC 8785 bytes of a value ``chain.jcs_ready`` made, as ``rfc8785.dumps`` writes
    them, by orjson wherever it writes the same.

    For strings, integers within 53 bits, booleans, null, arrays and objects whose keys
    sort the same by code point as by UTF-16 unit, orjson's sorted output *is* the
    canonical form (RFC 8785 escapes strings as orjson does). Numbers are the
    difference: ``jcs_ready`` marks each float a ``JcsNumber``, which orjson leaves to
    ``default``, where ``rfc8785`` spells it. Keys with characters from U+E000 up (UTF-16
    sorts them after the supplementary ones), and anything orjson refuses, are written by
    ``rfc8785`` itself, which raises for what the scheme cannot write.
    ``tests/unit/test_canonical_json.py`` checks the bytes are the same for any value."""
    if type(value) is str:
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:
            return rfc8785.dumps(value)
    try:
        text = orjson.dumps(value, default=_jcs_number, option=_JCS_OPTIONS)
    except orjson.JSONEncodeError:
        return rfc8785.dumps(value)
    if text.isascii() or _SORTS_APART.search(text) is None:
        return text
    return rfc8785.dumps(value)


chain.use_jcs(orjson_jcs)


@dataclass(frozen=True)
class Rejection:
    """An input the ledger would not store as a domain event, kept with its reasons."""

    rule: str
    reason: str
    field: str
    code: str
    payload: bytes
    payload_is_json: bool
    event_id: str | None
    event_type: str | None
    subject: str | None
    origin: str
    fingerprint: str | None = None


@dataclass(frozen=True)
class StoredRejection:
    """A rejection as read back, with its id and the time it was recorded."""

    id: int
    received_at: datetime
    rejection: Rejection


@dataclass(frozen=True)
class Position:
    """The last offset a consumer has stored for a topic partition."""

    consumer: str
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Deferral:
    """An input waiting for ``waits_for`` to be stored (R-IN-6).

    ``rejection`` is what it would be rejected as were it decided now (rule, field,
    reason, bytes); ``id`` is None until stored, ``received_at`` when it was first
    deferred (its grace period runs from then)."""

    waits_for: str
    rejection: Rejection
    received_at: datetime | None = None
    id: int | None = None

    @property
    def subject(self) -> str:
        """The subject the input is about."""
        return self.rejection.subject or ""


@dataclass(frozen=True)
class Rewrite:
    """An erasure's in-place changes (R-ERASE-1, the only ones the ledger ever makes),
    written in the transaction of the event that records it: stored events' new states
    by (subject, version); rejected and deferred inputs emptied (payload ``b""``,
    ``erased_at`` set) with their reasons as given; webhook outbox payloads by row id."""

    erased_at: datetime
    events: list[tuple[str, int, bytes]] = field(default_factory=list)
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (id, reason)
    deferred: list[tuple[int, str]] = field(default_factory=list)  # (id, reason)
    deliveries: list[tuple[int, str]] = field(default_factory=list)  # (id, payload)


@dataclass
class BatchWrite:
    """What an ingest batch writes beside its domain events, in the same transaction."""

    received_at: datetime
    # (event_id, subject, version, content fingerprint)
    event_keys: list[tuple[str, str, int, str | None]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    deferred: list[Deferral] = field(default_factory=list)  # newly deferred
    released: list[int] = field(default_factory=list)  # stored deferrals now decided
    redeferred: list[Deferral] = field(default_factory=list)  # stored, waiting anew
    rewrite: Rewrite | None = None  # an erasure's in-place changes

    @property
    def is_empty(self) -> bool:
        """Nothing to write."""
        return not (
            self.event_keys
            or self.rejections
            or self.positions
            or self.deferred
            or self.released
            or self.redeferred
            or self.rewrite
        )


@dataclass(frozen=True)
class KnownInputs:
    """What the ledger already holds of a batch's inputs: accepted event ids with their
    content fingerprints (None for keys stored before fingerprints were kept), and the
    fingerprints of inputs rejected (with the rule) or deferred before."""

    accepted: dict[str, str | None]
    rejected: dict[str, str]
    deferred: dict[str, tuple[str, str]]  # fingerprint -> (waits_for, rule)


class IntakeStore(Protocol):
    """What deciding a batch asks of the store (``LedgerRecorder`` has it all; a dry run
    answers it from what it would have stored)."""

    def known_inputs(
        self, event_ids: Sequence[str], fingerprints: Sequence[str]
    ) -> KnownInputs: ...

    def has_deferred(self) -> bool: ...

    def deferred_subjects(self, subjects: Sequence[str]) -> set[str]: ...

    def deferred_queues(self, waits_for: Sequence[str]) -> list[Deferral]: ...

    def ready_deferred(self) -> list[Deferral]: ...

    def deferred(
        self,
        *,
        subject: str | None = None,
        limit: int | None = None,
        before: datetime | None = None,
    ) -> list[Deferral]: ...

    def current_versions(self, subjects: Sequence[str]) -> dict[str, int]: ...


class LedgerRecorder(IntakeStore, Protocol):
    """The queries the application needs beyond eventsourcing's recorder interface
    (deciding a batch asks only ``IntakeStore``'s)."""

    def deferred_count(self) -> int: ...

    def rejections(
        self,
        *,
        rule: str | None = None,
        subject: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        after_id: int = 0,
    ) -> list[StoredRejection]: ...

    def rejected_types(self) -> set[str]: ...

    def rejection_counts(self) -> dict[str, int]: ...

    def event_count(self, up_to: int | None = None) -> int: ...

    def first_events(self, up_to: int) -> list[tuple[str, str]]: ...

    def positions(self, consumer: str | None) -> list[Position]: ...

    def subject_events(self, subjects: Sequence[str], up_to: int) -> list[Notification]: ...

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...

    def insert_parts(self, parts: Iterable[tuple[Sequence[StoredEvent], BatchWrite]]) -> None:
        """Store batches in one transaction as they come from ``parts`` (each as
        ``insert_events(stored, batch=write)`` stores one); an exception raised by
        ``parts`` rolls the transaction back."""
        ...


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _rejection_row(received_at: Any, r: Rejection) -> tuple[Any, ...]:
    return (
        received_at,
        r.rule,
        r.code,
        r.field,
        r.reason,
        r.event_id,
        r.event_type,
        r.subject,
        r.origin,
        r.payload,
        r.payload_is_json,
        r.fingerprint,
    )


_REJECTION_COLUMNS = (
    "received_at, rule, code, field, reason, event_id, event_type, subject, origin, "
    "payload, payload_is_json, fingerprint"
)
_DEFERRED_COLUMNS = _REJECTION_COLUMNS + ", waits_for"


def _deferred_row(received_at: Any, d: Deferral) -> tuple[Any, ...]:
    return (*_rejection_row(d.received_at or received_at, d.rejection), d.waits_for)


def _rejection_of(row: Any) -> Rejection:
    return Rejection(
        rule=row["rule"],
        reason=row["reason"],
        field=row["field"],
        code=row["code"],
        payload=bytes(row["payload"]),
        payload_is_json=bool(row["payload_is_json"]),
        event_id=row["event_id"],
        event_type=row["event_type"],
        subject=row["subject"],
        origin=row["origin"],
        fingerprint=row["fingerprint"],
    )


def _redeferred_row(d: Deferral) -> tuple[Any, ...]:
    r = d.rejection
    return (d.waits_for, r.rule, r.code, r.field, r.reason, d.id)


def _stored_rejection(row: Any, received_at: datetime) -> StoredRejection:
    return StoredRejection(id=row["id"], received_at=received_at, rejection=_rejection_of(row))


def _stored_deferral(row: Any, received_at: datetime) -> Deferral:
    return Deferral(
        waits_for=row["waits_for"],
        rejection=_rejection_of(row),
        received_at=received_at,
        id=row["id"],
    )
