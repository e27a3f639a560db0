"""The projection runner: follows the notification log into the read models, exactly once.

eventsourcing's own ``ProjectionRunner`` needs a subscription, which its SQLite
recorder does not offer, and writes once per event; this runner reads the log in pages
with ``select_notifications`` on both backends and writes in batches.

For each page of the log and each projection:

1. each subject the page touches is brought up to date through the same pure folds a
   rebuild and an ``--as-of`` query use: a fold kept from an earlier page takes only
   the page's events; otherwise (first met, evicted, or what it read changed: the
   policy) it folds the subject's whole history, read through a bounded cache of the
   immutable log with one query per page;
2. in **one transaction**: the tracking row moves from the old position to the page's
   last notification id (a compare-and-set, so two runners never both apply a page),
   and the subjects' rows are replaced: all of them for a subject first met in this
   catch-up, only the changed ones (by primary key) for a subject whose rows it wrote.

A subject whose fold fails is left out, not the page: its rows are removed (a rebuild,
folding the same history, fails the same way, so rebuild still equals live), the
failure is logged as a warning naming the projection and the subject, and it is listed
in ``projection_failures`` (projection, subject, the position it was folded up to, the
error), written in the page's transaction and cleared when the subject folds again.

Folds and histories carry over to the next catch-up that starts where this one ended
(rows are a function of the log, so they are right whoever wrote the rows up to there).

A crash anywhere throws the transaction away and the next run redoes the page: no
double-apply (rows are replaced, not incremented), no skip (the position only moves
with the rows). On PostgreSQL, eventsourcing takes an exclusive table lock for every
insert, so notification ids become visible in order; a gap left by a rolled-back
insert is permanent, and reading ``id > position`` never steps over an event that
could still appear. (Never enable ``POSTGRES_ENABLE_DB_FUNCTIONS``: it drops that
lock.)
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.schema import CreateIndex

from ledger.adapters import tables
from ledger.adapters.collection import collected_per_batch
from ledger.adapters.event_store import SCHEMA_LOCK, LedgerApp
from ledger.adapters.settings import Database
from ledger.adapters.versions import READERS, Step, Versions, read_versions
from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.customer import Customer
from ledger.projections.fold import Rows
from ledger.projections.registry import (
    BY_NAME,
    PROJECTIONS,
    Failure,
    Folding,
    History,
    Projection,
    guarded,
)

log = logging.getLogger(__name__)

PAGE_SIZE: Final = 50_000
HISTORY_SUBJECTS: Final = 5_000  # whole histories kept (customers, the policy, fresh folds)
FOLD_SUBJECTS: Final = 20_000  # folds kept between pages
FIRST_VERSION: Final = Aggregate.INITIAL_VERSION
REBUILD_SUBJECTS: Final = 2_000  # subjects folded and written per transaction of a rebuild
IN_CHUNK: Final = 500

Progress = Callable[[int, int], None]
"""``progress(done, total)``: notifications processed so far, of how many (subjects, while
a rebuild folds the log subject by subject)."""
Fault = Callable[[int], None]
"""Test hook: called with each notification id while a page is applied (may raise)."""


failures = Table(
    "projection_failures",
    tables.metadata,
    Column("projection", String(64), primary_key=True),
    Column("subject", String(200), primary_key=True),
    Column("notification_id", Integer, nullable=False),  # the log position folded up to
    Column("error", Text, nullable=False),
)
"""Subjects a projection left out because their fold failed (none: every subject is in)."""


class ProjectionConflict(RuntimeError):
    """Another runner moved the projection's position first; this page was not applied."""


