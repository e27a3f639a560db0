"""Ingest: envelopes in, domain events and rejections out, one transaction per batch.

Every input ends in exactly one of three outcomes: ``accepted`` (stored as a domain
event), ``duplicate`` (its ``event_id`` was accepted before: acknowledged, not stored
again, R-IN-4) or ``rejected`` (kept in ``ledger_rejections`` with its bytes, rule id,
field and reason). A batch costs one duplicate query, one version query, a load per
aggregate not already cached, and one write transaction.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import orjson
from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.aggregates.rules import RuleViolation
from ledger.app import HANDLERS, Aggregate, LedgerApp, command_meta
from ledger.collection import collected_per_batch
from ledger.store import BatchWrite, Position, Rejection
from schemas import WireError, parse_envelope

log = logging.getLogger(__name__)

Status = Literal["accepted", "duplicate", "rejected"]
Payload = bytes | str | Mapping[str, Any]
Clock = Callable[[], datetime]

DEFAULT_BATCH_SIZE = 5000
"""Inputs per transaction. Past a few hundred thousand events each batch dirties about
one page of every key index per event (event ids are random): 5000 per commit share them
and ingest 1M events on SQLite about a fifth faster than 1000 (benchmarks/)."""
DEFAULT_CACHE_SIZE = 20_000
SAVE_ATTEMPTS = 3


@dataclass(frozen=True)
class Input:
    """One thing to ingest and where it came from (``file.jsonl:12``, ``kafka:t:0:42``)."""

    payload: Payload
    origin: str


@dataclass(frozen=True)
class Outcome:
    """What became of one input."""

    status: Status
    origin: str
    event_id: str | None = None
    subject: str | None = None
    rejection: Rejection | None = None


@dataclass
class IngestReport:
    """Counts over many batches; accepted + duplicate + rejected = inputs."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    examples: dict[str, Rejection] = field(default_factory=dict)

    @property
    def inputs(self) -> int:
        """How many inputs were counted."""
        return self.accepted + self.duplicates + self.rejected

    def add(self, outcomes: Iterable[Outcome]) -> None:
        """Count a batch's outcomes."""
        for outcome in outcomes:
            if outcome.status == "accepted":
                self.accepted += 1
            elif outcome.status == "duplicate":
                self.duplicates += 1
            else:
                assert outcome.rejection is not None
                self.rejected += 1
                self.by_rule[outcome.rejection.rule] += 1
                self.examples.setdefault(outcome.rejection.rule, outcome.rejection)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "inputs": self.inputs,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejected_by_rule": dict(sorted(self.by_rule.items())),
        }


def system_clock() -> datetime:
    """The ledger's recording clock: UTC now."""
    return datetime.now(UTC)


