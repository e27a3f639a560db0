"""``ledger verify --read-models``: the read models equal a fresh fold of the log.

The read models are a function of the log, so a row that differs from what folding the
log gives was written by someone else. The log is folded afresh with the rebuild
machinery (``Projector.rebuild``) into a scratch database beside the ledger (a temporary
SQLite file, or a temporary schema of the same PostgreSQL database), up to the position
each projection's live tables have reached, and each table (current rows and their
``*_versions`` history) is compared with its fresh copy in SQL: rows grouped with their
counts, ``EXCEPT`` both ways, so a duplicated row counts too. The differing rows are
paired by their key to name the column that changed.

The comparison reads the live tables in one snapshot together with the positions; if a
runner moved a projection on since the fold, the fold catches up to it and compares
again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import JSON, Engine, Table, inspect, text

from ledger.adapters import tables
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, engine_for, tables_of
from ledger.adapters.settings import Database, resolve_database
from ledger.projections.registry import PROJECTIONS
from replay.audit import Finding

ATTEMPTS: Final = 3
SHOWN_PER_TABLE: Final = 10  # differing rows named per table (the count says the rest)


@dataclass
class ReadModelCheck:
    """What comparing the read models with a fresh fold found."""

    positions: dict[str, int] = field(default_factory=dict)
    tables: int = 0
    rows: int = 0
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the findings are the verification's)."""
        return {"positions": self.positions, "tables": self.tables, "rows": self.rows}


def _compared() -> list[tuple[str, Table]]:
    """(projection, table) of every read model and its versions."""
    found = []
    for projection in PROJECTIONS:
        found += [(projection.name, table) for table in tables_of(projection)]
        found += [(projection.name, tables.VERSIONS[name]) for name in projection.tables]
    return found


def check_read_models(app: LedgerApp, engine: Engine, database: Database) -> ReadModelCheck:
    """Fold the log afresh and compare every read-model table with the live one."""
    check = ReadModelCheck()
    if not inspect(engine).has_table(tables.tracking.name):
        return check  # nothing projected yet: no read model to differ
    with _scratch(database) as (scratch_db, scratch):
        fresh = Projector(app, scratch)
        folded: dict[str, int] = {}
        for _attempt in range(ATTEMPTS):
            with _live(engine, database, scratch_db) as live:
                positions = live.positions()
                missing = [
                    (name, pos) for name, pos in positions.items() if folded.get(name) != pos
                ]
                if not missing:
                    check.positions = positions
                    _compare(live, check)
                    return check
            by_position: dict[tuple[int, bool], list[str]] = {}
            for name, position in missing:
                again = name not in folded or folded[name] > position
                by_position.setdefault((position, again), []).append(name)
            for (position, again), names in sorted(by_position.items()):
                if again:
                    fresh.rebuild(names, up_to=position)
                else:
                    fresh.catch_up(names, up_to=position)
                folded.update(dict.fromkeys(names, position))
        check.findings.append(
            Finding(
                "read_models_moving",
                f"the read models moved on {ATTEMPTS} times while they were compared; "
                "run verify again when ingest is quieter",
                about="read models",
            )
        )
        return check


@contextlib.contextmanager
def _scratch(database: Database) -> Iterator[tuple[Database, Engine]]:
    """A database to fold into, removed afterwards."""
    if database.kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ledger-verify-") as directory:
            scratch_db = resolve_database(str(Path(directory) / "fresh.db"))
            engine = engine_for(scratch_db)
            try:
                yield scratch_db, engine
            finally:
                engine.dispose()
        return
    schema = f"ledger_verify_{uuid.uuid4().hex[:12]}"
    scratch_db = dataclasses.replace(database, schema=schema)
    admin = engine_for(database)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = engine_for(scratch_db)
        try:
            yield scratch_db, engine
        finally:
            engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


class _Live:
    """One snapshot of the live tables, beside the fresh ones (``fresh.`` in SQL)."""

    def __init__(self, run: Any, dialect: str, live_schema: str, fresh_schema: str) -> None:
        self._run = run
        self.dialect = dialect
        self.live, self.fresh = live_schema, fresh_schema

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self._run(sql))

    def positions(self) -> dict[str, int]:
        rows = self.query(
            f"SELECT projection, position FROM {self.live}.{tables.tracking.name} "
            "ORDER BY projection"
        )
        known = {p.name for p in PROJECTIONS}
        return {str(name): int(position) for name, position in rows if name in known}