def engine_for(database: Database) -> Engine:
    """A SQLAlchemy engine on the ledger's database (read models live beside the log)."""
    if database.kind == "sqlite":
        engine = create_engine(f"sqlite:///{database.sqlite_path}", connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        return engine
    password = f":{database.password}" if database.password else ""
    # The session in UTC: instants come back in UTC, which psycopg gives as
    # ``timezone.utc`` (each instant of a read is then used as it is; in the server's
    # zone, often "Etc/UTC", each one was converted). Nothing the ledger asks depends on
    # the session's zone: every instant is a timestamptz. JIT off: the reads are index
    # probes and small aggregates, whose estimated costs can pass jit_above_cost and then
    # spend more compiling than running (20 ms of 45 on the customers page's trend read
    # at 1M events, measured; see "Performance").
    options = "-ctimezone=UTC -cjit=off" + (
        f" -csearch_path={database.schema}" if database.schema else ""
    )
    return create_engine(
        f"postgresql+psycopg://{database.user}{password}@{database.host}:{database.port}/"
        f"{database.dbname}",
        connect_args={"connect_timeout": 5, "options": options},
        # (as many as the reads that run at once: ``ledger.adapters.versions.together``)
        pool_size=READERS,
    )


def create_tables(engine: Engine) -> set[str]:
    """Create the read-model tables; on PostgreSQL one process at a time (advisory lock).

    A ledger made by an earlier version may lack a read model a projection fills now, or
    a column of one: that projection's outdated tables are dropped and made again, its
    rows emptied and its position set back to 0, in the same transaction, so whichever
    runner comes next projects it again from the log. Returns the projections set back."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SCHEMA_LOCK})
        reshaped = _reshape(conn)
        tables.metadata.create_all(conn)
        # A ledger made by an earlier version has its tables, not always every index.
        for table in tables.metadata.sorted_tables:
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
        for name in sorted(reshaped):
            projection = BY_NAME[name]
            for table in tables_of(projection):
                conn.execute(delete(table))
            for table_name in projection.tables:
                conn.execute(delete(tables.VERSIONS[table_name]))
            conn.execute(
                update(tables.tracking)
                .where(tables.tracking.c.projection == name)
                .values(position=0)
            )
            conn.execute(delete(failures).where(failures.c.projection == name))
    return reshaped


def _reshape(conn: Connection) -> set[str]:
    """Drop the read-model tables (live or versions) that lack a column of today's; the
    projections of a ledger that had read models but lacks one of theirs now, or had one
    dropped here, must be projected again."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    if tables.tracking.name not in existing:
        return set()  # a new ledger: nothing was projected yet
    reshaped: set[str] = set()
    for projection in PROJECTIONS:
        made = [tables.metadata.tables[name] for name in projection.tables]
        made += [tables.VERSIONS[name] for name in projection.tables]
        present = [table for table in made if table.name in existing]
        if not present:
            continue
        for table in present:
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            if not {column.name for column in table.columns} <= columns:
                log.warning("read model %s lacks columns of today's: made again", table.name)
                table.drop(conn)
                reshaped.add(projection.name)
        if len(present) < len(made):
            reshaped.add(projection.name)
    return reshaped


def insert_missing(conn: Connection, table: Any, keys: list[dict[str, Any]]) -> None:
    """Insert position rows (at 0) that do not exist yet; concurrent callers are fine."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for key in keys:
        conn.execute(dialect_insert(table).values(**key, position=0).on_conflict_do_nothing())


class LogHistory:
    """A read-through cache of subjects' histories up to a position of the log.

    The log is immutable, so a cached history stays right: it only grows, page by page.
    Least recently used subjects are dropped between pages (``trim``), never during one,
    so what a page loaded stays until the page is done.
    """

    def __init__(self, app: LedgerApp, position: int, max_subjects: int = HISTORY_SUBJECTS):
        self.app = app
        self.position = position
        self.max_subjects = max_subjects
        self._events: OrderedDict[str, list[LedgerEvent]] = OrderedDict()

    def events(self, subject: str) -> list[LedgerEvent]:
        """The subject's events up to the current position (loaded if need be)."""
        if subject not in self._events:
            self.load([subject])
        self._events.move_to_end(subject)
        return self._events[subject]

    def load(self, subjects: Iterable[str]) -> None:
        """Load the histories of the subjects not cached yet, in one query per chunk."""
        cached = self._events
        missing = []
        for subject in set(subjects):  # (set - dict.keys() would copy every key)
            if subject in cached:
                cached.move_to_end(subject)
            else:
                missing.append(subject)
        if not missing:
            return
        missing.sort()
        loaded: dict[str, list[LedgerEvent]] = {s: [] for s in missing}
        for notification in self.app.store.subject_events(missing, self.position):
            loaded[str(notification.originator_id)].append(self.decode(notification))
        self._events.update(loaded)

    def forget(self, subjects: Iterable[str]) -> None:
        """Drop the subjects' histories: an erasure rewrote them in place (R-ERASE-1), the
        one change to the log a cache cannot have seen; they load again when asked."""
        for subject in subjects:
            self._events.pop(subject, None)

    def advance(self, page: Sequence[tuple[int, LedgerEvent]]) -> None:
        """Move to the end of a page: cached histories take its events, and a subject
        the page begins (its first version) is cached whole; others load when asked."""
        cached = self._events
        for _, domain_event in page:
            subject = domain_event.originator_id
            history = cached.get(subject)
            if history is not None:
                history.append(domain_event)
                cached.move_to_end(subject)
            elif domain_event.originator_version == FIRST_VERSION:
                cached[subject] = [domain_event]
        if page:
            self.position = page[-1][0]

    def trim(self) -> None:
        """Drop the least recently used histories beyond the bound, tickets first: every
        ticket's fold reads its customer's and the policy's (``depends``), so those are
        asked for again and again, a ticket's own mostly when it is first met."""
        excess = len(self._events) - self.max_subjects
        if excess <= 0:
            return
        tickets = []
        for subject in self._events:  # least recently used first
            if subject.startswith("T-"):
                tickets.append(subject)
                if len(tickets) == excess:
                    break
        for subject in tickets:
            del self._events[subject]
        while len(self._events) > self.max_subjects:
            self._events.popitem(last=False)

    def decode(self, notification: Notification) -> LedgerEvent:
        """A notification as the ledger's domain event."""
        domain_event = self.app.mapper.to_domain_event(notification)
        assert isinstance(domain_event, LedgerEvent)
        return domain_event


@dataclass
class _Kept:
    depends: Hashable
    state: Any  # the fold's (immutable) state after ``position``
    position: int  # the last notification id folded in
    written: Rows | None = None  # the rows this catch-up last wrote for the subject


@dataclass
class Folded:
    """One subject folded for a page: its rows now, the rows this catch-up wrote for it
    before (None: replace them all), and for its versions the rows its stored open
    versions hold (``before``) and its rows after each event folded (``steps``);
    ``fresh``: folded from its whole history, so its versions are written again."""

    rows: Rows
    written: Rows | None
    before: Rows
    steps: list[Step]
    fresh: bool


def _step(folding: Folding[Any], state: Any, event: LedgerEvent, steps: list[Step]) -> Any:
    """Fold one event in; the rows after it join ``steps`` when it changed the state."""
    after = folding.evolve(state, event)
    if after is not state:  # (instants go to UTC when stored, not for every event)
        steps.append((event, folding.fold.rows(after)))
    return after, steps


class _Prefix:
    """A history whose subject has only its first ``n`` events (the others' are whole)."""

    def __init__(self, history: History, subject: str, n: int) -> None:
        self.history, self.subject, self.n = history, subject, n

    def events(self, subject: str) -> list[LedgerEvent]:
        events = self.history.events(subject)
        return events[: self.n] if subject == self.subject else events


def whole(projection: Projection, subject: str, history: History) -> tuple[Rows, list[Step]]:
    """The subject's rows from its whole history, and its rows after each event."""
    folding = projection.folding
    steps: list[Step] = []
    if folding is None:  # rows from a whole history only: each prefix in turn (the policy)
        events = history.events(subject)
        for n in range(1, len(events) + 1):
            steps.append((events[n - 1], projection.rows(subject, _Prefix(history, subject, n))))
        return (steps[-1][1] if steps else projection.rows(subject, history)), steps
    state = folding.start(subject, history)
    state, steps = _steps(folding, subject, history, state)
    return folding.state_rows(state), steps


def _steps(
    folding: Folding[Any], subject: str, history: History, state: Any
) -> tuple[Any, list[Step]]:
    """The subject's whole stream folded from ``state``: the last state, and the rows
    after each event that changed it."""
    steps: list[Step] = []
    for domain_event, after in folding.states(subject, history, state):
        if after is not state:  # (instants go to UTC when stored, not for every event)
            steps.append((domain_event, folding.fold.rows(after)))
        state = after
    return state, steps


class Folds:
    """The projections' folds kept between pages (bounded LRU), so a page costs its own
    events, not again the whole history of every subject it touches: customers and hot
    tickets live across the whole log. A fold starts again from the subject's history
    when it is not kept or what it read changed. Only what committed pages wrote is kept.
    """

    def __init__(self, max_subjects: int = FOLD_SUBJECTS) -> None:
        self.max_subjects = max_subjects
        self._kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()

    def stale(self, projection: Projection, subjects: list[str], history: LogHistory) -> list[str]:
        """The subjects whose fold must start again from their history."""
        if projection.folding is None:
            return subjects
        stale = []
        for subject in subjects:
            kept = self._kept.get((projection.name, subject))
            if kept is None or projection.folding.depends(kept.state, history) != kept.depends:
                stale.append(subject)
        return stale

    def rows(
        self,
        projection: Projection,
        subject: str,
        history: LogHistory,
        new: list[tuple[int, LedgerEvent]],
    ) -> Folded:
        """The subject's rows given its events in this page (``new``), the rows written
        for it earlier in this catch-up (None: not known, replace them all), and the
        rows after each event of the page, for its versions."""
        folding = projection.folding
        if folding is None:
            rows, steps = whole(projection, subject, history)
            return Folded(rows, None, {}, steps, fresh=True)
        key = (projection.name, subject)
        kept = self._kept.pop(key, None)
        fresh_events = [e for n, e in new if kept is None or n > kept.position]
        if (
            kept is not None
            and folding.depends(kept.state, history) == kept.depends
            and all(folding.appends(kept.state, e) for e in fresh_events)
        ):
            state, steps = kept.state, []
            for domain_event in fresh_events:
                state, steps = _step(folding, state, domain_event, steps)
            before, fresh = kept.written or {}, False
            kept.state = state
        else:
            state, steps = _steps(folding, subject, history, folding.start(subject, history))
            kept = _Kept(folding.depends(state, history), state, 0)
            before, fresh = {}, True
        kept.position = history.position
        rows, written = folding.state_rows(kept.state), kept.written
        kept.written = rows
        self._kept[key] = kept
        while len(self._kept) > self.max_subjects:
            self._kept.popitem(last=False)
        return Folded(rows, written, before, steps, fresh)

    def drop(self, projection: Projection, subjects: Iterable[str]) -> None:
        """Drop the folds of some subjects: they start again from their history."""
        for subject in subjects:
            self._kept.pop((projection.name, subject), None)

    def forget(self, projection: Projection) -> None:
        """Drop a projection's folds (a page that was not committed)."""
        for key in [k for k in self._kept if k[0] == projection.name]:
            del self._kept[key]


@dataclass
class _Warm:
    """A catch-up's histories and folds, for the next catch-up of the same projections."""

    names: frozenset[str]
    history: LogHistory
    folds: Folds


class _Writes:
    """What a page changes in one projection's tables.

    A subject first met in this catch-up has all its rows deleted and written again. A
    subject whose rows this catch-up wrote before only has the rows that changed
    deleted (by primary key) and written: a customer's usage history or a ticket's past
    timers are not rewritten for every page that adds one event.
    """

    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        self.replaced: list[str] = []
        self.stale: dict[str, list[dict[str, Any]]] = {}  # table -> keys of rows to delete
        self.whole: dict[str, list[str]] = {}  # table -> subjects (tables with no key)
        self.rows: Rows = {}  # table -> rows to insert

    def replace(self, subject: str, rows: Rows) -> None:
        self.replaced.append(subject)
        for name, table_rows in rows.items():
            self.rows.setdefault(name, []).extend(table_rows)

    def change(self, subject: str, before: Rows, after: Rows) -> None:
        for table in tables_of(self.projection):
            old, new = before.get(table.name, []), after.get(table.name, [])
            if old == new:
                continue
            keys = [column.name for column in table.primary_key.columns]
            if not keys:
                self.whole.setdefault(table.name, []).append(subject)
                self.rows.setdefault(table.name, []).extend(new)
                continue
            old_by_key = {tuple(row[k] for k in keys): row for row in old}
            new_by_key = {tuple(row[k] for k in keys): row for row in new}
            for key, row in old_by_key.items():
                if new_by_key.get(key) != row:
                    self.stale.setdefault(table.name, []).append(dict(zip(keys, key, strict=True)))
            self.rows.setdefault(table.name, []).extend(
                row for key, row in new_by_key.items() if old_by_key.get(key) != row
            )

    def apply(self, conn: Connection) -> None:
        projection = self.projection
        for table in tables_of(projection):
            if projection.subject_column is None:
                conn.execute(delete(table))
                continue
            column = table.c[projection.subject_column]
            for subjects in (self.replaced, self.whole.get(table.name, [])):
                for i in range(0, len(subjects), IN_CHUNK):
                    conn.execute(delete(table).where(column.in_(subjects[i : i + IN_CHUNK])))
            stale = self.stale.get(table.name)
            if stale:
                keys = list(stale[0])
                conn.execute(
                    delete(table).where(*(table.c[k] == bindparam(f"old_{k}") for k in keys)),
                    [{f"old_{k}": value for k, value in row.items()} for row in stale],
                )
        for name, table_rows in self.rows.items():
            if table_rows:
                insert_rows(conn, tables.metadata.tables[name], table_rows)


def tables_of(projection: Projection) -> tuple[Table, ...]:
    """The read-model tables a projection fills."""
    return tuple(tables.metadata.tables[name] for name in projection.tables)


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows through the driver, in the connection's transaction.

    SQLAlchemy's executemany costs about as much again as the database's own work on
    SQLite, and on PostgreSQL sends one ``INSERT`` per row (psycopg's pipeline). Here
    PostgreSQL takes the rows as one ``COPY`` stream and SQLite as one executemany
    (figures in the README's Performance section). Values go through each
    column type's own bind processing, as SQLAlchemy's ``INSERT`` would (instants to
    UTC, JSON to text); a column a row lacks is NULL.
    """
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    fields = [
        (
            column.name,
            column.type.dialect_impl(dialect).bind_processor(dialect),
        )
        for column in table.columns
    ]
    values = ([row.get(n) if p is None else p(row.get(n)) for n, p in fields] for row in rows)
    columns = ", ".join(quote(name) for name, _ in fields)
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":  # psycopg's connection: rows by COPY
        assert driver is not None
        statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
    else:
        assert isinstance(driver, sqlite3.Connection)
        marks = ", ".join("?" * len(fields))
        driver.executemany(f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})", values)


@dataclass
class CatchUp:
    """What one catch-up did, per projection."""

    applied: dict[str, int] = field(default_factory=dict)  # notifications read
    positions: dict[str, int] = field(default_factory=dict)
    failed: list[Failure] = field(default_factory=list)  # subjects left out by this run


_SET_UP: weakref.WeakSet[Engine] = weakref.WeakSet()
"""Engines whose read-model tables this process has created or found."""


class Projector:
    """Runs the projections over the ledger's log into the read-model tables."""

    def __init__(
        self,
        app: LedgerApp,
        engine: Engine,
        *,
        page_size: int = PAGE_SIZE,
        projections: Sequence[Projection] = PROJECTIONS,
        history_subjects: int = HISTORY_SUBJECTS,
        fold_subjects: int = FOLD_SUBJECTS,
    ) -> None:
        self.app = app
        self.engine = engine
        self.page_size = page_size
        self.history_subjects = history_subjects  # the bounds of what a catch-up keeps
        self.fold_subjects = fold_subjects
        self.projections = tuple(projections)
        self._warm: _Warm | None = None
        self.setup()

    def setup(self) -> None:
        """Create the read-model tables and tracking rows if missing. A ledger projected
        before read models kept their versions is rebuilt once, so that every version
        is there; one projected before a projection's read models had every table and
        column they have now (the calendar versions of R-CAL, say) has those projections
        rebuilt once (``create_tables``)."""
        if self.engine in _SET_UP:  # once per engine: every query makes a runner
            return
        versioned = inspect(self.engine).has_table(tables.VERSIONS["tickets"].name)
        reshaped = create_tables(self.engine)
        with self.engine.begin() as conn:
            insert_missing(conn, tables.tracking, [{"projection": p.name} for p in PROJECTIONS])
        if not versioned and any(self.positions().values()):
            log.warning("read models kept no versions yet: rebuilding them from the log")
            self.rebuild()
        elif reshaped and self.head():
            log.warning(
                "read models %s changed shape: rebuilding them", ", ".join(sorted(reshaped))
            )
            self.rebuild(sorted(reshaped))
        _SET_UP.add(self.engine)

    def positions(self) -> dict[str, int]:
        """Each projection's tracking position (last notification id applied)."""
        return positions(self.engine)

    def failures(self) -> list[dict[str, Any]]:
        """The subjects left out of the read models now, with why (``projection_failures``)."""
        return listed_failures(self.engine)

    def head(self) -> int:
        """The log's last notification id (0 when empty)."""
        return self.app.store.max_notification_id() or 0

    def catch_up(
        self,
        names: Iterable[str] | None = None,
        *,
        progress: Progress | None = None,
        fault: Fault | None = None,
        up_to: int | None = None,
    ) -> CatchUp:
        """Apply everything new in the log to the named projections (default: all), or
        only what is new up to notification id ``up_to``."""
        report = CatchUp()
        chosen = [BY_NAME[n] for n in names] if names is not None else list(self.projections)
        head = self.head() if up_to is None else min(up_to, self.head())
        positions = self.positions()
        # Projections at the same position share each page: read and decoded once.
        groups: dict[int, list[Projection]] = {}
        for projection in chosen:
            groups.setdefault(positions.get(projection.name, 0), []).append(projection)
        for position, group in sorted(groups.items()):
            applied = self._catch_up_group(group, position, head, progress, fault, report.failed)
            report.applied.update(applied)
        report.positions = self.positions()
        return report

    def rebuild(
        self,
        names: Iterable[str] | None = None,
        *,
        progress: Progress | None = None,
        up_to: int | None = None,
    ) -> CatchUp:
        """Drop the named read models (default: all) and project them again from the log
        (up to notification id ``up_to``, if given: ``ledger verify --read-models``).

        Up to the log's head as it stands, subject by subject rather than page by page:
        each subject's whole history is folded once and its rows written once, a chunk
        of subjects per transaction. Page by page, a subject that lives across many
        pages is folded, diffed and written again for each (at 1M events, rows written
        were 1.6 times the rows kept). Events stored meanwhile are then caught up as
        usual. ``progress(done, total)`` counts subjects rebuilt, then notifications.

        While a rebuild runs its projections stay at position 0, and each chunk's
        transaction first checks that they still are: a runner that moved one on (it
        caught up from 0 after the reset) owns it, and this rebuild carries on as a plain
        catch-up from there. Whatever chunks committed before are replaced on the way,
        as a catch-up from 0 replaces every subject it meets.
        """
        chosen = [BY_NAME[n] for n in names] if names is not None else list(self.projections)
        self._warm = None
        head = self.head() if up_to is None else min(up_to, self.head())
        with self.engine.begin() as conn:
            for projection in chosen:
                for table in tables_of(projection):
                    conn.execute(delete(table))
                for name in projection.tables:
                    conn.execute(delete(tables.VERSIONS[name]))
                conn.execute(
                    update(tables.tracking)
                    .where(tables.tracking.c.projection == projection.name)
                    .values(position=0)
                )
                conn.execute(delete(failures).where(failures.c.projection == projection.name))
        failed: list[Failure] = []
        rebuilt = self._rebuild_subjects(chosen, head, progress, failed) if head else []
        report = self.catch_up([p.name for p in chosen], progress=progress, up_to=up_to)
        report.failed[:0] = failed
        if rebuilt:
            events = self.app.store.event_count(up_to=head)
            for name in rebuilt:
                report.applied[name] = report.applied.get(name, 0) + events
        return report

    def _rebuild_subjects(
        self,
        chosen: list[Projection],
        head: int,
        progress: Progress | None,
        failed: list[Failure],
    ) -> list[str]:
        """Every subject of the chosen projections folded from its history up to ``head``;
        the projections rebuilt to ``head`` (those another runner took over are not)."""
        kinds: dict[str, type[Any]] = {}
        subjects: dict[str, list[str]] = {p.name: [] for p in chosen}
        for subject, topic in self.app.store.first_events(head):
            kind = kinds.get(topic)
            if kind is None:
                kind = kinds[topic] = resolve_topic(topic)
            for projection in chosen:
                if issubclass(kind, projection.follows):
                    subjects[projection.name].append(subject)
        total = sum(len(found) for found in subjects.values())
        done = 0
        history = LogHistory(self.app, head, self.history_subjects)
        rebuilt = []
        with collected_per_batch(full_every=None) as chunks:
            for projection in chosen:
                found = subjects[projection.name]
                try:
                    for start in range(0, len(found), REBUILD_SUBJECTS):
                        chunk = found[start : start + REBUILD_SUBJECTS]
                        self._rebuild_chunk(projection, chunk, history, failed)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
                        history.trim()
                        chunks.done()
                    with self.engine.begin() as conn:
                        self._move(conn, projection.name, 0, head)
                except ProjectionConflict:
                    log.info("projection %s: another runner moved first", projection.name)
                    continue
                rebuilt.append(projection.name)
        return rebuilt

    def _rebuild_chunk(
        self,
        projection: Projection,
        chunk: list[str],
        history: LogHistory,
        failures_so_far: list[Failure],
    ) -> None:
        history.load(chunk)
        history.load({s for subject in chunk for s in projection.needs(subject, history)})
        rows: Rows = {}
        failed: list[Failure] = []
        versions = Versions(projection.tables, projection.subject_column)
        for subject in chunk:
            folded = guarded(
                projection.name, subject, partial(whole, projection, subject, history), failed
            )
            if folded is None:
                versions.forget(subject)  # a catch-up from 0 may have written some
                continue
            for name, table_rows in folded[0].items():
                rows.setdefault(name, []).extend(table_rows)
            versions.forget(subject)
            versions.add({}, folded[1], subject)
        with self.engine.begin() as conn:
            self._move(conn, projection.name, 0, 0)  # still ours: nobody moved it on
            for name, table_rows in rows.items():
                if table_rows:
                    insert_rows(conn, tables.metadata.tables[name], table_rows)
            versions.apply(conn, insert_rows)
            _note_failures(conn, projection.name, chunk, failed, history.position)
        failures_so_far.extend(failed)  # once committed

    def follow(
        self,
        stop: threading.Event,
        *,
        poll_seconds: float = 1.0,
        on_catch_up: Callable[[CatchUp], None] | None = None,
    ) -> None:
        """Keep catching up until ``stop`` is set; polls the log when idle.

        ``on_catch_up`` hears about every catch-up that applied something.
        """
        while not stop.is_set():
            report = self.catch_up()
            if any(report.applied.values()):
                if on_catch_up is not None:
                    on_catch_up(report)
            else:
                stop.wait(poll_seconds)

    # One projection ----------------------------------------------------------------------

    def _catch_up_group(
        self,
        group: list[Projection],
        position: int,
        head: int,
        progress: Progress | None,
        fault: Fault | None,
        failed: list[Failure],
    ) -> dict[str, int]:
        start = position
        done = dict.fromkeys((p.name for p in group), 0)
        # What the previous catch-up left: the log is immutable and rows are a function of
        # it, so histories and folds at this position are right whoever wrote the rows.
        warm, self._warm = self._warm, None
        names = frozenset(p.name for p in group)
        if warm is not None and warm.names == names and warm.history.position == position:
            history, folds = warm.history, warm.folds
        else:
            history = LogHistory(self.app, position, self.history_subjects)
            folds = Folds(self.fold_subjects)
        # The kept folds and histories are many long-lived objects (ledger.adapters.collection):
        # only the young generations are collected, once per page, and the old one after.
        with collected_per_batch(full_every=None) as pages:
            while position < head:
                notifications = self.app.store.select_notifications(
                    start=position, limit=self.page_size, stop=head, inclusive_of_start=False
                )
                if not notifications:
                    break
                page = [(n.id, history.decode(n)) for n in notifications]
                history.trim()
                history.advance(page)
                for projection in group:
                    try:
                        failed.extend(
                            self._apply(projection, history, folds, position, page, fault)
                        )
                    except BaseException as error:
                        folds.forget(projection)
                        if not isinstance(error, ProjectionConflict):
                            raise
                        # Another runner applied this page first: carry on alone from its position.
                        log.info("projection %s: another runner moved first", projection.name)
                        group = [p for p in group if p is not projection]
                        alone = self.catch_up([projection.name], fault=fault)
                        done.update(alone.applied)
                        failed.extend(alone.failed)
                        continue
                    done[projection.name] += len(page)
                position = page[-1][0]
                if progress is not None:
                    progress(position - start, head - start)
                pages.done()
                if not group:
                    break
        if group and history.position == position:
            self._warm = _Warm(frozenset(p.name for p in group), history, folds)
        return done

    def _apply(
        self,
        projection: Projection,
        history: LogHistory,
        folds: Folds,
        position: int,
        page: list[tuple[int, LedgerEvent]],
        fault: Fault | None,
    ) -> list[Failure]:
        """Apply one page to one projection, in one transaction; the subjects left out."""
        by_subject: dict[str, list[tuple[int, LedgerEvent]]] = {}
        for notification_id, domain_event in page:
            if isinstance(domain_event, projection.follows):
                by_subject.setdefault(domain_event.originator_id, []).append(
                    (notification_id, domain_event)
                )
        all_woken = self._woken(projection, page)
        woken = [s for s in all_woken if s not in by_subject]
        erased = {e.originator_id for _, e in page if isinstance(e, Customer.DataErased)}
        if erased:
            # An erasure rewrote these subjects' events in place (R-ERASE-1): what this
            # runner kept of them (histories, folds) holds the erased values. They are
            # folded again from the log, rows and versions replaced.
            again = erased | set(all_woken)
            history.forget(again)
            folds.drop(projection, again)
        history.load(woken)
        for subject in woken:  # (rows a rebuild wrote ahead of this catch-up: not yet)
            if history.events(subject):
                by_subject[subject] = []
        touched = list(by_subject)
        # Whole histories only for folds that start again, in one query with what they read.
        stale = folds.stale(projection, touched, history)
        history.load(stale)
        history.load({s for subject in stale for s in projection.needs(subject, history)})
        failed: list[Failure] = []
        with self.engine.begin() as conn:
            self._move(conn, projection.name, position, page[-1][0])
            if touched:
                if fault is not None:
                    for notification_id, _ in page:
                        fault(notification_id)
                writes = _Writes(projection)
                versions = Versions(projection.tables, projection.subject_column)
                for subject in touched:
                    folded = guarded(
                        projection.name,
                        subject,
                        partial(folds.rows, projection, subject, history, by_subject[subject]),
                        failed,
                    )
                    if folded is None:  # left out: its rows go (its fold was not kept)
                        writes.replace(subject, {})
                        versions.forget(subject)
                        continue
                    if folded.written is None:
                        writes.replace(subject, folded.rows)
                    else:
                        writes.change(subject, folded.written, folded.rows)
                    if folded.fresh:
                        versions.forget(subject)
                    versions.add(folded.before, folded.steps, subject)
                writes.apply(conn)
                versions.apply(conn, insert_rows)
                _note_failures(conn, projection.name, touched, failed, page[-1][0])
            if fault is not None:
                fault(-1)  # after every write, before the commit
        return failed

    def _woken(self, projection: Projection, page: list[tuple[int, LedgerEvent]]) -> list[str]:
        """Subjects whose rows an event of another subject in the page changes
        (``Projection.wakes``), as the committed rows stand: folded again though no event
        of theirs arrived, in this page's transaction. A customer's exception approval
        wakes its tickets opened from its ``effective_from`` on (stored before it across
        partitions); its approved calendar change, its tickets whose business timers it
        can move, those with one open or with an event at or after the approval
        (``calendar_settled_at`` null or not before it): their folds start again with
        the approval merged in (versions from the approval's instants)."""
        wakes = [w for _, e in page if (w := projection.wakes(e)) is not None]
        if not wakes:
            return []
        c = tables.tickets.c
        woken: dict[str, None] = {}
        with self.engine.connect() as conn:
            for wake in dict.fromkeys(wakes):
                found = select(c.ticket_id).where(c.customer_id == wake.customer_id)
                if wake.opened_from is not None:
                    found = found.where(c.opened_at >= wake.opened_from)
                if wake.settled_from is not None:
                    found = found.where(
                        or_(
                            c.calendar_settled_at.is_(None),
                            c.calendar_settled_at >= wake.settled_from,
                        )
                    )
                woken.update(dict.fromkeys(conn.execute(found.order_by(c.ticket_id)).scalars()))
        return list(woken)

    @staticmethod
    def _move(conn: Connection, name: str, old: int, new: int) -> None:
        moved = conn.execute(
            update(tables.tracking)
            .where(tables.tracking.c.projection == name, tables.tracking.c.position == old)
            .values(position=new)
        )
        if moved.rowcount != 1:
            raise ProjectionConflict(name)


def _note_failures(
    conn: Connection, name: str, subjects: list[str], failed: list[Failure], position: int
) -> None:
    """List the subjects of a projection that failed; clear those that fold again."""
    listed = set(
        conn.execute(select(failures.c.subject).where(failures.c.projection == name)).scalars()
    )
    cleared = [s for s in subjects if s in listed]
    for i in range(0, len(cleared), IN_CHUNK):
        conn.execute(
            delete(failures).where(
                failures.c.projection == name, failures.c.subject.in_(cleared[i : i + IN_CHUNK])
            )
        )
    if failed:
        conn.execute(
            insert(failures),
            [
                {
                    "projection": name,
                    "subject": f.subject,
                    "notification_id": position,
                    "error": f.error,
                }
                for f in failed
            ],
        )


def listed_failures(engine: Engine) -> list[dict[str, Any]]:
    """The subjects left out of the read models, with why, by projection and subject."""
    with engine.connect() as conn:
        result = conn.execute(select(failures).order_by(failures.c.projection, failures.c.subject))
        keys = [str(column.name) for column in failures.columns]
        return [dict(zip(keys, row, strict=True)) for row in result]


def positions(engine: Engine) -> dict[str, int]:
    """Each projection's tracking position (last notification id applied)."""
    with engine.connect() as conn:
        rows = conn.execute(select(tables.tracking.c.projection, tables.tracking.c.position))
        return {name: position for name, position in rows}


def latest_occurred(engine: Engine) -> datetime | None:
    """The last ``occurred_at`` any ticket, customer or play row has seen (None: no rows;
    a play's opening may be later than its customer's latest event)."""
    with engine.connect() as conn:
        found = [
            conn.execute(select(func.max(table.c.last_occurred_at))).scalar()
            for table in (tables.tickets, tables.customers, tables.success_plays)
        ]
    instants = [tables.Instant().process_result_value(v, engine.dialect) for v in found if v]
    return max((i for i in instants if i is not None), default=None)


def read_models_as_of(engine: Engine, as_of: datetime, known_at: datetime | None) -> Rows:
    """Every read-model table's rows as of ``as_of`` known at ``known_at``, from the
    versions (ordered by primary key, as ``read_models``)."""
    return read_versions(engine, [n for p in PROJECTIONS for n in p.tables], as_of, known_at)


def read_models(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every read-model table's rows, as dicts (ordered by primary key)."""
    board: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for projection in PROJECTIONS:
            for table in tables_of(projection):
                order = list(table.primary_key.columns) or list(table.columns)
                result = conn.execute(select(table).order_by(*order))
                keys = [str(column.name) for column in table.columns]
                board[table.name] = [dict(zip(keys, row, strict=True)) for row in result]
    return board
