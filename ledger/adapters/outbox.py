"""The webhook outbox in the ledger's database: subscriptions, deliveries, attempts.

Deliveries are filled from the log at a position (``webhooks:outbox`` in
``publish_positions``): the rows a page of alerts makes and the position after it commit
in one transaction (``Outbox.filling``), so a crash loses no alert and repeats none (a
repeated row has the same ``message_id``, which is unique). A subscription starts at the
log head as the filler sees it: adding one takes the same row lock as filling, so an
alert is either before the subscription's start or filled after the subscription exists.

Sending is at least once: a delivery is claimed (its next attempt moved a lease ahead)
before it is sent and the attempt recorded after; a dispatcher that dies in between
leaves it pending, due again when the lease runs out, with the same ``message_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledger.adapters import tables
from ledger.adapters.projector import create_tables, insert_missing

STREAM: Final = "webhooks:outbox"
"""The outbox filler's position in ``publish_positions``: the last notification id read."""

STATUSES: Final = ("pending", "delivered", "failed")

_subs = tables.webhook_subscriptions
_deliveries = tables.webhook_deliveries
_attempts = tables.webhook_attempts
_positions = tables.publish_positions


@dataclass(frozen=True)
class Subscription:
    """A URL that receives the alerts of the listed types, signed with its secret."""

    id: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    created_at: datetime
    start_position: int
    removed_at: datetime | None = None


@dataclass(frozen=True)
class NewDelivery:
    """An outbox row to insert: one alert for one subscription."""

    message_id: str
    subscription_id: str
    notification_id: int
    event_id: str
    event_type: str
    subject: str
    payload: str


@dataclass(frozen=True)
class Attempt:
    """One attempt whose outcome the ledger recorded."""

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class Delivery:
    """An outbox row as read back, with its subscription's URL and secret."""

    id: int
    message_id: str
    subscription_id: str
    url: str
    secret: str
    notification_id: int
    event_id: str
    event_type: str
    subject: str
    payload: str
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


@dataclass
class Filling:
    """One fill transaction: where the filler stands, the live subscriptions, and the
    rows to add; ``advance`` says where the page ended."""

    conn: Connection
    position: int
    subscriptions: list[Subscription]
    added: int = 0

    def add(self, rows: Sequence[NewDelivery], created_at: datetime) -> None:
        """Insert the rows (a row whose ``message_id`` is there already is skipped)."""
        insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        for row in rows:
            done = self.conn.execute(
                insert(_deliveries)
                .values(
                    **row.__dict__,
                    created_at=created_at,
                    status="pending",
                    attempts=0,
                    next_attempt_at=created_at,
                )
                .on_conflict_do_nothing(index_elements=["message_id"])
                .returning(_deliveries.c.id)
            )
            self.added += len(done.all())  # (rowcount is -1 on PostgreSQL here)

    def advance(self, position: int) -> None:
        """The filler has read the log up to ``position``."""
        self.conn.execute(
            update(_positions).where(_positions.c.stream == STREAM).values(position=position)
        )
        self.position = position


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        event_types=tuple(row.event_types),
        secret=row.secret,
        created_at=row.created_at,
        start_position=int(row.start_position),
        removed_at=row.removed_at,
    )


_DELIVERY_COLUMNS = (*_deliveries.c, _subs.c.url, _subs.c.secret)


def _delivery(row: Any) -> Delivery:
    return Delivery(**{name: getattr(row, name) for name in Delivery.__dataclass_fields__})


