"""Publishing from the ledger to Kafka: the relay (domain events, alerts) and the rejection
outbox. Both are at-least-once: a page is sent, the producer flushed, every send checked,
and only then does the position move (``consumers.positions``). Each message carries the
id it came from (``notification_id``, ``rejection_id``) so consumers can deduplicate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import orjson
from eventsourcing.persistence import Notification
from kafka import KafkaProducer
from sqlalchemy import Engine

from consumers.kafka import ALERTS, EVENTS, REJECTED, send_and_confirm
from consumers.positions import StreamPosition
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.store import StoredRejection
from ledger.aggregates.base import LedgerEvent
from ledger.services.queries import rejection_view, trail_entry

log = logging.getLogger(__name__)

PAGE = 1000


def event_message(notification_id: int, event: LedgerEvent) -> dict[str, Any]:
    """The value the relay publishes for one stored event."""
    return {
        "notification_id": notification_id,
        "subject": event.originator_id,
        **trail_entry(event),
    }


Message = tuple[str, bytes | None, bytes]
"""(topic, key, value)."""


def publish_pages(
    producer: KafkaProducer,
    position: StreamPosition,
    read_page: Callable[[int], list[tuple[int, list[Message]]]],
) -> int:
    """Publish page after page from the stored position; move it only once acknowledged.

    ``read_page(after)`` gives (id, messages) pairs with ids greater than ``after``. If
    another publisher moved the position first, carry on from where it got to.
    """
    published = 0
    at = position.get()
    while page := read_page(at):
        send_and_confirm(producer, [m for _, messages in page for m in messages])
        if not position.advance(at, page[-1][0]):
            log.warning("another publisher moved %s first; following it", position.stream)
            at = position.get()
            continue
        published += len(page)
        at = page[-1][0]
    return published


class Relay:
    """Publishes every stored event, in log order, to ``ledger.events`` (key = subject);
    the ledger's alerts (the events it writes itself: breaches, warnings, expired
    temporary fixes and exceptions, churn risk) also go to ``ledger.alerts``. Resumes
    after its last acknowledged page."""

    def __init__(
        self,
        app: LedgerApp,
        engine: Engine,
        producer: KafkaProducer,
        *,
        events_topic: str = EVENTS,
        alerts_topic: str = ALERTS,
        page_size: int = PAGE,
    ) -> None:
        self.app = app
        self.producer = producer
        self.events_topic = events_topic
        self.alerts_topic = alerts_topic
        self.page_size = page_size
        self.position = StreamPosition(engine, f"relay:{events_topic}")

    def publish_new(self) -> int:
        """Publish everything stored since the last acknowledged page; how many events."""

        def page(after: int) -> list[tuple[int, list[Message]]]:
            notifications = self.app.store.select_notifications(
                start=after, limit=self.page_size, inclusive_of_start=False
            )
            return [(n.id, self._messages(n)) for n in notifications]

        return publish_pages(self.producer, self.position, page)

    def _messages(self, notification: Notification) -> list[Message]:
        event = self.app.mapper.to_domain_event(notification)
        assert isinstance(event, LedgerEvent)
        key = event.originator_id.encode()
        value = orjson.dumps(event_message(notification.id, event))
        if event.SYSTEM:
            return [(self.events_topic, key, value), (self.alerts_topic, key, value)]
        return [(self.events_topic, key, value)]

    def follow(
        self,
        stop: threading.Event,
        *,
        poll_seconds: float = 1.0,
        on_publish: Callable[[int, int], None] | None = None,
    ) -> None:
        """Keep publishing until ``stop`` is set; ``on_publish(count, position)`` per round."""
        while not stop.is_set():
            count = self.publish_new()
            if count:
                if on_publish is not None:
                    on_publish(count, self.position.get())
            else:
                stop.wait(poll_seconds)


class RejectionOutbox:
    """Publishes stored rejections to ``ledger.rejected``, each once it is committed."""

    def __init__(
        self, app: LedgerApp, engine: Engine, producer: KafkaProducer, topic: str = REJECTED
    ) -> None:
        self.app = app
        self.producer = producer
        self.topic = topic
        self.position = StreamPosition(engine, f"outbox:{topic}")

    def publish_new(self) -> int:
        """Publish the rejections not yet acknowledged; how many."""

        def page(after: int) -> list[tuple[int, list[Message]]]:
            return [
                (stored.id, [self._message(stored)])
                for stored in self.app.store.rejections(after_id=after, limit=PAGE)
            ]

        return publish_pages(self.producer, self.position, page)

    def _message(self, stored: StoredRejection) -> Message:
        view = rejection_view(stored)
        key = view["subject"].encode() if view["subject"] else None
        return (self.topic, key, orjson.dumps({"rejection_id": stored.id, **view}))
