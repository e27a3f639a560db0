"""Webhooks for the ledger's alerts, as Standard Webhooks (https://www.standardwebhooks.com).

The alerts are the events the ledger writes itself (``SYSTEM``: ``sla.breached``,
``fix.temporary_expired``, ``customer.churn_risk_raised``, and any such type added
later). They are on the log, so the outbox is filled from the log at a position
(``fill``): the rows a page of the log makes and the position after it commit together,
so every alert stored after a subscription began gets exactly one outbox row per
matching subscription, whatever crashes, and the tick's own transaction stays as it is.

``deliver_due`` sends what is due, at least once: each delivery is claimed for a lease,
POSTed with the headers ``webhook-id`` (the same on every attempt, so receivers
deduplicate), ``webhook-timestamp`` (unix seconds of the attempt) and
``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under
the secret's key), and the outcome recorded. A 2xx delivers; anything else (a status,
a refused or dropped connection, a timeout) is retried after an exponential backoff with
a cap, and after ``max_attempts`` the delivery is failed (kept, listed). Time comes from
``clock``, never from the wall clock directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import orjson
from eventsourcing.utils import get_topic
from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.outbox import STATUSES, Attempt, Delivery, NewDelivery, Outbox, Subscription
from ledger.adapters.webhook_client import SendResult, post
from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.customer import Customer
from ledger.aggregates.policy import SlaPolicy
from ledger.aggregates.ticket import Ticket
from ledger.services.queries import instant, trail_entry

NAMESPACE: Final = uuid.UUID("5d1f0a52-4c8e-5b0e-8f43-776562686f6b")
SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = 32
PAGE: Final = 500
REMOVED: Final = "subscription removed"


AGGREGATES: Final = (Ticket, Customer, SlaPolicy)
"""Every aggregate: the alert types are their events that the ledger writes itself."""


RECORDS: Final = frozenset({"customer.data_erased"})
"""Events the ledger writes that record what an operator did (R-ERASE-1), not alerts."""


def _alert_classes() -> dict[str, type[LedgerEvent]]:
    found = {
        value.WIRE_TYPE: value
        for aggregate in AGGREGATES
        for value in vars(aggregate).values()
        if isinstance(value, type)
        and issubclass(value, LedgerEvent)
        and value.SYSTEM
        and value.WIRE_TYPE not in RECORDS
    }
    return dict(sorted(found.items()))


ALERT_CLASSES: Final = _alert_classes()
ALERT_TYPES: Final = tuple(sorted(ALERT_CLASSES))
"""The alert types a subscription may name (``ledger webhooks add --event``)."""
ALERT_TOPICS: Final = tuple(get_topic(cls) for cls in ALERT_CLASSES.values())


class WebhookError(ValueError):
    """A request the webhooks cannot take; the message names the field at fault."""


# what a subscription is -------------------------------------------------------------------


def check_url(url: str) -> str:
    """``url`` if it is an absolute http or https URL with a host, else ``WebhookError``."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is no number raises
    except ValueError as error:
        raise WebhookError(f"url: {url!r} is not a URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError(f"url: {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise WebhookError(f"url: {url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookError(f"url: {url!r} carries credentials; the signature authenticates")
    if parts.fragment or any(c.isspace() for c in url):
        raise WebhookError(f"url: {url!r} may not hold a fragment or white space")
    return url


def check_event_types(types: Sequence[str]) -> tuple[str, ...]:
    """The distinct alert types asked for, in order, or ``WebhookError`` naming the first
    that is not one."""
    if not types:
        raise WebhookError(f"event: name at least one of {', '.join(ALERT_TYPES)}")
    for name in types:
        if name not in ALERT_CLASSES:
            raise WebhookError(
                f"event: {name!r} is not an alert type (one of {', '.join(ALERT_TYPES)})"
            )
    return tuple(dict.fromkeys(types))


def new_secret() -> str:
    """A signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of
    ``{message_id}.{timestamp}.{body}`` under the secret's decoded key."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def message_id(subscription_id: str, event_id: str) -> str:
    """The ``webhook-id`` of an alert for a subscription: derived from both, so a refill
    after a crash makes the same message, never a second one."""
    return "msg_" + uuid.uuid5(NAMESPACE, f"{subscription_id}|{event_id}").hex


def message_body(notification_id: int, event: LedgerEvent) -> bytes:
    """The JSON a subscriber receives: ``type``, ``timestamp`` (when the alert occurred)
    and ``data`` (the event as ``ledger ticket show --json`` lists it, with its subject and
    position in the log)."""
    entry = trail_entry(event)
    return orjson.dumps(
        {
            "type": event.WIRE_TYPE,
            "timestamp": entry["occurred_at"],
            "data": {"notification_id": notification_id, "subject": event.originator_id, **entry},
        },
        option=orjson.OPT_SORT_KEYS,
    )


# when to try again -------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """After the n-th failed attempt, wait ``base * 2**(n-1)``, at most ``cap``; after
    ``max_attempts`` failed attempts the delivery is failed."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=6)
    max_attempts: int = 12

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.cap < self.base or self.max_attempts < 1:
            raise ValueError(f"backoff: base > 0, cap >= base, max_attempts >= 1 ({self})")

    def delay(self, failed: int) -> timedelta:
        """How long to wait after the ``failed``-th failed attempt."""
        return min(self.cap, self.base * (1 << min(failed - 1, 40)))

    def schedule(self) -> list[timedelta]:
        """The waits between attempts, first to last."""
        return [self.delay(n) for n in range(1, self.max_attempts)]


class Sender(Protocol):
    """How one webhook is sent (``ledger.adapters.webhook_client.post``)."""

    def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> SendResult: ...


@dataclass
class DeliverReport:
    """What one round filled and sent."""

    now: datetime
    filled: int = 0
    sent: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "now": instant(self.now),
            "filled": self.filled,
            "sent": self.sent,
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
        }


def subscription_view(subscription: Subscription) -> dict[str, Any]:
    """A subscription as listed (never its secret)."""
    return {
        "id": subscription.id,
        "url": subscription.url,
        "events": list(subscription.event_types),
        "created_at": instant(subscription.created_at),
        "after_notification": subscription.start_position,
        "removed_at": instant(subscription.removed_at),
    }


def delivery_view(delivery: Delivery, attempts: Sequence[Attempt]) -> dict[str, Any]:
    """A delivery as listed, with its recorded attempts."""
    return {
        "id": delivery.id,
        "webhook_id": delivery.message_id,
        "subscription_id": delivery.subscription_id,
        "url": delivery.url,
        "event_type": delivery.event_type,
        "subject": delivery.subject,
        "event_id": delivery.event_id,
        "notification_id": delivery.notification_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": instant(delivery.created_at),
        "next_attempt_at": instant(delivery.next_attempt_at),
        "last_attempt_at": instant(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": instant(delivery.delivered_at),
        "attempt_log": [
            {"attempt": a.attempt, "at": instant(a.at), "status_code": a.status_code}
            | {"error": a.error}
            for a in attempts
        ],
    }


def _wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Webhooks:
    """Subscriptions, the outbox and the dispatcher of one ledger."""

    app: LedgerApp
    engine: Engine
    clock: Callable[[], datetime] = _wall_clock
    send: Sender = post
    backoff: Backoff = field(default_factory=Backoff)
    timeout: float = 10.0
    lease: timedelta = timedelta(seconds=60)
    page_size: int = PAGE
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        if self.lease <= timedelta(seconds=self.timeout):
            raise ValueError("lease must outlast the request timeout")
        self.outbox = Outbox(self.engine)

    # subscriptions -------------------------------------------------------------------------

    def add(self, url: str, event_types: Sequence[str]) -> Subscription:
        """Subscribe ``url`` to the alerts of ``event_types`` stored from now on; the
        returned subscription holds its new secret (shown once)."""
        url, types = check_url(url), check_event_types(event_types)
        return self.outbox.add_subscription(
            "wh_" + secrets.token_hex(8),
            url,
            types,
            new_secret(),
            self.clock(),
            head=self.app.store.max_notification_id() or 0,
        )

    def subscriptions(self, *, include_removed: bool = False) -> list[Subscription]:
        """The subscriptions, oldest first."""
        return self.outbox.subscriptions(include_removed=include_removed)

    def remove(self, subscription_id: str) -> int:
        """Stop a subscription; its pending deliveries are failed (kept, listed). How many
        were pending. ``WebhookError`` when there is no such live subscription."""
        cancelled = self.outbox.remove_subscription(subscription_id, self.clock(), REMOVED)
        if cancelled is None:
            raise WebhookError(f"id: no webhook subscription {subscription_id!r}")
        return cancelled

    # the outbox ----------------------------------------------------------------------------

    def fill(self) -> int:
        """Put every alert stored since the last fill in the outbox, one row per matching
        subscription; how many rows were added."""
        added = 0
        while True:
            head = self.app.store.max_notification_id() or 0
            with self.outbox.filling() as batch:
                if batch.position >= head:
                    return added
                if not batch.subscriptions:  # nobody to tell: skip to the head
                    batch.advance(head)
                    return added
                page = self.app.store.select_notifications(
                    start=batch.position,
                    limit=self.page_size,
                    stop=head,
                    topics=ALERT_TOPICS,
                    inclusive_of_start=False,
                )
                rows: list[NewDelivery] = []
                for notification in page:
                    event = self.app.mapper.to_domain_event(notification)
                    assert isinstance(event, LedgerEvent)
                    body: bytes | None = None
                    for sub in batch.subscriptions:
                        if notification.id <= sub.start_position:
                            continue
                        if event.WIRE_TYPE not in sub.event_types:
                            continue
                        body = body or message_body(notification.id, event)
                        rows.append(
                            NewDelivery(
                                message_id(sub.id, event.event_id),
                                sub.id,
                                notification.id,
                                event.event_id,
                                event.WIRE_TYPE,
                                event.originator_id,
                                body.decode(),
                            )
                        )
                batch.add(rows, self.clock())
                end = page[-1].id if len(page) == self.page_size else head
                batch.advance(end)
                added += batch.added
            if end >= head:
                return added

    # sending -------------------------------------------------------------------------------

    def deliver_due(self, limit: int = 100) -> DeliverReport:
        """Send every delivery due by the clock's now, and record each outcome."""
        report = DeliverReport(self.clock())
        while due := self.outbox.due(report.now, limit):
            for delivery in due:
                self._attempt(delivery, report)
        return report

    def _attempt(self, delivery: Delivery, report: DeliverReport) -> None:
        at = self.clock()
        if not self.outbox.claim(delivery, at + self.lease):
            return  # another dispatcher has it
        body = delivery.payload.encode()
        stamp = int(at.timestamp())
        result = self.send(
            delivery.url,
            body,
            headers(delivery.secret, delivery.message_id, stamp, body),
            self.timeout,
        )
        number = delivery.attempts + 1
        report.sent += 1
        if result.ok:
            status, retry_at = "delivered", None
            report.delivered += 1
        elif number >= self.backoff.max_attempts:
            status, retry_at = "failed", None
            report.failed += 1
        else:
            status, retry_at = "pending", at + self.backoff.delay(number)
            report.retrying += 1
        self.outbox.record(
            delivery,
            Attempt(number, at, result.status_code, result.error),
            status=status,
            next_attempt_at=retry_at,
        )

    def run_once(self) -> DeliverReport:
        """Fill the outbox from the log, then send what is due."""
        filled = self.fill()
        report = self.deliver_due()
        report.filled = filled
        return report

    def follow(
        self,
        stop: threading.Event,
        every: float,
        on_round: Callable[[DeliverReport], None] | None = None,
    ) -> DeliverReport:
        """Fill and send, then again every ``every`` seconds until ``stop`` is set (at least
        one round); the last round's report."""
        while True:
            report = self.run_once()
            if on_round is not None:
                on_round(report)
            if stop.wait(every):
                return report

    # reading -------------------------------------------------------------------------------

    def deliveries(
        self, *, status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The outbox as listed, in the order it was filled."""
        if status is not None and status not in STATUSES:
            raise WebhookError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        found = self.outbox.deliveries(status=status, limit=limit)
        attempts = self.outbox.attempts([d.id for d in found])
        return [delivery_view(d, attempts[d.id]) for d in found]
