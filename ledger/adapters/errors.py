"""One-line descriptions of the failures a user can meet (no tracebacks on the CLI), and
the errors of opening a database that holds no ledger.

psycopg is looked at only when a PostgreSQL ledger has loaded it: a SQLite ledger never
imports it, and a SQLite failure is never described as an unreachable server.
"""

from __future__ import annotations

import sqlite3
import sys

from eventsourcing.persistence import InterfaceError, OperationalError

from ledger.adapters.settings import SettingsError


class NoLedgerError(LookupError):
    """A command that only reads was pointed at a file or schema that holds no ledger (it
    creates none)."""


class DatabaseFileError(RuntimeError):
    """SQLite failed on a ledger file: what SQLite said, and the file."""


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps (``raise ... from``, the context, SQLAlchemy's ``orig``)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        orig = getattr(current, "orig", None)
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )
    return chain


def first_line(error: BaseException) -> str:
    """The first line of what ``error`` says (its type's name when it says nothing)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def sqlite_cause(error: BaseException) -> sqlite3.Error | None:
    """The SQLite error behind ``error`` (eventsourcing and SQLAlchemy wrap them), if any."""
    return next((e for e in _causes(error) if isinstance(e, sqlite3.Error)), None)


def _postgres_cause(error: BaseException) -> BaseException | None:
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:  # no PostgreSQL ledger was opened in this process
        return None
    return next((e for e in _causes(error) if isinstance(e, psycopg.OperationalError)), None)


def describe(error: BaseException) -> str:
    """A sentence for ``error``, naming what to check."""
    if isinstance(error, SettingsError | NoLedgerError | DatabaseFileError):
        return first_line(error)
    sqlite = sqlite_cause(error)
    if sqlite is not None:
        return f"SQLite: {first_line(sqlite)}"
    postgres = _postgres_cause(error)
    if postgres is not None or (
        "psycopg" in sys.modules and isinstance(error, OperationalError | InterfaceError)
    ):
        said = first_line(postgres or error)
        return f"cannot reach PostgreSQL ({said}); is the server running and the URL right?"
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
    return f"{type(error).__name__}: {first_line(error)}"
