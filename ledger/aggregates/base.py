"""What every domain event of the ledger carries, on top of eventsourcing's own fields.

Aggregate ids are the business keys (``T-1001``, ``C-42``, ``SLA``), so events are
typed for ``str`` ids. Every event keeps its envelope's ``event_id``, ``occurred_at``
(valid time, said by the producer), ``actor_id``, ``actor_role`` and ``source``, and
the ``producer`` that sent it (a producer's name, ``local`` for the local operator; None
for events stored before producers were recorded, and for the ledger's own events);
eventsourcing's ``timestamp`` is the ledger's recording time (transaction time),
set once per ingest batch by the application, never by the producer.

Event classes are keyword-only dataclasses, so later fields (a hash chain, say) can be
added with defaults without reordering anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final, Self

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate

from ledger.aggregates.chain import (
    CHAIN_FIELDS,
    CHAIN_FORMAT,
    GENESIS,
    event_meta,
    hash_event,
    new_salt,
    record_hash,
)

domain_event = dataclass(frozen=True, kw_only=True)
"""Decorator for every concrete domain event class."""


@dataclass(frozen=True)
class EventMeta:
    """The envelope facts a command passes on to the event it triggers."""

    event_id: str
    occurred_at: datetime
    actor_id: str
    actor_role: str
    source: str
    recorded_at: datetime
    producer: str | None = None  # who sent the envelope (issue 18); None: the ledger itself

    def event_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``trigger_event``/``_create``."""
        return {
            "event_id": self.event_id,
            "occurred_at": self.occurred_at,
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "source": self.source,
            "producer": self.producer,
            "timestamp": self.recorded_at,
        }


@domain_event
class LedgerEvent(CanMutateAggregate[str]):
    """Base of every stored event: eventsourcing's fields plus the envelope's."""

    WIRE_TYPE: ClassVar[str] = ""
    SYSTEM: ClassVar[bool] = False  # written by the ledger itself (exempt from R-IN-5)
    # Optional fields added to the type after events of it were stored (with a default of
    # None): left out of the data, and so of the hash, while None, so that the events
    # stored before them keep their hashes (as ``producer`` does).
    LATE_FIELDS: ClassVar[frozenset[str]] = frozenset()

    originator_id: str
    originator_version: int
    timestamp: datetime
    event_id: str
    occurred_at: datetime
    actor_id: str
    actor_role: str
    source: str
    # Who sent it: a producer's name, or "local" (the local operator). None for events
    # stored before producers were recorded (read back from the class default) and for
    # the ledger's own; hashed only when set, so older events keep their hashes.
    producer: str | None = None
    # The hash chain (``ledger.aggregates.chain``): set when the event is created.
    previous_hash: str = GENESIS
    salt: str = ""
    event_hash: str = ""
    # The chain format the hash was computed under (``docs/chain-format.md``): set to the
    # current one when the event is created; the events stored before formats were
    # recorded have none and read back the default, 1, the format they were hashed under.
    chain_format: int = 1

    @property
    def recorded_at(self) -> datetime:
        """When the ledger stored the event (transaction time)."""
        return self.timestamp

    def mutate(self, aggregate: Any) -> Any:
        """Evolve the aggregate, and remember this event's hash as its chain head."""
        aggregate = super().mutate(aggregate)
        aggregate.last_hash = self.event_hash
        return aggregate

    def computed_hash(self) -> str:
        """The hash the event's fields give now (equal to ``event_hash`` unless altered).

        An erased event (``ledger erase``, R-ERASE-1) has no salt any more: it keeps the
        commitment of each erased field and the salt of each personal field it still
        shows (``erasure_proof``), as an export's record does, and is rechecked as one."""
        proof = erasure_proof(self)
        if proof is not None:
            return record_hash(event_meta(self), event_data(self), proof, fmt=self.chain_format)
        return hash_event(self, event_data(self))


@domain_event
class LedgerCreated(CanInitAggregate[str], LedgerEvent):
    """Base of the first event of an aggregate."""

    originator_topic: str

    def mutate(self, aggregate: Any) -> Any:
        """Construct the aggregate, and remember this event's hash as its chain head."""
        created = CanInitAggregate.mutate(self, aggregate)
        assert created is not None
        created.last_hash = self.event_hash
        return created


class LedgerAggregate(BaseAggregate[str]):
    """Base of the ledger's aggregates: every event it triggers joins the subject's chain."""

    last_hash: str = GENESIS

    @classmethod
    def _create(
        cls,
        event_class: type[Any],
        *,
        id: str | None = None,
        **kwargs: Any,
    ) -> Self:
        aggregate = super()._create(
            event_class,
            id=id,
            previous_hash=GENESIS,
            salt=new_salt(),
            chain_format=CHAIN_FORMAT,
            **kwargs,
        )
        aggregate._seal()
        return aggregate

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Trigger the event chained to the aggregate's latest one."""
        super().trigger_event(
            event_class,
            previous_hash=self.last_hash,
            salt=new_salt(),
            chain_format=CHAIN_FORMAT,
            **kwargs,
        )
        self._seal()

    def _seal(self) -> None:
        # The hash needs the event's final fields (its version, say), so it is set on the
        # event just created, before anything can store it.
        event = self.pending_events[-1]
        assert isinstance(event, LedgerEvent)
        sealed = event.computed_hash()
        object.__setattr__(event, "event_hash", sealed)
        self.last_hash = sealed


ERASURE_ATTRIBUTE: Final = "erasure"
"""The key an erased event's stored state gains (not a dataclass field: events never
erased, every event when it is created, have none): ``{"salts": {field: field salt},
"commitments": {field: commitment}}``, what ``chain.proof_of`` gives an export."""


def erasure_proof(event: LedgerEvent) -> dict[str, Any] | None:
    """What stands in for an erased event's salt (None: the event was never erased)."""
    proof: dict[str, Any] | None = event.__dict__.get(ERASURE_ATTRIBUTE)
    return proof


_META_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "event_id",
        "occurred_at",
        "actor_id",
        "actor_role",
        "source",
        "producer",
        "originator_topic",
        *CHAIN_FIELDS,
    }
)


def event_data(event: LedgerEvent) -> dict[str, Any]:
    """The type's own payload: every field that is not envelope or store metadata (a
    late field, ``LedgerEvent.LATE_FIELDS``, only when it is set)."""
    names = _DATA_FIELDS.get(type(event))
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(event)  # type: ignore[arg-type]
            if f.name not in _META_FIELDS
        )
        _DATA_FIELDS[type(event)] = names
    late = event.LATE_FIELDS
    if late:
        return {
            name: value
            for name in names
            if (value := getattr(event, name)) is not None or name not in late
        }
    return {name: getattr(event, name) for name in names}


_DATA_FIELDS: dict[type[Any], tuple[str, ...]] = {}
