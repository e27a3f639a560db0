"""Fixtures: the same tests run on SQLite and on the real local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.projector import engine_for
from ledger.adapters.settings import Database, resolve_database

PG_URL = os.environ.get("LEDGER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _connect(database: Database) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=database.host,
        port=database.port,
        user=database.user,
        password=database.password or None,
        dbname=database.dbname,
        autocommit=True,
        connect_timeout=5,
    )


@pytest.fixture
def pg_database() -> Iterator[Database]:
    """A fresh schema on the local PostgreSQL, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    database = resolve_database(f"{PG_URL}?schema={schema}")
    try:
        conn = _connect(database)
    except psycopg.OperationalError as error:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable ({error}); start it (see README)")
    with conn:
        yield database
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A fresh, empty ledger database of each backend."""
    if request.param == "sqlite":
        return resolve_database(str(tmp_path / "ledger.db"))
    return request.getfixturevalue("pg_database")  # type: ignore[no-any-return]


@pytest.fixture
def ledger(database: Database) -> Iterator[LedgerApp]:
    """The ledger application on a fresh database."""
    app = open_app(database)
    yield app
    app.close()


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    """A SQLAlchemy engine on the test's database (read models, checkpoints)."""
    engine = engine_for(database)
    yield engine
    engine.dispose()


class FixedClock:
    """A recording clock the test moves by hand."""

    def __init__(self, now: datetime = datetime(2026, 6, 1, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    """A recording clock under the test's control."""
    return FixedClock()


@pytest.fixture(autouse=True)
def signing_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test signs with its own key, never the user's (``LEDGER_SIGNING_KEY``)."""
    path = tmp_path_factory.mktemp("key") / "signing-key.pem"
    monkeypatch.setenv("LEDGER_SIGNING_KEY", str(path))
    return path
