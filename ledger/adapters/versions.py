"""Every version of every read-model row, so that a question about any instant is a query.

A subject's events change its rows one event at a time. Each row version holds from the
``occurred_at`` of the event that made it (``valid_from``) until that of the event that
changed or removed it (``valid_to``), and was recorded from that event's ``recorded_at``
(``recorded_from``) until the next one's (``recorded_to``); open ends are null.

Per subject, ``occurred_at`` never goes backwards (R-IN-5) and neither does
``recorded_at``, so the events visible as of ``T`` known at ``K`` (R-TIME-1: occurred by
``T``, recorded by ``K``) are a prefix of the subject's history: the first ``min(a, b)``
events, where ``a`` counts those that occurred by ``T`` and ``b`` those recorded by ``K``.
The version visible is the one made by event ``min(a, b)``, which is exactly::

    valid_from <= T and recorded_from <= K and (valid_to > T or recorded_to > K or open)

``read_versions`` asks that of every versioned table. What a subject's rows read besides
its own events (a ticket's customer calendar and policy version) is checked by the query
service, which folds from the log the few subjects whose versions were made under other
readings (``ledger.services.queries``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    or_,
    select,
    tuple_,
    union,
    update,
)

from ledger.adapters import tables
from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.customer import SlaException, exception_in_force
from ledger.aggregates.policy import DEFAULT_VERSION, PolicyVersion, spans_in_force
from ledger.projections.fold import Rows

Step = tuple[LedgerEvent, Rows]
"""An event and the subject's rows right after it."""

_Key = tuple[Any, ...]


def _key_of(table: Table) -> Any:
    names = tables.key_columns(table)

    def key(row: dict[str, Any]) -> _Key:
        return tuple(row[name] for name in names)

    return key


_KEYS = {name: _key_of(table) for name, table in tables.metadata.tables.items()}


def _keyed(name: str, rows: list[dict[str, Any]]) -> dict[_Key, dict[str, Any]]:
    """Rows by key; rows of a table without a key that are equal in every column are told
    apart by their rank among equals."""
    key = _KEYS[name]
    keyed: dict[_Key, dict[str, Any]] = {}
    for row in rows:
        k = key(row)
        while k in keyed:
            k = (*k, None)
        keyed[k] = row
    return keyed


