"""Tampering with a ledger database directly, as an attacker with SQL access would."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ledger.adapters.settings import Database


class Tamper:
    """Raw SQL on the stored events and checkpoints of one database (either backend)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.sqlite = database.kind == "sqlite"
        self.id_column = "rowid" if self.sqlite else "notification_id"

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.sqlite:
            conn = sqlite3.connect(self.database.sqlite_path)
            try:
                yield conn
                conn.commit()
            finally:
                conn.close()
            return
        d = self.database
        with psycopg.connect(
            host=d.host, port=d.port, user=d.user, dbname=d.dbname, autocommit=True
        ) as pg:
            pg.execute(f'SET search_path TO "{d.schema}"')
            yield pg

    def _sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if not self.sqlite:
            statement = statement.replace("?", "%s").replace("rowid", "notification_id")
            statement = statement.replace("stored_events", "ledger_events")
        with self._cursor() as c:
            cursor = c.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []

    def rows(self) -> list[tuple[int, str, int]]:
        """(notification id, subject, version) of every stored event, in log order."""
        return [
            (int(r[0]), str(r[1]), int(r[2]))
            for r in self._sql(
                "SELECT rowid, originator_id, originator_version FROM stored_events ORDER BY rowid"
            )
        ]

    def state(self, notification_id: int) -> bytes:
        """The stored bytes of one event."""
        return bytes(
            self._sql("SELECT state FROM stored_events WHERE rowid = ?", (notification_id,))[0][0]
        )

    def set_state(self, notification_id: int, state: bytes) -> None:
        """Overwrite the stored bytes of one event."""
        self._sql("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, notification_id))

    def flip_byte(self, notification_id: int, marker: bytes) -> None:
        """Change one byte inside the JSON string value that follows ``marker``."""
        state = bytearray(self.state(notification_id))
        at = state.index(marker) + len(marker) + 3  # past `":"`, inside the value
        state[at] ^= 0x01
        self.set_state(notification_id, bytes(state))

    def delete(self, notification_id: int) -> None:
        """Delete one stored event."""
        self._sql("DELETE FROM stored_events WHERE rowid = ?", (notification_id,))

    def truncate_after(self, notification_id: int) -> None:
        """Delete every stored event after ``notification_id``."""
        self._sql("DELETE FROM stored_events WHERE rowid > ?", (notification_id,))

    def drop_orphan_keys(self) -> None:
        """Delete the event key rows of events no longer stored (as an insider who
        deletes events and knows verify matches every key row to its event would)."""
        self._sql(
            "DELETE FROM ledger_event_keys WHERE NOT EXISTS (SELECT 1 FROM stored_events e "
            "WHERE e.originator_id = ledger_event_keys.subject "
            "AND e.originator_version = ledger_event_keys.version)"
        )

    def swap_states(self, a: int, b: int) -> None:
        """Exchange the stored bytes (and topics) of two events."""
        first = self._sql("SELECT topic, state FROM stored_events WHERE rowid = ?", (a,))[0]
        second = self._sql("SELECT topic, state FROM stored_events WHERE rowid = ?", (b,))[0]
        for target, (topic, state) in ((a, second), (b, first)):
            self._sql(
                "UPDATE stored_events SET topic = ?, state = ? WHERE rowid = ?",
                (topic, bytes(state), target),
            )

    def checkpoint_statement(self, seq: int) -> str:
        """The stored text of a checkpoint's statement."""
        return str(
            self._sql("SELECT statement FROM ledger_checkpoints WHERE seq = ?", (seq,))[0][0]
        )

    def checkpoint_note(self, seq: int) -> str:
        """The stored signed note of a checkpoint (format 2)."""
        return str(self._sql("SELECT note FROM ledger_checkpoints WHERE seq = ?", (seq,))[0][0])

    def set_checkpoint(self, seq: int, **columns: str) -> None:
        """Overwrite columns of a stored checkpoint."""
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._sql(
            f"UPDATE ledger_checkpoints SET {assignments} WHERE seq = ?", (*columns.values(), seq)
        )

    def drop_checkpoints(self) -> None:
        """Delete every checkpoint and its leaves (what an attacker would do first)."""
        self._sql("DELETE FROM ledger_checkpoints")
        self._sql("DELETE FROM ledger_checkpoint_leaves")

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Any SQL, as an insider would run it (``?`` marks; SQLite's names)."""
        return self._sql(statement, params)
