"""After an erasure (R-ERASE-1): the old bytes out of the database's files, as far as the
database can take them out.

SQLite keeps a changed page's old content in the write-ahead log until a checkpoint, and
a freed page's content in the file until it is reused. ``compact`` turns on
``secure_delete`` (freed content is overwritten with zeros), checkpoints the WAL into the
file and truncates it, ``VACUUM``s (the file is written again from its live rows only)
and checkpoints and truncates again. Another process holding a read transaction can keep
the WAL from being truncated: the result says so.

PostgreSQL keeps the old version of an updated row as a dead tuple in the table's files
until ``VACUUM`` marks its space free for reuse; the bytes stay on disk until reused, and
in WAL segments, archives, base backups and replicas until those are recycled or
expire. ``compact`` runs ``VACUUM`` on the ledger's tables (no exclusive lock: ingest
goes on); ``VACUUM FULL`` rewrites the files, under an exclusive lock, in a maintenance
window (README, "Erasure").
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Final

from sqlalchemy import Engine, inspect, text

from ledger.adapters import tables
from ledger.adapters.settings import Database

LEDGER_TABLES: Final = (
    "ledger_rejections",
    "ledger_deferred",
    "ledger_event_keys",
    "webhook_deliveries",
)


def compact(database: Database, engine: Engine, events_table: str) -> list[str]:
    """Remove the old bytes of rows changed in place; what could not be done, as notes."""
    engine.dispose()  # this process's pooled connections would hold the WAL open
    if database.kind == "postgres":
        return _vacuum_postgres(engine, events_table)
    return _vacuum_sqlite(database.sqlite_path)


def _vacuum_sqlite(path: str) -> list[str]:
    notes: list[str] = []
    with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        db.execute("PRAGMA secure_delete = ON")
        _truncate_wal(db, notes)
        db.execute("VACUUM")
        _truncate_wal(db, notes)
    return list(dict.fromkeys(notes))


def _truncate_wal(db: sqlite3.Connection, notes: list[str]) -> None:
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        notes.append(
            "another process is reading the ledger: its write-ahead log could not be "
            "truncated and may still hold erased values; run `ledger erase` again when "
            "it has stopped (it will only compact)"
        )


def _vacuum_postgres(engine: Engine, events_table: str) -> list[str]:
    present = set(inspect(engine).get_table_names())
    names = [events_table, *LEDGER_TABLES, *(t.name for t in tables.metadata.sorted_tables)]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        quote = conn.dialect.identifier_preparer.quote
        for name in dict.fromkeys(names):
            if name in present:
                conn.execute(text(f"VACUUM {quote(name)}"))
    return []
