"""The application: the event store, and how each wire type becomes an aggregate command.

`LedgerApp` is a thin eventsourcing ``Application``; `HANDLERS` maps each producer type
of the wire contract to the command it runs. The ingest loop around them (batching,
idempotency, rejections) is in :mod:`ledger.ingest`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, Final, Protocol, cast

import orjson
import psycopg
from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Notification,
    StoredEvent,
    Transcoding,
)

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.customer import Customer
from ledger.aggregates.policy import POLICY_ID, SlaPolicy
from ledger.aggregates.rules import RuleViolation
from ledger.aggregates.ticket import Ticket
from ledger.settings import Database
from ledger.store import LedgerRecorder

Aggregate = Ticket | Customer | SlaPolicy


class DateAsISO(Transcoding):
    """Dates (due dates, holidays, usage periods) as ISO strings in stored events."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class RecordedAtAsISO(DatetimeAsISO):
    """The library's datetime form, remembering the text of the instants it wrote last:
    every event of an ingest batch carries the same recording time (the same object),
    between each event's own instants."""

    KEEP: Final = 64

    def __init__(self) -> None:
        # Keyed by identity, holding the object: an id is not reused while it is here.
        self._texts: dict[int, tuple[datetime, str]] = {}

    def encode(self, obj: datetime) -> str:
        known = self._texts.get(id(obj))
        if known is not None and known[0] is obj:
            return known[1]
        if len(self._texts) >= self.KEEP:
            self._texts.clear()
        text = obj.isoformat()
        self._texts[id(obj)] = (obj, text)
        return text


class FastJSONTranscoder(JSONTranscoder):
    """eventsourcing's JSON format, written with orjson: the same bytes as the library's
    own encoder (type markers included), about twice as fast on the ledger's events.
    Reading stays the library's (its C scanner with a hook beats orjson plus a walk).

    orjson hands back its 4 KiB working buffer as the bytes object, however short the
    text: a 400-byte event held 4.4 KiB until stored (20 MiB for a batch of 5000, twice
    that with ingest's pipeline). The copy to an object of the text's size is kept."""

    OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS

    def encode(self, obj: Any) -> bytes:
        return bytes(memoryview(orjson.dumps(obj, default=self._encode_obj, option=self.OPTIONS)))


class LedgerApp(Application[str]):
    """The ledger's event store: tickets, customers and the SLA policy."""

    name = "Ledger"

    def construct_transcoder(self) -> JSONTranscoder:
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def store_events(self, aggregates: Iterable[Aggregate], **kwargs: Any) -> None:
        """Store the aggregates' pending events in one transaction (``kwargs``: what the
        recorder writes beside them). ``save()`` does the same plus snapshots, the
        aggregate cache and notifications, none of which the ledger uses, and two
        runtime protocol checks per aggregate that cost several per cent of ingest; and
        ``EventStore.put`` builds a notification per event for callers, unused here."""
        self.recorder.insert_events(self.stored_events(aggregates), **kwargs)

    def stored_events(self, aggregates: Iterable[Aggregate]) -> list[StoredEvent]:
        """The aggregates' pending events as rows to store (they leave the aggregates)."""
        to_stored = self.mapper.to_stored_event
        return [to_stored(e) for aggregate in aggregates for e in aggregate.collect_events()]

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(RecordedAtAsISO())  # replaces the library's DatetimeAsISO
        transcoder.register(DateAsISO())

    @property
    def store(self) -> LedgerRecorder:
        """The recorder, with the ledger's own queries."""
        return cast(LedgerRecorder, self.recorder)

    def history(self, subject: str) -> list[LedgerEvent]:
        """Every stored event of the subject, in version order."""
        return cast(list[LedgerEvent], list(self.events.get(subject)))

    def log_events(self, page_size: int = 10_000) -> Iterator[LedgerEvent]:
        """Every stored event in notification (log) order, read page by page."""
        for notification in self.log_notifications(page_size=page_size):
            event = self.mapper.to_domain_event(notification)
            assert isinstance(event, LedgerEvent)
            yield event

    def log_notifications(self, after: int = 0, page_size: int = 10_000) -> Iterator[Notification]:
        """The stored rows after notification id ``after``, undecoded, page by page."""
        position = after
        while True:
            page = self.recorder.select_notifications(
                start=position, limit=page_size, inclusive_of_start=False
            )
            if not page:
                return
            yield from page
            position = page[-1].id

    def load_many(self, subjects: Sequence[str]) -> dict[str, Aggregate | None]:
        """Many aggregates in one query per chunk (None: nothing stored for the subject)."""
        if not subjects:
            return {}
        history: dict[str, list[Any]] = {subject: [] for subject in subjects}
        for notification in self.store.subject_events(subjects, up_to=2**62):
            history[str(notification.originator_id)].append(
                self.mapper.to_domain_event(notification)
            )
        return {
            subject: cast(Aggregate | None, project_aggregate(None, events))
            for subject, events in history.items()
        }

    def find(self, subject: str) -> Aggregate | None:
        """The aggregate with this id, or None if nothing was ever stored for it."""
        try:
            return cast(Aggregate, self.repository.get(subject))
        except AggregateNotFoundError:
            return None