@dataclass
class Versions:
    """The version writes of one transaction: versions closed and versions inserted."""

    tables: tuple[str, ...]
    subject_column: str | None
    inserts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    closes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    forgotten: list[str] = field(default_factory=list)  # subjects whose versions all go

    def forget(self, subject: str) -> None:
        """Remove every version of the subject (it is written again from its history, or
        left out because its fold failed)."""
        self.forgotten.append(subject)

    def add(self, before: Rows, steps: Sequence[Step], subject: str | None = None) -> None:
        """The versions that ``steps`` make from ``subject``, whose stored open versions are
        the rows ``before`` (empty: none stored).

        A step's instants are its event's. From the first event of another subject on (a
        ticket's stream merges its customer's calendar approvals, which its own events can
        overtake on either axis), they are raised to the step's before it where they are
        earlier, so that the subject's versions follow one another on both. A subject's own
        events are taken as they are: the ledger writes a few behind the subject's latest
        (a success play opened at its churn risk's instant), and those change only rows of
        their own, whose versions start where they occurred."""
        stamps: list[tuple[datetime, datetime]] = []
        merged = False
        for event, _ in steps:
            at, recorded = _utc(event.occurred_at), _utc(event.recorded_at)
            merged = merged or (subject is not None and event.originator_id != subject)
            if stamps and merged:
                at, recorded = max(at, stamps[-1][0]), max(recorded, stamps[-1][1])
            stamps.append((at, recorded))
        for name in self.tables:
            rows_before = before.get(name, [])
            if not steps and not rows_before:
                continue
            opened: dict[_Key, tuple[dict[str, Any], dict[str, Any] | None]] = {
                k: (row, None) for k, row in _keyed(name, rows_before).items()
            }
            inserts = self.inserts.setdefault(name, [])
            closes = self.closes.setdefault(name, [])
            last: list[dict[str, Any]] | None = None
            for (_, rows), (at, recorded) in zip(steps, stamps, strict=True):
                table_rows = rows.get(name, [])
                if table_rows is last:  # the fold gave the very same rows: nothing changed
                    continue
                last = table_rows
                now = _keyed(name, table_rows)
                for k, (row, version) in list(opened.items()):
                    found = now.get(k)
                    if found is row or found == row:
                        continue
                    del opened[k]
                    if version is None:  # stored by an earlier transaction: closed in SQL
                        closes.append({**_named(name, row), "_vt": at, "_rt": recorded})
                    else:
                        version["valid_to"], version["recorded_to"] = at, recorded
                for k, row in now.items():
                    if k not in opened:
                        version = {
                            **row,
                            "valid_from": at,
                            "valid_to": None,
                            "recorded_from": recorded,
                            "recorded_to": None,
                        }
                        inserts.append(version)
                        opened[k] = (row, version)

    def apply(self, conn: Connection, insert_rows: Any) -> None:
        """Write them: forgotten subjects' versions go, stored versions are closed, new
        ones inserted (in that order: a new open version must not be closed with the old)."""
        for name in self.tables:
            table = tables.VERSIONS[name]
            if self.forgotten:
                if self.subject_column is None:
                    conn.execute(delete(table))
                else:
                    column = table.c[self.subject_column]
                    for i in range(0, len(self.forgotten), 500):
                        chunk = self.forgotten[i : i + 500]
                        conn.execute(delete(table).where(column.in_(chunk)))
            closes = self.closes.get(name)
            if closes:
                keys = tables.key_columns(tables.metadata.tables[name])
                conn.execute(
                    update(table)
                    .where(
                        *(table.c[k] == bindparam(f"_k_{k}") for k in keys),
                        table.c.recorded_to.is_(None),
                    )
                    .values(valid_to=bindparam("_vt"), recorded_to=bindparam("_rt")),
                    [
                        {"_vt": c["_vt"], "_rt": c["_rt"], **{f"_k_{k}": c[k] for k in keys}}
                        for c in closes
                    ],
                )
            inserts = self.inserts.get(name)
            if inserts:
                insert_rows(conn, table, inserts)


def _named(name: str, row: dict[str, Any]) -> dict[str, Any]:
    keys = tables.key_columns(tables.metadata.tables[name])
    return {k: row[k] for k in keys}


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def fetched(conn: Connection, query: Select[Any], keys: Sequence[str]) -> list[dict[str, Any]]:
    """``query``'s rows as dicts with the ``keys`` (one per selected column, in order).

    The driver's rows are taken whole and each column that needs it read by its type's
    result processor (an instant, a date), the conversion SQLAlchemy's rows apply,
    without building those rows first: many rows are read in two thirds of the time."""
    dialect = conn.dialect
    result = conn.execute(query)
    try:
        cursor = result.cursor
        raw = cursor.fetchall()
        described = [d[1] for d in cursor.description]
    finally:
        result.close()
    rows = [dict(zip(keys, row, strict=True)) for row in raw]
    for n, column in enumerate(query.selected_columns):
        processor = column.type.dialect_impl(dialect).result_processor(dialect, described[n])
        if processor is not None and rows:
            key = keys[n]
            for row in rows:
                value = row[key]
                if value is not None:  # (every processor gives None for None)
                    row[key] = processor(value)
    return rows


READERS = 8
"""At most this many reads of one process run at once (``together``; the engine's pool
keeps as many connections, ``ledger.adapters.projector.engine_for``)."""

_readers: ThreadPoolExecutor | None = None


