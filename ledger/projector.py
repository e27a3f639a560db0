"""The projection runner: follows the notification log into the read models, exactly once.

eventsourcing's own ``ProjectionRunner`` needs a subscription, which its SQLite
recorder does not offer, and writes once per event; this runner reads the log in pages
with ``select_notifications`` on both backends and writes in batches.

For each page of the log and each projection:

1. the subjects the page touches are recomputed whole from their history (a
   read-through cache of the immutable log, loaded with one query per page), through
   the same pure folds a rebuild and an ``--as-of`` query use;
2. in **one transaction**: the tracking row moves from the old position to the page's
   last notification id (a compare-and-set, so two runners never both apply a page),
   the subjects' old rows are deleted and their new rows inserted.

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
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from eventsourcing.persistence import Notification
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledger.aggregates.base import LedgerEvent
from ledger.app import SCHEMA_LOCK, LedgerApp
from ledger.projections import tables
from ledger.projections.registry import BY_NAME, PROJECTIONS, Fold, Projection, Rows
from ledger.settings import Database

log = logging.getLogger(__name__)

PAGE_SIZE: Final = 50_000
CACHE_SUBJECTS: Final = 50_000
IN_CHUNK: Final = 500

Progress = Callable[[int, int], None]
"""``progress(done, total)``: notifications processed so far, of how many."""
Fault = Callable[[int], None]
"""Test hook: called with each notification id while a page is applied (may raise)."""


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
    options = {"options": f"-csearch_path={database.schema}"} if database.schema else {}
    return create_engine(
        f"postgresql+psycopg://{database.user}{password}@{database.host}:{database.port}/"
        f"{database.dbname}",
        connect_args={"connect_timeout": 5, **options},
    )


def create_tables(engine: Engine) -> None:
    """Create the read-model tables; on PostgreSQL one process at a time (advisory lock)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SCHEMA_LOCK})
        tables.metadata.create_all(conn)


def insert_missing(conn: Connection, table: Any, keys: list[dict[str, Any]]) -> None:
    """Insert position rows (at 0) that do not exist yet; concurrent callers are fine."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for key in keys:
        conn.execute(dialect_insert(table).values(**key, position=0).on_conflict_do_nothing())


class LogHistory:
    """A read-through cache of subjects' histories up to a position of the log.

    The log is immutable, so a cached history stays right: it only grows, page by page.
    """

    def __init__(self, app: LedgerApp, position: int, max_subjects: int = CACHE_SUBJECTS):
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
        wanted = set(subjects)
        for subject in wanted & self._events.keys():
            self._events.move_to_end(subject)  # in use: never evicted by this load
        missing = sorted(wanted - self._events.keys())
        if not missing:
            return
        loaded: dict[str, list[LedgerEvent]] = {s: [] for s in missing}
        for notification in self.app.store.subject_events(missing, self.position):
            loaded[str(notification.originator_id)].append(self.decode(notification))
        self._events.update(loaded)
        while len(self._events) > self.max_subjects:
            self._events.popitem(last=False)

    def advance(self, page: Sequence[tuple[int, LedgerEvent]]) -> None:
        """Add a page of the log; its subjects must have been loaded up to the old position."""
        for _, domain_event in page:
            self._events[domain_event.originator_id].append(domain_event)
        if page:
            self.position = page[-1][0]

    def decode(self, notification: Notification) -> LedgerEvent:
        """A notification as the ledger's domain event."""
        domain_event = self.app.mapper.to_domain_event(notification)
        assert isinstance(domain_event, LedgerEvent)
        return domain_event


@dataclass
class _Kept:
    depends: Hashable
    fold: Fold
    folded: int  # how many of the subject's events are in the fold


class Folds:
    """The projections' folds kept between pages (bounded LRU), so a page costs its own
    events and not again the whole history of every subject it touches: customers and
    hot tickets live across the whole log, and refolding them each page made a rebuild
    slow down as the log grew. Only what a committed page wrote is kept."""

    def __init__(self, max_subjects: int = CACHE_SUBJECTS) -> None:
        self.max_subjects = max_subjects
        self._kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()

    def rows(self, projection: Projection, subject: str, history: LogHistory) -> Rows:
        """The subject's rows, folding only its events not folded before."""
        folding = projection.folding
        if folding is None:
            return projection.rows(subject, history)
        key = (projection.name, subject)
        depends = folding.depends(subject, history)
        kept = self._kept.pop(key, None)
        if kept is None or kept.depends != depends:
            kept = _Kept(depends, folding.start(subject, history), 0)
        events = history.events(subject)
        for new_event in events[kept.folded :]:
            kept.fold.evolve(new_event)
        kept.folded = len(events)
        self._kept[key] = kept
        while len(self._kept) > self.max_subjects:
            self._kept.popitem(last=False)
        return kept.fold.rows()

    def forget(self, projection: Projection) -> None:
        """Drop a projection's folds (a page that was not committed)."""
        for key in [k for k in self._kept if k[0] == projection.name]:
            del self._kept[key]


@dataclass
class CatchUp:
    """What one catch-up did, per projection."""

    applied: dict[str, int] = field(default_factory=dict)  # notifications read
    positions: dict[str, int] = field(default_factory=dict)


