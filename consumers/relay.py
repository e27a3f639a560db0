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
from kafka import KafkaProducer
from sqlalchemy import Engine

from consumers.kafka import ALERTS, EVENTS, REJECTED, send_and_confirm
from consumers.positions import StreamPosition
from ledger.aggregates.base import LedgerEvent
from ledger.app import LedgerApp
from ledger.views import rejection_view, trail_entry

log = logging.getLogger(__name__)

PAGE = 1000


def event_message(notification_id: int, event: LedgerEvent) -> dict[str, Any]:
    """The value the relay publishes for one stored event."""
    return {
        "notification_id": notification_id,
        "subject": event.originator_id,
        **trail_entry(event),
    }


class Relay:
    """Publishes every stored event, in log order, to ``ledger.events`` (key = subject);
    the ledger's alerts (breaches, expired temporary fixes, churn risk) also go to
    ``ledger.alerts``. Resumes after its last acknowledged page."""

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
        published = 0
        position = self.position.get()
        while True:
            page = self.app.store.select_notifications(
                start=position, limit=self.page_size, inclusive_of_start=False
            )
            if not page:
                return published
            messages: list[tuple[str, bytes | None, bytes]] = []
            for notification in page:
                event = self.app.mapper.to_domain_event(notification)
                assert isinstance(event, LedgerEvent)
                key = event.originator_id.encode()
                value = orjson.dumps(event_message(notification.id, event))
                messages.append((self.events_topic, key, value))
                if event.SYSTEM:
                    messages.append((self.alerts_topic, key, value))
            send_and_confirm(self.producer, messages)
            if not self.position.advance(position, page[-1].id):
                log.warning("another relay moved %s first; following it", self.position.stream)
                position = self.position.get()
                continue
            published += len(page)
            position = page[-1].id

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
        published = 0
        position = self.position.get()
        while True:
            page = self.app.store.rejections(after_id=position, limit=PAGE)
            if not page:
                return published
            messages = []
            for stored in page:
                view = rejection_view(stored)
                key = view["subject"].encode() if view["subject"] else None
                messages.append(
                    (self.topic, key, orjson.dumps({"rejection_id": stored.id, **view}))
                )
            send_and_confirm(self.producer, messages)
            if not self.position.advance(position, page[-1].id):
                position = self.position.get()  # another consumer published these
                continue
            published += len(page)
            position = page[-1].id