def together(engine: Engine, reads: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent reads of ``engine``'s database; their results by name once all
    are done, or the first read's error, in the order given, once none is running.

    On PostgreSQL at once, each in a thread of a shared pool on a connection of its own:
    each read is its own transaction, as it was when they ran one after the other, and
    the server works on one while Python turns the rows of another into dicts (the
    customers page at 1M events: a quarter less time, measured). On SQLite one after the
    other: there the database works in this process, and at once they took longer."""
    global _readers
    if len(reads) < 2 or engine.dialect.name != "postgresql":
        return {name: read() for name, read in reads.items()}
    if _readers is None:
        _readers = ThreadPoolExecutor(READERS, thread_name_prefix="ledger-read")
    futures = {name: _readers.submit(read) for name, read in reads.items()}
    wait(futures.values())
    return {name: future.result() for name, future in futures.items()}


def visible_clause(table: Table, as_of: datetime, known_at: datetime | None) -> Any:
    """The rows of a versions table visible as of ``as_of`` known at ``known_at``."""
    c = table.c
    if known_at is None:
        return and_(c.valid_from <= as_of, or_(c.valid_to.is_(None), c.valid_to > as_of))
    return and_(
        c.valid_from <= as_of,
        c.recorded_from <= known_at,
        or_(c.valid_to.is_(None), c.valid_to > as_of, c.recorded_to > known_at),
    )


def read_versions(
    engine: Engine, names: Iterable[str], as_of: datetime, known_at: datetime | None
) -> Rows:
    """Every named read model's rows as of ``as_of`` known at ``known_at`` (ordered by
    primary key, as ``read_models`` orders the live ones)."""
    return {name: read_rows(engine, name, as_of, known_at) for name in names}


Where = Callable[[Any], Iterable[Any]]
"""Extra conditions on a table's columns (``table.c``), pushed into the query."""


def read_rows(
    engine: Engine,
    name: str,
    as_of: datetime,
    known_at: datetime | None,
    *,
    live: bool = False,
    where: Where | None = None,
    only: Sequence[str] | None = None,
    ordered: bool = True,
) -> list[dict[str, Any]]:
    """One read model's rows: the live table (``live``) or the versions visible as of
    ``as_of`` known at ``known_at``, with ``where``'s conditions, by primary key (in any
    order, not ``ordered``); with ``only`` those columns of each row and its key (the
    query needs no more)."""
    live_table = tables.metadata.tables[name]
    table = live_table if live else tables.VERSIONS[name]
    keys_of = tables.key_columns(live_table)  # (always: a fold from the log sorts by them)
    names = [
        c.name for c in live_table.columns if only is None or c.name in only or c.name in keys_of
    ]
    columns = [table.c[n] for n in names]
    query = select(*columns)
    if where is not None:
        query = query.where(*where(table.c))
    keys = [str(n) for n in names]  # (a str, not SQLAlchemy's quoted_name)
    if live:
        order = [table.c[c.name] for c in live_table.primary_key.columns] or columns
        with engine.connect() as conn:
            return fetched(conn, query.order_by(*order) if ordered else query, keys)
    # Versions are sorted here, not in SQL: asked to order by key, the planner walks the
    # key index through the whole table instead of the valid-time index.
    query = query.where(visible_clause(table, as_of, known_at))
    with engine.connect() as conn:
        rows = fetched(conn, query, keys)
    if not ordered:
        return rows
    order_keys = [k for k in tables.key_columns(live_table) if k in keys] or keys
    if all(not table.c[k].nullable for k in order_keys):  # a primary key: never null
        rows.sort(key=itemgetter(*order_keys))
    else:
        rows.sort(key=lambda row: tuple(_sortable(row[k]) for k in order_keys))
    return rows


Totals = Callable[[Any], Mapping[str, Any]]
"""Aggregates of a table's columns (``table.c``), by label, pushed into the query."""