class Projector:
    """Runs the projections over the ledger's log into the read-model tables."""

    def __init__(
        self,
        app: LedgerApp,
        engine: Engine,
        *,
        page_size: int = PAGE_SIZE,
        projections: Sequence[Projection] = PROJECTIONS,
    ) -> None:
        self.app = app
        self.engine = engine
        self.page_size = page_size
        self.projections = tuple(projections)
        self.setup()

    def setup(self) -> None:
        """Create the read-model tables and tracking rows if missing."""
        create_tables(self.engine)
        with self.engine.begin() as conn:
            insert_missing(conn, tables.tracking, [{"projection": p.name} for p in PROJECTIONS])

    def positions(self) -> dict[str, int]:
        """Each projection's tracking position (last notification id applied)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(tables.tracking.c.projection, tables.tracking.c.position))
            return {name: position for name, position in rows}

    def head(self) -> int:
        """The log's last notification id (0 when empty)."""
        return self.app.store.max_notification_id() or 0

    def catch_up(
        self,
        names: Iterable[str] | None = None,
        *,
        progress: Progress | None = None,
        fault: Fault | None = None,
    ) -> CatchUp:
        """Apply everything new in the log to the named projections (default: all)."""
        report = CatchUp()
        chosen = [BY_NAME[n] for n in names] if names is not None else list(self.projections)
        head = self.head()
        positions = self.positions()
        # Projections at the same position share each page: read and decoded once.
        groups: dict[int, list[Projection]] = {}
        for projection in chosen:
            groups.setdefault(positions.get(projection.name, 0), []).append(projection)
        for position, group in sorted(groups.items()):
            applied = self._catch_up_group(group, position, head, progress, fault)
            report.applied.update(applied)
        report.positions = self.positions()
        return report

    def rebuild(
        self, names: Iterable[str] | None = None, *, progress: Progress | None = None
    ) -> CatchUp:
        """Drop the named read models (default: all) and project them again from the log."""
        chosen = [BY_NAME[n] for n in names] if names is not None else list(self.projections)
        with self.engine.begin() as conn:
            for projection in chosen:
                for table in projection.tables:
                    conn.execute(delete(table))
                conn.execute(
                    update(tables.tracking)
                    .where(tables.tracking.c.projection == projection.name)
                    .values(position=0)
                )
        return self.catch_up([p.name for p in chosen], progress=progress)

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
    ) -> dict[str, int]:
        start = position
        done = dict.fromkeys((p.name for p in group), 0)
        history = LogHistory(self.app, position)
        folds = Folds()
        while position < head:
            notifications = self.app.store.select_notifications(
                start=position, limit=self.page_size, stop=head, inclusive_of_start=False
            )
            if not notifications:
                break
            page = [(n.id, history.decode(n)) for n in notifications]
            history.load({e.originator_id for _, e in page})
            history.advance(page)
            for projection in group:
                try:
                    self._apply(projection, history, folds, position, page, fault)
                except BaseException as failed:
                    folds.forget(projection)
                    if not isinstance(failed, ProjectionConflict):
                        raise
                    # Another runner applied this page first: carry on alone from its position.
                    log.info("projection %s: another runner moved first", projection.name)
                    group = [p for p in group if p is not projection]
                    done.update(self.catch_up([projection.name], fault=fault).applied)
                    continue
                done[projection.name] += len(page)
            position = page[-1][0]
            if progress is not None:
                progress(position - start, head - start)
            if not group:
                break
        return done

    def _apply(
        self,
        projection: Projection,
        history: LogHistory,
        folds: Folds,
        position: int,
        page: list[tuple[int, LedgerEvent]],
        fault: Fault | None,
    ) -> None:
        touched = list(
            dict.fromkeys(e.originator_id for _, e in page if isinstance(e, projection.follows))
        )
        needed = {s for subject in touched for s in projection.needs(subject, history)}
        history.load(needed)
        with self.engine.begin() as conn:
            self._move(conn, projection.name, position, page[-1][0])
            if touched:
                self._delete(conn, projection, touched)
                rows = self._rows(projection, history, folds, touched, page, fault)
                for name, table_rows in rows.items():
                    if table_rows:
                        conn.execute(insert(projection.table(name)), table_rows)
            if fault is not None:
                fault(-1)  # after every write, before the commit

    @staticmethod
    def _rows(
        projection: Projection,
        history: LogHistory,
        folds: Folds,
        touched: list[str],
        page: list[tuple[int, LedgerEvent]],
        fault: Fault | None,
    ) -> Rows:
        if fault is not None:
            for notification_id, _ in page:
                fault(notification_id)
        rows: Rows = {}
        for subject in touched:
            for name, subject_rows in folds.rows(projection, subject, history).items():
                rows.setdefault(name, []).extend(subject_rows)
        return rows

    @staticmethod
    def _move(conn: Connection, name: str, old: int, new: int) -> None:
        moved = conn.execute(
            update(tables.tracking)
            .where(tables.tracking.c.projection == name, tables.tracking.c.position == old)
            .values(position=new)
        )
        if moved.rowcount != 1:
            raise ProjectionConflict(name)

    @staticmethod
    def _delete(conn: Connection, projection: Projection, subjects: list[str]) -> None:
        for table in projection.tables:
            if projection.subject_column is None:
                conn.execute(delete(table))
                continue
            column = table.c[projection.subject_column]
            for i in range(0, len(subjects), IN_CHUNK):
                conn.execute(delete(table).where(column.in_(subjects[i : i + IN_CHUNK])))


def read_models(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every read-model table's rows, as dicts (ordered by primary key)."""
    board: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for projection in PROJECTIONS:
            for table in projection.tables:
                order = list(table.primary_key.columns) or list(table.columns)
                result = conn.execute(select(table).order_by(*order))
                keys = [str(column.name) for column in table.columns]
                board[table.name] = [dict(zip(keys, row, strict=True)) for row in result]
    return board
