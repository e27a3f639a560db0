"""The principals' table: producers and readers, their scopes and what verifies them.

One table, ``ledger_principals``, beside the log on the same database (SQLite or
PostgreSQL, in the ledger's schema). A row keeps a principal's name, kind, scope and
two secrets' *verifiers*, never the token itself:

* ``token_hash``: SHA-256 of the token, for bearer authentication (HTTP);
* ``signing_key``: for producers, the HMAC-SHA256 key their Kafka records are signed
  with, derived from the token (``ledger.services.principals.signing_key``). HMAC is
  symmetric: what verifies a signature can make one, so this column is as secret as the
  database itself; it does not give the token back.

Names are unique across both kinds (a trail names a producer by name alone) and never
reused, even after a revocation, so an old event's producer always means one principal.
The table has its own ``MetaData``: it is no read model, and rebuilds never touch it.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from ledger.adapters.tables import UTCDateTime

metadata = MetaData()

principals_table: Final = Table(
    "ledger_principals",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("signing_key", String(64)),  # producers only (hex)
    Column("sources", Text),  # JSON lists (producers); null for readers
    Column("roles", Text),
    Column("types", Text),
    Column("customers", Text),  # readers: JSON list, or null for every customer
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)


@dataclass(frozen=True)
class PrincipalRow:
    """One stored principal (no secret in it but the signing key, for producers)."""

    name: str
    kind: str
    sources: tuple[str, ...] | None
    roles: tuple[str, ...] | None
    types: tuple[str, ...] | None
    customers: tuple[str, ...] | None
    created_at: datetime
    revoked_at: datetime | None
    signing_key: str | None


class NameTaken(ValueError):
    """A principal of that name exists (or existed: names are never reused)."""


_created: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose table exists


def ensure_table(engine: Engine) -> None:
    """Create the table if it is missing (once per engine and process)."""
    if engine in _created:
        return
    metadata.create_all(engine, checkfirst=True)
    _created.add(engine)


def _list(values: Iterable[str] | None) -> str | None:
    return None if values is None else json.dumps(sorted(set(values)))


def _tuple(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def _row(row: Any) -> PrincipalRow:
    return PrincipalRow(
        name=row.name,
        kind=row.kind,
        sources=_tuple(row.sources),
        roles=_tuple(row.roles),
        types=_tuple(row.types),
        customers=_tuple(row.customers),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        signing_key=row.signing_key,
    )


def add(
    engine: Engine,
    *,
    name: str,
    kind: str,
    token_hash: str,
    created_at: datetime,
    signing_key: str | None = None,
    sources: Iterable[str] | None = None,
    roles: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    customers: Iterable[str] | None = None,
) -> None:
    """Store a new principal; ``NameTaken`` if the name is (or was) in use."""
    ensure_table(engine)
    with engine.begin() as conn:
        taken = conn.execute(
            select(principals_table.c.kind, principals_table.c.revoked_at).where(
                principals_table.c.name == name
            )
        ).first()
        if taken is not None:
            state = " (revoked; names are not reused)" if taken.revoked_at else ""
            raise NameTaken(f"a {taken.kind} named {name!r} exists already{state}")
        conn.execute(
            insert(principals_table).values(
                name=name,
                kind=kind,
                token_hash=token_hash,
                signing_key=signing_key,
                sources=_list(sources),
                roles=_list(roles),
                types=_list(types),
                customers=_list(customers),
                created_at=created_at,
            )
        )


def listed(engine: Engine, kind: str) -> list[PrincipalRow]:
    """Every principal of a kind, revoked ones too, by name."""
    ensure_table(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(principals_table)
            .where(principals_table.c.kind == kind)
            .order_by(principals_table.c.name)
        ).all()
    return [_row(r) for r in rows]


def revoke(engine: Engine, kind: str, name: str, at: datetime) -> bool | None:
    """Revoke a principal: True if done now, False if it was revoked already, None if
    there is no such principal of that kind."""
    ensure_table(engine)
    with engine.begin() as conn:
        found = conn.execute(
            select(principals_table.c.revoked_at).where(
                principals_table.c.name == name, principals_table.c.kind == kind
            )
        ).first()
        if found is None:
            return None
        if found.revoked_at is not None:
            return False
        conn.execute(
            update(principals_table)
            .where(principals_table.c.name == name, principals_table.c.kind == kind)
            .values(revoked_at=at)
        )
    return True


def by_token_hash(engine: Engine, token_hash: str) -> PrincipalRow | None:
    """The principal a token hash belongs to, unless revoked."""
    ensure_table(engine)
    with engine.connect() as conn:
        row = conn.execute(
            select(principals_table).where(
                principals_table.c.token_hash == token_hash,
                principals_table.c.revoked_at.is_(None),
            )
        ).first()
    return None if row is None else _row(row)


def by_names(engine: Engine, names: Sequence[str]) -> dict[str, PrincipalRow]:
    """The principals of these names that are not revoked."""
    if not names:
        return {}
    ensure_table(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(principals_table).where(
                principals_table.c.name.in_(sorted(set(names))),
                principals_table.c.revoked_at.is_(None),
            )
        ).all()
    return {r.name: _row(r) for r in rows}
