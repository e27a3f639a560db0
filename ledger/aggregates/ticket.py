"""The support ticket: intake, triage, escalation, fixes, resolution, RCA and closure.

Commands check every rule first and trigger one event only when all hold, so a
rejected command leaves the ticket untouched (R-IN, R-SEV, R-ESC, R-FIX, R-RCA, R-INC).

Closed is final (R-STATE-2) but for the RCA's follow-through: preventive actions (added,
completed, verified, cancelled) and knowledge links happen after closure, so those
commands check only the order of events (R-IN-5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Final

from ledger.aggregates.base import (
    EventMeta,
    LedgerAggregate,
    LedgerCreated,
    LedgerEvent,
    domain_event,
)
from ledger.aggregates.rules import (
    APPROVED_CHANNELS,
    CATEGORY_SEVERITY,
    RCA_SEVERITIES,
    TIERS,
    RuleViolation,
    check_in_order,
    is_blank,
    require,
    same_actor_key,
    tier_number,
)

OPEN_STATUSES: Final = ("open", "in_progress", "waiting_on_customer")

ACTION_STATUSES: Final = ("open", "completed", "verified", "cancelled")
"""A preventive action's statuses (R-RCA-4): open until completed (then perhaps verified)
or cancelled."""

MILESTONES: Final = ("impact_started", "detected", "mitigated")
"""An incident's milestones, in the order their instants must keep (R-INC-1)."""

KNOWLEDGE_KINDS: Final = ("runbook", "faq", "playbook")


@dataclass
class Rca:
    """The root cause analysis as it is being put together (R-RCA-2)."""

    root_cause: str = ""
    root_cause_code: str = ""
    impact: dict[str, Any] = field(default_factory=dict)
    preventive_actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    owner: str = ""
    timeline: list[dict[str, Any]] = field(default_factory=list)
    revision: int = 0  # times published
    published_at: datetime | None = None
    knowledge_links: list[dict[str, Any]] = field(default_factory=list)

    def missing_parts(self) -> list[str]:
        """What R-RCA-2 still asks for before the RCA can be published."""
        missing = []
        if is_blank(self.root_cause) or is_blank(self.root_cause_code):
            missing.append("a root cause with a root_cause_code (rca.root_cause_identified)")
        if not self.impact:
            missing.append("an impact assessment (rca.impact_assessed)")
        if not self.preventive_actions:
            missing.append("at least one preventive action (rca.preventive_action_added)")
        if is_blank(self.owner):
            missing.append("an RCA owner (rca.owner_assigned)")
        return missing


@dataclass(frozen=True)
class TemporaryFix:
    """The ticket's live temporary fix (R-FIX-2)."""

    description: str
    expires_at: datetime
    owner: str
    applied_at: datetime
    expired: bool = False