class Outbox:
    """The webhook tables of one ledger database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine)
        with engine.begin() as conn:
            insert_missing(conn, _positions, [{"stream": STREAM}])

    @staticmethod
    def _lock(conn: Connection) -> int:
        """Take the filler's row lock (a write: SQLite's write lock, PostgreSQL's row lock)
        before reading anything, and return the filler's position."""
        conn.execute(
            update(_positions)
            .where(_positions.c.stream == STREAM)
            .values(position=_positions.c.position)
        )
        return int(
            conn.scalar(select(_positions.c.position).where(_positions.c.stream == STREAM)) or 0
        )

    # subscriptions -------------------------------------------------------------------------

    def add_subscription(
        self,
        subscription_id: str,
        url: str,
        event_types: Sequence[str],
        secret: str,
        created_at: datetime,
        head: int,
    ) -> Subscription:
        """Store a subscription that starts after ``head`` (the log head read by the caller)
        or after what the filler has read, whichever is later."""
        with self.engine.begin() as conn:
            filled = self._lock(conn)
            subscription = Subscription(
                subscription_id,
                url,
                tuple(event_types),
                secret,
                created_at,
                max(head, filled),
            )
            conn.execute(
                _subs.insert().values(
                    id=subscription.id,
                    url=subscription.url,
                    event_types=list(subscription.event_types),
                    secret=subscription.secret,
                    created_at=subscription.created_at,
                    start_position=subscription.start_position,
                )
            )
        return subscription

    def subscriptions(self, *, include_removed: bool = False) -> list[Subscription]:
        """The subscriptions, oldest first."""
        query = select(_subs).order_by(_subs.c.created_at, _subs.c.id)
        if not include_removed:
            query = query.where(_subs.c.removed_at.is_(None))
        with self.engine.connect() as conn:
            return [_subscription(row) for row in conn.execute(query)]

    def remove_subscription(self, subscription_id: str, at: datetime, reason: str) -> int | None:
        """Mark the subscription removed and its pending deliveries failed with ``reason``;
        how many were pending (None: no such live subscription)."""
        with self.engine.begin() as conn:
            removed = conn.execute(
                update(_subs)
                .where(_subs.c.id == subscription_id, _subs.c.removed_at.is_(None))
                .values(removed_at=at)
            )
            if removed.rowcount != 1:
                return None
            cancelled = conn.execute(
                update(_deliveries)
                .where(
                    _deliveries.c.subscription_id == subscription_id,
                    _deliveries.c.status == "pending",
                )
                .values(status="failed", next_attempt_at=None, last_error=reason)
            )
        return int(cancelled.rowcount)

    # filling -------------------------------------------------------------------------------

    @contextmanager
    def filling(self) -> Iterator[Filling]:
        """One fill transaction, under the filler's lock: commits on exit, rolls back on
        an exception (nothing added, the position where it was)."""
        with self.engine.begin() as conn:
            position = self._lock(conn)
            live = conn.execute(
                select(_subs).where(_subs.c.removed_at.is_(None)).order_by(_subs.c.id)
            )
            yield Filling(conn, position, [_subscription(row) for row in live])

    def position(self) -> int:
        """The last notification id the filler has read."""
        with self.engine.connect() as conn:
            value = conn.scalar(select(_positions.c.position).where(_positions.c.stream == STREAM))
        return int(value or 0)

    # sending -------------------------------------------------------------------------------

    def _select(self) -> Any:
        return select(*_DELIVERY_COLUMNS).join(_subs, _subs.c.id == _deliveries.c.subscription_id)

    def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is at or before ``now``, earliest first."""
        query = (
            self._select()
            .where(_deliveries.c.status == "pending", _deliveries.c.next_attempt_at <= now)
            .order_by(_deliveries.c.next_attempt_at, _deliveries.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_delivery(row) for row in conn.execute(query)]

    def claim(self, delivery: Delivery, until: datetime) -> bool:
        """Move the delivery's next attempt to ``until`` (the lease) if no one else touched
        it since it was read; False when another dispatcher has it."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(_deliveries)
                .where(
                    _deliveries.c.id == delivery.id,
                    _deliveries.c.status == "pending",
                    _deliveries.c.attempts == delivery.attempts,
                    _deliveries.c.next_attempt_at == delivery.next_attempt_at,
                )
                .values(next_attempt_at=until)
            )
        return done.rowcount == 1

    def record(
        self,
        delivery: Delivery,
        attempt: Attempt,
        *,
        status: str,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record an attempt and the delivery's new state, in one transaction; False (and
        nothing written) when another dispatcher recorded this attempt first."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(_deliveries)
                .where(
                    _deliveries.c.id == delivery.id,
                    _deliveries.c.status == "pending",
                    _deliveries.c.attempts == attempt.attempt - 1,
                )
                .values(
                    status=status,
                    attempts=attempt.attempt,
                    next_attempt_at=next_attempt_at,
                    last_attempt_at=attempt.at,
                    last_status_code=attempt.status_code,
                    last_error=attempt.error,
                    delivered_at=attempt.at if status == "delivered" else None,
                )
            )
            if done.rowcount != 1:
                return False  # nothing written: the transaction commits no change
            conn.execute(
                _attempts.insert().values(
                    delivery_id=delivery.id,
                    attempt=attempt.attempt,
                    at=attempt.at,
                    status_code=attempt.status_code,
                    error=attempt.error,
                )
            )
        return True

    # reading -------------------------------------------------------------------------------

    def deliveries(self, *, status: str | None = None, limit: int | None = None) -> list[Delivery]:
        """Deliveries in the order they were filled (of one status, if given)."""
        query = self._select().order_by(_deliveries.c.id)
        if status is not None:
            query = query.where(_deliveries.c.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_delivery(row) for row in conn.execute(query)]

    def attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[Attempt]]:
        """The recorded attempts of the deliveries, in order."""
        found: dict[int, list[Attempt]] = {i: [] for i in delivery_ids}
        if not delivery_ids:
            return found
        query = (
            select(_attempts)
            .where(_attempts.c.delivery_id.in_(list(delivery_ids)))
            .order_by(_attempts.c.delivery_id, _attempts.c.attempt)
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found[row.delivery_id].append(
                    Attempt(row.attempt, row.at, row.status_code, row.error)
                )
        return found

    def counts(self) -> dict[str, int]:
        """How many deliveries of each status."""
        query = select(_deliveries.c.status, func.count()).group_by(_deliveries.c.status)
        with self.engine.connect() as conn:
            found = {str(status): int(n) for status, n in conn.execute(query)}
        return {status: found.get(status, 0) for status in STATUSES}
