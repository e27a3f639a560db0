"""The application: the event store of tickets, customers and the SLA policy.

`LedgerApp` is a thin eventsourcing ``Application`` (with the ledger's transcodings);
`open_app` opens it on a database. How each wire type becomes an aggregate command is in
:mod:`ledger.services.handlers`; the ingest loop around them (batching, idempotency, rejections)
is in :mod:`ledger.services.intake`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import orjson
from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Notification,
    StoredEvent,
    Transcoding,
)

from ledger.adapters.errors import DatabaseFileError, NoLedgerError, first_line, sqlite_cause
from ledger.adapters.settings import Database
from ledger.adapters.store import LedgerRecorder
from ledger.aggregates.audit import AuditLog
from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.customer import Customer
from ledger.aggregates.policy import SlaPolicy
from ledger.aggregates.ticket import Ticket

if TYPE_CHECKING:
    import psycopg

Aggregate = Ticket | Customer | SlaPolicy | AuditLog
SQLITE_EVENTS_TABLE: Final = "stored_events"  # eventsourcing's SQLite table of events


class DateAsISO(Transcoding):
    """Dates (due dates, holidays, usage periods) as ISO strings in stored events."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class RecordedAtAsISO(DatetimeAsISO):
    """The library's datetime form, remembering the text of the instants it wrote last:
    every event of an ingest batch carries the same recording time (the same object),
    between each event's own instants."""

    KEEP: Final = 64

    def __init__(self) -> None:
        # Keyed by identity, holding the object: an id is not reused while it is here.
        self._texts: dict[int, tuple[datetime, str]] = {}

    def encode(self, obj: datetime) -> str:
        known = self._texts.get(id(obj))
        if known is not None and known[0] is obj:
            return known[1]
        if len(self._texts) >= self.KEEP:
            self._texts.clear()
        text = obj.isoformat()
        self._texts[id(obj)] = (obj, text)
        return text


class FastJSONTranscoder(JSONTranscoder):
    """eventsourcing's JSON format, written with orjson: the same bytes as the library's
    own encoder (type markers included), about twice as fast on the ledger's events.
    Reading stays the library's (its C scanner with a hook beats orjson plus a walk).

    orjson hands back its 4 KiB working buffer as the bytes object, however short the
    text: a 400-byte event held 4.4 KiB until stored (20 MiB for a batch of 5000, twice
    that with ingest's pipeline). The copy to an object of the text's size is kept."""

    OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS

    def encode(self, obj: Any) -> bytes:
        return bytes(memoryview(orjson.dumps(obj, default=self._encode_obj, option=self.OPTIONS)))


class LedgerApp(Application[str]):
    """The ledger's event store: tickets, customers and the SLA policy."""

    name = "Ledger"

    def construct_transcoder(self) -> JSONTranscoder:
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def store_events(self, aggregates: Iterable[Aggregate], **kwargs: Any) -> None:
        """Store the aggregates' pending events in one transaction (``kwargs``: what the
        recorder writes beside them). ``save()`` does the same plus snapshots, the
        aggregate cache and notifications, none of which the ledger uses, and two
        runtime protocol checks per aggregate that cost several per cent of ingest; and
        ``EventStore.put`` builds a notification per event for callers, unused here."""
        self.recorder.insert_events(self.stored_events(aggregates), **kwargs)

    def stored_events(self, aggregates: Iterable[Aggregate]) -> list[StoredEvent]:
        """The aggregates' pending events as rows to store (they leave the aggregates)."""
        to_stored = self.mapper.to_stored_event
        return [to_stored(e) for aggregate in aggregates for e in aggregate.collect_events()]

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(RecordedAtAsISO())  # replaces the library's DatetimeAsISO
        transcoder.register(DateAsISO())

    @property
    def store(self) -> LedgerRecorder:
        """The recorder, with the ledger's own queries."""
        return cast(LedgerRecorder, self.recorder)

    def history(self, subject: str) -> list[LedgerEvent]:
        """Every stored event of the subject, in version order."""
        return cast(list[LedgerEvent], list(self.events.get(subject)))

    def log_events(self, page_size: int = 10_000) -> Iterator[LedgerEvent]:
        """Every stored event in notification (log) order, read page by page."""
        for notification in self.log_notifications(page_size=page_size):
            event = self.mapper.to_domain_event(notification)
            assert isinstance(event, LedgerEvent)
            yield event

    def log_notifications(self, after: int = 0, page_size: int = 10_000) -> Iterator[Notification]:
        """The stored rows after notification id ``after``, undecoded, page by page."""
        position = after
        while True:
            page = self.recorder.select_notifications(
                start=position, limit=page_size, inclusive_of_start=False
            )
            if not page:
                return
            yield from page
            position = page[-1].id

    def load_many(self, subjects: Sequence[str]) -> dict[str, Aggregate | None]:
        """Many aggregates in one query per chunk (None: nothing stored for the subject)."""
        if not subjects:
            return {}
        history: dict[str, list[Any]] = {subject: [] for subject in subjects}
        for notification in self.store.subject_events(subjects, up_to=2**62):
            history[str(notification.originator_id)].append(
                self.mapper.to_domain_event(notification)
            )
        return {
            subject: cast(Aggregate | None, project_aggregate(None, events))
            for subject, events in history.items()
        }

    def find(self, subject: str) -> Aggregate | None:
        """The aggregate with this id, or None if nothing was ever stored for it."""
        try:
            return cast(Aggregate, self.repository.get(subject))
        except AggregateNotFoundError:
            return None