class Ingestor:
    """Runs batches of inputs through the domain into the store.

    Aggregates stay cached across batches (bounded LRU). Each batch first asks the store
    for the current version of every subject it touches and drops stale cache entries,
    so another writer (a second consumer, a concurrent ``ledger ingest``) is noticed;
    a write that still races one fails on the version key, is thrown away whole and
    retried from fresh aggregates.
    """

    def __init__(
        self,
        app: LedgerApp,
        *,
        clock: Clock = system_clock,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.app = app
        self.clock = clock
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Aggregate] = OrderedDict()
        self._last_recorded_at: datetime | None = None

    def ingest(
        self,
        inputs: Iterable[Input],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_batch: Callable[[list[Outcome]], None] | None = None,
    ) -> IngestReport:
        """Ingest everything, batch by batch, through a ``Pipeline``; returns the counts.
        ``on_batch`` hears of each batch once it has committed."""
        report = IngestReport()
        with collected_per_batch() as batches, self.pipeline() as pipeline:
            # (the cache is long-lived: ledger.collection)
            def committed(outcomes: list[Outcome] | None) -> None:
                if outcomes is None:
                    return
                report.add(outcomes)
                if on_batch is not None:
                    on_batch(outcomes)
                batches.done()

            for batch in _batched(inputs, batch_size):
                committed(pipeline.push(batch))
            committed(pipeline.flush())
        return report

    def pipeline(self) -> Pipeline:
        """A pipeline of batches through this ingestor (a context manager)."""
        return Pipeline(self)

    def _decided(
        self,
        inputs: Sequence[Input],
        parsed: list[_Parsed | Outcome],
        positions: Sequence[Position],
        ahead: _InFlight | None,
    ) -> _Batch:
        """A batch decided (on top of the batch ahead, if any) and its rows to store."""
        batch = _Batch(self, self._recorded_at(), None if ahead is None else ahead.batch)
        try:
            batch.outcomes = batch.run(inputs, parsed)
            batch.write.positions.extend(positions)
            batch.stored = self.app.stored_events(batch.touched.values())
        except BaseException:
            self._forget(batch.touched)
            raise
        return batch

    def _finish(
        self, in_flight: _InFlight, behind: _Batch | None = None
    ) -> tuple[list[Outcome], bool]:
        """Wait for a batch's write: its outcomes once committed, and whether it had to
        be redone (it raced another writer; ``behind``, decided on top of it, is void)."""
        try:
            in_flight.write.result()
        except IntegrityError:
            self._forget(in_flight.batch.touched)
            if behind is not None:
                self._forget(behind.touched)
            log.warning("batch raced another writer; retrying")
            return self.ingest_batch(in_flight.inputs, in_flight.positions), True
        except BaseException:
            self._forget(in_flight.batch.touched)
            if behind is not None:
                self._forget(behind.touched)
            raise
        self._remember(in_flight.batch.touched)
        return in_flight.batch.outcomes, False

    def ingest_batch(
        self, inputs: Sequence[Input], positions: Sequence[Position] = ()
    ) -> list[Outcome]:
        """Ingest one batch in one transaction, with the given consumer positions."""
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            batch = _Batch(self, self._recorded_at())
            outcomes = batch.run(inputs)
            try:
                batch.save(positions)
            except IntegrityError:
                self._forget(batch.touched)
                if attempt == SAVE_ATTEMPTS:
                    raise
                log.warning("batch raced another writer; retrying (attempt %d)", attempt)
                continue
            except BaseException:
                self._forget(batch.touched)
                raise
            self._remember(batch.touched)
            return outcomes
        raise AssertionError("unreachable")

    # The aggregate cache ------------------------------------------------------------

    def _recorded_at(self) -> datetime:
        now = self.clock()
        if self._last_recorded_at is not None and now < self._last_recorded_at:
            now = self._last_recorded_at  # recording time never goes backwards
        self._last_recorded_at = now
        return now

    def cached(self, subject: str) -> Aggregate | None:
        """The cached aggregate, if any (most recently used moves to the end)."""
        aggregate = self._cache.get(subject)
        if aggregate is not None:
            self._cache.move_to_end(subject)
        return aggregate

    def uncached(self, subjects: Iterable[str]) -> set[str]:
        """The subjects not in the cache."""
        return {s for s in subjects if s not in self._cache}

    def refresh(self, subjects: Iterable[str]) -> None:
        """Drop cached aggregates whose stored version moved on."""
        known = [s for s in subjects if s in self._cache]
        if not known:
            return
        versions = self.app.store.current_versions(known)
        for subject in known:
            if versions.get(subject) != self._cache[subject].version:
                del self._cache[subject]

    def _forget(self, aggregates: Mapping[str, Aggregate]) -> None:
        for subject in aggregates:
            self._cache.pop(subject, None)

    def _remember(self, aggregates: Mapping[str, Aggregate]) -> None:
        for subject, aggregate in aggregates.items():
            self._cache[subject] = aggregate
            self._cache.move_to_end(subject)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