SCHEMA_LOCK: Final = 0x1ED6E5  # advisory lock id: one process at a time creates tables


def open_app(database: Database) -> LedgerApp:
    """Open (creating tables if needed) the ledger on ``database``.

    On PostgreSQL, services starting together (consumers, relay, runners) would race to
    create the same tables; an advisory lock makes them take turns.
    """
    if database.kind != "postgres":
        return LedgerApp(env=database.eventsourcing_env())
    with _connect(database) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [SCHEMA_LOCK])
        if database.schema:
            conn.execute(
                psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    psycopg.sql.Identifier(database.schema)
                )
            )
        try:
            return LedgerApp(env=database.eventsourcing_env())
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [SCHEMA_LOCK])


def _connect(database: Database) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=database.host,
        port=database.port,
        user=database.user,
        password=database.password or None,
        dbname=database.dbname,
        autocommit=True,
        connect_timeout=5,
    )


@contextlib.contextmanager
def opened(database: Database) -> Iterator[LedgerApp]:
    """Open the ledger for the duration of a ``with`` block."""
    app = open_app(database)
    try:
        yield app
    finally:
        app.close()


# Commands by wire type -------------------------------------------------------------------


class Context(Protocol):
    """What a handler may ask of the batch it runs in (aggregates as of this batch)."""

    def load(self, subject: str) -> Aggregate | None: ...


Handler = Callable[[Context, Any, EventMeta], Aggregate]


def command_meta(envelope: Any, recorded_at: Any, event_id: str | None = None) -> EventMeta:
    """The envelope facts every stored event keeps (``event_id``: the envelope's as text,
    if the caller has it already)."""
    return EventMeta(
        event_id=str(envelope.event_id) if event_id is None else event_id,
        occurred_at=envelope.occurred_at,
        actor_id=envelope.actor.id,
        actor_role=envelope.actor.role,
        source=envelope.source,
        recorded_at=recorded_at,
    )


def _existing(ctx: Context, envelope: Any, kind: type[Any], what: str, first: str) -> Any:
    aggregate = ctx.load(envelope.subject)
    if aggregate is None:
        raise RuleViolation(
            "R-STATE-1",
            f"{envelope.subject} was never {what}: send {first} first",
            field="subject",
            waits_for=envelope.subject,
        )
    if not isinstance(aggregate, kind):
        raise RuleViolation(
            "R-STATE-1", f"{envelope.subject} is not a {kind.__name__}", field="subject"
        )
    return aggregate


def _absent(ctx: Context, envelope: Any) -> None:
    if ctx.load(envelope.subject) is not None:
        raise RuleViolation(
            "R-STATE-1",
            f"{envelope.subject} exists already; {envelope.type} starts a new subject",
            field="subject",
        )


def _ticket(ctx: Context, envelope: Any) -> Ticket:
    return cast(Ticket, _existing(ctx, envelope, Ticket, "opened", "ticket.opened"))


def _customer(ctx: Context, envelope: Any) -> Customer:
    return cast(Customer, _existing(ctx, envelope, Customer, "onboarded", "customer.onboarded"))


def open_ticket(ctx: Context, envelope: Any, meta: EventMeta) -> Aggregate:
    """ticket.opened: needs an onboarded enterprise customer and records the policy version."""
    _absent(ctx, envelope)
    data = envelope.data
    customer = ctx.load(data.customer_id)
    tier = customer.tier if isinstance(customer, Customer) else None
    policy = ctx.load(POLICY_ID)
    version = policy.in_force(meta.occurred_at).version if isinstance(policy, SlaPolicy) else 1
    return Ticket.open(
        envelope.subject,
        meta,
        customer_tier=tier,
        policy_version=version,
        customer_id=data.customer_id,
        channel=data.channel,
        title=data.title,
        description=data.description,
        severity=data.severity,
        category=data.category,
        reason=data.reason,
    )


def _on_ticket(command: Callable[..., None], *fields: str) -> Handler:
    """A handler calling ``command(ticket, meta, **data fields)`` on an existing ticket."""

    def handle(ctx: Context, envelope: Any, meta: EventMeta) -> Aggregate:
        ticket = _ticket(ctx, envelope)
        command(ticket, meta, **{name: getattr(envelope.data, name) for name in fields})
        return ticket

    return handle


def onboard_customer(ctx: Context, envelope: Any, meta: EventMeta) -> Aggregate:
    """customer.onboarded."""
    _absent(ctx, envelope)
    data = envelope.data
    return Customer.onboard(
        envelope.subject,
        meta,
        name=data.name,
        tier=data.tier,
        calendar=data.calendar.model_dump(mode="json"),
        success_owner=data.success_owner,
        escalation_contact=data.escalation_contact,
        decision_maker=data.decision_maker.model_dump(mode="json"),
    )