class Ticket(LedgerAggregate):
    """An enterprise support ticket."""

    @domain_event
    class Event(LedgerEvent):
        """Base of the ticket's events: producer events move the R-IN-5 mark."""

        def apply(self, aggregate: Any) -> None:
            if not self.SYSTEM:
                aggregate.last_occurred_at = self.occurred_at

    @domain_event
    class Opened(Event, LedgerCreated):
        """A ticket came in through an approved channel, categorised (R-IN-1..3)."""

        WIRE_TYPE = "ticket.opened"
        LATE_FIELDS = frozenset({"product_area"})
        customer_id: str
        channel: str
        title: str
        description: str
        severity: int
        category: str
        reason: str | None
        policy_version: int
        product_area: str | None = None

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            for name in ("customer_id", "channel", "title", "description", "category"):
                setattr(aggregate, name, getattr(self, name))
            aggregate.product_area = self.product_area
            aggregate.severity = aggregate.max_severity = self.severity
            aggregate.policy_version = self.policy_version
            aggregate.opened_at = self.occurred_at

    @domain_event
    class Triaged(Event):
        """Severity and category set again, with a reason (R-SEV-1, R-SEV-2)."""

        WIRE_TYPE = "ticket.triaged"
        LATE_FIELDS = frozenset({"product_area"})
        severity: int
        category: str
        reason: str
        previous_severity: int
        product_area: str | None = None  # None: unchanged

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.severity = self.severity
            aggregate.category = self.category
            aggregate.max_severity = min(aggregate.max_severity, self.severity)
            if self.product_area is not None:
                aggregate.product_area = self.product_area

    @domain_event
    class Assigned(Event):
        """Someone took the ticket."""

        WIRE_TYPE = "ticket.assigned"
        assignee: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.assignee = self.assignee

    @domain_event
    class Responded(Event):
        """A response on the ticket; public ones by staff count for the SLA (R-SLA-2)."""

        WIRE_TYPE = "ticket.responded"
        public: bool
        message: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            if self.public and self.actor_role != "customer" and not aggregate.first_response_at:
                aggregate.first_response_at = self.occurred_at

    @domain_event
    class UpdatePosted(Event):
        """A status update to the customer (the update cadence, R-SLA-3)."""

        WIRE_TYPE = "ticket.update_posted"
        message: str

    @domain_event
    class StatusChanged(Event):
        """Work status: in progress, or waiting on the customer (pauses updates)."""

        WIRE_TYPE = "ticket.status_changed"
        status: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.status = self.status

    @domain_event
    class Escalated(Event):
        """Moved one tier up, documented (R-ESC-1, R-ESC-2)."""

        WIRE_TYPE = "ticket.escalated"
        from_tier: str
        to_tier: str
        reason: str
        escalated_to: str | None

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.tier = tier_number(self.to_tier)

    @domain_event
    class Deescalated(Event):
        """Moved down, with a reason (R-ESC-1)."""

        WIRE_TYPE = "ticket.deescalated"
        from_tier: str
        to_tier: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.tier = tier_number(self.to_tier)

    @domain_event
    class TemporaryFixApplied(Event):
        """A workaround with an expiry and a follow-up owner (R-FIX-2)."""

        WIRE_TYPE = "ticket.temporary_fix_applied"
        description: str
        expires_at: datetime
        owner: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.temporary_fix = TemporaryFix(
                self.description, self.expires_at, self.owner, self.occurred_at
            )

    @domain_event
    class PermanentFixApplied(Event):
        """The real fix; it ends any temporary one."""

        WIRE_TYPE = "ticket.permanent_fix_applied"
        description: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.temporary_fix = None
            aggregate.permanent_fix_at = self.occurred_at

    @domain_event
    class Resolved(Event):
        """Resolved, in writing (R-FIX-1)."""

        WIRE_TYPE = "ticket.resolved"
        resolution: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.status = "resolved"
            aggregate.resolved_at = self.occurred_at
            aggregate.resolution = self.resolution

    @domain_event
    class Reopened(Event):
        """A resolved ticket came back."""

        WIRE_TYPE = "ticket.reopened"
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.status = "open"
            aggregate.resolved_at = None
            aggregate.reopen_count += 1

    @domain_event
    class Closed(Event):
        """Closed for good: nothing more happens to the ticket."""

        WIRE_TYPE = "ticket.closed"

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.status = "closed"
            aggregate.closed_at = self.occurred_at

    @domain_event
    class RootCauseIdentified(Event):
        """The RCA's root cause (R-RCA-2)."""

        WIRE_TYPE = "rca.root_cause_identified"
        LATE_FIELDS = frozenset({"product_area"})
        root_cause: str
        root_cause_code: str
        product_area: str | None = None  # None: the ticket's stays

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.rca.root_cause = self.root_cause
            aggregate.rca.root_cause_code = self.root_cause_code
            if self.product_area is not None:
                aggregate.product_area = self.product_area

    @domain_event
    class ImpactAssessed(Event):
        """The RCA's impact assessment (R-RCA-2)."""

        WIRE_TYPE = "rca.impact_assessed"
        impact: str
        customers_affected: int
        duration_minutes: int

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.rca.impact = {
                "impact": self.impact,
                "customers_affected": self.customers_affected,
                "duration_minutes": self.duration_minutes,
            }

    @domain_event
    class PreventiveActionAdded(Event):
        """A preventive action with owner and due date (R-RCA-2)."""

        WIRE_TYPE = "rca.preventive_action_added"
        action_id: str
        description: str
        owner: str
        due_date: date

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            action = aggregate.rca.preventive_actions.get(self.action_id) or new_action()
            action.update(
                action_id=self.action_id,
                description=self.description,
                owner=self.owner,
                due_date=self.due_date,
            )
            aggregate.rca.preventive_actions[self.action_id] = action

    @domain_event
    class PreventiveActionCompleted(Event):
        """A preventive action was done (R-RCA-4)."""

        WIRE_TYPE = "rca.preventive_action_completed"
        action_id: str
        note: str | None

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            action = aggregate.rca.preventive_actions[self.action_id]
            action.update(
                status="completed",
                completed_at=self.occurred_at,
                completed_by=self.actor_id,
                note=self.note,
            )

    @domain_event
    class PreventiveActionVerified(Event):
        """A completed action was checked by someone else (R-RCA-4)."""

        WIRE_TYPE = "rca.preventive_action_verified"
        action_id: str
        note: str | None

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            action = aggregate.rca.preventive_actions[self.action_id]
            action.update(
                status="verified",
                verified_at=self.occurred_at,
                verified_by=self.actor_id,
                verification_note=self.note,
            )

    @domain_event
    class PreventiveActionCancelled(Event):
        """An open action was dropped, with a reason (R-RCA-4)."""

        WIRE_TYPE = "rca.preventive_action_cancelled"
        action_id: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            action = aggregate.rca.preventive_actions[self.action_id]
            action.update(status="cancelled", cancelled_at=self.occurred_at, reason=self.reason)

    @domain_event
    class KnowledgeLinked(Event):
        """A runbook, FAQ or playbook entry linked to the RCA (R-RCA-6)."""

        WIRE_TYPE = "rca.knowledge_linked"
        kind: str
        ref: str
        title: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.rca.knowledge_links.append(
                {"kind": self.kind, "ref": self.ref, "title": self.title, "at": self.occurred_at}
            )

    @domain_event
    class Milestone(Event):
        """Base of the incident's milestones (R-INC-1): when it happened, and how known."""

        MILESTONE: ClassVar[str] = ""
        at: datetime
        note: str | None

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            known = getattr(aggregate, "milestones", {})
            aggregate.milestones = {**known, self.MILESTONE: self.at}

    @domain_event
    class ImpactStarted(Milestone):
        """Customers began to be affected."""

        WIRE_TYPE = "incident.impact_started"
        MILESTONE = "impact_started"

    @domain_event
    class Detected(Milestone):
        """The organisation knew of the impact."""

        WIRE_TYPE = "incident.detected"
        MILESTONE = "detected"

    @domain_event
    class Mitigated(Milestone):
        """Customers were no longer affected."""

        WIRE_TYPE = "incident.mitigated"
        MILESTONE = "mitigated"

    @domain_event
    class RcaOwnerAssigned(Event):
        """Who owns the RCA (R-RCA-2)."""

        WIRE_TYPE = "rca.owner_assigned"
        owner: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.rca.owner = self.owner

    @domain_event
    class TimelineEntryAdded(Event):
        """A manual entry for the RCA timeline (R-RCA-2)."""

        WIRE_TYPE = "rca.timeline_entry_added"
        at: datetime
        entry: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.rca.timeline.append({"at": self.at, "entry": self.entry})

    @domain_event
    class RcaPublished(Event):
        """The RCA was published (again, for a revision) and shared internally."""

        WIRE_TYPE = "rca.published"
        revision: int

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.rca.revision = self.revision
            aggregate.rca.published_at = self.occurred_at

    @domain_event
    class SlaBreached(Event):
        """Written by the ledger when a timer's target passed before it stopped (R-SLA-5)."""

        WIRE_TYPE = "sla.breached"
        SYSTEM = True
        timer: str
        due_at: datetime
        policy_version: int

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.breaches.append((self.timer, self.due_at))

    @domain_event
    class SlaWarning(Event):
        """Written by the ledger when a running timer's warning threshold ran out (R-SLA-7)."""

        WIRE_TYPE = "sla.warning"
        SYSTEM = True
        timer: str
        warn_at: datetime
        due_at: datetime
        policy_version: int

    @domain_event
    class TemporaryFixExpired(Event):
        """Written by the ledger when a temporary fix outlived its expiry (R-FIX-2)."""

        WIRE_TYPE = "fix.temporary_expired"
        SYSTEM = True
        expires_at: datetime
        owner: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            fix = aggregate.temporary_fix
            if fix is not None and fix.expires_at == self.expires_at:
                aggregate.temporary_fix = TemporaryFix(
                    fix.description, fix.expires_at, fix.owner, fix.applied_at, expired=True
                )

    @domain_event
    class ActionOverdue(Event):
        """Written by the ledger when a preventive action passed its due date not completed
        (R-RCA-5)."""

        WIRE_TYPE = "rca.action_overdue"
        SYSTEM = True
        action_id: str
        owner: str
        due_date: date
        due_at: datetime

    def __init__(self) -> None:
        self.customer_id = ""
        self.channel = ""
        self.title = ""
        self.description = ""
        self.severity = 0
        self.max_severity = 0  # the highest severity ever, i.e. the lowest number (R-SEV-3)
        self.category = ""
        self.policy_version = 1
        self.status = "open"
        self.tier = 1
        self.assignee: str | None = None
        self.opened_at: datetime | None = None
        self.first_response_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.resolution = ""
        self.closed_at: datetime | None = None
        self.reopen_count = 0
        self.temporary_fix: TemporaryFix | None = None
        self.permanent_fix_at: datetime | None = None
        self.rca = Rca()
        self.product_area: str | None = None
        self.milestones: dict[str, datetime] = {}  # milestone name -> when (R-INC-1)
        self.breaches: list[tuple[str, datetime]] = []
        self.last_occurred_at: datetime | None = None

    # Properties -----------------------------------------------------------------------

    @property
    def tier_name(self) -> str:
        """The current escalation tier's name."""
        return TIERS[self.tier - 1]

    @property
    def needs_rca(self) -> bool:
        """Whether closing waits for a published RCA: ever Sev1 or Sev2 (R-SEV-3, R-RCA-1)."""
        return self.max_severity in RCA_SEVERITIES

    # Intake ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        ticket_id: str,
        meta: EventMeta,
        *,
        customer_tier: str | None,
        policy_version: int,
        customer_id: str,
        channel: str,
        title: str,
        description: str,
        severity: int,
        category: str,
        reason: str | None = None,
        product_area: str | None = None,
    ) -> Ticket:
        """Open a ticket; ``customer_tier`` is None when the customer was never onboarded."""
        require(
            channel in APPROVED_CHANNELS,
            "R-IN-1",
            f"channel {channel!r} is not an approved channel "
            f"({', '.join(APPROVED_CHANNELS)}): bypassing the ticketing system is prohibited",
            field="data.channel",
        )
        require(
            customer_tier is not None,
            "R-IN-2",
            f"customer {customer_id} was never onboarded; onboard it before opening tickets",
            field="data.customer_id",
            waits_for=customer_id,
        )
        require(
            customer_tier == "enterprise",
            "R-IN-2",
            f"customer {customer_id} is {customer_tier}: enterprise support covers "
            "enterprise customers only",
            field="data.customer_id",
        )
        _check_categorised(severity, category, reason)
        return cls._create(
            cls.Opened,
            id=ticket_id,
            customer_id=customer_id,
            channel=channel,
            title=title,
            description=description,
            severity=severity,
            category=category,
            reason=reason,
            policy_version=policy_version,
            product_area=product_area,
            **meta.event_kwargs(),
        )

    def triage(
        self,
        meta: EventMeta,
        severity: int,
        category: str,
        reason: str,
        product_area: str | None = None,
    ) -> None:
        """Set severity and category again (and perhaps the product area); a severity
        change needs a reason (R-SEV-2)."""
        self._check_active(meta)
        _check_categorised(severity, category, reason)
        require(
            severity == self.severity or not is_blank(reason),
            "R-SEV-2",
            f"changing severity {self.severity} to {severity} needs a written reason: "
            "severity determines response priority, not customer pressure",
            field="data.reason",
        )
        self._trigger(
            meta,
            self.Triaged,
            severity=severity,
            category=category,
            reason=reason,
            previous_severity=self.severity,
            product_area=product_area,
        )

    # Work -----------------------------------------------------------------------------

    def assign(self, meta: EventMeta, assignee: str) -> None:
        """Give the ticket an owner."""
        self._check_active(meta)
        require(not is_blank(assignee), "R-TRAIL-1", "assignee is blank", field="data.assignee")
        self._trigger(meta, self.Assigned, assignee=assignee)

    def respond(self, meta: EventMeta, public: bool, message: str) -> None:
        """Answer on the ticket."""
        self._check_active(meta)
        self._trigger(meta, self.Responded, public=public, message=message)

    def post_update(self, meta: EventMeta, message: str) -> None:
        """Post a status update to the customer."""
        self._check_active(meta)
        self._trigger(meta, self.UpdatePosted, message=message)

    def change_status(self, meta: EventMeta, status: str) -> None:
        """Mark work in progress or waiting on the customer (only while unresolved)."""
        self._check_active(meta)
        require(
            self.status in OPEN_STATUSES,
            "R-STATE-2",
            f"status can change only while the ticket is unresolved; {self.id} is "
            f"{self.status} (reopen it first)",
            field="data.status",
        )
        self._trigger(meta, self.StatusChanged, status=status)

    def escalate(
        self, meta: EventMeta, to_tier: str, reason: str, escalated_to: str | None = None
    ) -> None:
        """Move exactly one tier up, with a written reason (R-ESC-1)."""
        self._check_active(meta)
        require(
            not is_blank(reason),
            "R-ESC-1",
            "undocumented escalations are prohibited: give a non-blank reason",
            field="data.reason",
        )
        require(
            to_tier in TIERS and tier_number(to_tier) == self.tier + 1,
            "R-ESC-1",
            f"an escalation moves exactly one tier up: {self.id} is at {self.tier_name}, "
            f"so the next tier is {_next_tier(self.tier)}, not {to_tier}",
            field="data.to_tier",
        )
        self._trigger(
            meta,
            self.Escalated,
            from_tier=self.tier_name,
            to_tier=to_tier,
            reason=reason,
            escalated_to=escalated_to,
        )

    def deescalate(self, meta: EventMeta, to_tier: str, reason: str) -> None:
        """Move down one or more tiers, with a written reason (R-ESC-1)."""
        self._check_active(meta)
        require(
            not is_blank(reason),
            "R-ESC-1",
            "a de-escalation needs a non-blank reason",
            field="data.reason",
        )
        require(
            to_tier in TIERS and tier_number(to_tier) < self.tier,
            "R-ESC-1",
            f"a de-escalation moves down: {self.id} is at {self.tier_name}, "
            f"{to_tier} is not below it",
            field="data.to_tier",
        )
        self._trigger(
            meta, self.Deescalated, from_tier=self.tier_name, to_tier=to_tier, reason=reason
        )

    # Fixes and resolution ---------------------------------------------------------------

    def apply_temporary_fix(
        self, meta: EventMeta, description: str, expires_at: datetime, owner: str
    ) -> None:
        """A workaround: it must expire, and someone must follow it up (R-FIX-2)."""
        self._check_active(meta)
        require(
            not is_blank(description),
            "R-FIX-2",
            "a temporary fix is described in writing: description is blank",
            field="data.description",
        )
        require(
            not is_blank(owner),
            "R-FIX-2",
            "a temporary fix needs a follow-up owner: owner is blank",
            field="data.owner",
        )
        require(
            expires_at > meta.occurred_at,
            "R-FIX-2",
            f"a temporary fix must expire after it is applied: expires_at "
            f"{expires_at.isoformat()} is not after occurred_at {meta.occurred_at.isoformat()}",
            field="data.expires_at",
        )
        self._trigger(
            meta,
            self.TemporaryFixApplied,
            description=description,
            expires_at=expires_at,
            owner=owner,
        )

    def apply_permanent_fix(self, meta: EventMeta, description: str) -> None:
        """The real fix, in writing."""
        self._check_active(meta)
        require(
            not is_blank(description),
            "R-FIX-1",
            "a permanent fix is described in writing: description is blank",
            field="data.description",
        )
        self._trigger(meta, self.PermanentFixApplied, description=description)

    def resolve(self, meta: EventMeta, resolution: str) -> None:
        """Resolve in writing: verbal-only resolutions are prohibited (R-FIX-1)."""
        self._check_active(meta)
        require(
            not is_blank(resolution),
            "R-FIX-1",
            "verbal-only resolutions are prohibited: give a non-blank written resolution",
            field="data.resolution",
        )
        require(
            self.status in OPEN_STATUSES,
            "R-STATE-2",
            f"{self.id} is resolved already; reopen it before resolving it again",
        )
        self._trigger(meta, self.Resolved, resolution=resolution)

    def reopen(self, meta: EventMeta, reason: str) -> None:
        """A resolved ticket came back."""
        self._check_active(meta)
        require(
            self.status == "resolved",
            "R-STATE-2",
            f"only a resolved ticket can be reopened; {self.id} is {self.status}",
        )
        self._trigger(meta, self.Reopened, reason=reason)

    def close(self, meta: EventMeta) -> None:
        """Close for good: resolved, no live temporary fix (R-FIX-2), RCA if owed (R-RCA-1)."""
        self._check_active(meta)
        require(
            self.status == "resolved",
            "R-STATE-2",
            f"only a resolved ticket can be closed; {self.id} is {self.status}",
        )
        require(
            self.temporary_fix is None,
            "R-FIX-2",
            f"{self.id}'s latest fix is temporary: apply a permanent fix before closing "
            "(permanent temporary fixes are prohibited)",
        )
        require(
            not self.needs_rca or self.rca.revision > 0,
            "R-RCA-1",
            f"{self.id} was Sev{self.max_severity} and cannot be closed until its RCA is published",
        )
        self._trigger(meta, self.Closed)

    # RCA ------------------------------------------------------------------------------

    def identify_root_cause(
        self,
        meta: EventMeta,
        root_cause: str,
        root_cause_code: str,
        product_area: str | None = None,
    ) -> None:
        """Record the root cause and its code (and the product area it lies in)."""
        self._check_active(meta)
        require(not is_blank(root_cause), "R-RCA-2", "root_cause is blank", field="data.root_cause")
        require(
            not is_blank(root_cause_code),
            "R-RCA-2",
            "root_cause_code is blank",
            field="data.root_cause_code",
        )
        self._trigger(
            meta,
            self.RootCauseIdentified,
            root_cause=root_cause,
            root_cause_code=root_cause_code,
            product_area=product_area,
        )

    def assess_impact(
        self, meta: EventMeta, impact: str, customers_affected: int, duration_minutes: int
    ) -> None:
        """Record the impact assessment."""
        self._check_active(meta)
        require(not is_blank(impact), "R-RCA-2", "impact is blank", field="data.impact")
        self._trigger(
            meta,
            self.ImpactAssessed,
            impact=impact,
            customers_affected=customers_affected,
            duration_minutes=duration_minutes,
        )

    def add_preventive_action(
        self, meta: EventMeta, action_id: str, description: str, owner: str, due_date: date
    ) -> None:
        """Add (or restate, by the same action_id, while it is open) a preventive action;
        also after closure (the RCA's follow-through)."""
        self._check_follow_up(meta)
        for name, value in (
            ("action_id", action_id),
            ("description", description),
            ("owner", owner),
        ):
            require(
                not is_blank(value),
                "R-RCA-2",
                f"a preventive action needs an owner, a due date and a description: "
                f"{name} is blank",
                field=f"data.{name}",
            )
        known = self.rca.preventive_actions.get(action_id)
        require(
            known is None or known["status"] == "open",
            "R-RCA-4",
            f"preventive action {action_id!r} of {self.id} is {known and known['status']}: "
            "only an open action can be restated; add a new action_id",
            field="data.action_id",
        )
        self._trigger(
            meta,
            self.PreventiveActionAdded,
            action_id=action_id,
            description=description,
            owner=owner,
            due_date=due_date,
        )

    def complete_action(self, meta: EventMeta, action_id: str, note: str | None) -> None:
        """A preventive action was done: only an open one (R-RCA-4)."""
        self._check_follow_up(meta)
        action = self._action(action_id)
        require(
            action["status"] == "open",
            "R-RCA-4",
            f"preventive action {action_id!r} of {self.id} is {action['status']} already; "
            "only an open action can be completed",
            field="data.action_id",
        )
        self._trigger(meta, self.PreventiveActionCompleted, action_id=action_id, note=note)

    def verify_action(self, meta: EventMeta, action_id: str, note: str | None) -> None:
        """A completed action was checked, by someone other than who completed it (R-RCA-4)."""
        self._check_follow_up(meta)
        action = self._action(action_id)
        status = action["status"]
        require(
            status == "completed",
            "R-RCA-4",
            f"preventive action {action_id!r} of {self.id} is {status}: only a completed "
            "action can be verified" + (" (complete it first)" if status == "open" else ""),
            field="data.action_id",
        )
        require(
            same_actor_key(meta.actor_id) != same_actor_key(action["completed_by"] or ""),
            "R-RCA-4",
            f"{meta.actor_id} completed preventive action {action_id!r} and cannot verify "
            "it too: verification is someone else's check",
            field="actor.id",
        )
        self._trigger(meta, self.PreventiveActionVerified, action_id=action_id, note=note)

    def cancel_action(self, meta: EventMeta, action_id: str, reason: str) -> None:
        """An open action is dropped, with a written reason (R-RCA-4)."""
        self._check_follow_up(meta)
        action = self._action(action_id)
        require(
            not is_blank(reason),
            "R-RCA-4",
            "cancelling a preventive action needs a non-blank reason",
            field="data.reason",
        )
        require(
            action["status"] == "open",
            "R-RCA-4",
            f"preventive action {action_id!r} of {self.id} is {action['status']}: only an "
            "open action can be cancelled",
            field="data.action_id",
        )
        self._trigger(meta, self.PreventiveActionCancelled, action_id=action_id, reason=reason)

    def link_knowledge(self, meta: EventMeta, kind: str, ref: str, title: str) -> None:
        """Link a runbook, FAQ or playbook entry to the RCA (R-RCA-6); also after closure."""
        self._check_follow_up(meta)
        require(
            kind in KNOWLEDGE_KINDS,
            "R-RCA-6",
            f"kind {kind!r} is not one of {', '.join(KNOWLEDGE_KINDS)}",
            field="data.kind",
        )
        require(not is_blank(ref), "R-RCA-6", "the entry's ref is blank", field="data.ref")
        require(not is_blank(title), "R-RCA-6", "the entry's title is blank", field="data.title")
        linked = any(
            link["kind"] == kind and link["ref"].strip() == ref.strip()
            for link in self.rca.knowledge_links
        )
        require(
            not linked,
            "R-RCA-6",
            f"{kind} {ref!r} is linked to {self.id} already",
            field="data.ref",
        )
        self._trigger(meta, self.KnowledgeLinked, kind=kind, ref=ref, title=title)

    def record_milestone(
        self, meta: EventMeta, milestone: str, at: datetime, note: str | None
    ) -> None:
        """Record (or correct) when the incident's impact started, was detected or was
        mitigated (R-INC-1): ``at`` not after the event, and impact started <= detected <=
        mitigated among those recorded."""
        self._check_active(meta)
        require(
            at <= meta.occurred_at,
            "R-INC-1",
            f"a milestone records the past: at {at.isoformat()} is after occurred_at "
            f"{meta.occurred_at.isoformat()}",
            field="data.at",
        )
        position = MILESTONES.index(milestone)
        for other, when in self.milestones.items():
            before = MILESTONES.index(other) < position
            if other == milestone or (when <= at if before else when >= at):
                continue
            raise RuleViolation(
                "R-INC-1",
                f"{milestone.replace('_', ' ')} at {at.isoformat()} would be "
                f"{'before' if before else 'after'} {other.replace('_', ' ')} at "
                f"{when.isoformat()}: impact started <= detected <= mitigated",
                field="data.at",
            )
        self._trigger(meta, MILESTONE_EVENTS[milestone], at=at, note=note)

    def assign_rca_owner(self, meta: EventMeta, owner: str) -> None:
        """Name the RCA's owner."""
        self._check_active(meta)
        require(not is_blank(owner), "R-RCA-2", "the RCA owner is blank", field="data.owner")
        self._trigger(meta, self.RcaOwnerAssigned, owner=owner)

    def add_timeline_entry(self, meta: EventMeta, at: datetime, entry: str) -> None:
        """Add a manual entry to the RCA's timeline."""
        self._check_active(meta)
        require(not is_blank(entry), "R-RCA-2", "the timeline entry is blank", field="data.entry")
        require(
            at <= meta.occurred_at,
            "R-RCA-2",
            f"a timeline entry records the past: at {at.isoformat()} is after "
            f"occurred_at {meta.occurred_at.isoformat()}",
            field="data.at",
        )
        self._trigger(meta, self.TimelineEntryAdded, at=at, entry=entry)

    def publish_rca(self, meta: EventMeta) -> None:
        """Publish the RCA: only when complete (R-RCA-2)."""
        self._check_active(meta)
        missing = self.rca.missing_parts()
        require(
            not missing,
            "R-RCA-2",
            f"the RCA of {self.id} cannot be published yet; it lacks " + "; ".join(missing),
        )
        self._trigger(meta, self.RcaPublished, revision=self.rca.revision + 1)

    # Written by the ledger ------------------------------------------------------------

    def record_breach(
        self, meta: EventMeta, timer: str, due_at: datetime, policy_version: int
    ) -> None:
        """Record a breached timer (R-SLA-5); the tick makes sure it is written once."""
        self._trigger(
            meta, self.SlaBreached, timer=timer, due_at=due_at, policy_version=policy_version
        )

    def record_warning(
        self, meta: EventMeta, timer: str, warn_at: datetime, due_at: datetime, policy_version: int
    ) -> None:
        """Record a pre-breach warning (R-SLA-7); the tick makes sure it is written once."""
        self._trigger(
            meta,
            self.SlaWarning,
            timer=timer,
            warn_at=warn_at,
            due_at=due_at,
            policy_version=policy_version,
        )

    def record_temporary_fix_expired(self, meta: EventMeta) -> None:
        """Record that the live temporary fix outlived its expiry (R-FIX-2)."""
        fix = self.temporary_fix
        assert fix is not None and not fix.expired
        self._trigger(meta, self.TemporaryFixExpired, expires_at=fix.expires_at, owner=fix.owner)

    def record_action_overdue(self, meta: EventMeta, action_id: str, due_at: datetime) -> None:
        """Record that a preventive action passed its due date not completed (R-RCA-5)."""
        action = self.rca.preventive_actions[action_id]
        self._trigger(
            meta,
            self.ActionOverdue,
            action_id=action_id,
            owner=action["owner"],
            due_date=action["due_date"],
            due_at=due_at,
        )

    # Helpers --------------------------------------------------------------------------

    def _action(self, action_id: str) -> dict[str, Any]:
        action = self.rca.preventive_actions.get(action_id)
        if action is None:
            known = ", ".join(sorted(self.rca.preventive_actions)) or "none yet"
            raise RuleViolation(
                "R-STATE-3",
                f"{self.id} has no preventive action {action_id!r} (its actions: {known})",
                field="data.action_id",
            )
        return action

    def _check_follow_up(self, meta: EventMeta) -> None:
        """The RCA's follow-through may happen after closure: only the order (R-IN-5)."""
        check_in_order(self.id, self.last_occurred_at, meta.occurred_at)

    def _check_active(self, meta: EventMeta) -> None:
        check_in_order(self.id, self.last_occurred_at, meta.occurred_at)
        require(
            self.status != "closed",
            "R-STATE-2",
            f"{self.id} is closed: nothing more can happen to it; open a new ticket",
        )

    def _trigger(self, meta: EventMeta, event_class: type[Ticket.Event], **data: Any) -> None:
        self.trigger_event(event_class, **data, **meta.event_kwargs())


