"""Ingest: envelopes in; domain events, deferrals and rejections out; one transaction per batch.

Every input ends in exactly one of four outcomes:

* ``accepted``: stored as a domain event;
* ``duplicate``: its ``event_id`` was accepted before with the same content
  (acknowledged, not stored again, R-IN-4);
* ``deferred``: it needs a subject the ledger has not stored *yet* (a ticket of a
  customer not onboarded yet, an action on a ticket not opened yet). It is kept in
  ``ledger_deferred`` in the same transaction and decided again when that subject is
  stored; a subject's later inputs wait behind it. It is rejected under its own rule
  when its grace period passes, or when an operator expires it (R-IN-6);
* ``rejected``: kept in ``ledger_rejections`` with its bytes, rule id, field and reason.

An input that was rejected or deferred before (the same bytes, or the same event id and
content) is acknowledged as such (``repeat``) and not stored again; an ``event_id``
already accepted with other content is a conflict (``R-ID-1``). An input that makes
deciding or storing fail for a reason that is no rule is isolated and rejected with
``R-FAULT-1`` (its error kept); the rest of its batch goes on.

A batch costs one lookup of what the ledger already holds of its inputs, one version
query, a load per aggregate not already cached, and one write transaction; while
nothing waits, the deferral work is a single probe.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from queue import SimpleQueue
from typing import Any, Final, Literal, NamedTuple, cast

import orjson
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)

from ledger.adapters.collection import collected_per_batch
from ledger.adapters.event_store import Aggregate, LedgerApp
from ledger.adapters.settings import (
    DEFAULT_BATCH_SIZE as DEFAULT_BATCH_SIZE,  # the command line reads it there
)
from ledger.adapters.store import (
    BatchWrite,
    Deferral,
    IntakeStore,
    KnownInputs,
    Position,
    Rejection,
)
from ledger.aggregates.rules import RuleViolation
from ledger.services.handlers import HANDLERS, command_meta
from ledger.services.principals import LOCAL_OPERATOR, NAME_PATTERN, Principal, Refusal
from schemas import WireError, parse_canonical

log = logging.getLogger(__name__)

Status = Literal["accepted", "duplicate", "deferred", "rejected"]
Payload = bytes | str | Mapping[str, Any] | None  # None: a Kafka record with no value
Clock = Callable[[], datetime]

DEFAULT_CACHE_SIZE = 20_000
SAVE_ATTEMPTS = 3

ENV_MAX_SKEW: Final = "LEDGER_MAX_SKEW_SECONDS"
ENV_DEFER_GRACE: Final = "LEDGER_DEFER_GRACE_SECONDS"
DEFAULT_MAX_SKEW: Final = timedelta(minutes=5)
"""How far ahead of the ledger's clock an ``occurred_at`` may be (R-IN-7)."""
DEFAULT_DEFER_GRACE: Final = timedelta(minutes=15)
"""How long (in recording time) a deferred input waits before it is rejected (R-IN-6)."""

SKEW_RULE: Final = "R-IN-7"
CONFLICT_RULE: Final = "R-ID-1"
KEY_RULE: Final = "R-WIRE-5"
FAULT_RULE: Final = "R-FAULT-1"
WAITING_RULE: Final = "R-IN-6"

CREATING_TYPES: Final = frozenset(
    {"ticket.opened", "customer.onboarded", "sla_policy.change_proposed"}
)
"""Types that can bring their subject into being: they may overtake the inputs waiting
for that subject."""


def _seconds_from_env(name: str, default: timedelta) -> timedelta:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of seconds") from None
    if seconds < 0:
        raise ValueError(f"{name}={text!r} must not be negative")
    return timedelta(seconds=seconds)


def default_max_skew() -> timedelta:
    """``LEDGER_MAX_SKEW_SECONDS``, or 5 minutes."""
    return _seconds_from_env(ENV_MAX_SKEW, DEFAULT_MAX_SKEW)


def default_defer_grace() -> timedelta:
    """``LEDGER_DEFER_GRACE_SECONDS``, or 15 minutes."""
    return _seconds_from_env(ENV_DEFER_GRACE, DEFAULT_DEFER_GRACE)


@dataclass(frozen=True)
class Input:
    """One thing to ingest and where it came from (``file.jsonl:12``, ``kafka:t/0@42``).

    ``keyed`` inputs (Kafka records) carry the record's ``key``, which must be the
    envelope's subject: the key is what keeps a subject's events on one partition.

    ``producer``: who sent it (None: the local operator, ``LOCAL_OPERATOR``); an
    envelope outside its producer's scope is rejected (R-AUTH-1..3) and kept, and an
    accepted one records the producer's name. ``refused``: the transport refused it
    before it could be read (a Kafka record unsigned or forged, R-AUTH-4/5): it is
    rejected under that rule and kept."""

    payload: Payload
    origin: str
    key: bytes | None = None
    keyed: bool = False
    producer: Principal | None = None
    refused: Refusal | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one input.

    ``repeat``: the very same input was rejected or deferred before; acknowledged, not
    stored again. ``released``: an input deferred earlier and decided in this batch
    (not one of the batch's own inputs). ``waits_for``: the subject a deferred input
    waits for."""

    status: Status
    origin: str
    event_id: str | None = None
    subject: str | None = None
    rejection: Rejection | None = None
    repeat: bool = False
    released: bool = False
    waits_for: str | None = None


@dataclass
class IngestReport:
    """Counts over many batches; accepted + duplicates + deferred + rejected +
    already_rejected = inputs. Inputs deferred earlier and decided now are counted
    apart, in ``released``."""

    accepted: int = 0
    duplicates: int = 0
    deferred: int = 0
    rejected: int = 0
    already_rejected: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    examples: dict[str, Rejection] = field(default_factory=dict)
    released: Counter[str] = field(default_factory=Counter)
    released_by_rule: Counter[str] = field(default_factory=Counter)

    @property
    def inputs(self) -> int:
        """How many inputs were counted."""
        return (
            self.accepted + self.duplicates + self.deferred + self.rejected + self.already_rejected
        )

    def add(self, outcomes: Iterable[Outcome]) -> None:
        """Count a batch's outcomes."""
        for outcome in outcomes:
            if outcome.released:
                self.released[outcome.status] += 1
                if outcome.rejection is not None and outcome.status == "rejected":
                    self.released_by_rule[outcome.rejection.rule] += 1
            elif outcome.status == "accepted":
                self.accepted += 1
            elif outcome.status == "duplicate":
                self.duplicates += 1
            elif outcome.status == "deferred":
                self.deferred += 1
            elif outcome.repeat:
                self.already_rejected += 1
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
            "deferred": self.deferred,
            "rejected": self.rejected,
            "already_rejected": self.already_rejected,
            "rejected_by_rule": dict(sorted(self.by_rule.items())),
            "released": {
                "accepted": self.released["accepted"],
                "rejected": self.released["rejected"],
                "rejected_by_rule": dict(sorted(self.released_by_rule.items())),
            },
        }