def _on_customer(command: Callable[..., None], *fields: str) -> Handler:
    def handle(ctx: Context, envelope: Any, meta: EventMeta) -> Aggregate:
        customer = _customer(ctx, envelope)
        command(customer, meta, **{name: getattr(envelope.data, name) for name in fields})
        return customer

    return handle


def _customer_signal(event_class: type[Customer.Event], *fields: str) -> Handler:
    def handle(ctx: Context, envelope: Any, meta: EventMeta) -> Aggregate:
        customer = _customer(ctx, envelope)
        customer.record(meta, event_class, **{n: getattr(envelope.data, n) for n in fields})
        return customer

    return handle


def propose_policy(ctx: Context, envelope: Any, meta: EventMeta) -> Aggregate:
    """sla_policy.change_proposed: creates the policy aggregate on the first proposal."""
    data = envelope.data
    targets = {
        str(severity): value.model_dump(mode="json") for severity, value in data.targets.items()
    }
    policy = ctx.load(POLICY_ID)
    if policy is None:
        return SlaPolicy.propose_first(meta, data.proposal_id, targets, data.effective_at)
    assert isinstance(policy, SlaPolicy)
    policy.propose(meta, data.proposal_id, targets, data.effective_at)
    return policy


def approve_policy(ctx: Context, envelope: Any, meta: EventMeta) -> Aggregate:
    """sla_policy.change_approved."""
    policy = ctx.load(POLICY_ID)
    if not isinstance(policy, SlaPolicy):
        raise RuleViolation(
            "R-STATE-3",
            f"no proposal {envelope.data.proposal_id!r} to approve",
            field="data.proposal_id",
        )
    policy.approve(meta, envelope.data.proposal_id)
    return policy


HANDLERS: dict[str, Handler] = {
    "ticket.opened": open_ticket,
    "ticket.triaged": _on_ticket(Ticket.triage, "severity", "category", "reason"),
    "ticket.assigned": _on_ticket(Ticket.assign, "assignee"),
    "ticket.responded": _on_ticket(Ticket.respond, "public", "message"),
    "ticket.update_posted": _on_ticket(Ticket.post_update, "message"),
    "ticket.status_changed": _on_ticket(Ticket.change_status, "status"),
    "ticket.escalated": _on_ticket(Ticket.escalate, "to_tier", "reason", "escalated_to"),
    "ticket.deescalated": _on_ticket(Ticket.deescalate, "to_tier", "reason"),
    "ticket.temporary_fix_applied": _on_ticket(
        Ticket.apply_temporary_fix, "description", "expires_at", "owner"
    ),
    "ticket.permanent_fix_applied": _on_ticket(Ticket.apply_permanent_fix, "description"),
    "ticket.resolved": _on_ticket(Ticket.resolve, "resolution"),
    "ticket.reopened": _on_ticket(Ticket.reopen, "reason"),
    "ticket.closed": _on_ticket(Ticket.close),
    "rca.root_cause_identified": _on_ticket(
        Ticket.identify_root_cause, "root_cause", "root_cause_code"
    ),
    "rca.impact_assessed": _on_ticket(
        Ticket.assess_impact, "impact", "customers_affected", "duration_minutes"
    ),
    "rca.preventive_action_added": _on_ticket(
        Ticket.add_preventive_action, "action_id", "description", "owner", "due_date"
    ),
    "rca.owner_assigned": _on_ticket(Ticket.assign_rca_owner, "owner"),
    "rca.timeline_entry_added": _on_ticket(Ticket.add_timeline_entry, "at", "entry"),
    "rca.published": _on_ticket(Ticket.publish_rca),
    "customer.onboarded": onboard_customer,
    "customer.owner_changed": _on_customer(Customer.change_owner, "success_owner", "reason"),
    "customer.check_in_scheduled": _on_customer(
        Customer.schedule_check_in, "check_in_id", "due_at"
    ),
    "customer.check_in_completed": _on_customer(Customer.complete_check_in, "check_in_id", "notes"),
    "customer.milestone_reached": _customer_signal(Customer.MilestoneReached, "milestone"),
    "customer.usage_reported": _customer_signal(
        Customer.UsageReported,
        "period_start",
        "period_end",
        "active_users",
        "videos_localized",
        "error_count",
    ),
    "customer.survey_recorded": _customer_signal(
        Customer.SurveyRecorded, "kind", "score", "ticket_id"
    ),
    "customer.renewed": _customer_signal(Customer.Renewed, "arr", "reason"),
    "customer.churned": _customer_signal(Customer.Churned, "arr", "reason"),
    "sla_policy.change_proposed": propose_policy,
    "sla_policy.change_approved": approve_policy,
}