def read_totals(
    engine: Engine,
    name: str,
    as_of: datetime,
    known_at: datetime | None,
    columns: Sequence[str],
    totals: Totals,
    *,
    live: bool = False,
    where: Where | None = None,
    per: str = "customer_id",
) -> dict[Any, dict[str, Any]]:
    """The ``totals`` of one read model's rows meeting ``where`` (the live table's, or
    the versions' visible as of ``as_of`` known at ``known_at``) for each value of the
    column ``per`` that has such rows, as one row each. ``totals`` reads the ``columns``
    of the rows.

    The versions' rows are found first, then grouped (a materialized common table
    expression): asked to group a table by ``per``, the planner walks its index on
    ``per`` through every row instead of finding the few by their instants. A live
    table's rows are most of the table: on SQLite they are grouped as its index on
    ``per`` gives them (the tickets' health totals at 1M events: 19 ms instead of 45
    with the rows set apart first and sorted)."""
    table = tables.metadata.tables[name] if live else tables.VERSIONS[name]
    kept = select(*(table.c[n] for n in dict.fromkeys((per, *columns))))
    if where is not None:
        kept = kept.where(*where(table.c))
    if not live:
        kept = kept.where(visible_clause(table, as_of, known_at))
    rows = kept.cte(f"{name}_kept")
    if not live or engine.dialect.name != "sqlite":
        rows = rows.prefix_with("MATERIALIZED")
    named = totals(rows.c)
    query = select(rows.c[per], *(expr.label(label) for label, expr in named.items()))
    with engine.connect() as conn:
        found = fetched(conn, query.group_by(rows.c[per]), [per, *named])
    return {row.pop(per): row for row in found}


def read_latest(
    engine: Engine,
    name: str,
    as_of: datetime,
    known_at: datetime | None,
    *,
    by: Sequence[str],
    at: str,
    instants: Sequence[datetime],
    count: int,
    only: Sequence[str],
    live: bool = False,
    where: Where | None = None,
    per: str = "customer_id",
) -> list[dict[str, Any]]:
    """Of each ``per`` group of one read model's rows meeting ``where`` (the live
    table's, or the versions' visible as of ``as_of`` known at ``known_at``), the
    ``count`` last by ``by`` (descending; its last column tells a group's rows apart)
    among those whose ``at`` is at or before each of ``instants``; the columns ``only``
    of each, by key. Each is found by one probe of an index on ``per`` and ``by``
    (``tables``), not by reading every row of the group."""
    live_table = tables.metadata.tables[name]
    table = live_table if live else tables.VERSIONS[name]
    key = by[-1]

    def kept(t: Any) -> list[Any]:
        conditions = [] if where is None else list(where(t.c))
        return conditions if live else [*conditions, visible_clause(t, as_of, known_at)]

    groups = select(table.c[per]).distinct()
    if where is not None:
        groups = groups.where(*where(table.c))
    group = groups.cte("groups").prefix_with("MATERIALIZED")
    picks: list[Select[Any]] = []
    for instant in instants:
        for rank in range(count):
            t = table.alias(f"ranked_{len(picks)}")
            probe = (
                select(t.c[key])
                .where(t.c[per] == group.c[per], t.c[at] <= instant, *kept(t))
                .order_by(*(t.c[b].desc() for b in by))
                .limit(1)
                .offset(rank)
                .scalar_subquery()
            )
            picks.append(select(group.c[per], probe))
    names = [c.name for c in live_table.columns if c.name in only]
    keys = [str(n) for n in names]  # (a str, not SQLAlchemy's quoted_name)
    query = select(*(table.c[n] for n in names)).where(
        tuple_(table.c[per], table.c[key]).in_(union(*picks)), *kept(table)
    )
    with engine.connect() as conn:
        rows = fetched(conn, query, keys)
    rows.sort(key=itemgetter(per, key))
    return rows


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    return (values[i : i + size] for i in range(0, len(values), size))