def system_clock() -> datetime:
    """The ledger's recording clock: UTC now."""
    return datetime.now(UTC)


def _transient(error: BaseException) -> bool:
    """A failure of the database or its connection, not of the input: the batch is
    redone as a whole later (never blamed on an input)."""
    return isinstance(error, OperationalError | InterfaceError | OSError | MemoryError)


class _Fault(Exception):
    """Deciding or encoding one input failed for a reason that is no rule."""

    def __init__(self, key: tuple[str, int], error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.key = key  # ("input", index in the batch) or ("deferred", stored id)
        self.message = f"{type(error).__name__}: {error}"


class Ingestor:
    """Runs batches of inputs through the domain into the store.

    Aggregates stay cached across batches (bounded LRU). Each batch first asks the store
    for the current version of every subject it touches and drops stale cache entries,
    so another writer (a second consumer, a concurrent ``ledger ingest``) is noticed;
    a write that still races one fails on the version key, is thrown away whole and
    retried from fresh aggregates.

    ``check=True`` makes a dry run (``ledger ingest --check``): every batch is decided
    as it would be, on top of what the batches before it would have written, and
    nothing is written (see ``_Unwritten``).
    """

    def __init__(
        self,
        app: LedgerApp,
        *,
        clock: Clock = system_clock,
        cache_size: int = DEFAULT_CACHE_SIZE,
        max_skew: timedelta | None = None,
        defer_grace: timedelta | None = None,
        check: bool = False,
    ) -> None:
        self.app = app
        self.clock = clock
        self.cache_size = cache_size
        self.max_skew = default_max_skew() if max_skew is None else max_skew
        self.defer_grace = default_defer_grace() if defer_grace is None else defer_grace
        self._cache: OrderedDict[str, Aggregate] = OrderedDict()
        self._last_recorded_at: datetime | None = None
        self._unwritten = _Unwritten(app) if check else None
        self._overlap_writer: ThreadPoolExecutor | None = None  # ingest_request's

    @property
    def checking(self) -> bool:
        """Whether this is a dry run: batches are decided, never written."""
        return self._unwritten is not None

    @property
    def store(self) -> IntakeStore:
        """What batches are decided against: the store (a check: with its batches on top)."""
        return self.app.store if self._unwritten is None else self._unwritten

    def find(self, subject: str) -> Aggregate | None:
        """The subject as stored (a check: with its batches' events), or None."""
        return self.app.find(subject) if self._unwritten is None else self._unwritten.find(subject)

    def load_many(self, subjects: Sequence[str]) -> dict[str, Aggregate | None]:
        """Many subjects as ``find`` sees them, in one query per chunk."""
        if self._unwritten is None:
            return self.app.load_many(subjects)
        return self._unwritten.load_many(subjects)

    def _write(self, stored: Sequence[StoredEvent], write: BatchWrite) -> None:
        """Store a batch in one transaction (a check: keep it in memory instead)."""
        if self._unwritten is None:
            self.app.recorder.insert_events(stored, batch=write)
        else:
            self._unwritten.write(stored, write)

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
            # (the cache is long-lived: ledger.adapters.collection)
            def committed(outcomes: list[Outcome] | None) -> None:
                if outcomes is None:
                    return
                report.add(outcomes)
                if on_batch is not None:
                    on_batch(outcomes)
                batches.done()

            for batch in _batched(inputs, batch_size):
                # A check has no write to overlap: its batches go one after the other
                # (the path the pipeline's outcomes are held to).
                committed(self.ingest_batch(batch) if self.checking else pipeline.push(batch))
            committed(pipeline.flush())
        return report

    def pipeline(
        self, on_commit: Callable[[object, list[Outcome]], None] | None = None
    ) -> Pipeline:
        """A pipeline of batches through this ingestor (a context manager)."""
        return Pipeline(self, on_commit)

    def expire_deferred(self, *, subject: str | None = None) -> list[Outcome]:
        """Reject now every deferred input (of ``subject``, if given) under its rule."""
        return self._commit([], (), expire=subject or "*")

    def release_deferred(self) -> list[Outcome]:
        """Decide the deferred inputs whose subjects have arrived, and reject those whose
        grace period has passed (what every batch does first), with no new inputs."""
        return self._commit([], ())

    def _decided(
        self,
        inputs: Sequence[Input],
        parsed: list[_Parsed | _Refused],
        positions: Sequence[Position],
        ahead: _InFlight | None,
        recorded_at: datetime | None = None,
    ) -> _Batch:
        """A batch decided (on top of the batch ahead, if any) and its rows to store."""
        at = self._recorded_at() if recorded_at is None else recorded_at
        batch = _Batch(self, at, None if ahead is None else ahead.batch)
        try:
            batch.outcomes = batch.run(parsed)
            batch.write.positions.extend(positions)
            batch.stored = batch.encode()
        except BaseException:
            self._forget(batch.touched)
            raise
        return batch

    def _finish(
        self, in_flight: _InFlight, behind: _Batch | None = None
    ) -> tuple[list[Outcome], bool]:
        """Wait for a batch's write: its outcomes once committed, and whether it had to
        be redone (it raced another writer or failed; ``behind``, decided on top of it,
        is void)."""
        try:
            in_flight.write.result()
        except BaseException as error:
            self._forget(in_flight.batch.touched)
            if behind is not None:
                self._forget(behind.touched)
            if isinstance(error, IntegrityError):
                log.warning("batch raced another writer; retrying")
            elif not isinstance(error, Exception) or _transient(error):
                raise
            else:
                log.warning("batch failed to store (%s); isolating the input at fault", error)
            return self.ingest_batch(in_flight.inputs, in_flight.positions), True
        self._remember(in_flight.batch.touched)
        return in_flight.batch.outcomes, False

    def ingest_request(self, inputs: Sequence[Input]) -> list[Outcome]:
        """Ingest one batch in one transaction, as ``ingest_batch`` does, with the write
        of its first half overlapping the deciding of its second (an HTTP request's
        batch: its answer waits for the commit, so no later batch can overlap it).

        The first half goes to a writer thread, which opens the transaction and stores
        it; the second is decided on top of it (as ``Pipeline`` decides a batch on top of
        the one in flight), stored in the same transaction, and the transaction commits.
        Both halves are recorded at one instant. If the first half changes what waits
        (R-IN-6: the second must see it stored), deciding fails, or the write fails,
        nothing of the overlap is kept and the whole batch goes through
        ``ingest_batch``, which knows what to do with each of those.
        """
        if self.checking or len(inputs) < OVERLAP_MIN:
            return self.ingest_batch(inputs)
        middle = len(inputs) // 2
        first, second = inputs[:middle], inputs[middle:]
        recorded_at = self._recorded_at()
        try:
            ahead = self._decided(first, [_parse(i) for i in first], (), None, recorded_at)
        except Exception:
            return self.ingest_batch(inputs)
        if ahead.has_deferral_work:
            self._forget(ahead.touched)
            return self.ingest_batch(inputs)
        parts = _Parts()
        parts.put(ahead.stored, ahead.write)
        if self._overlap_writer is None:
            self._overlap_writer = ThreadPoolExecutor(1, thread_name_prefix="ledger-request-write")
        write = self._overlap_writer.submit(self.app.store.insert_parts, parts)
        try:
            behind = self._decided(
                second,
                [_parse(i) for i in second],
                (),
                _InFlight(first, (), ahead, write),
                recorded_at,
            )
        except Exception:
            parts.abort()
            wait([write])
            self._forget(ahead.touched)
            return self.ingest_batch(inputs)
        parts.put(behind.stored, behind.write)
        parts.close()
        try:
            write.result()
        except Exception as error:
            self._forget(ahead.touched)
            self._forget(behind.touched)
            if _transient(error):
                raise
            return self.ingest_batch(inputs)
        self._remember(ahead.touched)
        self._remember(behind.touched)
        return ahead.outcomes + behind.outcomes

    def ingest_batch(
        self, inputs: Sequence[Input], positions: Sequence[Position] = ()
    ) -> list[Outcome]:
        """Ingest one batch in one transaction, with the given consumer positions.

        An input whose decision or encoding fails for a reason that is no rule is
        rejected (``R-FAULT-1``) and the batch decided again without it; a write that
        fails for such a reason is split in halves until the input at fault is alone.
        """
        return self._commit(inputs, positions)

    def _commit(
        self, inputs: Sequence[Input], positions: Sequence[Position], expire: str = ""
    ) -> list[Outcome]:
        parsed = [_parse(item) for item in inputs]
        faults: dict[tuple[str, int], str] = {}
        attempt = 0
        while True:
            batch = _Batch(self, self._recorded_at(), faults=faults, expire=expire)
            try:
                outcomes = batch.run(parsed)
                batch.write.positions.extend(positions)
                batch.stored = batch.encode()
                if parsed or positions or not batch.write.is_empty:
                    self._write(batch.stored, batch.write)
            except _Fault as fault:
                self._forget(batch.touched)
                if fault.key in faults:  # blamed on an input rejected already: no culprit
                    raise
                log.warning("input failed to decide (%s); rejecting it as %s", fault, FAULT_RULE)
                faults[fault.key] = fault.message
                continue
            except IntegrityError:
                self._forget(batch.touched)
                attempt += 1
                if attempt == SAVE_ATTEMPTS:
                    raise
                log.warning("batch raced another writer; retrying (attempt %d)", attempt)
                continue
            except Exception as error:
                self._forget(batch.touched)
                if _transient(error) or not inputs:
                    raise
                return self._isolate(inputs, positions, error)
            except BaseException:
                self._forget(batch.touched)
                raise
            self._remember(batch.touched)
            return outcomes

    def _isolate(
        self, inputs: Sequence[Input], positions: Sequence[Position], error: Exception
    ) -> list[Outcome]:
        """A write failed for a reason that is no rule: halve the batch until the input
        at fault is alone, reject it (``R-FAULT-1``, with the error) and store the rest."""
        if len(inputs) > 1:
            middle = len(inputs) // 2
            first = self._commit(inputs[:middle], ())
            return first + self._commit(inputs[middle:], positions)
        (item,) = inputs
        parsed = _parse(item)
        envelope = parsed.envelope if isinstance(parsed, _Parsed) else None
        fingerprint = parsed.fingerprint
        rejection = _fault_rejection(
            item, f"{type(error).__name__}: {error}", envelope, fingerprint
        )
        write = BatchWrite(received_at=self._recorded_at(), rejections=[rejection])
        write.positions.extend(positions)
        self._write([], write)
        log.warning("%s: rejected as %s (%s)", item.origin, FAULT_RULE, error)
        return [Outcome("rejected", item.origin, rejection.event_id, rejection.subject, rejection)]

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
        versions = self.store.current_versions(known)
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


OVERLAP_MIN: Final = 200
"""A batch smaller than this is decided and stored in one go by ``ingest_request``."""


class _Aborted(Exception):
    """The transaction of ``ingest_request`` is abandoned (rolled back)."""


class _Parts:
    """The parts of one transaction, handed from the deciding thread to the writer's:
    iterating blocks until the next part, the end (``close``) or ``abort``, which raises
    in the writer so that its transaction rolls back."""

    def __init__(self) -> None:
        self._queue: SimpleQueue[tuple[Sequence[StoredEvent], BatchWrite] | _Aborted | None] = (
            SimpleQueue()
        )

    def put(self, stored: Sequence[StoredEvent], write: BatchWrite) -> None:
        self._queue.put((stored, write))

    def close(self) -> None:
        self._queue.put(None)

    def abort(self) -> None:
        self._queue.put(_Aborted())

    def __iter__(self) -> Iterator[tuple[Sequence[StoredEvent], BatchWrite]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Aborted):
                raise item
            yield item


UNWRITTEN_IDS: Final = 1 << 62
"""Ids a check gives the inputs it would defer: after every stored one (arrival order)."""


class _Unwritten:
    """A check's store: the stored rows, with what the check's batches would have
    written on top, kept in memory and never written (``Ingestor(check=True)``).

    It answers the queries deciding asks (``IntakeStore``) the way the recorders answer
    them from their tables: events and keys of accepted inputs, fingerprints of
    rejected ones, and the inputs waiting (R-IN-6: the stored ones are read once, when
    the check starts, and then released, updated and added to here)."""

    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self.events: dict[str, list[StoredEvent]] = {}  # subject -> rows it would store
        self.accepted: dict[str, str | None] = {}  # event id -> content fingerprint
        self.rejected: dict[str, str] = {}  # fingerprint -> rule
        self.waiting: dict[int, Deferral] = {_by_id(d): d for d in app.store.deferred()}
        self._next_id = UNWRITTEN_IDS

    def write(self, stored: Sequence[StoredEvent], write: BatchWrite) -> None:
        """What the recorders' batch write would store, kept here."""
        for row in stored:
            self.events.setdefault(str(row.originator_id), []).append(row)
        for event_id, _subject, _version, fingerprint in write.event_keys:
            self.accepted[event_id] = fingerprint
        for rejection in write.rejections:
            if rejection.fingerprint:
                self.rejected.setdefault(rejection.fingerprint, rejection.rule)
        for released in write.released:
            self.waiting.pop(released, None)
        for redeferred in write.redeferred:
            self.waiting[_by_id(redeferred)] = redeferred
        for deferral in write.deferred:
            self._next_id += 1
            self.waiting[self._next_id] = replace(
                deferral,
                id=self._next_id,
                received_at=deferral.received_at or write.received_at,
            )

    def find(self, subject: str) -> Aggregate | None:
        """The subject from its stored events and those the check would add."""
        rows = self.events.get(subject)
        if rows is None:
            return self.app.find(subject)
        to_domain = self.app.mapper.to_domain_event
        events = [*self.app.history(subject), *(to_domain(row) for row in rows)]
        return cast(Aggregate | None, project_aggregate(None, events))

    def load_many(self, subjects: Sequence[str]) -> dict[str, Aggregate | None]:
        """Many subjects as ``find`` sees them."""
        loaded = self.app.load_many([s for s in subjects if s not in self.events])
        loaded.update((s, self.find(s)) for s in subjects if s in self.events)
        return loaded

    def known_inputs(self, event_ids: Sequence[str], fingerprints: Sequence[str]) -> KnownInputs:
        """The stored answer, with the check's accepted, rejected and waiting inputs."""
        known = self.app.store.known_inputs(event_ids, fingerprints)
        accepted = dict(known.accepted)
        accepted.update((i, self.accepted[i]) for i in event_ids if i in self.accepted)
        rejected = dict(known.rejected)
        for fingerprint in fingerprints:
            if fingerprint in self.rejected:
                rejected.setdefault(fingerprint, self.rejected[fingerprint])
        wanted = set(fingerprints)
        deferred = {
            d.rejection.fingerprint: (d.waits_for, d.rejection.rule)
            for d in self._in_order()
            if d.rejection.fingerprint in wanted
        }
        return KnownInputs(accepted, rejected, deferred)

    def _in_order(self) -> list[Deferral]:
        return sorted(self.waiting.values(), key=_by_id)

    def has_deferred(self) -> bool:
        """Whether any input waits."""
        return bool(self.waiting)

    def deferred_subjects(self, subjects: Sequence[str]) -> set[str]:
        """Which of ``subjects`` have inputs waiting."""
        return {d.subject for d in self.waiting.values()} & set(subjects)

    def deferred_queues(self, waits_for: Sequence[str]) -> list[Deferral]:
        """Every waiting input of each subject with one waiting for any of ``waits_for``."""
        wanted = set(waits_for)
        subjects = {d.subject for d in self.waiting.values() if d.waits_for in wanted}
        return [d for d in self._in_order() if d.subject in subjects]

    def ready_deferred(self) -> list[Deferral]:
        """Every waiting input of each subject with one waiting for a subject stored now."""
        targets = sorted({d.waits_for for d in self.waiting.values()})
        stored = set(self.current_versions(targets))
        subjects = {d.subject for d in self.waiting.values() if d.waits_for in stored}
        return [d for d in self._in_order() if d.subject in subjects]

    def deferred(
        self,
        *,
        subject: str | None = None,
        limit: int | None = None,
        before: datetime | None = None,
    ) -> list[Deferral]:
        """Waiting inputs in arrival order (of one subject; received before an instant)."""
        found = [
            d
            for d in self._in_order()
            if (subject is None or d.subject == subject)
            and (before is None or (d.received_at is not None and d.received_at < before))
        ]
        return found if limit is None else found[:limit]

    def current_versions(self, subjects: Sequence[str]) -> dict[str, int]:
        """The version each subject that exists would have."""
        versions = self.app.store.current_versions(subjects)
        for subject in subjects:
            rows = self.events.get(subject)
            if rows:
                versions[subject] = rows[-1].originator_version
        return versions


class NoJsonObject(ValueError):
    """Not one input is a JSON object (a CSV or a binary file given by mistake)."""

    def __init__(self, inputs: int) -> None:
        super().__init__(f"none of {inputs} inputs is a JSON object")
        self.inputs = inputs


def json_objects_required(inputs: Iterable[Input]) -> Iterator[Input]:
    """The inputs, unchanged, once one of them is a JSON object; ``NoJsonObject``, before
    any input is handed on, when none is. So a file that is no JSON Lines at all stops
    the ingest before anything is stored, instead of being kept line by line as
    rejections; a file with some envelopes and some bad lines ingests as ever. The
    inputs before the first object are held in memory until it comes."""
    held: list[Input] = []
    remaining = iter(inputs)
    for item in remaining:
        held.append(item)
        if _is_object(item.payload):
            yield from held
            yield from remaining
            return
    if held:
        raise NoJsonObject(len(held))


def _is_object(payload: Payload) -> bool:
    if payload is None or isinstance(payload, Mapping):
        return payload is not None
    try:
        return isinstance(orjson.loads(payload), dict)
    except orjson.JSONDecodeError:
        return False


class _Duplicate:
    """A waiting input whose event was accepted meanwhile (sent again, not waiting)."""


DUPLICATE: Final = _Duplicate()


@dataclass
class _Waiting:
    """A deferred input in its subject's queue: stored (``stored_id``) or deferred in
    this batch (``index``: its place among the batch's inputs)."""

    parsed: _Parsed
    waits_for: str
    rejection: Rejection  # what it would be rejected as, were it decided now
    received_at: datetime | None
    stored_id: int | None = None
    index: int | None = None
    changed: bool = False  # its waits_for or rejection moved on in this batch

    @property
    def creates(self) -> bool:
        """Whether it may bring its subject into being (and so overtake the queue)."""
        return bool(self.parsed.envelope.type in CREATING_TYPES)

    @property
    def fault_key(self) -> tuple[str, int]:
        """How a failure of this input is remembered for the batch's next attempt."""
        if self.stored_id is not None:
            return ("deferred", self.stored_id)
        assert self.index is not None
        return ("input", self.index)


class _Batch:
    """One attempt at one batch: decisions in memory, then one save."""

    def __init__(
        self,
        ingestor: Ingestor,
        recorded_at: datetime,
        ahead: _Batch | None = None,
        *,
        faults: Mapping[tuple[str, int], str] | None = None,
        expire: str = "",
    ) -> None:
        self.ingestor = ingestor
        self.app = ingestor.app
        self.write = BatchWrite(received_at=recorded_at)
        self.touched: dict[str, Aggregate] = {}  # changed in this batch
        self.loaded: dict[str, Aggregate | None] = {}  # read in this batch
        self.accepted_ids: dict[str, str] = {}  # event id -> content fingerprint
        self.rejected_prints: dict[str, str] = {}  # fingerprint -> rule
        self.deferred_prints: dict[str, tuple[str, str]] = {}  # -> (waits_for, rule)
        # The batch decided before this one and not committed yet: its changes are this
        # batch's starting point, as if stored. (A batch with deferral work is committed
        # before the next is decided: see ``Pipeline.push``.)
        self.ahead_touched = {} if ahead is None else ahead.touched
        self.ahead_ids = {} if ahead is None else ahead.accepted_ids
        self.ahead_rejected = {} if ahead is None else ahead.rejected_prints
        self.faults = faults or {}
        self.expire = expire  # "*" or a subject: expire its deferred inputs now
        self.queues: dict[str, list[_Waiting]] = {}  # subjects with inputs waiting
        self.created: list[str] = []  # subjects brought into being by this batch
        self.released: list[Outcome] = []
        self.outcomes: list[Outcome] = []
        self.stored: list[StoredEvent] = []
        self._keys: dict[str, tuple[str, int]] = {}  # event id -> whose input it was
        # Outcomes of this batch's own inputs that were deferred, then decided in it.
        self._late: dict[int, Outcome] = {}

    @property
    def has_deferral_work(self) -> bool:
        """Whether this batch changes what waits (the next batch must see it stored)."""
        w = self.write
        return bool(self.queues or w.deferred or w.released or w.redeferred)

    def load(self, subject: str) -> Aggregate | None:
        """The subject as this batch sees it (its own changes included)."""
        if subject in self.touched:
            return self.touched[subject]
        if subject in self.loaded:
            return self.loaded[subject]
        aggregate = (
            self.ahead_touched.get(subject)
            or self.ingestor.cached(subject)
            or self.ingestor.find(subject)
        )
        self.loaded[subject] = aggregate
        return aggregate

    # Deciding -----------------------------------------------------------------------

    def run(self, parsed: Sequence[_Parsed | _Refused]) -> list[Outcome]:
        """Decide every input, after the deferred inputs that are due."""
        envelopes = [p for p in parsed if isinstance(p, _Parsed)]
        store = self.ingestor.store
        known = store.known_inputs(
            sorted({p.event_id for p in envelopes}), sorted({p.fingerprint for p in parsed})
        )
        subjects = _subjects(p.envelope for p in envelopes)
        stored = subjects - self.ahead_touched.keys()  # the rest are ahead of the store
        self.ingestor.refresh(stored)
        # Everything the batch will read and has not cached, in one query (not one each).
        self.loaded.update(self.ingestor.load_many(sorted(self.ingestor.uncached(stored))))
        if store.has_deferred():
            self._take_up_waiting(sorted(subjects))
        outcomes = [self._outcome(index, item, known) for index, item in enumerate(parsed)]
        self._release_created()
        self._settle_queues()
        self.outcomes = self.finish_outcomes(outcomes) + self.released
        return self.outcomes

    def _outcome(self, index: int, item: _Parsed | _Refused, known: KnownInputs) -> Outcome:
        if isinstance(item, _Refused):
            rejection = item.rejection
            rule = self._rejected_before(rejection.fingerprint or "", known)
            if rule is not None:
                return _repeat(item.item.origin, rejection, rule)
            return self._reject(item.item.origin, rejection)
        envelope, origin, event_id, fingerprint = (
            item.envelope,
            item.item.origin,
            item.event_id,
            item.fingerprint,
        )
        subject = envelope.subject
        accepted_as = self._accepted_before(event_id, known)
        if accepted_as is not None and accepted_as in ("", fingerprint):
            return Outcome("duplicate", origin, event_id, subject)
        rule = self._rejected_before(fingerprint, known)
        if rule is not None:
            stub = _rejection(item.item, rule, "rejected before", "", "", envelope, fingerprint)
            return _repeat(origin, stub, rule)
        waiting = self.deferred_prints.get(fingerprint) or known.deferred.get(fingerprint)
        if waiting is not None:  # sent again while it waits: acknowledged, kept once
            waits_for, rule = waiting
            stub = _rejection(item.item, rule, f"waiting for {waits_for}", "", "", envelope, None)
            return Outcome(
                "deferred", origin, event_id, subject, stub, repeat=True, waits_for=waits_for
            )
        if accepted_as is not None:
            return self._reject(origin, _conflict(item))
        fault = self.faults.get(("input", index))
        if fault is not None:
            return self._reject(origin, _fault_rejection(item.item, fault, envelope, fingerprint))
        queue = self.queues.get(subject)
        if queue and envelope.type not in CREATING_TYPES:
            return self._defer_behind(index, item, queue)
        decided = self._decide(item, ("input", index))
        if isinstance(decided, Rejection):
            return self._reject(origin, decided)
        if isinstance(decided, _Waiting):
            decided.index = index
            self._enqueue(decided)
            return Outcome(
                "deferred",
                origin,
                event_id,
                subject,
                decided.rejection,
                waits_for=decided.waits_for,
            )
        return Outcome("accepted", origin, event_id, subject)

    def _decide(self, item: _Parsed, key: tuple[str, int]) -> Rejection | _Waiting | None:
        """Run the input's command: a rejection, a deferral, or None (accepted)."""
        envelope, event_id = item.envelope, item.event_id
        received_at = self.write.received_at
        ahead = envelope.occurred_at - received_at  # (a difference never overflows)
        if ahead > self.ingestor.max_skew:
            return _rejection(
                item.item,
                SKEW_RULE,
                f"occurred_at {envelope.occurred_at.isoformat()} is more than "
                f"{_span(self.ingestor.max_skew)} ahead of the ledger's clock "
                f"({received_at.astimezone(UTC).isoformat()}): events are recorded once "
                "they happen",
                "occurred_at",
                "",
                envelope,
                item.fingerprint,
            )
        existed = self.load(envelope.subject) is not None
        meta = command_meta(envelope, received_at, event_id, _producer_name(item.item))
        try:
            aggregate = HANDLERS[envelope.type](self, envelope, meta)
        except RuleViolation as broken:
            rejection = _rejection(
                item.item,
                broken.rule,
                broken.reason,
                broken.field,
                broken.code,
                envelope,
                item.fingerprint,
            )
            if broken.waits_for:
                return _Waiting(item, broken.waits_for, rejection, None)
            return rejection
        except Exception as error:
            raise _Fault(key, error) from error
        self.touched[aggregate.id] = aggregate
        self.accepted_ids[event_id] = item.fingerprint
        self._keys[event_id] = key
        self.write.event_keys.append((event_id, aggregate.id, aggregate.version, item.fingerprint))
        if not existed:
            self.created.append(envelope.subject)
        return None

    def _accepted_before(self, event_id: str, known: KnownInputs) -> str | None:
        """The content fingerprint the id was accepted with ("" if unknown), or None."""
        for accepted in (self.accepted_ids, self.ahead_ids, known.accepted):
            if event_id in accepted:
                return accepted[event_id] or ""
        return None

    def _rejected_before(self, fingerprint: str, known: KnownInputs) -> str | None:
        for rejected in (self.rejected_prints, self.ahead_rejected, known.rejected):
            rule = rejected.get(fingerprint)
            if rule is not None:
                return rule
        return None

    def _reject(self, origin: str, rejection: Rejection, *, released: bool = False) -> Outcome:
        self.write.rejections.append(rejection)
        if rejection.fingerprint:
            self.rejected_prints[rejection.fingerprint] = rejection.rule
        return Outcome(
            "rejected",
            origin,
            rejection.event_id,
            rejection.subject,
            rejection,
            released=released,
        )

    # Waiting (R-IN-6) -----------------------------------------------------------------

    def _take_up_waiting(self, subjects: Sequence[str]) -> None:
        """Before the batch's inputs: reject what waited past its grace, decide what the
        store now has the subjects for, and note which of the batch's subjects have a
        queue (their inputs wait behind it)."""
        store = self.ingestor.store
        grace = self.ingestor.defer_grace
        cutoff = self.write.received_at - grace
        if self.expire == "*":
            expiring = store.deferred()
        elif self.expire:
            expiring = store.deferred(subject=self.expire)
        else:
            expiring = store.deferred(before=cutoff)
        expired_ids = set()
        for deferral in expiring:
            expired_ids.add(deferral.id)
            self._expired(deferral)
        ready = [d for d in store.ready_deferred() if d.id not in expired_ids]
        waiting = [
            d
            for subject in store.deferred_subjects(subjects)
            for d in store.deferred(subject=subject)
            if d.id not in expired_ids
        ]
        for deferral in sorted({d.id: d for d in [*ready, *waiting]}.values(), key=_by_id):
            self._take_up(deferral)
        for subject in sorted({d.subject for d in ready} & self.queues.keys()):
            self._drain(subject)

    def _take_up(self, deferral: Deferral) -> None:
        """A stored deferred input joins its subject's queue in this batch."""
        origin, producer = _split_origin(deferral.rejection.origin)
        # Its producer's scope was checked when it arrived (it would not wait otherwise).
        parsed = _parse(Input(deferral.rejection.payload, origin, producer=producer), scoped=False)
        if not isinstance(parsed, _Parsed):  # stored by a ledger whose contract was looser
            self._expired(deferral, reason=parsed.rejection.reason)
            return
        self._enqueue(
            _Waiting(
                parsed,
                deferral.waits_for,
                deferral.rejection,
                deferral.received_at,
                stored_id=deferral.id,
            )
        )

    def _expired(self, deferral: Deferral, reason: str = "") -> None:
        assert deferral.id is not None
        self.write.released.append(deferral.id)
        waited = self.write.received_at - (deferral.received_at or self.write.received_at)
        rejection = replace(
            deferral.rejection,
            reason=(reason or deferral.rejection.reason)
            + f" (deferred {_span(max(waited, timedelta(0)))} waiting for "
            f"{deferral.waits_for}; expired)",
        )
        self.released.append(self._reject(rejection.origin, rejection, released=True))

    def _enqueue(self, waiting: _Waiting) -> None:
        self.queues.setdefault(waiting.parsed.envelope.subject, []).append(waiting)
        self.deferred_prints[waiting.parsed.fingerprint] = (
            waiting.waits_for,
            waiting.rejection.rule,
        )

    def _defer_behind(self, index: int, item: _Parsed, queue: list[_Waiting]) -> Outcome:
        """The subject has inputs waiting: this one waits behind them (per-subject order)."""
        head = queue[0]
        rejection = _rejection(
            item.item,
            WAITING_RULE,
            f"an earlier input of {item.envelope.subject} is waiting for {head.waits_for}; "
            "this one waits behind it, to keep the subject's order",
            "subject",
            "",
            item.envelope,
            item.fingerprint,
        )
        waiting = _Waiting(item, head.waits_for, rejection, None, index=index)
        self._enqueue(waiting)
        return Outcome(
            "deferred",
            item.item.origin,
            item.event_id,
            item.envelope.subject,
            rejection,
            waits_for=head.waits_for,
        )

    def _release_created(self) -> None:
        """After the inputs: decide the queues waiting for a subject this batch created."""
        if not self.created:
            return
        created = set(self.created)
        store = self.ingestor.store
        if store.has_deferred():
            known = {w.stored_id for q in self.queues.values() for w in q}
            for deferral in store.deferred_queues(sorted(created)):
                if deferral.id not in known and deferral.id not in self.write.released:
                    self._take_up(deferral)
        done: set[str] = set()
        while True:
            ready = sorted(
                subject
                for subject, queue in self.queues.items()
                if subject not in done and any(w.waits_for in created for w in queue)
            )
            if not ready:
                return
            for subject in ready:
                done.add(subject)
                before = len(self.created)
                self._drain(subject)
                created.update(self.created[before:])
                if len(self.created) > before:
                    done.clear()  # new subjects may release queues drained already

    def _drain(self, subject: str) -> None:
        """Decide a subject's waiting inputs in arrival order until no more can go: one
        that still waits blocks those behind it, except those that may create the
        subject (they overtake)."""
        queue = self.queues.get(subject, [])
        progress = True
        while progress and queue:
            progress = False
            blocked_by: str | None = None
            for waiting in list(queue):
                if blocked_by is not None and not waiting.creates:
                    if waiting.waits_for != blocked_by:
                        waiting.waits_for, waiting.changed = blocked_by, True
                    continue
                decided = self._decide_waiting(waiting)
                if isinstance(decided, _Waiting):
                    if (decided.waits_for, decided.rejection.rule) != (
                        waiting.waits_for,
                        waiting.rejection.rule,
                    ):
                        waiting.waits_for, waiting.rejection = decided.waits_for, decided.rejection
                        waiting.changed = True
                    blocked_by = waiting.waits_for
                    continue
                queue.remove(waiting)
                progress = True
                self.deferred_prints.pop(waiting.parsed.fingerprint, None)
                if waiting.stored_id is not None:
                    self.write.released.append(waiting.stored_id)
                self._settled(waiting, decided)
        if not queue:
            self.queues.pop(subject, None)

    def _decide_waiting(self, waiting: _Waiting) -> Rejection | _Waiting | _Duplicate | None:
        fault = self.faults.get(waiting.fault_key)
        item = waiting.parsed
        if fault is not None:
            return _fault_rejection(item.item, fault, item.envelope, item.fingerprint)
        # While it waited, its event id may have been accepted for another input.
        accepted_as = self._accepted_since(item.event_id)
        if accepted_as is not None:
            return DUPLICATE if accepted_as in ("", item.fingerprint) else _conflict(item)
        return self._decide(item, waiting.fault_key)

    def _accepted_since(self, event_id: str) -> str | None:
        """The fingerprint an event id was accepted with ("" if unknown), or None."""
        for accepted in (self.accepted_ids, self.ahead_ids):
            if event_id in accepted:
                return accepted[event_id] or ""
        stored = self.ingestor.store.known_inputs([event_id], []).accepted
        return (stored[event_id] or "") if event_id in stored else None

    def _settled(self, waiting: _Waiting, decided: Rejection | _Duplicate | None) -> None:
        """A waiting input is decided: an input of this batch gets its outcome replaced,
        a stored one is reported as released."""
        item = waiting.parsed
        if isinstance(decided, _Duplicate):
            outcome = Outcome(
                "duplicate",
                item.item.origin,
                item.event_id,
                item.envelope.subject,
                released=waiting.index is None,
            )
        elif decided is None:
            outcome = Outcome(
                "accepted",
                item.item.origin,
                item.event_id,
                item.envelope.subject,
                released=waiting.index is None,
            )
        else:
            outcome = self._reject(item.item.origin, decided, released=waiting.index is None)
        if waiting.index is None:
            self.released.append(outcome)
        else:
            self._late[waiting.index] = outcome

    def _settle_queues(self) -> None:
        """What still waits is written: new deferrals as rows, stored ones updated; the
        batch's own inputs decided late get their final outcome."""
        for queue in self.queues.values():
            for waiting in queue:
                deferral = Deferral(waiting.waits_for, waiting.rejection, waiting.received_at)
                if waiting.stored_id is None:
                    self.write.deferred.append(deferral)
                elif waiting.changed:
                    self.write.redeferred.append(replace(deferral, id=waiting.stored_id))

    def finish_outcomes(self, outcomes: list[Outcome]) -> list[Outcome]:
        """The batch's outcomes with those decided late (deferred, then released in the
        same batch) in their input's place."""
        late = self._late
        if not late:
            return outcomes
        return [late.get(i, o) for i, o in enumerate(outcomes)]

    # Storing ------------------------------------------------------------------------

    def encode(self) -> list[StoredEvent]:
        """The touched aggregates' new events as rows to store. An event that cannot be
        encoded (a value no JSON holds) is blamed on the input it came from."""
        to_stored = self.app.mapper.to_stored_event
        rows: list[StoredEvent] = []
        for aggregate in self.touched.values():
            for event in aggregate.collect_events():
                try:
                    rows.append(to_stored(event))
                except Exception as error:
                    key = self._keys.get(str(getattr(event, "event_id", "")), ("input", -1))
                    raise _Fault(key, error) from error
        return rows


def _by_id(deferral: Deferral) -> int:
    return deferral.id or 0


def _repeat(origin: str, rejection: Rejection, rule: str) -> Outcome:
    """An input rejected before, sent again: acknowledged, not stored again."""
    return Outcome(
        "rejected",
        origin,
        rejection.event_id,
        rejection.subject,
        replace(rejection, rule=rule),
        repeat=True,
    )


def _span(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class Pipeline:
    """Batches through an ingestor, one deep: while a batch's transaction is written and
    committed on a writer thread (SQLite and PostgreSQL do that work without the GIL),
    the next batch is parsed, validated and decided, on top of the batch in flight (its
    aggregates and accepted event ids, which the store does not show yet).

    If the write in flight fails on a version key (another writer raced it), what was
    decided on top of it is thrown away: that batch is redone alone from fresh
    aggregates, then the next one is decided again. A batch that changes what waits
    (R-IN-6), or whose deciding fails, is committed before the next is decided. Use as
    a context manager; leaving it waits for the write in flight, and what was not
    flushed is not reported.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        on_commit: Callable[[object, list[Outcome]], None] | None = None,
    ) -> None:
        self.ingestor = ingestor
        self._on_commit = on_commit  # hears each batch's tag and outcomes once committed
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ledger-ingest-write")
        self._in_flight: _InFlight | None = None
        self._unsent: _Batch | None = None  # decided, not handed to the writer yet

    @property
    def in_flight(self) -> Future[Any] | None:
        """The write of the batch in hand, if any (its outcomes not reported yet)."""
        return None if self._in_flight is None else self._in_flight.write

    def push(
        self, inputs: Sequence[Input], positions: Sequence[Position] = (), tag: object = None
    ) -> list[Outcome] | None:
        """Decide a batch (stored with ``positions``) and hand it to the writer; the
        outcomes of what was committed meanwhile (None if nothing was). ``on_commit``
        hears of each batch, by its ``tag``, as it is found committed."""
        ingestor = self.ingestor
        parsed = [_parse(item) for item in inputs]
        committed: list[Outcome] | None = None
        ahead = self._in_flight
        if ahead is not None and ahead.batch.has_deferral_work:
            committed = self.flush()  # what waits must be stored before the next decides
            ahead = None
        try:
            self._unsent = ingestor._decided(inputs, parsed, positions, ahead)
        except Exception as error:
            return _joined(committed, self._alone(inputs, positions, error, tag))
        if ahead is not None:
            outcomes, redone = ingestor._finish(ahead, behind=self._unsent)
            self._in_flight = None
            committed = _joined(committed, self._committed(ahead.tag, outcomes))
            if redone:  # what was decided on top of it is void
                self._unsent = None
                try:
                    self._unsent = ingestor._decided(inputs, parsed, positions, None)
                except Exception as error:
                    return _joined(committed, self._alone(inputs, positions, error, tag))
        batch = self._unsent
        write = self._writer.submit(ingestor._write, batch.stored, batch.write)
        self._in_flight, self._unsent = _InFlight(inputs, positions, batch, write, tag), None
        return committed

    def _committed(self, tag: object, outcomes: list[Outcome]) -> list[Outcome]:
        if self._on_commit is not None:
            self._on_commit(tag, outcomes)
        return outcomes

    def _alone(
        self,
        inputs: Sequence[Input],
        positions: Sequence[Position],
        error: Exception,
        tag: object,
    ) -> list[Outcome]:
        """Deciding a batch failed: commit the batch in flight, then this one on its own
        (which rejects the input at fault and stores the rest)."""
        if not isinstance(error, _Fault) and _transient(error):
            raise error
        done: list[Outcome] = []
        ahead, self._in_flight = self._in_flight, None
        if ahead is not None:
            done = self._committed(ahead.tag, self.ingestor._finish(ahead)[0])
            # The failed batch was decided on top of these aggregates: not to be trusted.
            self.ingestor._forget(ahead.batch.touched)
        return done + self._committed(tag, self.ingestor.ingest_batch(inputs, positions))

    def flush(self) -> list[Outcome] | None:
        """Wait for the batch in flight: its outcomes once committed (None if none)."""
        ahead, self._in_flight = self._in_flight, None
        if ahead is None:
            return None
        return self._committed(ahead.tag, self.ingestor._finish(ahead)[0])

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


def _joined(first: list[Outcome] | None, second: list[Outcome]) -> list[Outcome]:
    return second if first is None else first + second


class _InFlight(NamedTuple):
    """A decided batch whose transaction the writer thread has in hand."""

    inputs: Sequence[Input]
    positions: Sequence[Position]
    batch: _Batch
    write: Future[Any]
    tag: object = None


class _Parsed(NamedTuple):
    envelope: Any
    item: Input
    event_id: str  # the envelope's, as text (once: ``str(UUID)`` is not free)
    fingerprint: str  # of its content (see ``_content_print``)


class _Refused(NamedTuple):
    """An input refused before any rule could see it (not an envelope of the contract)."""

    item: Input
    rejection: Rejection

    @property
    def fingerprint(self) -> str:
        """Of its bytes."""
        return self.rejection.fingerprint or ""


def _content_print(canonical: bytes) -> str:
    """The fingerprint of an envelope's content: its canonical JSON (keys sorted, no
    whitespace, ``schemas.parse_canonical``), so the same event sent as other bytes
    (spacing, key order) has the same fingerprint."""
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def _bytes_print(payload: Payload, key: bytes | None = None) -> str:
    """The fingerprint of an input that is no envelope: its bytes (a tombstone: its key)."""
    raw = b"\x00tombstone\x00" + (key or b"") if payload is None else _payload_bytes(payload)[0]
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


TOMBSTONE_REASON: Final = (
    "(document): a Kafka record with no value (a tombstone); the ledger deletes nothing, "
    "send a correcting event instead"
)


def _parse(item: Input, *, scoped: bool = True) -> _Parsed | _Refused:
    """The input's envelope, or why it is refused before any domain rule sees it
    (``scoped``: check its producer's scope; a deferred input's was checked already)."""
    if item.refused is not None:
        refused = item.refused
        fingerprint = _auth_print(item, refused.rule, _bytes_print(item.payload, item.key))
        rejection = _rejection(
            item, refused.rule, refused.reason, refused.field, "unauthorized", None, fingerprint
        )
        return _Refused(item, rejection)
    if item.payload is None:
        rejection = Rejection(
            rule="R-WIRE-1",
            reason=TOMBSTONE_REASON,
            field="(document)",
            code="",
            payload=b"",
            payload_is_json=False,
            event_id=None,
            event_type=None,
            subject=None if item.key is None else _printable(item.key.decode("utf-8", "replace")),
            origin=_printable(_stored_origin(item)),
            fingerprint=_bytes_print(None, item.key),
        )
        return _Refused(item, rejection)
    try:
        envelope, canonical = parse_canonical(item.payload)
    except WireError as error:
        rejection = _rejection(
            item, error.rule, error.reason, error.field, "", None, _bytes_print(item.payload)
        )
        return _Refused(item, rejection)
    except Exception as error:  # a defect of the wire check: kept, never a crash
        message = f"{type(error).__name__}: {error}"
        return _Refused(item, _fault_rejection(item, message, None, _bytes_print(item.payload)))
    fingerprint = _content_print(canonical)
    if scoped and item.producer is not None:
        refusal = item.producer.refusal(envelope.source, envelope.actor.role, envelope.type)
        if refusal is not None:
            rejection = _rejection(
                item,
                refusal.rule,
                refusal.reason,
                refusal.field,
                "unauthorized",
                envelope,
                _auth_print(item, refusal.rule, fingerprint),
            )
            return _Refused(item, rejection)
    if item.keyed and item.key != envelope.subject.encode():
        key = "no key" if item.key is None else f"key {item.key[:200]!r}"
        rejection = _rejection(
            item,
            KEY_RULE,
            f"(key): the record has {key}, not its subject {envelope.subject!r}; key every "
            "record by its envelope's subject, so that one subject's events share a partition",
            "(key)",
            "",
            envelope,
            fingerprint,
        )
        return _Refused(item, rejection)
    return _Parsed(envelope, item, str(envelope.event_id), fingerprint)


def _subjects(envelopes: Iterable[Any]) -> set[str]:
    subjects = set()
    for envelope in envelopes:
        subjects.add(envelope.subject)
        if envelope.type == "ticket.opened":
            subjects.add(envelope.data.customer_id)
            subjects.add("SLA")
    return subjects


def _rejection(
    item: Input,
    rule: str,
    reason: str,
    field_name: str,
    code: str,
    envelope: Any,
    fingerprint: str | None,
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
        origin=_printable(_stored_origin(item)),
        fingerprint=fingerprint,
    )


_PRODUCER_SUFFIX: Final = re.compile(r" \[producer (" + NAME_PATTERN.pattern + r")\]\Z")


def _producer_name(item: Input) -> str:
    """Who sent an input, as its events record it (``local``: the local operator)."""
    return (item.producer or LOCAL_OPERATOR).name


def _stored_origin(item: Input) -> str:
    """The origin a kept input (rejected or deferred) is stored with: where it came from
    and, when a producer sent it, which (``kafka:t/0@42 [producer billing]``), so that
    ``rejects list`` names the producer and a deferred input, decided later, is still
    recorded as sent by it."""
    if item.producer is None or item.producer.kind == "operator":
        return item.origin
    return f"{item.origin} [producer {item.producer.name}]"


def _split_origin(origin: str) -> tuple[str, Principal | None]:
    """A stored origin's place and producer (``_stored_origin`` undone)."""
    found = _PRODUCER_SUFFIX.search(origin)
    if found is None:
        return origin, None
    return origin[: found.start()], Principal(name=found.group(1), kind="producer")


def _auth_print(item: Input, rule: str, base: str) -> str:
    """The fingerprint of an input refused for who sent it (R-AUTH-*): its content's
    with the rule and the producer, so the same input sent again by the same sender is
    "rejected before", while a sender allowed to send it is decided anew."""
    sender = "" if item.producer is None else item.producer.name
    raw = f"auth\x00{rule}\x00{sender}\x00{base}".encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _conflict(item: _Parsed) -> Rejection:
    """R-ID-1: the event id was accepted before for an event with other content."""
    return _rejection(
        item.item,
        CONFLICT_RULE,
        f"event_id: {item.event_id} already names a stored event with other content; "
        "an event_id is one event's idempotency key (R-IN-4): give a new event a new id",
        "event_id",
        "conflict",
        item.envelope,
        item.fingerprint,
    )


def _fault_rejection(
    item: Input, message: str, envelope: Any, fingerprint: str | None
) -> Rejection:
    """R-FAULT-1: deciding or storing this input failed for a reason that is no rule."""
    return _rejection(
        item,
        FAULT_RULE,
        f"(document): the ledger could not process this input ({message[:500]}); it is "
        "kept, and the rest of its batch was stored",
        "(document)",
        "fault",
        envelope,
        fingerprint,
    )


def _printable(text: str) -> str:
    """Text fit for a database text column: NUL (which PostgreSQL refuses) spelt out.

    The original input is kept byte for byte in the rejection's payload.
    """
    return text.replace("\x00", "\\u0000")


def _payload_bytes(payload: Payload) -> tuple[bytes, bool]:
    """The original bytes, and whether they are a JSON document."""
    if payload is None:
        return b"", False
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
    if payload is None:
        return None
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
