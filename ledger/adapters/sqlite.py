"""SQLite, the embedded default: eventsourcing's SQLite process recorder with the
ledger's tables (``ledger.adapters.store`` says what they hold)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteProcessRecorder,
)

from ledger.adapters import intake_chain
from ledger.adapters.store import (
    _DEFERRED_COLUMNS,
    _REJECTION_COLUMNS,
    IN_CHUNK,
    BatchWrite,
    Deferral,
    KnownInputs,
    Position,
    Rewrite,
    StoredRejection,
    _chunks,
    _deferred_row,
    _redeferred_row,
    _rejection_row,
    _stored_deferral,
    _stored_rejection,
)

_JSON_ROWS: Final = sqlite3.sqlite_version_info >= (3, 38)  # json_each and ->> built in
_INSERT_KEYS_FROM_JSON: Final = (
    "INSERT INTO ledger_event_keys (event_id, subject, version, fingerprint) "
    "SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?)"
)


def _text_state_rows(stored_events: Sequence[StoredEvent]) -> list[tuple[Any, ...]] | None:
    """The events as rows for one ``INSERT ... SELECT FROM json_each(?)``, the state as
    text; None where that cannot carry them (SQLite before 3.38, a state not UTF-8: a
    cipher or compressor), for the library's own insert to store instead.

    ``executemany`` (and the library's ``execute`` per row) binds each row under the GIL
    and steps it without, so a writer thread beside a busy one waits for the GIL at every
    row. One statement is one step: SQLite parses the array and inserts every row without
    taking the GIL back. The state (the event's JSON, so UTF-8) travels as text and is
    cast back to the very same bytes.
    """
    if not _JSON_ROWS:
        return None
    try:
        return [
            (str(e.originator_id), e.originator_version, e.topic, e.state.decode())
            for e in stored_events
        ]
    except UnicodeDecodeError:
        return None


class JSONEachSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, inserting a transaction's events with
    one statement.

    Replaces ``SQLiteApplicationRecorder._insert_events`` (eventsourcing 9.5.6, pinned by
    ``tests/unit/test_library_pins.py``), which runs one ``INSERT`` per event to read each
    new row id: here one ``INSERT ... SELECT FROM json_each(?)`` stores them all, and the
    ids follow from the table's largest row id (SQLite gives each new row max(rowid) + 1,
    and the transaction is the only writer). Why one statement: see ``_text_state_rows``
    and the README's "Performance". Where the rows cannot travel as JSON text, the
    library's insert runs.

    ``LedgerSQLiteRecorder`` lists it after ``SQLiteProcessRecorder``, so it sits between
    the process and application recorders in the method resolution order: the library's
    ``SQLiteProcessRecorder._insert_events`` calls it through ``super()`` and then
    records tracking, as it does with the library's own insert.
    """

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.insert_events_from_json_statement = (
            f"INSERT INTO {self.events_table_name} "
            "(originator_id, originator_version, topic, state) "
            "SELECT value->>0, value->>1, value->>2, CAST(value->>3 AS BLOB) FROM json_each(?)"
        )

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        rows = _text_state_rows(stored_events)
        if rows is None:
            return super()._insert_events(c, stored_events, **kwargs)
        c.execute(self.insert_events_from_json_statement, (orjson.dumps(rows),))
        c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name}")
        last = int(c.fetchone()[0] or 0)
        return list(range(last - len(stored_events) + 1, last + 1))


class LedgerSQLiteRecorder(SQLiteProcessRecorder, JSONEachSQLiteApplicationRecorder):
    """SQLite: the embedded default.

    The library's process recorder with the ledger's tables (``_insert_events`` adds a
    batch's rows from its ``batch`` keyword argument, as eventsourcing's searchable
    content example adds its own), each transaction's events inserted by
    ``JSONEachSQLiteApplicationRecorder``, and a larger page cache on every connection
    (``_configure_connections``).
    """

    CACHE_KIB: Final = 65_536
    WAL_AUTOCHECKPOINT_PAGES: Final = 16_384

    def __init__(self, datastore: SQLiteDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._configure_connections()

    def _configure_connections(self) -> None:
        """Give every connection of the datastore's pool a page cache of ``CACHE_KIB``
        and a WAL checkpoint every ``WAL_AUTOCHECKPOINT_PAGES`` pages.

        Wraps ``SQLiteConnectionPool._create_connection`` on this pool (eventsourcing
        9.5.6, pinned by ``tests/unit/test_library_pins.py``): the library has no setting
        for either pragma, and a pragma set in a transaction would only reach the
        connection that ran it. SQLite's default page cache is 2 MiB: past a few hundred
        thousand events, inserts into the key and event B-trees miss it on every batch
        (the README's "Performance" says what that costs).
        """
        pool = self.datastore.pool
        create = pool._create_connection

        def create_configured() -> SQLiteConnection:
            connection = create()
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA cache_size = -{self.CACHE_KIB}")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {self.WAL_AUTOCHECKPOINT_PAGES}")
            return connection

        pool._create_connection = create_configured  # type: ignore[method-assign]

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements += [
            "CREATE TABLE IF NOT EXISTS ledger_event_keys ("
            "event_id TEXT PRIMARY KEY, subject TEXT NOT NULL, version INTEGER NOT NULL"
            ") WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS ledger_rejections ("
            "id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, "
            "rule TEXT NOT NULL, code TEXT NOT NULL, field TEXT NOT NULL, "
            "reason TEXT NOT NULL, event_id TEXT, event_type TEXT, subject TEXT, "
            "origin TEXT NOT NULL, payload BLOB NOT NULL, payload_is_json INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS ledger_rejections_rule ON ledger_rejections (rule)",
            "CREATE INDEX IF NOT EXISTS ledger_rejections_subject ON ledger_rejections (subject)",
            "CREATE TABLE IF NOT EXISTS ledger_positions ("
            "consumer TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, "
            "offset INTEGER NOT NULL, PRIMARY KEY (consumer, topic, partition)"
            ") WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS ledger_deferred ("
            "id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, "
            "rule TEXT NOT NULL, code TEXT NOT NULL, field TEXT NOT NULL, "
            "reason TEXT NOT NULL, event_id TEXT, event_type TEXT, subject TEXT, "
            "origin TEXT NOT NULL, payload BLOB NOT NULL, payload_is_json INTEGER NOT NULL, "
            "fingerprint TEXT, waits_for TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS ledger_deferred_subject ON ledger_deferred (subject)",
            "CREATE INDEX IF NOT EXISTS ledger_deferred_waits ON ledger_deferred (waits_for)",
            "CREATE INDEX IF NOT EXISTS ledger_deferred_print ON ledger_deferred (fingerprint)",
        ]
        return statements

    def _create_table(self, c: SQLiteCursor) -> None:
        c.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (intake_chain.TABLE,)
        )
        chain_is_new = c.fetchone() is None
        super()._create_table(c)
        # Ledgers created before fingerprints were kept gain the column (NULL for old rows).
        for table in ("ledger_event_keys", "ledger_rejections"):
            c.execute(f"PRAGMA table_info({table})")
            if "fingerprint" not in {row[1] for row in c.fetchall()}:
                c.execute(f"ALTER TABLE {table} ADD COLUMN fingerprint TEXT")
        c.execute(
            "CREATE INDEX IF NOT EXISTS ledger_rejections_print ON ledger_rejections (fingerprint)"
        )
        self._create_intake_chain(c, chain_is_new)

    def _create_intake_chain(self, c: SQLiteCursor, chain_is_new: bool) -> None:
        """The intake chain (``ledger.adapters.intake_chain``) and the ``erased_at`` column
        of the tables it covers; a ledger made before the chain has its rows adopted."""
        for table in (intake_chain.REJECTIONS, intake_chain.DEFERRED):
            c.execute(f"PRAGMA table_info({table})")
            if "erased_at" not in {row[1] for row in c.fetchall()}:
                c.execute(f"ALTER TABLE {table} ADD COLUMN erased_at TEXT")
        c.execute(intake_chain.SQLITE_DDL)
        if not chain_is_new:
            return
        rows = {}
        for table in (intake_chain.REJECTIONS, intake_chain.DEFERRED):
            c.execute(f"SELECT * FROM {table} ORDER BY id")
            rows[table] = list(c.fetchall())
        entries = intake_chain.started(
            datetime.now(UTC), rows[intake_chain.REJECTIONS], rows[intake_chain.DEFERRED]
        )
        self._insert_chain(c, entries)

    @staticmethod
    def _insert_chain(c: SQLiteCursor, entries: Sequence[intake_chain.Entry]) -> None:
        marks = ", ".join("?" * len(intake_chain.COLUMNS))
        c.executemany(
            f"INSERT INTO {intake_chain.TABLE} ({', '.join(intake_chain.COLUMNS)}) "
            f"VALUES ({marks})",
            [entry.row() for entry in entries],
        )

    def _chain_erased(self, c: SQLiteCursor, rewrite: Rewrite) -> None:
        """Record the rows an erasure rewrote on the intake chain (kind ``erased``)."""
        changes: list[intake_chain.Change] = []
        for source, rewritten in (
            (intake_chain.REJECTIONS, rewrite.rejections),
            (intake_chain.DEFERRED, rewrite.deferred),
        ):
            ids = [row_id for row_id, _ in rewritten]
            for start in range(0, len(ids), IN_CHUNK):
                chunk = ids[start : start + IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                c.execute(f"SELECT * FROM {source} WHERE id IN ({marks})", chunk)
                rows = list(c.fetchall())
                c.execute(
                    f"SELECT row_id, payload_sha256 FROM {intake_chain.TABLE} "
                    f"WHERE source = ? AND row_id IN ({marks}) ORDER BY seq",
                    [source, *chunk],
                )
                recorded = {int(r[0]): str(r[1]) for r in c.fetchall() if r[1]}
                changes += intake_chain.erased_changes(source, rows, recorded)
        if not changes:
            return
        c.execute(f"SELECT seq, entry_hash FROM {intake_chain.TABLE} ORDER BY seq DESC LIMIT 1")
        last = c.fetchone()
        head = (0, intake_chain.GENESIS) if last is None else (int(last[0]), str(last[1]))
        self._insert_chain(c, intake_chain.chained(head, rewrite.erased_at, changes))

    def _chain_batch(self, c: SQLiteCursor, batch: BatchWrite) -> None:
        """Record the batch's changes to rejections and deferred inputs on the intake
        chain, reading back the rows as stored (this transaction is the only writer, so
        the newest ids are its own)."""

        def newest(table: str, n: int) -> list[Any]:
            if not n:
                return []
            c.execute(f"SELECT * FROM {table} ORDER BY id DESC LIMIT ?", (n,))
            return list(c.fetchall())

        redeferred: list[Any] = []
        ids = [d.id for d in batch.redeferred]
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            c.execute(f"SELECT * FROM ledger_deferred WHERE id IN ({marks})", chunk)
            redeferred += c.fetchall()
        changes = intake_chain.batch_changes(
            batch.released,
            redeferred,
            newest(intake_chain.REJECTIONS, len(batch.rejections)),
            newest(intake_chain.DEFERRED, len(batch.deferred)),
        )
        c.execute(f"SELECT seq, entry_hash FROM {intake_chain.TABLE} ORDER BY seq DESC LIMIT 1")
        last = c.fetchone()
        head = (0, intake_chain.GENESIS) if last is None else (int(last[0]), str(last[1]))
        self._insert_chain(c, intake_chain.chained(head, batch.received_at, changes))

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert (the events, then ``tracking``, if given), then the
        rows of the ledger batch given as ``batch``, in the same transaction."""
        returning = super()._insert_events(c, stored_events, **kwargs)
        batch: BatchWrite | None = kwargs.get("batch")
        if batch is not None:
            self._write_batch(c, batch)
        return returning

    def insert_parts(self, parts: Iterable[tuple[Sequence[StoredEvent], BatchWrite]]) -> None:
        """Ledger batches in one transaction as ``parts`` yields them."""
        with self.datastore.transaction(commit=True) as c:
            for stored_events, batch in parts:
                self._insert_events(c, stored_events, batch=batch)

    def _rewrite(self, c: SQLiteCursor, rewrite: Rewrite) -> None:
        """An erasure's in-place changes (R-ERASE-1), in the batch's transaction."""
        erased_at = rewrite.erased_at.astimezone(UTC).isoformat()
        c.executemany(
            f"UPDATE {self.events_table_name} SET state = ? "
            "WHERE originator_id = ? AND originator_version = ?",
            [(state, subject, version) for subject, version, state in rewrite.events],
        )
        for table, rows in (
            ("ledger_rejections", rewrite.rejections),
            ("ledger_deferred", rewrite.deferred),
        ):
            c.executemany(
                f"UPDATE {table} SET payload = X'', reason = ?, erased_at = ? WHERE id = ?",
                [(reason, erased_at, row_id) for row_id, reason in rows],
            )
        self._chain_erased(c, rewrite)
        if rewrite.deliveries:
            c.executemany(
                "UPDATE webhook_deliveries SET payload = ? WHERE id = ?",
                [(payload, row_id) for row_id, payload in rewrite.deliveries],
            )

    def _write_batch(self, c: SQLiteCursor, batch: BatchWrite) -> None:
        if batch.event_keys and _JSON_ROWS:
            c.execute(_INSERT_KEYS_FROM_JSON, (orjson.dumps(batch.event_keys),))
        elif batch.event_keys:
            c.executemany(
                "INSERT INTO ledger_event_keys (event_id, subject, version, fingerprint) "
                "VALUES (?, ?, ?, ?)",
                batch.event_keys,
            )
        received_at = batch.received_at.astimezone(UTC).isoformat()
        if batch.rejections:
            c.executemany(
                f"INSERT INTO ledger_rejections ({_REJECTION_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_rejection_row(received_at, r) for r in batch.rejections],
            )
        if batch.released:
            c.executemany(
                "DELETE FROM ledger_deferred WHERE id = ?", [(i,) for i in batch.released]
            )
        if batch.redeferred:
            c.executemany(
                "UPDATE ledger_deferred SET waits_for = ?, rule = ?, code = ?, field = ?, "
                "reason = ? WHERE id = ?",
                [_redeferred_row(d) for d in batch.redeferred],
            )
        if batch.deferred:
            c.executemany(
                f"INSERT INTO ledger_deferred ({_DEFERRED_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    _deferred_row(
                        received_at
                        if d.received_at is None
                        else d.received_at.astimezone(UTC).isoformat(),
                        d,
                    )
                    for d in batch.deferred
                ],
            )
        if batch.rejections or batch.deferred or batch.released or batch.redeferred:
            self._chain_batch(c, batch)
        if batch.rewrite is not None:
            self._rewrite(c, batch.rewrite)
        if batch.positions:
            c.executemany(
                "INSERT INTO ledger_positions VALUES (?, ?, ?, ?) "
                "ON CONFLICT (consumer, topic, partition) "
                "DO UPDATE SET offset = MAX(offset, excluded.offset)",  # never backwards
                [(p.consumer, p.topic, p.partition, p.offset) for p in batch.positions],
            )

    def _select(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return list(c.fetchall())

    def known_inputs(self, event_ids: Sequence[str], fingerprints: Sequence[str]) -> KnownInputs:
        """Which event ids were accepted before (with their content fingerprints), and
        which fingerprints belong to inputs rejected or deferred before."""
        accepted: dict[str, str | None] = {}
        for chunk in _chunks(event_ids):
            marks = ",".join("?" * len(chunk))
            rows = self._select(
                f"SELECT event_id, fingerprint FROM ledger_event_keys WHERE event_id IN ({marks})",
                chunk,
            )
            accepted.update((row[0], row[1]) for row in rows)
        rejected: dict[str, str] = {}
        deferred: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(fingerprints):
            marks = ",".join("?" * len(chunk))
            rows = self._select(
                "SELECT fingerprint, rule, NULL FROM ledger_rejections "
                f"WHERE fingerprint IN ({marks}) "
                "UNION ALL SELECT fingerprint, rule, waits_for FROM ledger_deferred "
                f"WHERE fingerprint IN ({marks})",
                [*chunk, *chunk],
            )
            for row in rows:
                if row[2] is not None:
                    deferred[row[0]] = (row[2], row[1])
                else:
                    rejected.setdefault(row[0], row[1])
        return KnownInputs(accepted, rejected, deferred)

    def has_deferred(self) -> bool:
        """Whether any input is waiting (one probe: ingest skips its deferral work if not)."""
        return bool(self._select("SELECT EXISTS (SELECT 1 FROM ledger_deferred)")[0][0])

    def deferred_subjects(self, subjects: Sequence[str]) -> set[str]:
        """Which of ``subjects`` have inputs waiting."""
        found: set[str] = set()
        for chunk in _chunks(subjects):
            marks = ",".join("?" * len(chunk))
            rows = self._select(
                f"SELECT DISTINCT subject FROM ledger_deferred WHERE subject IN ({marks})", chunk
            )
            found.update(row[0] for row in rows)
        return found

    def deferred_queues(self, waits_for: Sequence[str]) -> list[Deferral]:
        """Every waiting input of each subject that has one waiting for any of
        ``waits_for``, in arrival order."""
        found: dict[int, Deferral] = {}
        for chunk in _chunks(waits_for):
            marks = ",".join("?" * len(chunk))
            rows = self._select(
                "SELECT * FROM ledger_deferred WHERE subject IN (SELECT subject FROM "
                f"ledger_deferred WHERE waits_for IN ({marks}))",
                chunk,
            )
            for row in rows:
                found[row["id"]] = _stored_deferral(row, datetime.fromisoformat(row["received_at"]))
        return [found[i] for i in sorted(found)]

    def ready_deferred(self) -> list[Deferral]:
        """Every waiting input of each subject that has one waiting for a subject that
        is stored now, in arrival order."""
        rows = self._select(
            "SELECT * FROM ledger_deferred WHERE subject IN (SELECT d.subject FROM "
            f"ledger_deferred d WHERE EXISTS (SELECT 1 FROM {self.events_table_name} e "
            "WHERE e.originator_id = d.waits_for AND e.originator_version = 1)) ORDER BY id"
        )
        return [_stored_deferral(row, datetime.fromisoformat(row["received_at"])) for row in rows]

    def deferred(
        self,
        *,
        subject: str | None = None,
        limit: int | None = None,
        before: datetime | None = None,
    ) -> list[Deferral]:
        """Waiting inputs in arrival order (of one subject; received before an instant)."""
        statement = "SELECT * FROM ledger_deferred WHERE 1 = 1"
        params: list[Any] = []
        if subject is not None:
            statement += " AND subject = ?"
            params.append(subject)
        if before is not None:
            statement += " AND received_at < ?"
            params.append(before.astimezone(UTC).isoformat())
        statement += " ORDER BY id"
        if limit is not None:
            statement += " LIMIT ?"
            params.append(limit)
        return [
            _stored_deferral(row, datetime.fromisoformat(row["received_at"]))
            for row in self._select(statement, params)
        ]

    def deferred_count(self) -> int:
        """How many inputs are waiting."""
        return int(self._select("SELECT COUNT(*) FROM ledger_deferred")[0][0])

    def current_versions(self, subjects: Sequence[str]) -> dict[str, int]:
        """The stored version of each subject that exists."""
        versions: dict[str, int] = {}
        for chunk in _chunks(subjects):
            # One index probe per subject, not a scan of its history (see PostgreSQL's).
            rows = self._select(
                f"WITH s(id) AS (VALUES {','.join('(?)' for _ in chunk)}) "
                f"SELECT s.id, (SELECT MAX(originator_version) FROM {self.events_table_name} "
                "WHERE originator_id = s.id) FROM s",
                chunk,
            )
            versions.update((row[0], row[1]) for row in rows if row[1] is not None)
        return versions

    def rejections(
        self,
        *,
        rule: str | None = None,
        subject: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        after_id: int = 0,
    ) -> list[StoredRejection]:
        """Stored rejections in the order they were recorded: of one rule, subject and
        wire type, received at or after ``since``, when given."""
        statement = "SELECT * FROM ledger_rejections WHERE id > ?"
        params: list[Any] = [after_id]
        for column, value in (("rule", rule), ("subject", subject), ("event_type", event_type)):
            if value is not None:
                statement += f" AND {column} = ?"
                params.append(value)
        if since is not None:
            # received_at is written in UTC by isoformat(), so text order is time order.
            statement += " AND received_at >= ?"
            params.append(since.astimezone(UTC).isoformat())
        statement += " ORDER BY id"
        if limit is not None:
            statement += " LIMIT ?"
            params.append(limit)
        return [
            _stored_rejection(row, datetime.fromisoformat(row["received_at"]))
            for row in self._select(statement, params)
        ]

    def rejection_counts(self) -> dict[str, int]:
        """How many inputs were rejected, by rule id."""
        rows = self._select("SELECT rule, COUNT(*) FROM ledger_rejections GROUP BY rule")
        return {row[0]: row[1] for row in rows}

    def rejected_types(self) -> set[str]:
        """The wire types named by rejected inputs (unknown ones included)."""
        rows = self._select(
            "SELECT DISTINCT event_type FROM ledger_rejections WHERE event_type IS NOT NULL"
        )
        return {row[0] for row in rows}

    def event_count(self, up_to: int | None = None) -> int:
        """How many domain events are stored (with notification id ``<= up_to``, if given)."""
        statement = f"SELECT COUNT(*) FROM {self.events_table_name}"
        if up_to is None:
            return int(self._select(statement)[0][0])
        return int(self._select(statement + " WHERE rowid <= ?", [up_to])[0][0])

    def first_events(self, up_to: int) -> list[tuple[str, str]]:
        """Each subject whose first event has notification id ``<= up_to``, with that
        event's topic, in subject order."""
        rows = self._select(
            f"SELECT originator_id, topic FROM {self.events_table_name} "
            "WHERE originator_version = 1 AND rowid <= ? ORDER BY originator_id",
            [up_to],
        )
        return [(row[0], row[1]) for row in rows]

    def positions(self, consumer: str | None) -> list[Position]:
        """The stored offsets of one consumer (group), or of all when ``consumer`` is None."""
        rows = self._select(
            "SELECT consumer, topic, partition, offset FROM ledger_positions "
            "WHERE ? IS NULL OR consumer = ? ORDER BY consumer, topic, partition",
            [consumer, consumer],
        )
        return [Position(row[0], row[1], row[2], row[3]) for row in rows]

    def subject_events(self, subjects: Sequence[str], up_to: int) -> list[Notification]:
        """The events of ``subjects`` with notification id ``<= up_to``, in log order."""
        found: list[Notification] = []
        for chunk in _chunks(subjects):
            marks = ",".join("?" * len(chunk))
            rows = self._select(
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} WHERE originator_id IN ({marks})",
                chunk,
            )
            found.extend(
                Notification(
                    id=row[0],
                    originator_id=row[1],
                    originator_version=row[2],
                    topic=row[3],
                    state=bytes(row[4]),
                )
                for row in rows
                if row[0] <= up_to
            )
        found.sort(key=lambda n: n.id)
        return found