def _sortable(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


def tickets_read_elsewhere(
    engine: Engine,
    as_of: datetime,
    known_at: datetime | None,
    failed_customers: Iterable[str] = (),
) -> set[str]:
    """The tickets visible as of ``as_of`` known at ``known_at`` whose versions were folded
    under another reading of what a ticket reads besides its events than the one visible
    then: their customer not onboarded by ``as_of`` or left out of the read models (a
    replay uses the default calendar, or the customer's), a policy version in force at
    their opening other than the visible policy's, a customer exception in force at
    their opening other than the one the visible approvals give (R-EXC), or business
    timers counted on other approved calendar changes than the visible ones (R-CAL).

    Each case is an index lookup that finds nothing on a ledger ingested in order: the
    customers onboarded after ``as_of``, and per span of openings the tickets recorded
    under any other version than the one visible in force there.
    """
    policy = read_rows(engine, "sla_policy_versions", as_of, known_at)
    visible_versions = [
        PolicyVersion(r["version"], r["effective_from"], r["targets"]) for r in policy
    ]
    tickets, customers = tables.VERSIONS["tickets"], tables.customers
    visible = visible_clause(tickets, as_of, known_at)
    late = select(customers.c.customer_id).where(customers.c.onboarded_at > as_of)
    with engine.connect() as conn:
        numbers = set(conn.execute(select(tables.sla_policy_versions.c.version)).scalars())
        numbers |= {1, *(v.version for v in visible_versions)}
        # The customers first (few, or none): asked as a subquery, the planner scans
        # every ticket version for them.
        elsewhere = set(conn.execute(late).scalars()) | set(failed_customers)
        found: set[str] = set()
        for chunk in _chunks(sorted(elsewhere), 500):
            found |= set(
                conn.execute(
                    select(tickets.c.ticket_id).where(visible, tickets.c.customer_id.in_(chunk))
                ).scalars()
            )
        found |= _counted_on_other_calendars(conn, as_of, known_at, visible)
        for start, end, version in spans_in_force(visible_versions or [DEFAULT_VERSION]):
            for other in sorted(numbers - {version}):
                span = [tickets.c.policy_version == other]
                if start is not None:
                    span.append(tickets.c.opened_at >= start)
                if end is not None:
                    span.append(tickets.c.opened_at < end)
                found |= set(
                    conn.execute(select(tickets.c.ticket_id).where(*span, visible)).scalars()
                )
        found |= _read_under_other_exceptions(conn, engine, as_of, known_at)
    return found


def _read_under_other_exceptions(
    conn: Connection, engine: Engine, as_of: datetime, known_at: datetime | None
) -> set[str]:
    """The visible tickets recorded under an exception (or none) other than the one in
    force at their opening by the customer's approvals visible then: those recorded under
    any exception, and those of each visible approved exception's span (few, or none)."""
    approved: dict[str, list[SlaException]] = {}
    rows = read_rows(engine, "customer_exceptions", as_of, known_at)
    for row in rows:
        if row["approved_at"] is not None:
            approved.setdefault(row["customer_id"], []).append(
                SlaException(
                    row["exception_id"], row["effective_from"], row["expires_at"], row["targets"]
                )
            )
    approvals = {(row["customer_id"], row["exception_id"]): row["approved_at"] for row in rows}
    for customer, exceptions in approved.items():  # in order of approval, as the fold has them
        exceptions.sort(key=lambda e: approvals[(customer, e.exception_id)])
    tickets = tables.VERSIONS["tickets"]
    c = tickets.c
    visible = visible_clause(tickets, as_of, known_at)
    columns = (c.ticket_id, c.customer_id, c.opened_at, c.exception_id)
    # The versions recorded under any exception, by their index alone, visibility
    # checked here: few rows. Asked together with the visibility range, SQLite (no
    # statistics) scanned the valid_from index instead, half the versions of a past
    # instant (160 ms at 1M events, against under 10).
    # (``>= ''`` is every exception id: SQLite answers ``IS NOT NULL`` by a scan)
    marked = select(*columns, c.valid_from, c.valid_to, c.recorded_from, c.recorded_to).where(
        c.exception_id >= ""
    )
    recorded: list[tuple[str, str, datetime, str | None]] = [
        (r[0], r[1], r[2], r[3])
        for r in conn.execute(marked)
        if _visible(r[4], r[5], r[6], r[7], as_of, known_at)
    ]
    queries: list[Select[Any]] = []
    for customer, exceptions in approved.items():
        for exception in exceptions:
            queries.append(
                select(*columns).where(
                    visible,
                    c.customer_id == customer,
                    c.opened_at >= exception.effective_from,
                    c.opened_at < exception.expires_at,
                )
            )
    found = set()
    for query in queries:
        recorded.extend((r[0], r[1], r[2], r[3]) for r in conn.execute(query))
    for ticket_id, customer, opened_at, exception_id in recorded:
        in_force = exception_in_force(approved.get(customer, ()), opened_at)
        if (None if in_force is None else in_force.exception_id) != exception_id:
            found.add(ticket_id)
    return found


def _visible(
    valid_from: datetime,
    valid_to: datetime | None,
    recorded_from: datetime,
    recorded_to: datetime | None,
    as_of: datetime,
    known_at: datetime | None,
) -> bool:
    """``visible_clause`` on one row's range."""
    if valid_from > as_of:
        return False
    if known_at is None:
        return valid_to is None or valid_to > as_of
    return recorded_from <= known_at and (
        valid_to is None or valid_to > as_of or (recorded_to is not None and recorded_to > known_at)
    )


def _counted_on_other_calendars(
    conn: Connection, as_of: datetime, known_at: datetime | None, visible: Any
) -> set[str]:
    """The visible ticket versions whose timers were counted on other approved calendar
    changes than those visible as of ``as_of`` known at ``known_at`` (R-CAL).

    A ticket version records ``calendar_version``: the newest version its business timers
    were counted with, which is ``1 +`` the customer's approvals at or before its
    ``calendar_settled_at`` (all of them while that is null, a business timer being open).
    A replay counts the approvals visible then; a version whose count differs was folded
    before an approval that reaches it was known, or after one not visible then. Only
    customers with a change are asked, one index lookup each (none on a ledger without).
    """
    calendars = tables.customer_calendars
    changed = sorted(
        set(conn.execute(select(calendars.c.customer_id).where(calendars.c.version > 1)).scalars())
    )
    if not changed:
        return set()
    cal_versions = tables.VERSIONS["customer_calendars"]
    approvals: dict[str, list[datetime]] = {c: [] for c in changed}
    for chunk in _chunks(changed, 500):
        rows = conn.execute(
            select(cal_versions.c.customer_id, cal_versions.c.version, cal_versions.c.approved_at)
            .where(
                visible_clause(cal_versions, as_of, known_at),
                cal_versions.c.version > 1,
                cal_versions.c.customer_id.in_(chunk),
            )
            .order_by(cal_versions.c.customer_id, cal_versions.c.version)
        )
        for customer_id, _, approved_at in rows:
            approvals[customer_id].append(approved_at)
    tickets = tables.VERSIONS["tickets"]
    c = tickets.c
    found: set[str] = set()
    for customer_id, instants in approvals.items():
        # Expected: 1 + the visible approvals at or before ``calendar_settled_at``.
        expected = [
            and_(
                c.calendar_version == n + 1,
                *([c.calendar_settled_at >= instants[n - 1]] if n else []),
                *(
                    [c.calendar_settled_at.is_not(None), c.calendar_settled_at < instants[n]]
                    if n < len(instants)
                    else []
                ),
            )
            for n in range(len(instants) + 1)
        ]
        if instants:  # settled is null: every visible approval counts
            expected[-1] = or_(
                expected[-1],
                and_(c.calendar_version == len(instants) + 1, c.calendar_settled_at.is_(None)),
            )
        else:
            expected = [c.calendar_version == 1]
        found |= set(
            conn.execute(
                select(c.ticket_id).where(visible, c.customer_id == customer_id, ~or_(*expected))
            ).scalars()
        )
    return found