class _Batch:
    """One attempt at one batch: decisions in memory, then one save."""

    def __init__(
        self, ingestor: Ingestor, recorded_at: datetime, ahead: _Batch | None = None
    ) -> None:
        self.ingestor = ingestor
        self.app = ingestor.app
        self.write = BatchWrite(received_at=recorded_at)
        self.touched: dict[str, Aggregate] = {}  # changed in this batch
        self.loaded: dict[str, Aggregate | None] = {}  # read in this batch
        self.accepted_ids: set[str] = set()
        # The batch decided before this one and not committed yet: its changes are this
        # batch's starting point, as if stored.
        self.ahead_touched = {} if ahead is None else ahead.touched
        self.ahead_ids = set() if ahead is None else ahead.accepted_ids
        self.outcomes: list[Outcome] = []
        self.stored: list[StoredEvent] = []

    def load(self, subject: str) -> Aggregate | None:
        """The subject as this batch sees it (its own changes included)."""
        if subject in self.touched:
            return self.touched[subject]
        if subject in self.loaded:
            return self.loaded[subject]
        aggregate = (
            self.ahead_touched.get(subject)
            or self.ingestor.cached(subject)
            or self.app.find(subject)
        )
        self.loaded[subject] = aggregate
        return aggregate

    def run(
        self, inputs: Sequence[Input], parsed: list[_Parsed | Outcome] | None = None
    ) -> list[Outcome]:
        """Decide every input (``parsed``: the inputs already parsed, if they are)."""
        if parsed is None:
            parsed = [_parse(item) for item in inputs]
        envelopes = [p for p in parsed if not isinstance(p, Outcome)]
        seen = self.app.store.existing_event_ids(sorted({p.event_id for p in envelopes}))
        seen |= self.ahead_ids
        subjects = _subjects(p.envelope for p in envelopes)
        stored = subjects - self.ahead_touched.keys()  # the rest are ahead of the store
        self.ingestor.refresh(stored)
        # Everything the batch will read and has not cached, in one query (not one each).
        self.loaded.update(self.app.load_many(sorted(self.ingestor.uncached(stored))))
        outcomes = []
        for item in parsed:
            outcome = item if isinstance(item, Outcome) else self._decide(item, seen)
            if outcome.rejection is not None:
                self.write.rejections.append(outcome.rejection)
            outcomes.append(outcome)
        return outcomes

    def _decide(self, parsed: _Parsed, seen: set[str]) -> Outcome:
        envelope, item, event_id = parsed
        if event_id in seen or event_id in self.accepted_ids:
            return Outcome("duplicate", item.origin, event_id, envelope.subject)
        meta = command_meta(envelope, self.write.received_at, event_id)
        try:
            aggregate = HANDLERS[envelope.type](self, envelope, meta)
        except RuleViolation as broken:
            rejection = _rejection(
                item, broken.rule, broken.reason, broken.field, broken.code, envelope
            )
            return Outcome("rejected", item.origin, event_id, envelope.subject, rejection)
        self.touched[aggregate.id] = aggregate
        self.accepted_ids.add(event_id)
        self.write.event_keys.append((event_id, aggregate.id, aggregate.version))
        return Outcome("accepted", item.origin, event_id, envelope.subject)

    def save(self, positions: Sequence[Position]) -> None:
        self.write.positions.extend(positions)
        self.app.store_events(self.touched.values(), batch=self.write)