def new_action() -> dict[str, Any]:
    """A preventive action's follow-through before anything happened to it (R-RCA-4)."""
    return {
        "status": "open",
        "completed_at": None,
        "completed_by": None,
        "note": None,
        "verified_at": None,
        "verified_by": None,
        "verification_note": None,
        "cancelled_at": None,
        "reason": None,
    }


MILESTONE_EVENTS: Final[dict[str, type[Ticket.Milestone]]] = {
    "impact_started": Ticket.ImpactStarted,
    "detected": Ticket.Detected,
    "mitigated": Ticket.Mitigated,
}


def _check_categorised(severity: int, category: str, reason: str | None) -> None:
    """R-IN-3 and R-SEV-1: a known severity and category, consistent or explained."""
    require(
        severity in (1, 2, 3, 4),
        "R-IN-3",
        f"severity must be 1 (Critical) to 4 (Low), not {severity}",
        field="data.severity",
    )
    require(
        category in CATEGORY_SEVERITY,
        "R-IN-3",
        f"category {category!r} is not one of {', '.join(CATEGORY_SEVERITY)}",
        field="data.category",
    )
    implied = CATEGORY_SEVERITY[category]
    require(
        severity == implied or not is_blank(reason),
        "R-SEV-1",
        f"category {category} implies severity {implied}; filing it at severity {severity} "
        "needs a written reason",
        field="data.reason",
    )


def _next_tier(tier: int) -> str:
    return TIERS[tier] if tier < len(TIERS) else "none (it is at the top tier)"
