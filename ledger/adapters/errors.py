"""One-line descriptions of the failures a user can meet (no tracebacks on the CLI)."""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from ledger.adapters.settings import SettingsError


def describe(error: BaseException) -> str:
    """A sentence for ``error``, naming what to check."""
    if isinstance(error, SettingsError):
        return str(error)
    if isinstance(error, psycopg.OperationalError | OperationalError | InterfaceError):
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"cannot reach PostgreSQL ({first}); is the server running and the URL right?"
    if isinstance(error, OSError):
        return f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
    return f"{type(error).__name__}: {error}"
