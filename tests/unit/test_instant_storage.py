"""Read-model rows are written on SQLite with a fast path for instants; it must store the
very text SQLAlchemy's own processing would, or queries comparing instants as text (the
versions' ranges) would go wrong."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from ledger.adapters import tables
from ledger.adapters.projector import _sqlite_instant

OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(timezones=OFFSETS))
def test_the_fast_path_stores_what_sqlalchemy_would(value: datetime) -> None:
    dialect = sqlite.dialect()
    processed = tables.Instant().dialect_impl(dialect).bind_processor(dialect)
    assert processed is not None
    try:
        expected = processed(value)
    except OverflowError:
        return  # not representable in UTC either way (such instants are rejected at intake)
    assert _sqlite_instant(value) == expected
