"""Instants are written and read on SQLite by a fast path of our own; it must store the
very text SQLAlchemy's own ``DateTime`` processing would, or queries comparing instants
as text (the versions' ranges) would go wrong and older ledgers would read differently,
and it must read back the instant that was written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime, create_engine, select
from sqlalchemy.dialects import sqlite

from ledger.adapters import tables

OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
DIALECT = sqlite.dialect()
OURS = tables.Instant().dialect_impl(DIALECT)
THEIRS = DateTime().dialect_impl(DIALECT)


@given(st.datetimes(timezones=OFFSETS))
def test_the_fast_path_stores_what_sqlalchemy_would(value: datetime) -> None:
    ours, theirs = OURS.bind_processor(DIALECT), THEIRS.bind_processor(DIALECT)
    assert ours is not None and theirs is not None
    try:
        expected = theirs(value.astimezone(UTC).replace(tzinfo=None))
    except OverflowError:
        return  # not representable in UTC either way (such instants are rejected at intake)
    stored = ours(value)
    assert stored == expected
    read = OURS.result_processor(DIALECT, None)
    assert read is not None
    back = read(stored)
    assert back == value
    assert back is not None and back.tzinfo is UTC


def test_an_instant_round_trips_through_a_real_sqlite_table() -> None:
    engine = create_engine("sqlite://")
    tables.metadata.create_all(engine, tables=[tables.customers])
    instant = datetime(2026, 3, 16, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    with engine.begin() as conn:
        conn.execute(tables.customers.insert().values(customer_id="C-1", onboarded_at=instant))
        (stored,) = conn.exec_driver_sql("SELECT onboarded_at FROM customers").one()
        (read,) = conn.execute(select(tables.customers.c.onboarded_at)).one()
    assert stored == "2026-03-16 08:30:00.000000"
    assert read == instant and read.tzinfo is UTC