@contextlib.contextmanager
def _live(engine: Engine, database: Database, scratch_db: Database) -> Iterator[_Live]:
    """A read transaction on the live tables, the fresh ones beside them."""
    if database.kind == "sqlite":
        conn = sqlite3.connect(
            f"{Path(database.sqlite_path).resolve().as_uri()}?mode=ro", uri=True, timeout=30
        )
        conn.isolation_level = None
        try:
            conn.execute("ATTACH DATABASE ? AS fresh", (scratch_db.sqlite_path,))
            conn.execute("BEGIN")
            yield _Live(lambda sql: conn.execute(sql).fetchall(), "sqlite", "main", "fresh")
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    with engine.connect() as sa_conn:
        sa_conn = sa_conn.execution_options(isolation_level="REPEATABLE READ")
        with sa_conn.begin():
            live = f'"{database.schema or "public"}"'
            yield _Live(
                lambda sql: sa_conn.exec_driver_sql(sql).fetchall(),
                "postgresql",
                live,
                f'"{scratch_db.schema}"',
            )


def _select(table: Table, schema: str, dialect: str) -> str:
    """Every column (JSON as text, which PostgreSQL can group) with each row's count."""
    names = []
    for column in table.columns:
        quoted = f'"{column.name}"'
        names.append(
            f"CAST({quoted} AS TEXT)"
            if dialect == "postgresql" and isinstance(column.type, JSON)
            else quoted
        )
    listed = ", ".join(names)
    return f"SELECT {listed}, COUNT(*) FROM {schema}.{table.name} GROUP BY {listed}"


def _compare(live: _Live, check: ReadModelCheck) -> None:
    for projection, table in _compared():
        check.tables += 1
        check.rows += int(live.query(f"SELECT COUNT(*) FROM {live.live}.{table.name}")[0][0])
        mine = _select(table, live.live, live.dialect)
        fresh = _select(table, live.fresh, live.dialect)
        only_live = live.query(f"{mine} EXCEPT {fresh}")
        only_fresh = live.query(f"{fresh} EXCEPT {mine}")
        if only_live or only_fresh:
            check.findings += _named(projection, table, only_live, only_fresh)


def _named(
    projection: str, table: Table, only_live: list[tuple[Any, ...]], only_fresh: list[Any]
) -> list[Finding]:
    """Pair the differing rows by key and name the columns that differ."""
    columns = [c.name for c in table.columns]
    keys = tables.key_columns(tables.metadata.tables[table.name.removesuffix("_versions")])
    if table.name.endswith("_versions"):
        keys = (*keys, "valid_from", "recorded_from")
    at = [columns.index(k) for k in keys]

    def key_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in at)

    fresh_by_key = {key_of(row): row for row in only_fresh}
    findings: list[Finding] = []
    for row in only_live:
        key = key_of(row)
        where = f"{table.name} " + ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
        other = fresh_by_key.pop(key, None)
        if other is None:
            detail = "a row the log does not give (inserted, or its key was edited)"
        else:
            changed = [
                f"{name}: {row[i]!r}, the log gives {other[i]!r}"
                for i, name in enumerate(columns)
                if row[i] != other[i]
            ]
            if row[-1] != other[-1]:
                changed.append(f"stored {row[-1]} times, the log gives {other[-1]}")
            detail = "; ".join(changed)
        findings.append(_finding(projection, where, detail))
    for key in fresh_by_key:
        where = f"{table.name} " + ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
        findings.append(
            _finding(projection, where, "missing: the log gives this row, the table lacks it")
        )
    if len(findings) > SHOWN_PER_TABLE:
        rest = len(findings) - SHOWN_PER_TABLE
        findings = findings[:SHOWN_PER_TABLE]
        findings.append(
            _finding(projection, table.name, f"and {rest} more rows differ from the log")
        )
    return findings


def _finding(projection: str, where: str, detail: str) -> Finding:
    return Finding("read_model", f"({projection}) {detail}", about=where)
