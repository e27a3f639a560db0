"""The Kafka ingest consumer: ``ledger.inbound`` into the ledger, exactly once.

Each poll is one batch through the same application service as ``ledger ingest``; the
batch's domain events, idempotency keys, rejections and the consumed positions (topic,
partition, last offset) commit in **one database transaction**. On start and on every
partition assignment the consumer seeks to the stored position + 1: the database, not
Kafka's committed offsets (only a hint, committed after the database), says where to
resume. A crash anywhere re-reads at most the batch whose transaction was thrown away;
``event_id`` is a second guard (a duplicate is acknowledged, not stored twice).

Batches go through ingest's pipeline (``ledger.services.intake.Pipeline``): one is stored on a
writer thread while the next is polled and decided. Kafka's offsets are committed and
rejections published once a batch is stored; before partitions are revoked or assigned,
and before the consumer leaves, the batch in flight is waited for, so the stored
positions the new owner seeks to are complete.

With ``verifier`` (``ledger consume --require-signed``) each record must carry the
``ledger-producer`` and ``ledger-signature`` headers of a producer the ledger knows: an
unsigned record is rejected (R-AUTH-4), a forged one (unknown or revoked producer, or a
signature that does not match the value) too (R-AUTH-5), both kept; a signed one is
attributed to its producer, whose scope is checked (R-AUTH-1..3). One lookup per poll.

Rejections are published to ``ledger.rejected`` through the outbox after each commit.
SIGTERM (``stop``) finishes the batch in hand, commits, leaves the group and returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata

from consumers.kafka import GROUP, INBOUND, GroupTiming
from consumers.relay import RejectionOutbox
from ledger.adapters.collection import collected_per_batch
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.store import Position
from ledger.services.intake import DEFAULT_BATCH_SIZE, Ingestor, IngestReport, Input, Outcome
from ledger.services.principals import Principal, Refusal, SignedRecord, headers_of

Verifier = Callable[[Sequence[SignedRecord]], list[Principal | Refusal]]
"""Who sent each record, or why it is refused (``ledger.services.principals.verify_records``)."""

log = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 5.0
RELEASE_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class ConsumerSettings:
    """Where to read from and how."""

    bootstrap: str
    topic: str = INBOUND
    group: str = GROUP
    batch_size: int = DEFAULT_BATCH_SIZE
    poll_ms: int = 500
    timing: GroupTiming = field(default_factory=GroupTiming)


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    """On every assignment: resume each partition after its stored position."""

    def __init__(self, ingest: IngestConsumer) -> None:
        self.ingest = ingest

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))
        self.ingest.flush()  # the batch in flight is stored before its partitions move

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.ingest.flush()
        self.ingest.seek_to_stored(list(assigned))


class IngestConsumer:
    """One member of the ingest consumer group."""

    def __init__(
        self,
        app: LedgerApp,
        settings: ConsumerSettings,
        *,
        outbox: RejectionOutbox | None = None,
        ingestor: Ingestor | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier  # None: records are taken unsigned, as the local operator's
        self.settings = settings
        self.outbox = outbox
        self.ingestor = ingestor or Ingestor(app)
        self.report = IngestReport()
        # One batch is stored on a writer thread while the next is polled and decided
        # (ledger.services.intake.Pipeline); its Kafka offsets are committed once it has been.
        self.pipeline = self.ingestor.pipeline()
        self._offsets_in_flight: dict[TopicPartition, OffsetAndMetadata] = {}
        self._last_release = time.monotonic()
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=settings.group,
            client_id=f"{settings.group}-member",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.batch_size,
            **settings.timing.as_kwargs(),
        )
        self.consumer.subscribe([settings.topic], listener=_SeekToStored(self))

    def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        """Seek each partition to the stored position + 1 (the beginning if none)."""
        stored = {
            (p.topic, p.partition): p.offset for p in self.app.store.positions(self.settings.group)
        }
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset + 1)
        log.info(
            "assigned %s; resuming after stored offsets %s",
            sorted(tp.partition for tp in partitions),
            {tp.partition: stored.get((tp.topic, tp.partition)) for tp in partitions},
        )

    def poll_once(self) -> list[Outcome]:
        """One poll, one batch into the pipeline; the batch before it, once stored, has
        its Kafka offsets committed and rejections published, and its outcomes are
        returned. A poll short of a full batch (caught up) or empty also waits for the
        batch it handed on."""
        records = self.consumer.poll(
            timeout_ms=self.settings.poll_ms, max_records=self.settings.batch_size
        )
        if not records:
            return self.flush() + self._release_when_idle()
        inputs: list[Input] = []
        positions: list[Position] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, batch in records.items():
            for record in batch:
                origin = f"kafka:{tp.topic}/{tp.partition}@{record.offset}"
                inputs.append(Input(record.value, origin, key=record.key, keyed=True))
            last = batch[-1].offset
            positions.append(Position(self.settings.group, tp.topic, tp.partition, last))
            offsets[tp] = OffsetAndMetadata(last + 1, "", -1)
        if self.verifier is not None:
            inputs = self._attributed(inputs, [r for batch in records.values() for r in batch])
        outcomes = self.pipeline.push(inputs, positions)
        done = self._stored(outcomes)
        self._offsets_in_flight = offsets
        if len(inputs) < self.settings.batch_size:
            # Caught up: no next batch to overlap this one's write with, and waiting for
            # the next poll would hold its offsets and rejections back by poll_ms.
            done += self.flush()
        return done

    def _attributed(self, inputs: list[Input], records: list[Any]) -> list[Input]:
        """The inputs with the producer that signed each, or refused (unsigned, forged)."""
        assert self.verifier is not None
        signed = [SignedRecord(*headers_of(record.headers), record.value) for record in records]
        return [
            replace(item, producer=who)
            if isinstance(who, Principal)
            else replace(item, refused=who)
            for item, who in zip(inputs, self.verifier(signed), strict=True)
        ]

    def flush(self) -> list[Outcome]:
        """Wait for the batch in flight to be stored; its outcomes (empty if none)."""
        return self._stored(self.pipeline.flush())

    def _release_when_idle(self) -> list[Outcome]:
        """While nothing arrives, deferred inputs still expire when their grace period
        passes (R-IN-6): every ``RELEASE_EVERY_SECONDS`` of idling, one batch of none."""
        now = time.monotonic()
        if now - self._last_release < RELEASE_EVERY_SECONDS:
            return []
        self._last_release = now
        outcomes = self.ingestor.release_deferred()
        if outcomes:
            self.report.add(outcomes)
            if self.outbox is not None and any(o.status == "rejected" for o in outcomes):
                self.outbox.publish_new()
        return outcomes

    def _stored(self, outcomes: list[Outcome] | None) -> list[Outcome]:
        """A batch is stored: count it, commit its offsets to Kafka, publish rejections."""
        offsets, self._offsets_in_flight = self._offsets_in_flight, {}
        if outcomes is None:
            return []
        self.report.add(outcomes)
        self.consumer.commit(offsets)  # a hint only: the database already holds the truth
        if self.outbox is not None and any(o.status == "rejected" for o in outcomes):
            self.outbox.publish_new()
        return outcomes

    def lag(self) -> int | None:
        """Messages behind the partitions' high watermarks (None before the first fetch)."""
        total = 0
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                return None
            total += max(highwater - self.consumer.position(tp), 0)
        return total

    def run(
        self,
        stop: threading.Event,
        *,
        on_batch: Callable[[list[Outcome], dict[str, Any]], None] | None = None,
    ) -> IngestReport:
        """Consume until ``stop`` is set; then leave the group. Logs rates and lag."""
        if self.outbox is not None:
            self.outbox.publish_new()  # anything a crash left unpublished
        started = last_log = time.monotonic()
        done_at_last_log = 0
        try:
            with collected_per_batch() as batches, self.pipeline:  # (ledger.adapters.collection)
                while not stop.is_set():
                    outcomes = self.poll_once()
                    if outcomes:
                        batches.done()
                    if outcomes and on_batch is not None:
                        on_batch(outcomes, self.report.as_dict())
                    now = time.monotonic()
                    if now - last_log >= LOG_EVERY_SECONDS:
                        done = self.report.inputs
                        log.info(
                            "consumed %d inputs (%.0f/s now, %.0f/s overall), lag %s",
                            done,
                            (done - done_at_last_log) / (now - last_log),
                            done / (now - started),
                            self.lag(),
                        )
                        last_log, done_at_last_log = now, done
                outcomes = self.flush()  # the batch in flight, before leaving the group
                if outcomes and on_batch is not None:
                    on_batch(outcomes, self.report.as_dict())
        finally:
            self.consumer.close()  # leaves the group: its partitions move on at once
        return self.report