SCHEMA_LOCK: Final = 0x1ED6E5  # advisory lock id: one process at a time creates tables
LEDGER_TABLE: Final = "ledger_event_keys"
"""A table only a ledger has (beside the events), created with them."""


def open_app(database: Database, *, create: bool = True) -> LedgerApp:
    """Open the ledger on ``database``: creating its tables if needed, or, with
    ``create=False``, only a ledger that exists (``NoLedgerError`` otherwise, and nothing
    is created: no file, no schema, no table).

    On PostgreSQL, services starting together (consumers, relay, runners) would race to
    create the same tables; an advisory lock makes them take turns.
    """
    if not create:
        require_ledger(database)
    if database.kind != "postgres":
        return LedgerApp(env=database.eventsourcing_env())
    from psycopg.sql import SQL, Identifier

    with _connect(database) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [SCHEMA_LOCK])
        if database.schema and create:
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(database.schema)))
        try:
            return LedgerApp(env=database.eventsourcing_env())
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [SCHEMA_LOCK])


def require_ledger(database: Database) -> None:
    """Raise ``NoLedgerError`` unless ``database`` holds a ledger; create nothing."""
    if database.kind == "postgres":
        _require_postgres(database)
    else:
        _require_sqlite(database.sqlite_path)


_NONE_CREATED: Final = "commands that only read create none (ledger ingest or ledger demo do)"


def _require_sqlite(path: str) -> None:
    file = Path(path)
    if not file.exists():
        raise NoLedgerError(f"no ledger at {path}: no such file; {_NONE_CREATED}")
    if file.is_dir():
        raise NoLedgerError(f"no ledger at {path}: it is a directory, not a SQLite file")
    try:
        # Read-only: opening must not create the file (it could vanish meanwhile) or change it.
        with contextlib.closing(
            sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            found = {
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
                    (SQLITE_EVENTS_TABLE, LEDGER_TABLE),
                )
            }
    except sqlite3.Error as error:
        raise DatabaseFileError(f"SQLite cannot read {path}: {first_line(error)}") from error
    if found != {SQLITE_EVENTS_TABLE, LEDGER_TABLE}:
        raise NoLedgerError(
            f"no ledger in {path}: the SQLite file holds no ledger tables; {_NONE_CREATED}"
        )


def _require_postgres(database: Database) -> None:
    schema = database.schema or "public"
    where = f"schema {schema} of postgresql://{database.user}@{database.host}:{database.port}/"
    where += database.dbname
    with _connect(database) as conn:
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
        if exists is None:
            raise NoLedgerError(f"no ledger in {where}: no such schema; {_NONE_CREATED}")
        events = f"{LedgerApp.name.lower()}_events"
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name IN (%s, %s)",
            [schema, events, LEDGER_TABLE],
        ).fetchone()
    if found is None or found[0] != 2:
        raise NoLedgerError(f"no ledger in {where}: no ledger tables; {_NONE_CREATED}")


def _connect(database: Database) -> psycopg.Connection[Any]:
    import psycopg  # only PostgreSQL ledgers pay for importing it

    return psycopg.connect(
        host=database.host,
        port=database.port,
        user=database.user,
        password=database.password or None,
        dbname=database.dbname,
        autocommit=True,
        connect_timeout=5,
    )


@contextlib.contextmanager
def opened(database: Database, *, create: bool = True) -> Iterator[LedgerApp]:
    """Open the ledger for the duration of a ``with`` block (``create``: see ``open_app``).

    A SQLite failure, opening or inside the block, is raised as ``DatabaseFileError``
    naming the file and saying what SQLite said."""
    try:
        app = open_app(database, create=create)
        try:
            yield app
        finally:
            app.close()
    except Exception as error:
        cause = sqlite_cause(error) if database.kind == "sqlite" else None
        if cause is None or isinstance(error, DatabaseFileError):
            raise
        raise DatabaseFileError(
            f"SQLite failed on {database.sqlite_path}: {first_line(cause)}"
        ) from error
