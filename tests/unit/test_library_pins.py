"""The eventsourcing internals the ledger's recorders replace or call, pinned to 9.5.6.

``ledger.adapters.sqlite`` and ``ledger.adapters.postgres`` extend the library's recorders
through its hooks where they can (``construct_create_table_statements``, ``_create_table``,
``_insert_events`` calling ``super()`` and adding the ledger's rows from keyword
arguments, as the library's searchable content example does). Where the measured speed
needs more, it replaces a library method or calls a private one; each is listed here
with the SHA-256 of its source
in eventsourcing 9.5.6. An upgrade that changes any of them fails this test, naming it, so
that someone re-reads the override (named beside it) before recording the new hash.
"""

from __future__ import annotations

import hashlib
import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from eventsourcing import persistence, postgres, sqlite

from ledger.adapters.postgres import LedgerPostgresRecorder
from ledger.adapters.sqlite import JSONEachSQLiteApplicationRecorder, LedgerSQLiteRecorder

PINNED_VERSION = "9.5.6"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# (library object, its name, the ledger code that depends on it, SHA-256 of its source)
PINS: list[tuple[Any, str, str, str]] = [
    (
        sqlite.SQLiteApplicationRecorder._insert_events,
        "eventsourcing.sqlite.SQLiteApplicationRecorder._insert_events",
        "replaced by JSONEachSQLiteApplicationRecorder._insert_events",
        "413cdf219c7bae6361386b240f477256549c5675adc02089fed33453160f1611",
    ),
    (
        sqlite.SQLiteProcessRecorder._insert_events,
        "eventsourcing.sqlite.SQLiteProcessRecorder._insert_events",
        "must reach JSONEachSQLiteApplicationRecorder._insert_events through super(), "
        "then insert tracking",
        "235ed35ec8abfde8c822edeb7bfa5b2332d93471d6c4f8b7a05d74eeaa39f0c2",
    ),
    (
        sqlite.SQLiteConnectionPool._create_connection,
        "eventsourcing.sqlite.SQLiteConnectionPool._create_connection",
        "wrapped by LedgerSQLiteRecorder._configure_connections",
        "4635cb356e9ae4ec242c34f322390bc2fa6057f53a2d3e1a1eb70bc114921101",
    ),
    (
        persistence.ConnectionPool._get_connection,
        "eventsourcing.persistence.ConnectionPool._get_connection",
        "must create connections with _create_connection "
        "(LedgerSQLiteRecorder._configure_connections)",
        "82402d4c1f81d9961d029ffa3d6e662eb9382fe1b5755ede13fc16e32eeca147",
    ),
    (
        sqlite.SQLiteDatastore.__init__,
        "eventsourcing.sqlite.SQLiteDatastore.__init__",
        "its pool attribute (LedgerSQLiteRecorder._configure_connections)",
        "6f70a3c7d7e9d8ae4d0ca38acb51a89efc1a64a14b00392272cb22c04b7b48ef",
    ),
    (
        postgres.PostgresApplicationRecorder.insert_events,
        "eventsourcing.postgres.PostgresApplicationRecorder.insert_events",
        "replaced for ledger batches by LedgerPostgresRecorder.insert_events",
        "f1a98da0239e3ea7462c6b725cd66d0c932fc533814c92e04bf9802ac81ebddf",
    ),
    (
        postgres.PostgresApplicationRecorder._insert_stored_events,
        "eventsourcing.postgres.PostgresApplicationRecorder._insert_stored_events",
        "replaced for ledger batches by LedgerPostgresRecorder._copy_stored_events",
        "139580714a6590854299f5b5c1630b9cf56c65825cb463eb287bbf97996b29f1",
    ),
    (
        postgres.PostgresApplicationRecorder._lock_table,
        "eventsourcing.postgres.PostgresApplicationRecorder._lock_table",
        "called by LedgerPostgresRecorder._copy_stored_events",
        "42bc9c135b4a93c1e1ba4b3788eab049b605e48f2e49657630037d16382d6d9c",
    ),
    (
        postgres.PostgresApplicationRecorder._notify_channel,
        "eventsourcing.postgres.PostgresApplicationRecorder._notify_channel",
        "called by LedgerPostgresRecorder._copy_stored_events",
        "9e5bab72ecfbcf2ec8060b6d5f87cc5c0cf02a59bd7671e3efdb3a4c540371fe",
    ),
    (
        postgres.PostgresApplicationRecorder._insert_events,
        "eventsourcing.postgres.PostgresApplicationRecorder._insert_events",
        "must insert no events (LedgerPostgresRecorder._insert_batch inserts them by COPY)",
        "319d1ce6f3f9c86550bc6fcea010dde3785c41788e6743080376ba3bf07f41ff",
    ),
    (
        postgres.PostgresProcessRecorder._insert_events,
        "eventsourcing.postgres.PostgresProcessRecorder._insert_events",
        "must insert only tracking (LedgerPostgresRecorder._insert_batch)",
        "0c105d6d23c12d5e51629c5fa36bf1e85f68251efe0d2a30bcd0f39df07e1500",
    ),
]


def _source_hash(obj: Any) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()


def test_the_library_version_is_pinned_and_installed() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    assert f"eventsourcing=={PINNED_VERSION}" in dependencies
    assert version("eventsourcing") == PINNED_VERSION


@pytest.mark.parametrize(("obj", "name", "use", "expected"), PINS, ids=[p[1] for p in PINS])
def test_overridden_library_source_is_unchanged(
    obj: Any, name: str, use: str, expected: str
) -> None:
    assert _source_hash(obj) == expected, (
        f"{name} differs from eventsourcing {PINNED_VERSION}'s ({use}): re-read the "
        "ledger's override in ledger/adapters/store.py against the new source, then record its hash"
    )


def test_the_json_each_insert_sits_between_the_process_and_application_recorders() -> None:
    mro = LedgerSQLiteRecorder.__mro__
    assert (
        mro.index(sqlite.SQLiteProcessRecorder)
        < mro.index(JSONEachSQLiteApplicationRecorder)
        < mro.index(sqlite.SQLiteApplicationRecorder)
    )


# The library methods each recorder class defines anew. Each calls ``super()`` (for the
# replacements above: on the paths they do not replace). A new one is either an extension
# point used the same way, or a replacement to pin above.
OVERRIDES: dict[type[Any], set[str]] = {
    JSONEachSQLiteApplicationRecorder: {"__init__", "_insert_events"},
    LedgerSQLiteRecorder: {
        "__init__",
        "construct_create_table_statements",
        "_create_table",
        "_insert_events",
    },
    LedgerPostgresRecorder: {"__init__", "insert_events", "_insert_events", "_create_table"},
}


@pytest.mark.parametrize("cls", list(OVERRIDES), ids=lambda cls: cls.__name__)
def test_the_recorders_override_only_known_library_methods(cls: type[Any]) -> None:
    library = cls.__mro__[1:]
    overridden = {
        name
        for name, value in vars(cls).items()
        if callable(value)
        and any(
            base.__module__.startswith("eventsourcing.") and name in vars(base) for base in library
        )
    }
    assert overridden == OVERRIDES[cls], (
        f"{cls.__name__} overrides {sorted(overridden ^ OVERRIDES[cls])} anew: extend through "
        "super() or pin the replaced library method in PINS"
    )
    for name in overridden:
        assert "super()." in inspect.getsource(vars(cls)[name]), f"{cls.__name__}.{name}"
