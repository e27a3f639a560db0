"""One handler per wire type: how each producer type of the contract becomes a command.

A handler receives its own envelope model (``TicketTriaged``, ``CustomerOnboarded``...),
so every field it reads is checked by mypy, runs one command of an aggregate and returns
the aggregate it changed or created. ``@handles(Model)`` registers it in `HANDLERS` under
the model's type name; at import, `HANDLERS` must cover exactly the producer types of the
contract (``schemas.PRODUCER_TYPES``). The ingest loop around them (batching,
idempotency, deferrals, rejections) is in :mod:`ledger.services.intake`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, Literal, Protocol, TypeVar, cast

from ledger.adapters.event_store import Aggregate
from ledger.aggregates.base import EventMeta
from ledger.aggregates.customer import Customer
from ledger.aggregates.policy import POLICY_ID, SlaPolicy
from ledger.aggregates.rules import RuleViolation
from ledger.aggregates.ticket import Ticket
from schemas import (
    ENVELOPE_MODELS,
    PRODUCER_TYPES,
    CustomerCalendarChangeApproved,
    CustomerCalendarChangeProposed,
    CustomerCheckInCompleted,
    CustomerCheckInScheduled,
    CustomerChurned,
    CustomerContractChanged,
    CustomerEnvelope,
    CustomerExceptionApproved,
    CustomerExceptionRequested,
    CustomerFeedbackRecorded,
    CustomerMilestoneReached,
    CustomerOnboarded,
    CustomerOwnerChanged,
    CustomerRenewed,
    CustomerSurveyRecorded,
    CustomerUsageReported,
    Envelope,
    IncidentDetected,
    IncidentImpactStarted,
    IncidentMitigated,
    PlayClosed,
    PlayOutreachLogged,
    RcaImpactAssessed,
    RcaKnowledgeLinked,
    RcaOwnerAssigned,
    RcaPreventiveActionAdded,
    RcaPreventiveActionCancelled,
    RcaPreventiveActionCompleted,
    RcaPreventiveActionVerified,
    RcaPublished,
    RcaRootCauseIdentified,
    RcaTimelineEntryAdded,
    SlaPolicyChangeApproved,
    SlaPolicyChangeProposed,
    TicketAssigned,
    TicketClosed,
    TicketDeescalated,
    TicketEnvelope,
    TicketEscalated,
    TicketOpened,
    TicketPermanentFixApplied,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketStatusChanged,
    TicketTemporaryFixApplied,
    TicketTriaged,
    TicketUpdatePosted,
)
from schemas.policy import SeverityTargets


class Context(Protocol):
    """What a handler may ask of the batch it runs in (aggregates as of this batch)."""

    def load(self, subject: str) -> Aggregate | None: ...


Handler = Callable[[Context, Envelope, EventMeta], Aggregate]
"""A handler as `HANDLERS` holds it: called only with the envelope model of its key."""

E = TypeVar("E", bound=Envelope)
A = TypeVar("A", Ticket, Customer, SlaPolicy)

HANDLERS: Final[dict[str, Handler]] = {}
"""Producer type name to its handler (exactly ``schemas.PRODUCER_TYPES``)."""

_TYPE_NAMES: Final[dict[type[Envelope], str]] = {
    model: name for name, model in ENVELOPE_MODELS.items()
}


def handles(
    model: type[E],
) -> Callable[[Callable[[Context, E, EventMeta], A]], Callable[[Context, E, EventMeta], A]]:
    """Register the decorated function as the handler of ``model``'s type (a model of
    ``schemas.AnyEnvelope``); mypy checks that it takes that model."""
    name = _TYPE_NAMES[model]

    def register(
        handler: Callable[[Context, E, EventMeta], A],
    ) -> Callable[[Context, E, EventMeta], A]:
        if name in HANDLERS:
            raise RuntimeError(f"{name} has two handlers")
        # Sound: ingest looks the handler up by the envelope's own type, whose model
        # this is (the discriminated union admits no other).
        HANDLERS[name] = cast(Handler, handler)
        return handler

    return register


def command_meta(
    envelope: Envelope,
    recorded_at: datetime,
    event_id: str | None = None,
    producer: str | None = None,
) -> EventMeta:
    """The envelope facts every stored event keeps (``event_id``: the envelope's as text,
    if the caller has it already; ``producer``: who sent it, ``local`` for the local
    operator)."""
    return EventMeta(
        event_id=str(envelope.event_id) if event_id is None else event_id,
        occurred_at=envelope.occurred_at,
        actor_id=envelope.actor.id,
        actor_role=envelope.actor.role,
        source=envelope.source,
        recorded_at=recorded_at,
        producer=producer,
    )


# Subjects ---------------------------------------------------------------------------------


def _existing(ctx: Context, envelope: Envelope, kind: type[A], what: str, first: str) -> A:
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


def _absent(ctx: Context, envelope: Envelope) -> None:
    if ctx.load(envelope.subject) is not None:
        raise RuleViolation(
            "R-STATE-1",
            f"{envelope.subject} exists already; {envelope.type} starts a new subject",
            field="subject",
        )


def _ticket(ctx: Context, envelope: TicketEnvelope) -> Ticket:
    return _existing(ctx, envelope, Ticket, "opened", "ticket.opened")


def _customer(ctx: Context, envelope: CustomerEnvelope) -> Customer:
    return _existing(ctx, envelope, Customer, "onboarded", "customer.onboarded")


# Tickets ----------------------------------------------------------------------------------


@handles(TicketOpened)
def open_ticket(ctx: Context, envelope: TicketOpened, meta: EventMeta) -> Ticket:
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
        product_area=data.product_area,
    )


@handles(TicketTriaged)
def triage_ticket(ctx: Context, envelope: TicketTriaged, meta: EventMeta) -> Ticket:
    """ticket.triaged."""
    ticket = _ticket(ctx, envelope)
    data = envelope.data
    ticket.triage(
        meta,
        severity=data.severity,
        category=data.category,
        reason=data.reason,
        product_area=data.product_area,
    )
    return ticket


@handles(TicketAssigned)
def assign_ticket(ctx: Context, envelope: TicketAssigned, meta: EventMeta) -> Ticket:
    """ticket.assigned."""
    ticket = _ticket(ctx, envelope)
    ticket.assign(meta, assignee=envelope.data.assignee)
    return ticket


@handles(TicketResponded)
def respond_to_ticket(ctx: Context, envelope: TicketResponded, meta: EventMeta) -> Ticket:
    """ticket.responded."""
    ticket = _ticket(ctx, envelope)
    ticket.respond(meta, public=envelope.data.public, message=envelope.data.message)
    return ticket


@handles(TicketUpdatePosted)
def post_ticket_update(ctx: Context, envelope: TicketUpdatePosted, meta: EventMeta) -> Ticket:
    """ticket.update_posted."""
    ticket = _ticket(ctx, envelope)
    ticket.post_update(meta, message=envelope.data.message)
    return ticket


@handles(TicketStatusChanged)
def change_ticket_status(ctx: Context, envelope: TicketStatusChanged, meta: EventMeta) -> Ticket:
    """ticket.status_changed."""
    ticket = _ticket(ctx, envelope)
    ticket.change_status(meta, status=envelope.data.status)
    return ticket


@handles(TicketEscalated)
def escalate_ticket(ctx: Context, envelope: TicketEscalated, meta: EventMeta) -> Ticket:
    """ticket.escalated."""
    ticket = _ticket(ctx, envelope)
    data = envelope.data
    ticket.escalate(meta, to_tier=data.to_tier, reason=data.reason, escalated_to=data.escalated_to)
    return ticket


@handles(TicketDeescalated)
def deescalate_ticket(ctx: Context, envelope: TicketDeescalated, meta: EventMeta) -> Ticket:
    """ticket.deescalated."""
    ticket = _ticket(ctx, envelope)
    ticket.deescalate(meta, to_tier=envelope.data.to_tier, reason=envelope.data.reason)
    return ticket


@handles(TicketTemporaryFixApplied)
def apply_temporary_fix(
    ctx: Context, envelope: TicketTemporaryFixApplied, meta: EventMeta
) -> Ticket:
    """ticket.temporary_fix_applied."""
    ticket = _ticket(ctx, envelope)
    data = envelope.data
    ticket.apply_temporary_fix(
        meta, description=data.description, expires_at=data.expires_at, owner=data.owner
    )
    return ticket


@handles(TicketPermanentFixApplied)
def apply_permanent_fix(
    ctx: Context, envelope: TicketPermanentFixApplied, meta: EventMeta
) -> Ticket:
    """ticket.permanent_fix_applied."""
    ticket = _ticket(ctx, envelope)
    ticket.apply_permanent_fix(meta, description=envelope.data.description)
    return ticket


@handles(TicketResolved)
def resolve_ticket(ctx: Context, envelope: TicketResolved, meta: EventMeta) -> Ticket:
    """ticket.resolved."""
    ticket = _ticket(ctx, envelope)
    ticket.resolve(meta, resolution=envelope.data.resolution)
    return ticket


@handles(TicketReopened)
def reopen_ticket(ctx: Context, envelope: TicketReopened, meta: EventMeta) -> Ticket:
    """ticket.reopened."""
    ticket = _ticket(ctx, envelope)
    ticket.reopen(meta, reason=envelope.data.reason)
    return ticket


@handles(TicketClosed)
def close_ticket(ctx: Context, envelope: TicketClosed, meta: EventMeta) -> Ticket:
    """ticket.closed."""
    ticket = _ticket(ctx, envelope)
    ticket.close(meta)
    return ticket


# Root-cause analyses (of a ticket) --------------------------------------------------------


@handles(RcaRootCauseIdentified)
def identify_root_cause(ctx: Context, envelope: RcaRootCauseIdentified, meta: EventMeta) -> Ticket:
    """rca.root_cause_identified."""
    ticket = _ticket(ctx, envelope)
    data = envelope.data
    ticket.identify_root_cause(
        meta,
        root_cause=data.root_cause,
        root_cause_code=data.root_cause_code,
        product_area=data.product_area,
    )
    return ticket


@handles(RcaImpactAssessed)
def assess_impact(ctx: Context, envelope: RcaImpactAssessed, meta: EventMeta) -> Ticket:
    """rca.impact_assessed."""
    ticket = _ticket(ctx, envelope)
    data = envelope.data
    ticket.assess_impact(
        meta,
        impact=data.impact,
        customers_affected=data.customers_affected,
        duration_minutes=data.duration_minutes,
    )
    return ticket


@handles(RcaPreventiveActionAdded)
def add_preventive_action(
    ctx: Context, envelope: RcaPreventiveActionAdded, meta: EventMeta
) -> Ticket:
    """rca.preventive_action_added."""
    ticket = _ticket(ctx, envelope)
    data = envelope.data
    ticket.add_preventive_action(
        meta,
        action_id=data.action_id,
        description=data.description,
        owner=data.owner,
        due_date=data.due_date,
    )
    return ticket


@handles(RcaPreventiveActionCompleted)
def complete_preventive_action(
    ctx: Context, envelope: RcaPreventiveActionCompleted, meta: EventMeta
) -> Ticket:
    """rca.preventive_action_completed (also on a closed ticket)."""
    ticket = _ticket(ctx, envelope)
    ticket.complete_action(meta, action_id=envelope.data.action_id, note=envelope.data.note)
    return ticket


@handles(RcaPreventiveActionVerified)
def verify_preventive_action(
    ctx: Context, envelope: RcaPreventiveActionVerified, meta: EventMeta
) -> Ticket:
    """rca.preventive_action_verified (also on a closed ticket)."""
    ticket = _ticket(ctx, envelope)
    ticket.verify_action(meta, action_id=envelope.data.action_id, note=envelope.data.note)
    return ticket


@handles(RcaPreventiveActionCancelled)
def cancel_preventive_action(
    ctx: Context, envelope: RcaPreventiveActionCancelled, meta: EventMeta
) -> Ticket:
    """rca.preventive_action_cancelled (also on a closed ticket)."""
    ticket = _ticket(ctx, envelope)
    ticket.cancel_action(meta, action_id=envelope.data.action_id, reason=envelope.data.reason)
    return ticket


@handles(RcaKnowledgeLinked)
def link_knowledge(ctx: Context, envelope: RcaKnowledgeLinked, meta: EventMeta) -> Ticket:
    """rca.knowledge_linked (also on a closed ticket)."""
    ticket = _ticket(ctx, envelope)
    data = envelope.data
    ticket.link_knowledge(meta, kind=data.kind, ref=data.ref, title=data.title)
    return ticket


# Incident milestones (of a ticket) --------------------------------------------------------


@handles(IncidentImpactStarted)
def record_impact_started(ctx: Context, envelope: IncidentImpactStarted, meta: EventMeta) -> Ticket:
    """incident.impact_started."""
    ticket = _ticket(ctx, envelope)
    ticket.record_milestone(meta, "impact_started", at=envelope.data.at, note=envelope.data.note)
    return ticket


@handles(IncidentDetected)
def record_detected(ctx: Context, envelope: IncidentDetected, meta: EventMeta) -> Ticket:
    """incident.detected."""
    ticket = _ticket(ctx, envelope)
    ticket.record_milestone(meta, "detected", at=envelope.data.at, note=envelope.data.note)
    return ticket


@handles(IncidentMitigated)
def record_mitigated(ctx: Context, envelope: IncidentMitigated, meta: EventMeta) -> Ticket:
    """incident.mitigated."""
    ticket = _ticket(ctx, envelope)
    ticket.record_milestone(meta, "mitigated", at=envelope.data.at, note=envelope.data.note)
    return ticket


@handles(RcaOwnerAssigned)
def assign_rca_owner(ctx: Context, envelope: RcaOwnerAssigned, meta: EventMeta) -> Ticket:
    """rca.owner_assigned."""
    ticket = _ticket(ctx, envelope)
    ticket.assign_rca_owner(meta, owner=envelope.data.owner)
    return ticket


@handles(RcaTimelineEntryAdded)
def add_timeline_entry(ctx: Context, envelope: RcaTimelineEntryAdded, meta: EventMeta) -> Ticket:
    """rca.timeline_entry_added."""
    ticket = _ticket(ctx, envelope)
    ticket.add_timeline_entry(meta, at=envelope.data.at, entry=envelope.data.entry)
    return ticket


@handles(RcaPublished)
def publish_rca(ctx: Context, envelope: RcaPublished, meta: EventMeta) -> Ticket:
    """rca.published."""
    ticket = _ticket(ctx, envelope)
    ticket.publish_rca(meta)
    return ticket


# Customers --------------------------------------------------------------------------------


@handles(CustomerOnboarded)
def onboard_customer(ctx: Context, envelope: CustomerOnboarded, meta: EventMeta) -> Customer:
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


@handles(CustomerOwnerChanged)
def change_customer_owner(
    ctx: Context, envelope: CustomerOwnerChanged, meta: EventMeta
) -> Customer:
    """customer.owner_changed."""
    customer = _customer(ctx, envelope)
    customer.change_owner(
        meta, success_owner=envelope.data.success_owner, reason=envelope.data.reason
    )
    return customer


@handles(CustomerCheckInScheduled)
def schedule_check_in(
    ctx: Context, envelope: CustomerCheckInScheduled, meta: EventMeta
) -> Customer:
    """customer.check_in_scheduled."""
    customer = _customer(ctx, envelope)
    customer.schedule_check_in(
        meta, check_in_id=envelope.data.check_in_id, due_at=envelope.data.due_at
    )
    return customer


@handles(CustomerCheckInCompleted)
def complete_check_in(
    ctx: Context, envelope: CustomerCheckInCompleted, meta: EventMeta
) -> Customer:
    """customer.check_in_completed."""
    customer = _customer(ctx, envelope)
    customer.complete_check_in(
        meta, check_in_id=envelope.data.check_in_id, notes=envelope.data.notes
    )
    return customer


# Success signals: recorded in order, constrained by no other rule (R-IN-5).


@handles(CustomerMilestoneReached)
def record_milestone(ctx: Context, envelope: CustomerMilestoneReached, meta: EventMeta) -> Customer:
    """customer.milestone_reached."""
    customer = _customer(ctx, envelope)
    customer.record(meta, Customer.MilestoneReached, milestone=envelope.data.milestone)
    return customer


@handles(CustomerUsageReported)
def record_usage(ctx: Context, envelope: CustomerUsageReported, meta: EventMeta) -> Customer:
    """customer.usage_reported."""
    customer = _customer(ctx, envelope)
    data = envelope.data
    customer.record(
        meta,
        Customer.UsageReported,
        period_start=data.period_start,
        period_end=data.period_end,
        active_users=data.active_users,
        videos_localized=data.videos_localized,
        error_count=data.error_count,
    )
    return customer


@handles(CustomerSurveyRecorded)
def record_survey(ctx: Context, envelope: CustomerSurveyRecorded, meta: EventMeta) -> Customer:
    """customer.survey_recorded."""
    customer = _customer(ctx, envelope)
    data = envelope.data
    customer.record(
        meta, Customer.SurveyRecorded, kind=data.kind, score=data.score, ticket_id=data.ticket_id
    )
    return customer


@handles(CustomerFeedbackRecorded)
def record_feedback(ctx: Context, envelope: CustomerFeedbackRecorded, meta: EventMeta) -> Customer:
    """customer.feedback_recorded: a ticket it names must be one of the customer's (one
    not stored yet waits for it, R-IN-6)."""
    customer = _customer(ctx, envelope)
    data = envelope.data
    if data.ticket_id is not None:
        ticket = ctx.load(data.ticket_id)
        if not isinstance(ticket, Ticket):
            raise RuleViolation(
                "R-STATE-3",
                f"no ticket {data.ticket_id} in the ledger (yet)",
                field="data.ticket_id",
                waits_for=data.ticket_id,
            )
        if ticket.customer_id != envelope.subject:
            raise RuleViolation(
                "R-CS-5",
                f"ticket {data.ticket_id} is {ticket.customer_id}'s, not {envelope.subject}'s",
                field="data.ticket_id",
            )
    customer.record_feedback(
        meta,
        feedback_id=data.feedback_id,
        kind=data.kind,
        product_area=data.product_area,
        text=data.text,
        ticket_id=data.ticket_id,
    )
    return customer


@handles(CustomerRenewed)
def record_renewal(ctx: Context, envelope: CustomerRenewed, meta: EventMeta) -> Customer:
    """customer.renewed."""
    customer = _customer(ctx, envelope)
    customer.record(meta, Customer.Renewed, arr=envelope.data.arr, reason=envelope.data.reason)
    return customer


@handles(CustomerChurned)
def record_churn(ctx: Context, envelope: CustomerChurned, meta: EventMeta) -> Customer:
    """customer.churned."""
    customer = _customer(ctx, envelope)
    customer.record(meta, Customer.Churned, arr=envelope.data.arr, reason=envelope.data.reason)
    return customer


@handles(CustomerContractChanged)
def change_contract(ctx: Context, envelope: CustomerContractChanged, meta: EventMeta) -> Customer:
    """customer.contract_changed."""
    customer = _customer(ctx, envelope)
    customer.change_contract(meta, arr=envelope.data.arr, reason=envelope.data.reason)
    return customer


# Success plays (of a customer; the ledger opens them) ---------------------------------------


@handles(PlayOutreachLogged)
def log_play_outreach(ctx: Context, envelope: PlayOutreachLogged, meta: EventMeta) -> Customer:
    """play.outreach_logged."""
    customer = _customer(ctx, envelope)
    data = envelope.data
    customer.log_outreach(meta, play_id=data.play_id, channel=data.channel, note=data.note)
    return customer


@handles(PlayClosed)
def close_play(ctx: Context, envelope: PlayClosed, meta: EventMeta) -> Customer:
    """play.closed."""
    customer = _customer(ctx, envelope)
    data = envelope.data
    customer.close_play(meta, play_id=data.play_id, outcome=data.outcome, note=data.note)
    return customer


# Calendar changes (R-CAL): effective-dated, approved by leadership -------------------------


@handles(CustomerCalendarChangeProposed)
def propose_calendar_change(
    ctx: Context, envelope: CustomerCalendarChangeProposed, meta: EventMeta
) -> Customer:
    """customer.calendar_change_proposed."""
    customer = _customer(ctx, envelope)
    data = envelope.data
    customer.propose_calendar_change(
        meta,
        proposal_id=data.proposal_id,
        calendar=data.calendar.model_dump(mode="json"),
        effective_at=data.effective_at,
    )
    return customer


@handles(CustomerCalendarChangeApproved)
def approve_calendar_change(
    ctx: Context, envelope: CustomerCalendarChangeApproved, meta: EventMeta
) -> Customer:
    """customer.calendar_change_approved."""
    customer = _customer(ctx, envelope)
    customer.approve_calendar_change(meta, envelope.data.proposal_id)
    return customer


# Reviewed exceptions (R-EXC) --------------------------------------------------------------


@handles(CustomerExceptionRequested)
def request_exception(
    ctx: Context, envelope: CustomerExceptionRequested, meta: EventMeta
) -> Customer:
    """customer.exception_requested."""
    customer = _customer(ctx, envelope)
    data = envelope.data
    customer.request_exception(
        meta,
        exception_id=data.exception_id,
        kind=data.kind,
        targets=_targets(data.targets),
        reason=data.reason,
        effective_at=data.effective_at,
        expires_at=data.expires_at,
    )
    return customer


@handles(CustomerExceptionApproved)
def approve_exception(
    ctx: Context, envelope: CustomerExceptionApproved, meta: EventMeta
) -> Customer:
    """customer.exception_approved."""
    customer = _customer(ctx, envelope)
    customer.approve_exception(meta, exception_id=envelope.data.exception_id)
    return customer


def _targets(
    targets: Mapping[Literal["1", "2", "3", "4"], SeverityTargets],
) -> dict[str, dict[str, Any]]:
    """Targets by severity in the contract's JSON form (``warn_after`` only when set)."""
    return {str(severity): value.model_dump(mode="json") for severity, value in targets.items()}


# The SLA policy ---------------------------------------------------------------------------


@handles(SlaPolicyChangeProposed)
def propose_policy(ctx: Context, envelope: SlaPolicyChangeProposed, meta: EventMeta) -> SlaPolicy:
    """sla_policy.change_proposed: creates the policy aggregate on the first proposal."""
    data = envelope.data
    targets = _targets(data.targets)
    policy = ctx.load(POLICY_ID)
    if policy is None:
        return SlaPolicy.propose_first(meta, data.proposal_id, targets, data.effective_at)
    assert isinstance(policy, SlaPolicy)
    policy.propose(meta, data.proposal_id, targets, data.effective_at)
    return policy


@handles(SlaPolicyChangeApproved)
def approve_policy(ctx: Context, envelope: SlaPolicyChangeApproved, meta: EventMeta) -> SlaPolicy:
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


if HANDLERS.keys() != PRODUCER_TYPES:  # pragma: no cover - a programming error
    raise RuntimeError(
        "every producer type needs exactly one handler: missing "
        f"{sorted(PRODUCER_TYPES - HANDLERS.keys())}, not producer types "
        f"{sorted(HANDLERS.keys() - PRODUCER_TYPES)}"
    )