class Pipeline:
    """Batches through an ingestor, one deep: while a batch's transaction is written and
    committed on a writer thread (SQLite and PostgreSQL do that work without the GIL),
    the next batch is parsed, validated and decided, on top of the batch in flight (its
    aggregates and accepted event ids, which the store does not show yet).

    If the write in flight fails on a version key (another writer raced it), what was
    decided on top of it is thrown away: that batch is redone alone from fresh
    aggregates, then the next one is decided again. Use as a context manager; leaving it
    waits for the write in flight, and what was not flushed is not reported.
    """

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ledger-ingest-write")
        self._in_flight: _InFlight | None = None
        self._unsent: _Batch | None = None  # decided, not handed to the writer yet

    def push(
        self, inputs: Sequence[Input], positions: Sequence[Position] = ()
    ) -> list[Outcome] | None:
        """Decide a batch (stored with ``positions``) and hand it to the writer; the
        outcomes of the batch before it, now committed (None if there was none)."""
        ingestor = self.ingestor
        parsed = [_parse(item) for item in inputs]
        ahead = self._in_flight
        self._unsent = ingestor._decided(inputs, parsed, positions, ahead)
        outcomes = None
        if ahead is not None:
            outcomes, redone = ingestor._finish(ahead, behind=self._unsent)
            self._in_flight = None
            if redone:  # what was decided on top of it is void
                self._unsent = None
                self._unsent = ingestor._decided(inputs, parsed, positions, None)
        batch = self._unsent
        write = self._writer.submit(
            ingestor.app.recorder.insert_events, batch.stored, batch=batch.write
        )
        self._in_flight, self._unsent = _InFlight(inputs, positions, batch, write), None
        return outcomes

    def flush(self) -> list[Outcome] | None:
        """Wait for the batch in flight: its outcomes once committed (None if none)."""
        ahead, self._in_flight = self._in_flight, None
        return None if ahead is None else self.ingestor._finish(ahead)[0]

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Whatever became of the write in flight, the aggregates of the batches not
        # reported are not to be trusted: the cache forgets them.
        if self._in_flight is not None:
            wait([self._in_flight.write])
            self.ingestor._forget(self._in_flight.batch.touched)
            self._in_flight = None
        if self._unsent is not None:
            self.ingestor._forget(self._unsent.touched)
            self._unsent = None
        self._writer.shutdown()


class _InFlight(NamedTuple):
    """A decided batch whose transaction the writer thread has in hand."""

    inputs: Sequence[Input]
    positions: Sequence[Position]
    batch: _Batch
    write: Future[Any]


class _Parsed(NamedTuple):
    envelope: Any
    item: Input
    event_id: str  # the envelope's, as text (once: ``str(UUID)`` is not free)


def _parse(item: Input) -> _Parsed | Outcome:
    try:
        envelope = parse_envelope(item.payload)
    except WireError as error:
        rejection = _rejection(item, error.rule, error.reason, error.field, "", None)
        return Outcome("rejected", item.origin, rejection.event_id, rejection.subject, rejection)
    return _Parsed(envelope, item, str(envelope.event_id))


def _subjects(envelopes: Iterable[Any]) -> set[str]:
    subjects = set()
    for envelope in envelopes:
        subjects.add(envelope.subject)
        if envelope.type == "ticket.opened":
            subjects.add(envelope.data.customer_id)
            subjects.add("SLA")
    return subjects


def _rejection(
    item: Input, rule: str, reason: str, field_name: str, code: str, envelope: Any
) -> Rejection:
    payload, is_json = _payload_bytes(item.payload)
    hint = envelope if envelope is not None else _peek(item.payload)
    return Rejection(
        rule=rule,
        reason=_printable(reason),
        field=_printable(field_name),
        code=code,
        payload=payload,
        payload_is_json=is_json,
        event_id=_text(hint, "event_id"),
        event_type=_text(hint, "type"),
        subject=_text(hint, "subject"),
        origin=_printable(item.origin),
    )


def _printable(text: str) -> str:
    """Text fit for a database text column: NUL (which PostgreSQL refuses) spelt out.

    The original input is kept byte for byte in the rejection's payload.
    """
    return text.replace("\x00", "\\u0000")


def _payload_bytes(payload: Payload) -> tuple[bytes, bool]:
    """The original bytes, and whether they are a JSON document."""
    if isinstance(payload, Mapping):
        try:
            return orjson.dumps(payload, default=str), True
        except TypeError:
            return repr(payload).encode(), False
    raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw, False
    return raw, True


def _peek(payload: Payload) -> Any:
    """Best-effort envelope fields of an input that did not validate (for listing)."""
    if isinstance(payload, Mapping):
        return payload
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _text(source: Any, name: str) -> str | None:
    if source is None:
        return None
    value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
    if value is None:
        return None
    return _printable(str(value)[:200])


def _batched(items: Iterable[Input], size: int) -> Iterator[list[Input]]:
    batch: list[Input] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
