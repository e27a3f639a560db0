"""Where the ledger keeps its data: one URL, turned into eventsourcing's environment.

``LEDGER_DB_URL`` (or ``--db``) is either a SQLite file (a plain path or
``sqlite:///path``; the embedded default is ``./ledger.db``) or PostgreSQL
(``postgresql+psycopg://user[:password]@host[:port]/dbname[?schema=name]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_DB: Final = "ledger.db"
ENV_DB_URL: Final = "LEDGER_DB_URL"
DEFAULT_BATCH_SIZE: Final = 5000
"""Inputs per transaction. Past a few hundred thousand events each batch dirties about
one page of every key index per event (event ids are random): larger commits share
those pages (measured in benchmarks/, see the README's Performance section)."""


class SettingsError(ValueError):
    """The database setting cannot be understood."""


@dataclass(frozen=True)
class Database:
    """A parsed database location."""

    kind: str  # "sqlite" or "postgres"
    sqlite_path: str = ""
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = ""

    @property
    def label(self) -> str:
        """A short, password-free description for messages."""
        if self.kind == "sqlite":
            return f"sqlite:{self.sqlite_path}"
        schema = f" schema {self.schema}" if self.schema else ""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}{schema}"

    @property
    def url(self) -> str:
        """The location as ``--db`` takes it (password included: not for messages)."""
        if self.kind == "sqlite":
            return self.sqlite_path
        password = f":{self.password}" if self.password else ""
        schema = f"?schema={self.schema}" if self.schema else ""
        return (
            f"postgresql+psycopg://{self.user}{password}@{self.host}:{self.port}/"
            f"{self.dbname}{schema}"
        )

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment eventsourcing's factory reads for this database."""
        if self.kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.sqlite_path,
                "SQLITE_LOCK_TIMEOUT": "30",
                "ORIGINATOR_ID_TYPE": "text",
                "APPLICATION_RECORDER_TOPIC": "ledger.adapters.sqlite:LedgerSQLiteRecorder",
            }
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "ORIGINATOR_ID_TYPE": "text",
            "APPLICATION_RECORDER_TOPIC": "ledger.adapters.postgres:LedgerPostgresRecorder",
        }
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return env


def resolve_database(url: str | None = None) -> Database:
    """Parse ``url``, else ``$LEDGER_DB_URL``, else the embedded default ``./ledger.db``."""
    text = (url or os.environ.get(ENV_DB_URL) or DEFAULT_DB).strip()
    if text.startswith(("postgresql", "postgres:")):
        return _postgres(text)
    if text.startswith("sqlite:"):
        path = text.removeprefix("sqlite:").removeprefix("///").removeprefix("//")
        if not path:
            raise SettingsError(f"database URL {text!r} names no SQLite file")
        text = path
    if "://" in text:
        raise SettingsError(
            f"database URL {text!r} is neither a SQLite path nor postgresql+psycopg://..."
        )
    return Database(kind="sqlite", sqlite_path=str(Path(text)))


def _postgres(text: str) -> Database:
    parts = urlsplit(text)
    if parts.scheme not in ("postgresql", "postgresql+psycopg", "postgres"):
        raise SettingsError(
            f"unsupported PostgreSQL driver in {parts.scheme!r}: use postgresql+psycopg"
        )
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise SettingsError(f"database URL {text!r} names no database")
    schema = parse_qs(parts.query).get("schema", [""])[0]
    return Database(
        kind="postgres",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=dbname,
        schema=schema,
    )
