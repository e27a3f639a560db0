"""Queries: what the ledger answers, from its read models or its log.

* the read-model rows a query needs, as of any instant on both time axes (R-TIME-1);
* JSON-ready views of aggregates, trails, deferrals and rejections;
* what the ledger holds, as one fold over the whole log (no read models needed).

When the question is about now (everything known, and ``as_of`` at or after the last
thing that occurred), the live read models answer, after catching up with the log.
Otherwise the log is read once, filtered to the events that occurred by ``as_of`` and
were recorded by ``known_at``, and folded through the same projection functions, so
both paths give the same rows for the same question.

A subject that cannot be folded is left out of the rows, with a warning naming it (the
runner lists it in ``projection_failures``; the as-of fold skips it the same way), and
``answer`` leaves out a subject whose rows a question cannot evaluate: one bad subject
never hides every good one, and a failure that is no one subject's still raises."""

from __future__ import annotations

import base64
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, cast

import orjson

from ledger.adapters.event_store import Aggregate, LedgerApp
from ledger.adapters.store import Deferral, Rejection, StoredRejection
from ledger.aggregates.base import LedgerCreated, LedgerEvent, event_data
from ledger.aggregates.customer import Customer, CustomerException, calendar_in_force
from ledger.aggregates.ticket import MILESTONES, Ticket
from ledger.projections.fold import Rows
from ledger.projections.registry import (
    BY_NAME,
    PROJECTIONS,
    describe,
    not_the_subject,
    visible,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def log_events(app: LedgerApp) -> list[LedgerEvent]:
    """The whole log, decoded, in notification order."""
    return list(app.log_events())


def rows_as_of(
    app: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None = None
) -> Rows:
    """Every read model's rows as of ``as_of``, from what was recorded by ``known_at``
    (the live read models for now, their versions for any other instant: see
    ``ledger.services.reads``, imported here: the questions about one subject, which the
    command line asks without SQLAlchemy, need the rest of this module only)."""
    from ledger.services.reads import read_as_of

    return read_as_of(app, engine, as_of, known_at)


def answer(rows: Rows, compute: Callable[[Rows], _T], question: str) -> _T:
    """``compute(rows)``; when it raises, the subjects whose rows alone make it raise are
    found (customers alone, then tickets with their customer, halving each time), left
    out with a warning naming them, and the answer computed from the others. An error
    no single subject explains is raised as it was: a mistake is never an empty answer.
    """
    try:
        return compute(rows)
    except not_the_subject():
        raise
    except Exception as failed:
        whole = failed

    def probe(keep: Mapping[str, Collection[str]]) -> Exception | None:
        try:
            compute(_only(rows, keep))
        except not_the_subject():
            raise
        except Exception as error:
            return error
        return None

    customers = sorted(_subjects(rows, "customers"))
    bad_customers = _culprits(customers, lambda chosen: probe({"customers": chosen}))
    customer_of: dict[str, set[str]] = {}
    for table in BY_NAME["tickets"].tables:
        for row in rows.get(table, []):
            if row.get("customer_id") is not None:
                customer_of.setdefault(row["ticket_id"], set()).add(row["customer_id"])

    def tickets_probe(chosen: list[str]) -> Exception | None:
        theirs = set().union(*(customer_of.get(t, set()) for t in chosen)) - bad_customers.keys()
        return probe({"tickets": chosen, "customers": theirs})

    bad_tickets = _culprits(sorted(_subjects(rows, "tickets")), tickets_probe)
    if not bad_customers and not bad_tickets:
        raise whole
    for projection, bad in (("customers", bad_customers), ("tickets", bad_tickets)):
        for subject, error in bad.items():
            log.warning("%s: %s %s left out: %s", question, projection, subject, describe(error))
    return compute(
        _only(
            rows,
            {
                "customers": _subjects(rows, "customers") - bad_customers.keys(),
                "tickets": _subjects(rows, "tickets") - bad_tickets.keys(),
            },
        )
    )


def _subjects(rows: Rows, projection: str) -> set[str]:
    found = BY_NAME[projection]
    column = found.subject_column
    assert column is not None
    return {row[column] for table in found.tables for row in rows.get(table, [])}


def _only(rows: Rows, keep: Mapping[str, Collection[str]]) -> Rows:
    """The rows of the kept subjects of each projection named (others' rows: all)."""
    kept: Rows = {}
    for projection in PROJECTIONS:
        column, chosen = projection.subject_column, keep.get(projection.name)
        for table in projection.tables:
            table_rows = rows.get(table, [])
            if column is not None and chosen is not None:
                wanted = set(chosen)
                table_rows = [row for row in table_rows if row[column] in wanted]
            kept[table] = table_rows
    return kept


def _culprits(
    subjects: list[str], probe: Callable[[list[str]], Exception | None]
) -> dict[str, Exception]:
    """The subjects that make ``probe`` fail on their own, by halving the failing sets."""
    if not subjects:
        return {}
    error = probe(subjects)
    if error is None:
        return {}
    if len(subjects) == 1:
        return {subjects[0]: error}
    middle = len(subjects) // 2
    return {**_culprits(subjects[:middle], probe), **_culprits(subjects[middle:], probe)}


# JSON-ready views (shared by the CLI and the audit tools)


def instant(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC with its offset (``2026-03-27T15:30:00+00:00``)."""
    return None if value is None else value.astimezone(UTC).isoformat()


def plain(value: Any) -> Any:
    """Make ``value`` JSON-ready: instants in UTC, dates ISO, decimals as strings."""
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    return value


def trail_entry(event: LedgerEvent) -> dict[str, Any]:
    """One event of a trail: what, when (both axes), who, from where, and its data."""
    return {
        "version": event.originator_version,
        "type": event.WIRE_TYPE,
        "event_id": event.event_id,
        "occurred_at": instant(event.occurred_at),
        "recorded_at": instant(event.recorded_at),
        "actor": {"id": event.actor_id, "role": event.actor_role},
        "source": event.source,
        "producer": event.producer,  # who sent it (issue 18); None: before, or the ledger's own
        "data": plain(event_data(event)),
    }


def trail(events: Iterable[LedgerEvent]) -> list[dict[str, Any]]:
    """The whole trail of a subject."""
    return [trail_entry(e) for e in events]


def replayed(events: Sequence[LedgerEvent]) -> Aggregate | None:
    """The aggregate a subject's events build, applied in order (None: no events, or
    the first does not create the subject). The events visible as of an instant may
    skip versions (a breach the tick wrote later, at an earlier ``occurred_at``, is
    visible before the events recorded between), so each applies as the next."""
    aggregate: Any = None
    for event in events:
        if aggregate is None and not isinstance(event, LedgerCreated):
            return None
        if aggregate is not None:
            aggregate.version = event.originator_version - 1
        aggregate = event.mutate(aggregate)
    return cast(Aggregate | None, aggregate)


def answered_at(as_of: datetime, known_at: datetime | None) -> dict[str, str | None]:
    """The instants a query's answer was computed for, first in its JSON object:
    ``as_of`` and ``known_at`` in UTC (``known_at`` None: everything recorded)."""
    return {"as_of": instant(as_of), "known_at": instant(known_at)}


def ticket_state(ticket: Ticket) -> dict[str, Any]:
    """The ticket as it stands."""
    fix = ticket.temporary_fix
    return {
        "ticket_id": ticket.id,
        "customer_id": ticket.customer_id,
        "title": ticket.title,
        "description": ticket.description,
        "channel": ticket.channel,
        "severity": ticket.severity,
        "highest_severity": ticket.max_severity,
        "category": ticket.category,
        "status": ticket.status,
        "tier": ticket.tier_name,
        "assignee": ticket.assignee,
        "policy_version": ticket.policy_version,
        "opened_at": instant(ticket.opened_at),
        "first_response_at": instant(ticket.first_response_at),
        "resolved_at": instant(ticket.resolved_at),
        "resolution": ticket.resolution or None,
        "closed_at": instant(ticket.closed_at),
        "reopen_count": ticket.reopen_count,
        "temporary_fix": plain(fix) if fix is not None else None,
        "product_area": ticket.product_area,
        "milestones": {f"{name}_at": instant(ticket.milestones.get(name)) for name in MILESTONES},
        "rca_required": ticket.needs_rca,
        "rca": {
            "root_cause": ticket.rca.root_cause or None,
            "root_cause_code": ticket.rca.root_cause_code or None,
            "impact": plain(ticket.rca.impact) or None,
            "preventive_actions": plain(list(ticket.rca.preventive_actions.values())),
            "owner": ticket.rca.owner or None,
            "timeline_entries": plain(ticket.rca.timeline),
            "knowledge_links": plain(ticket.rca.knowledge_links),
            "published": ticket.rca.revision > 0,
            "revision": ticket.rca.revision,
            "published_at": instant(ticket.rca.published_at),
            "missing": ticket.rca.missing_parts(),
        },
        "version": ticket.version,
    }


def customer_state(customer: Customer, as_of: datetime) -> dict[str, Any]:
    """The customer as it stands (at ``as_of``: the state of each exception and the
    calendar in force). ``calendar_versions``: onboarding's calendar (version 1) and each
    approved change, with when it takes effect, who approved it and when, and whether it
    is the one in force; ``calendar_proposals``: changes not approved yet."""
    in_force = (
        calendar_in_force(customer.calendar_versions, as_of).version
        if customer.calendar_versions
        else 1
    )
    versions = [
        {
            "version": v.version,
            "effective_at": instant(v.effective_at),
            "approved_at": instant(v.approved_at),
            "approved_by": v.approved_by,
            "proposal_id": v.proposal_id,
            "proposed_by": v.proposed_by,
            "in_force": v.version == in_force,
            "calendar": v.calendar,
        }
        for v in customer.calendar_versions
    ]
    proposals = [
        {
            "proposal_id": p.proposal_id,
            "proposed_by": p.proposed_by,
            "proposed_at": instant(p.proposed_at),
            "effective_at": instant(p.effective_at),
            "calendar": p.calendar,
        }
        for p in customer.calendar_proposals.values()
        if p.approved_version is None
    ]
    calendar = next((v["calendar"] for v in versions if v["in_force"]), customer.calendar)
    return {
        "customer_id": customer.id,
        "name": customer.name,
        "tier": customer.tier,
        "status": customer.status,
        "arr": plain(customer.arr),
        "calendar": calendar,
        "calendar_version": in_force,
        "calendar_versions": versions,
        "calendar_proposals": proposals,
        "success_owner": customer.success_owner,
        "escalation_contact": customer.escalation_contact,
        "decision_maker": customer.decision_maker,
        "milestones": customer.milestones,
        "check_ins": plain(list(customer.check_ins.values())),
        "plays": plain(list(customer.plays.values())),
        "exceptions": [exception_view(e, as_of) for e in customer.exceptions.values()],
        "version": customer.version,
    }


def exception_view(exception: CustomerException, as_of: datetime) -> dict[str, Any]:
    """A customer exception as ``customer show`` lists it, with its ``state`` as of
    ``as_of`` (the customer replayed from the events visible then): ``expired`` once
    ``expires_at`` has passed, else ``approved`` once leadership approved it, else
    ``requested`` (R-EXC)."""
    if exception.expires_at <= as_of:
        state = "expired"
    elif exception.approved_at is not None:
        state = "approved"
    else:
        state = "requested"
    return {
        "exception_id": exception.exception_id,
        "state": state,
        "kind": exception.kind,
        "targets": exception.targets,
        "reason": exception.reason,
        "effective_at": instant(exception.effective_at),
        "expires_at": instant(exception.expires_at),
        "requested_by": exception.requested_by,
        "requested_at": instant(exception.requested_at),
        "approved_by": exception.approved_by,
        "approved_at": instant(exception.approved_at),
        "effective_from": instant(exception.effective_from),
    }


def deferral_view(deferral: Deferral) -> dict[str, Any]:
    """A deferred input as listed: what it waits for, since when, the rule it would be
    rejected under, and the original envelope."""
    assert deferral.id is not None and deferral.received_at is not None
    return {
        "waits_for": deferral.waits_for,
        **rejection_view(StoredRejection(deferral.id, deferral.received_at, deferral.rejection)),
    }


def rejection_view(stored: StoredRejection) -> dict[str, Any]:
    """A rejection as listed: the original envelope when it was JSON, else its bytes."""
    r = stored.rejection
    view: dict[str, Any] = {
        "id": stored.id,
        "received_at": instant(stored.received_at),
        "rule": r.rule,
        "code": r.code or None,
        "field": r.field or None,
        "reason": r.reason,
        "event_id": r.event_id,
        "type": r.event_type,
        "subject": r.subject,
        "origin": r.origin,
    }
    if r.payload_is_json:
        view["envelope"] = orjson.loads(r.payload)
    else:
        view["raw"] = r.payload.decode("utf-8", "replace")
        view["raw_base64"] = base64.b64encode(r.payload).decode()
    return view


def rejection_seen(stored: StoredRejection, as_of: datetime, known_at: datetime | None) -> bool:
    """Whether a rejected input counts for a question as of ``as_of``, known at
    ``known_at`` (R-TIME-1). Its recording time is when the ledger received it, so
    ``known_at`` takes it only if received by then; on the ``as_of`` axis it counts once
    it was received or once the ``occurred_at`` its envelope claims has passed, so a
    history imported today shows its rejections as of last quarter too."""
    if known_at is not None and stored.received_at > known_at:
        return False
    if stored.received_at <= as_of:
        return True
    claimed = _claimed_occurred_at(stored.rejection)
    return claimed is not None and claimed <= as_of


def rejections_seen(
    app: LedgerApp,
    as_of: datetime,
    known_at: datetime | None,
    *,
    rule: str | None = None,
    subject: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
) -> list[StoredRejection]:
    """The rejected inputs the filters select that count as of ``as_of``, known at
    ``known_at`` (``rejection_seen``), oldest first."""
    found = app.store.rejections(rule=rule, subject=subject, event_type=event_type, since=since)
    return [r for r in found if rejection_seen(r, as_of, known_at)]


def _claimed_occurred_at(rejection: Rejection) -> datetime | None:
    """The ``occurred_at`` a rejected envelope claims, when it is a readable instant."""
    if not rejection.payload_is_json:
        return None
    try:
        document = orjson.loads(rejection.payload)
        text = document["occurred_at"]
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is None:
            return None
        return value.astimezone(UTC)  # (an instant out of range cannot be converted)
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError, ValueError):
        return None
    except OverflowError:
        return None


@dataclass(frozen=True)
class SubjectAsOf:
    """One subject as of an instant, known at another: whether it has any history, the
    events visible then, the aggregate they build (None: none yet), and the inputs for
    it that were rejected and count then."""

    exists: bool
    events: list[LedgerEvent]
    aggregate: Aggregate | None
    rejected: list[StoredRejection]


def subject_as_of(
    app: LedgerApp, subject: str, as_of: datetime, known_at: datetime | None
) -> SubjectAsOf:
    """``ticket show`` and ``customer show``: the subject replayed from its visible
    events, with its rejected inputs (R-TIME-1)."""
    history = app.history(subject)
    events = visible(history, as_of, known_at)
    rejected = rejections_seen(app, as_of, known_at, subject=subject)
    return SubjectAsOf(bool(history), events, replayed(events), rejected)


def rejected_input(stored: StoredRejection) -> dict[str, Any]:
    """A rejected input as a subject's view shows it beside its trail: marked
    rejected, with its rule, reason, field, when it was received and what it claimed."""
    r = stored.rejection
    return {
        "rejected": True,
        "id": stored.id,
        "rule": r.rule,
        "reason": r.reason,
        "field": r.field or None,
        "received_at": instant(stored.received_at),
        "occurred_at": instant(_claimed_occurred_at(r)),
        "event_id": r.event_id,
        "type": r.event_type,
        "origin": r.origin,
    }


# What the log holds

PAGE = 5000


@dataclass
class Holdings:
    """Counts of what the log holds."""

    events: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    customers_by_tier: Counter[str] = field(default_factory=Counter)
    ticket_severity: dict[str, int] = field(default_factory=dict)
    ticket_status: dict[str, str] = field(default_factory=dict)
    rcas_published: set[str] = field(default_factory=set)

    def count(self, event: LedgerEvent) -> None:
        """Count one event in (a tally over the whole log, not a projection: it fills no
        read model and lives for one question, so it counts in place)."""
        self.events += 1
        self.events_by_type[event.WIRE_TYPE] += 1
        subject = event.originator_id
        if isinstance(event, Customer.Onboarded):
            self.customers_by_tier[event.tier] += 1
        elif isinstance(event, Ticket.Opened | Ticket.Triaged):
            self.ticket_severity[subject] = event.severity
            self.ticket_status.setdefault(subject, "open")
        elif isinstance(event, Ticket.StatusChanged):
            self.ticket_status[subject] = event.status
        elif isinstance(event, Ticket.Resolved):
            self.ticket_status[subject] = "resolved"
        elif isinstance(event, Ticket.Reopened):
            self.ticket_status[subject] = "open"
        elif isinstance(event, Ticket.Closed):
            self.ticket_status[subject] = "closed"
        elif isinstance(event, Ticket.RcaPublished):
            self.rcas_published.add(subject)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        by_severity = Counter(self.ticket_severity.values())
        return {
            "events": self.events,
            "customers": dict(sorted(self.customers_by_tier.items())),
            "tickets": len(self.ticket_severity),
            "tickets_by_severity": {f"sev{k}": by_severity[k] for k in sorted(by_severity)},
            "tickets_by_status": dict(sorted(Counter(self.ticket_status.values()).items())),
            "rcas_published": len(self.rcas_published),
            "events_by_type": dict(sorted(self.events_by_type.items())),
        }


def holdings(app: LedgerApp) -> Holdings:
    """Fold the whole log, page by page."""
    result = Holdings()
    for event in app.log_events(PAGE):
        result.count(event)
    return result
