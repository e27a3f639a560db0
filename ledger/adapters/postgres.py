"""The PostgreSQL recorder: the ledger's tables beside eventsourcing's (``ledger.adapters.store``
says what they hold). A module of its own so that SQLite ledgers never import psycopg."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from ledger.adapters import intake_chain
from ledger.adapters.store import (
    _DEFERRED_COLUMNS,
    _REJECTION_COLUMNS,
    BatchWrite,
    Deferral,
    KnownInputs,
    Position,
    Rewrite,
    StoredRejection,
    _deferred_row,
    _redeferred_row,
    _rejection_row,
    _stored_deferral,
    _stored_rejection,
)


class LedgerPostgresRecorder(PostgresProcessRecorder):
    """PostgreSQL: the distributed setup."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._without_jit: weakref.WeakSet[Connection[Any]] = weakref.WeakSet()
        schema = Identifier(self.datastore.schema)
        self._keys = SQL("{}.ledger_event_keys").format(schema)
        self._rejections = SQL("{}.ledger_rejections").format(schema)
        self._positions = SQL("{}.ledger_positions").format(schema)
        self._deferred = SQL("{}.ledger_deferred").format(schema)
        self._chain = SQL("{}.{}").format(schema, Identifier(intake_chain.TABLE))
        self._copy_events = SQL(
            "COPY {}.{} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(schema, Identifier(self.events_table_name))
        self._copy_keys = SQL(
            "COPY {} (event_id, subject, version, fingerprint) FROM STDIN (FORMAT BINARY)"
        ).format(self._keys)
        self._events = SQL("{}.{}").format(schema, Identifier(self.events_table_name))
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "event_id text PRIMARY KEY, subject text NOT NULL, version bigint NOT NULL)"
            ).format(self._keys),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "id bigserial PRIMARY KEY, received_at timestamptz NOT NULL, "
                "rule text NOT NULL, code text NOT NULL, field text NOT NULL, "
                "reason text NOT NULL, event_id text, event_type text, subject text, "
                "origin text NOT NULL, payload bytea NOT NULL, payload_is_json boolean NOT NULL)"
            ).format(self._rejections),
            SQL("CREATE INDEX IF NOT EXISTS ledger_rejections_rule ON {} (rule)").format(
                self._rejections
            ),
            SQL("CREATE INDEX IF NOT EXISTS ledger_rejections_subject ON {} (subject)").format(
                self._rejections
            ),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "consumer text NOT NULL, topic text NOT NULL, partition integer NOT NULL, "
                '"offset" bigint NOT NULL, PRIMARY KEY (consumer, topic, partition))'
            ).format(self._positions),
            # Ledgers created before fingerprints were kept gain the column (NULL for old rows).
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS fingerprint text").format(self._keys),
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS fingerprint text").format(
                self._rejections
            ),
            SQL("CREATE INDEX IF NOT EXISTS ledger_rejections_print ON {} (fingerprint)").format(
                self._rejections
            ),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "id bigserial PRIMARY KEY, received_at timestamptz NOT NULL, "
                "rule text NOT NULL, code text NOT NULL, field text NOT NULL, "
                "reason text NOT NULL, event_id text, event_type text, subject text, "
                "origin text NOT NULL, payload bytea NOT NULL, payload_is_json boolean NOT NULL, "
                "fingerprint text, waits_for text NOT NULL)"
            ).format(self._deferred),
            # When an erasure emptied the input (R-ERASE-1); NULL otherwise, and for the
            # rows of ledgers created before erasure existed.
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS erased_at timestamptz").format(
                self._rejections
            ),
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS erased_at timestamptz").format(
                self._deferred
            ),
            SQL("CREATE INDEX IF NOT EXISTS ledger_deferred_subject ON {} (subject)").format(
                self._deferred
            ),
            SQL("CREATE INDEX IF NOT EXISTS ledger_deferred_waits ON {} (waits_for)").format(
                self._deferred
            ),
            SQL("CREATE INDEX IF NOT EXISTS ledger_deferred_print ON {} (fingerprint)").format(
                self._deferred
            ),
            # The intake chain (ledger.adapters.intake_chain), and erasure's mark on the rows.
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS erased_at timestamptz").format(
                self._rejections
            ),
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS erased_at timestamptz").format(
                self._deferred
            ),
            SQL(intake_chain.POSTGRES_DDL).format(self._chain),
        ]
        self._copy_chain = SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            self._chain, SQL(", ").join(Identifier(c) for c in intake_chain.COLUMNS)
        )

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        """The library's tables and the ledger's; a ledger made before the intake chain
        has the rows it holds adopted by a new chain (``open_app`` holds the schema lock)."""
        curs.execute("SELECT to_regclass(%s) AS found", [self._chain.as_string()])
        row = curs.fetchone()
        chain_is_new = row is None or row["found"] is None
        super()._create_table(curs)
        if not chain_is_new:
            return
        found = {}
        for name, table in (
            (intake_chain.REJECTIONS, self._rejections),
            (intake_chain.DEFERRED, self._deferred),
        ):
            curs.execute(SQL("SELECT * FROM {} ORDER BY id").format(table))
            found[name] = list(curs.fetchall())
        entries = intake_chain.started(
            datetime.now(UTC), found[intake_chain.REJECTIONS], found[intake_chain.DEFERRED]
        )
        self._insert_chain(curs, entries)

    def _insert_chain(self, curs: Cursor[DictRow], entries: Sequence[intake_chain.Entry]) -> None:
        with curs.copy(self._copy_chain) as copy:
            copy.set_types(
                ["int8", "text", "text", "int8", "text", "text", "text", "text", "text", "text"]
            )
            for entry in entries:
                copy.write_row(entry.row())

    @staticmethod
    def _returning(curs: Cursor[DictRow], statement: Composed, rows: list[Any]) -> list[Any]:
        """``executemany`` (one pipeline, no round trip per row), with each row's
        ``RETURNING`` result."""
        if not rows:
            return []
        curs.executemany(statement, rows, returning=True)
        found = []
        while True:
            found += curs.fetchall()
            if not curs.nextset():
                return found

    def _chain_batch(
        self,
        curs: Cursor[DictRow],
        batch: BatchWrite,
        rejected: list[Any],
        deferred: list[Any],
        redeferred: list[Any],
    ) -> None:
        """Record the batch's changes to rejections and deferred inputs on the intake
        chain, after the rows as stored (``RETURNING *``), under the chain's lock."""
        curs.execute("SELECT pg_advisory_xact_lock(%s)", [intake_chain.INTAKE_LOCK])
        curs.execute(
            SQL("SELECT seq, entry_hash FROM {} ORDER BY seq DESC LIMIT 1").format(self._chain)
        )
        last = curs.fetchone()
        head = (0, intake_chain.GENESIS) if last is None else (int(last["seq"]), last["entry_hash"])
        changes = intake_chain.batch_changes(batch.released, redeferred, rejected, deferred)
        self._insert_chain(curs, intake_chain.chained(head, batch.received_at, changes))

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """A ledger batch (``batch=``: its events, keys, rejections and positions) in one
        transaction without a pipeline, the events sent by ``COPY``; anything else as the
        library does it.

        Replaces ``PostgresApplicationRecorder.insert_events`` for ledger batches
        (eventsourcing 9.5.6, pinned by ``tests/unit/test_library_pins.py``). The library
        runs its transaction in a pipeline, and ``COPY`` cannot run in one; it builds the
        events as an array of a composite type in Python, where binary ``COPY`` streams
        the same rows from C; and it reads back the notification ids, which the ledger
        never reads. The transaction keeps the library's order otherwise: its
        ``_insert_events`` hook first (tracking, and the ledger's rows), then the events.
        """
        if kwargs.get("batch") is None:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        self._insert_batch(stored_events, **kwargs)
        return None

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_batch(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_events(curs, stored_events, **kwargs)
            if stored_events:
                self._copy_stored_events(curs, stored_events)

    def insert_parts(self, parts: Iterable[tuple[Sequence[StoredEvent], BatchWrite]]) -> None:
        """Ledger batches in one transaction as ``parts`` yields them (no retry: the
        parts are consumed; the caller stores them again on a failure)."""
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            for stored_events, batch in parts:
                self._insert_events(curs, stored_events, batch=batch)
                if stored_events:
                    self._copy_stored_events(curs, stored_events)

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The library's hook (``tracking``, if given), then the rows of the ledger
        batch given as ``batch``, in the same transaction."""
        super()._insert_events(curs, stored_events, **kwargs)
        batch: BatchWrite | None = kwargs.get("batch")
        if batch is not None:
            self._write_batch(curs, batch)

    def _copy_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> None:
        """The events by binary ``COPY``, after the library's table lock and notification.

        Replaces ``PostgresApplicationRecorder._insert_stored_events`` (pinned), and calls
        its ``_lock_table`` and ``_notify_channel`` (pinned) as it does: notification ids
        are issued in commit order only if the table is locked before the rows go in
        (see ``ledger.adapters.projector``).
        """
        self._lock_table(curs)
        self._notify_channel(curs)
        with curs.copy(self._copy_events) as copy:
            copy.set_types(["text", "int8", "text", "bytea"])
            for e in stored_events:
                copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))

    def _write_batch(self, curs: Cursor[DictRow], batch: BatchWrite) -> None:
        if batch.event_keys:
            with curs.copy(self._copy_keys) as copy:
                copy.set_types(["text", "text", "int8", "text"])
                for key in batch.event_keys:
                    copy.write_row(key)
        rejected = self._returning(
            curs,
            SQL(
                "INSERT INTO {} (" + _REJECTION_COLUMNS + ") VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *"
            ).format(self._rejections),
            [_rejection_row(batch.received_at, r) for r in batch.rejections],
        )
        if batch.released:
            curs.execute(
                SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._deferred),
                [list(batch.released)],
            )
        redeferred = self._returning(
            curs,
            SQL(
                "UPDATE {} SET waits_for = %s, rule = %s, code = %s, field = %s, "
                "reason = %s WHERE id = %s RETURNING *"
            ).format(self._deferred),
            [_redeferred_row(d) for d in batch.redeferred],
        )
        deferred = self._returning(
            curs,
            SQL(
                "INSERT INTO {} (" + _DEFERRED_COLUMNS + ") VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *"
            ).format(self._deferred),
            [_deferred_row(batch.received_at, d) for d in batch.deferred],
        )
        if batch.rejections or batch.deferred or batch.released or batch.redeferred:
            self._chain_batch(curs, batch, rejected, deferred, redeferred)
        if batch.rewrite is not None:
            self._rewrite(curs, batch.rewrite)
        if batch.positions:
            curs.executemany(
                SQL(
                    "INSERT INTO {} AS stored VALUES (%s, %s, %s, %s) ON CONFLICT "
                    '(consumer, topic, partition) DO UPDATE SET "offset" = '
                    'GREATEST(stored."offset", excluded."offset")'
                ).format(self._positions),
                [(p.consumer, p.topic, p.partition, p.offset) for p in batch.positions],
            )

    def _rewrite(self, curs: Cursor[DictRow], rewrite: Rewrite) -> None:
        """An erasure's in-place changes (R-ERASE-1), in the batch's transaction."""
        if rewrite.events:
            curs.executemany(
                SQL(
                    "UPDATE {} SET state = %s WHERE originator_id = %s AND originator_version = %s"
                ).format(self._events),
                [(state, subject, version) for subject, version, state in rewrite.events],
            )
        for table, rows in (
            (self._rejections, rewrite.rejections),
            (self._deferred, rewrite.deferred),
        ):
            if rows:
                curs.executemany(
                    SQL(
                        "UPDATE {} SET payload = ''::bytea, reason = %s, erased_at = %s "
                        "WHERE id = %s"
                    ).format(table),
                    [(reason, rewrite.erased_at, row_id) for row_id, reason in rows],
                )
        self._chain_erased(curs, rewrite)
        if rewrite.deliveries:
            curs.executemany(
                SQL("UPDATE {}.webhook_deliveries SET payload = %s WHERE id = %s").format(
                    Identifier(self.datastore.schema)
                ),
                [(payload, row_id) for row_id, payload in rewrite.deliveries],
            )

    def _chain_erased(self, curs: Cursor[DictRow], rewrite: Rewrite) -> None:
        """Record the rows an erasure rewrote on the intake chain (kind ``erased``)."""
        changes: list[intake_chain.Change] = []
        for source, table, rewritten in (
            (intake_chain.REJECTIONS, self._rejections, rewrite.rejections),
            (intake_chain.DEFERRED, self._deferred, rewrite.deferred),
        ):
            ids = [row_id for row_id, _ in rewritten]
            if not ids:
                continue
            curs.execute(SQL("SELECT * FROM {} WHERE id = ANY(%s)").format(table), [ids])
            rows = list(curs.fetchall())
            curs.execute(
                SQL(
                    "SELECT row_id, payload_sha256 FROM {} WHERE source = %s "
                    "AND row_id = ANY(%s) ORDER BY seq"
                ).format(self._chain),
                [source, ids],
            )
            recorded = {
                int(r["row_id"]): str(r["payload_sha256"])
                for r in curs.fetchall()
                if r["payload_sha256"]
            }
            changes += intake_chain.erased_changes(source, rows, recorded)
        if not changes:
            return
        curs.execute("SELECT pg_advisory_xact_lock(%s)", [intake_chain.INTAKE_LOCK])
        curs.execute(
            SQL("SELECT seq, entry_hash FROM {} ORDER BY seq DESC LIMIT 1").format(self._chain)
        )
        last = curs.fetchone()
        head = (0, intake_chain.GENESIS) if last is None else (int(last["seq"]), last["entry_hash"])
        self._insert_chain(curs, intake_chain.chained(head, rewrite.erased_at, changes))

    def _select(self, statement: Composed, params: Sequence[Any] = ()) -> list[Any]:
        """One read statement on a pooled session in autocommit (the library's sessions
        are): one round trip, its own snapshot.

        These are index probes. Before the tables are analysed the planner's row
        estimates are huge, and it would compile each with JIT (see "Performance"), so
        each session has JIT off, set once, the first time it probes. ``SET LOCAL`` in a
        transaction around each probe cost three round trips more than the probe
        (BEGIN, SET, ROLLBACK): on two cores shared with the database, 3 s of the 21 s
        that 100k inputs took over HTTP in requests of 1000.
        """
        with self.datastore.get_connection() as conn:
            if conn not in self._without_jit:
                conn.execute("SET jit = off")
                self._without_jit.add(conn)
            with conn.cursor() as curs:
                curs.execute(statement, params)
                return list(curs.fetchall())

    def known_inputs(self, event_ids: Sequence[str], fingerprints: Sequence[str]) -> KnownInputs:
        """Which event ids were accepted before (with their content fingerprints), and
        which fingerprints belong to inputs rejected or deferred before."""
        accepted: dict[str, str | None] = {}
        if event_ids:
            # One primary-key probe per id. Without the LIMIT the planner flattens the
            # LATERAL into a hash join over a seq scan of every key, on every batch (34 ms
            # at 100k events and growing with the log, measured; see "Performance").
            rows = self._select(
                SQL(
                    "SELECT k.event_id, k.fingerprint FROM unnest(%b::text[]) AS i(id), "
                    "LATERAL (SELECT event_id, fingerprint FROM {} WHERE event_id = i.id "
                    "LIMIT 1) AS k"
                ).format(self._keys),
                [list(event_ids)],
            )
            accepted = {row["event_id"]: row["fingerprint"] for row in rows}
        rejected: dict[str, str] = {}
        deferred: dict[str, tuple[str, str]] = {}
        if fingerprints:
            rows = self._select(
                SQL(
                    "SELECT r.fingerprint, r.rule, NULL::text AS waits_for "
                    "FROM unnest(%b::text[]) AS i(fp), "
                    "LATERAL (SELECT fingerprint, rule FROM {} WHERE fingerprint = i.fp LIMIT 1) r "
                    "UNION ALL SELECT fingerprint, rule, waits_for FROM {} "
                    "WHERE fingerprint = ANY(%b)"
                ).format(self._rejections, self._deferred),
                [list(fingerprints), list(fingerprints)],
            )
            for row in rows:
                if row["waits_for"] is not None:
                    deferred[row["fingerprint"]] = (row["waits_for"], row["rule"])
                else:
                    rejected.setdefault(row["fingerprint"], row["rule"])
        return KnownInputs(accepted, rejected, deferred)

    def has_deferred(self) -> bool:
        """Whether any input is waiting (one probe: ingest skips its deferral work if not)."""
        return bool(
            self._select(SQL("SELECT EXISTS (SELECT 1 FROM {}) AS e").format(self._deferred))[0][
                "e"
            ]
        )

    def deferred_subjects(self, subjects: Sequence[str]) -> set[str]:
        """Which of ``subjects`` have inputs waiting."""
        if not subjects:
            return set()
        rows = self._select(
            SQL("SELECT DISTINCT subject FROM {} WHERE subject = ANY(%b)").format(self._deferred),
            [list(subjects)],
        )
        return {row["subject"] for row in rows}

    def deferred_queues(self, waits_for: Sequence[str]) -> list[Deferral]:
        """Every waiting input of each subject that has one waiting for any of
        ``waits_for``, in arrival order."""
        if not waits_for:
            return []
        rows = self._select(
            SQL(
                "SELECT * FROM {0} WHERE subject IN "
                "(SELECT subject FROM {0} WHERE waits_for = ANY(%b)) ORDER BY id"
            ).format(self._deferred),
            [list(waits_for)],
        )
        return [_stored_deferral(row, row["received_at"]) for row in rows]

    def ready_deferred(self) -> list[Deferral]:
        """Every waiting input of each subject that has one waiting for a subject that
        is stored now, in arrival order."""
        rows = self._select(
            SQL(
                "SELECT * FROM {0} WHERE subject IN (SELECT d.subject FROM {0} d WHERE EXISTS "
                "(SELECT 1 FROM {1} e WHERE e.originator_id = d.waits_for "
                "AND e.originator_version = 1)) ORDER BY id"
            ).format(self._deferred, self._events)
        )
        return [_stored_deferral(row, row["received_at"]) for row in rows]

    def deferred(
        self,
        *,
        subject: str | None = None,
        limit: int | None = None,
        before: datetime | None = None,
    ) -> list[Deferral]:
        """Waiting inputs in arrival order (of one subject; received before an instant)."""
        statement = SQL("SELECT * FROM {} WHERE true").format(self._deferred)
        params: list[Any] = []
        if subject is not None:
            statement += SQL(" AND subject = %s")
            params.append(subject)
        if before is not None:
            statement += SQL(" AND received_at < %s")
            params.append(before)
        statement += SQL(" ORDER BY id")
        if limit is not None:
            statement += SQL(" LIMIT %s")
            params.append(limit)
        return [
            _stored_deferral(row, row["received_at"]) for row in self._select(statement, params)
        ]

    def deferred_count(self) -> int:
        """How many inputs are waiting."""
        return int(self._select(SQL("SELECT COUNT(*) AS n FROM {}").format(self._deferred))[0]["n"])

    def current_versions(self, subjects: Sequence[str]) -> dict[str, int]:
        """The stored version of each subject that exists."""
        if not subjects:
            return {}
        # One index probe per subject (its highest version), not a scan of its history:
        # MAX ... GROUP BY read every event of a customer's long history on every batch.
        rows = self._select(
            SQL(
                "SELECT s.id AS originator_id, (SELECT e.originator_version FROM {} e "
                "WHERE e.originator_id = s.id ORDER BY e.originator_version DESC LIMIT 1) "
                "AS version FROM unnest(%b::text[]) AS s(id)"
            ).format(self._events),
            [list(subjects)],
        )
        return {r["originator_id"]: r["version"] for r in rows if r["version"] is not None}

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
        statement = SQL("SELECT * FROM {} WHERE id > %s").format(self._rejections)
        params: list[Any] = [after_id]
        for column, value in (("rule", rule), ("subject", subject), ("event_type", event_type)):
            if value is not None:
                statement += SQL(" AND {} = %s").format(Identifier(column))
                params.append(value)
        if since is not None:
            statement += SQL(" AND received_at >= %s")
            params.append(since)
        statement += SQL(" ORDER BY id")
        if limit is not None:
            statement += SQL(" LIMIT %s")
            params.append(limit)
        return [
            _stored_rejection(row, row["received_at"]) for row in self._select(statement, params)
        ]

    def rejection_counts(self) -> dict[str, int]:
        """How many inputs were rejected, by rule id."""
        rows = self._select(
            SQL("SELECT rule, COUNT(*) AS n FROM {} GROUP BY rule").format(self._rejections)
        )
        return {row["rule"]: row["n"] for row in rows}

    def rejected_types(self) -> set[str]:
        """The wire types named by rejected inputs (unknown ones included)."""
        rows = self._select(
            SQL("SELECT DISTINCT event_type FROM {} WHERE event_type IS NOT NULL").format(
                self._rejections
            )
        )
        return {row["event_type"] for row in rows}

    def event_count(self, up_to: int | None = None) -> int:
        """How many domain events are stored (with notification id ``<= up_to``, if given)."""
        statement = SQL("SELECT COUNT(*) AS n FROM {}").format(self._events)
        if up_to is None:
            return int(self._select(statement)[0]["n"])
        return int(self._select(statement + SQL(" WHERE notification_id <= %s"), [up_to])[0]["n"])

    def first_events(self, up_to: int) -> list[tuple[str, str]]:
        """Each subject whose first event has notification id ``<= up_to``, with that
        event's topic, in subject order."""
        rows = self._select(
            SQL(
                "SELECT originator_id, topic FROM {} WHERE originator_version = 1 "
                'AND notification_id <= %s ORDER BY originator_id COLLATE "C"'
            ).format(self._events),
            [up_to],
        )
        return [(row["originator_id"], row["topic"]) for row in rows]

    def positions(self, consumer: str | None) -> list[Position]:
        """The stored offsets of one consumer (group), or of all when ``consumer`` is None."""
        rows = self._select(
            SQL(
                'SELECT consumer, topic, partition, "offset" FROM {} '
                "WHERE %s::text IS NULL OR consumer = %s ORDER BY consumer, topic, partition"
            ).format(self._positions),
            [consumer, consumer],
        )
        return [Position(r["consumer"], r["topic"], r["partition"], r["offset"]) for r in rows]

    def subject_events(self, subjects: Sequence[str], up_to: int) -> list[Notification]:
        """The events of ``subjects`` with notification id ``<= up_to``, in log order."""
        if not subjects:
            return []
        # One index probe per subject. With ``originator_id = ANY(...)`` a table that has
        # not been analysed yet (a bulk load outruns autovacuum) is scanned whole (see
        # "Performance"). The ORDER BY keeps the planner from flattening the LATERAL
        # into a join it would plan the same way. Filtering on ``notification_id <=
        # up_to`` in SQL makes the planner AND a scan of the whole notification index.
        rows = self._select(
            SQL(
                "SELECT e.* FROM unnest(%b::text[]) AS s(id), LATERAL ("
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {} WHERE originator_id = s.id ORDER BY originator_version) AS e"
            ).format(self._events),
            [list(subjects)],
        )
        rows = sorted(
            (r for r in rows if r["notification_id"] <= up_to), key=lambda r: r["notification_id"]
        )
        return [
            Notification(
                id=r["notification_id"],
                originator_id=r["originator_id"],
                originator_version=r["originator_version"],
                topic=r["topic"],
                state=bytes(r["state"]),
            )
            for r in rows
        ]
