"""The enterprise customer: ownership, contacts, calendar, success signals (R-CS), success
plays (R-PLAY) and reviewed exceptions (R-EXC).

The business calendar is effective-dated (R-CAL): onboarding's is version 1; a change is
proposed by anyone with the whole new calendar and an ``effective_at``, and becomes the
next version only when approved by leadership, not by the proposer (R-CAL-1), and never
in force before its approval (R-CAL-2), so history already counted cannot change.

A customer-specific exception (PHASE-61: "no customer-specific hacks without review") is
the only way a customer gets other SLA targets than the policy's: requested with a
reason, an ``effective_at`` and an ``expires_at``, it takes effect only when an actor
with role ``leadership`` who is not the requester approves it (R-EXC-1). Like a policy
version (R-SLA-6) it applies to the customer's tickets opened at or after
``max(effective_at, approval time)`` and before ``expires_at`` (R-EXC-2): nothing is
approved retroactively, so no ticket already open changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from ledger.aggregates.base import (
    EventMeta,
    LedgerAggregate,
    LedgerCreated,
    LedgerEvent,
    domain_event,
)
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.rules import (
    RuleViolation,
    check_in_order,
    is_blank,
    require,
    require_review,
)

PLAY_DUE: Final = timedelta(days=7)
"""How long a success play has from its opening to its closing (R-PLAY-1)."""

PLAY_ID_MAX: Final = 128


def play_id_for(customer_id: str, number: int) -> str:
    """The id of a customer's ``number``-th play: ``P-`` + the customer id without its
    ``C-`` + ``-number`` (``C-007``'s first play is ``P-007-1``), the customer part cut so
    that the id stays within 128 characters."""
    suffix = f"-{number}"
    tail = customer_id.removeprefix("C-")[: PLAY_ID_MAX - 2 - len(suffix)]
    return f"P-{tail}{suffix}"


@dataclass
class Play:
    """A success play: what customer success does about a churn risk (R-PLAY)."""

    play_id: str
    risk: str
    reason: str
    owner: str
    opened_at: datetime
    due_at: datetime
    first_outreach_at: datetime | None = None
    outreach_count: int = 0
    closed_at: datetime | None = None
    outcome: str | None = None

    def open_at(self, at: datetime) -> bool:
        """Whether the play is not closed by ``at`` (a play opened later counts: the
        churn risk it answers came after ``at``, and it answers that too)."""
        return self.closed_at is None or self.closed_at > at


EXCEPTION_MAX: Final = timedelta(days=366)
"""The longest an exception may run, from effective_at to expires_at (R-EXC-2)."""


@dataclass
class CheckIn:
    """A scheduled check-in and, once it happened, when (R-CS-4)."""

    check_in_id: str
    due_at: datetime
    completed_at: datetime | None = None


@dataclass
class CalendarProposal:
    """A proposed calendar change, waiting for leadership approval (R-CAL-1)."""

    proposal_id: str
    calendar: dict[str, Any]
    effective_at: datetime
    proposed_by: str
    proposed_at: datetime
    approved_version: int | None = None


@dataclass(frozen=True)
class CalendarVersionRecord:
    """One version of the customer's calendar as the ledger recorded it: version 1 is
    onboarding's, in force from the start (``effective_at`` None)."""

    version: int
    calendar: dict[str, Any]
    effective_at: datetime | None
    approved_at: datetime
    approved_by: str
    proposal_id: str | None = None
    proposed_by: str | None = None


def calendar_in_force(
    versions: list[CalendarVersionRecord], instant: datetime
) -> CalendarVersionRecord:
    """The version whose calendar counts at ``instant``: the latest ``effective_at`` at or
    before it (ties: the higher version), version 1 before any (as for SLA policies)."""
    applicable = [v for v in versions if v.effective_at is None or v.effective_at <= instant]
    return max(
        applicable,
        key=lambda v: (v.effective_at is not None, v.effective_at or v.approved_at, v.version),
    )


@dataclass
class CustomerException:
    """A requested exception and, once approved, by whom and from when (R-EXC)."""

    exception_id: str
    kind: str
    targets: dict[str, dict[str, Any]]
    reason: str
    effective_at: datetime
    expires_at: datetime
    requested_by: str
    requested_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    effective_from: datetime | None = None  # max(effective_at, approval): once approved
    expired: bool = False  # the ledger wrote customer.exception_expired


@dataclass(frozen=True)
class SlaException:
    """An approved exception as a ticket's timers read it: its targets by severity, for
    tickets opened in ``[effective_from, expires_at)``."""

    exception_id: str
    effective_from: datetime
    expires_at: datetime
    targets: dict[str, dict[str, Any]]


def exception_in_force(
    exceptions: Iterable[SlaException], instant: datetime
) -> SlaException | None:
    """The exception a ticket opened at ``instant`` runs under: of the approved ones whose
    span holds ``instant``, the one effective latest (ties: the one approved last)."""
    chosen = None
    for exception in exceptions:  # in order of approval
        if exception.effective_from <= instant < exception.expires_at and (
            chosen is None or exception.effective_from >= chosen.effective_from
        ):
            chosen = exception
    return chosen


class Customer(LedgerAggregate):
    """A customer of the support organisation; tickets need an enterprise one (R-IN-2)."""

    @domain_event
    class Event(LedgerEvent):
        """Base of the customer's events."""

        def apply(self, aggregate: Any) -> None:
            if not self.SYSTEM:
                aggregate.last_occurred_at = self.occurred_at

    @domain_event
    class Onboarded(Event, LedgerCreated):
        """The customer was onboarded with its owner, contacts and calendar (R-CS-1)."""

        WIRE_TYPE = "customer.onboarded"
        name: str
        tier: str
        calendar: dict[str, Any]
        success_owner: str
        escalation_contact: str
        decision_maker: dict[str, str]

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.name = self.name
            aggregate.tier = self.tier
            aggregate.calendar = self.calendar
            aggregate.success_owner = self.success_owner
            aggregate.escalation_contact = self.escalation_contact
            aggregate.decision_maker = dict(self.decision_maker)
            aggregate.calendar_versions = [
                CalendarVersionRecord(1, self.calendar, None, self.occurred_at, self.actor_id)
            ]

    @domain_event
    class OwnerChanged(Event):
        """The success owner changed hands."""

        WIRE_TYPE = "customer.owner_changed"
        success_owner: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.success_owner = self.success_owner
            for play in aggregate.plays.values():  # open plays go with the account
                if play.closed_at is None and play.opened_at <= self.occurred_at:
                    play.owner = self.success_owner

    @domain_event
    class CheckInScheduled(Event):
        """A check-in was put in the diary (R-CS-4)."""

        WIRE_TYPE = "customer.check_in_scheduled"
        check_in_id: str
        due_at: datetime

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.check_ins[self.check_in_id] = CheckIn(self.check_in_id, self.due_at)

    @domain_event
    class CheckInCompleted(Event):
        """A scheduled check-in took place."""

        WIRE_TYPE = "customer.check_in_completed"
        check_in_id: str
        notes: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.check_ins[self.check_in_id].completed_at = self.occurred_at

    @domain_event
    class MilestoneReached(Event):
        """An onboarding milestone was reached."""

        WIRE_TYPE = "customer.milestone_reached"
        milestone: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.milestones.append(self.milestone)

    @domain_event
    class UsageReported(Event):
        """A usage report for a period (health: usage trend, error frequency)."""

        WIRE_TYPE = "customer.usage_reported"
        period_start: date
        period_end: date
        active_users: int
        videos_localized: int
        error_count: int

    @domain_event
    class SurveyRecorded(Event):
        """A CSAT (1-5) or NPS (0-10) answer."""

        WIRE_TYPE = "customer.survey_recorded"
        kind: str
        score: int
        ticket_id: str | None

    @domain_event
    class FeedbackRecorded(Event):
        """What the customer told us about the product (R-CS-5)."""

        WIRE_TYPE = "customer.feedback_recorded"
        feedback_id: str
        kind: str
        product_area: str
        text: str
        ticket_id: str | None

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.feedback_ids = aggregate.feedback_ids | {self.feedback_id}

    @domain_event
    class Renewed(Event):
        """The contract was renewed."""

        WIRE_TYPE = "customer.renewed"
        arr: Decimal
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.status = "active"
            aggregate.arr = self.arr

    @domain_event
    class Churned(Event):
        """The customer left."""

        WIRE_TYPE = "customer.churned"
        arr: Decimal
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.status = "churned"
            aggregate.arr = self.arr

    @domain_event
    class ContractChanged(Event):
        """The contract's value changed between renewals (or was first given)."""

        WIRE_TYPE = "customer.contract_changed"
        arr: Decimal
        reason: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.arr = self.arr

    @domain_event
    class PlayOutreachLogged(Event):
        """Customer success reached out about an open play (R-PLAY-2)."""

        WIRE_TYPE = "play.outreach_logged"
        play_id: str
        channel: str
        note: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            play = aggregate.plays[self.play_id]
            if play.first_outreach_at is None:
                play.first_outreach_at = self.occurred_at
            play.outreach_count += 1

    @domain_event
    class PlayClosed(Event):
        """A play ended, with its outcome (R-PLAY-2)."""

        WIRE_TYPE = "play.closed"
        play_id: str
        outcome: str
        note: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            play = aggregate.plays[self.play_id]
            play.closed_at, play.outcome = self.occurred_at, self.outcome

    @domain_event
    class PlayOpened(Event):
        """Written by the ledger: a churn risk opened a success play (R-PLAY-1)."""

        WIRE_TYPE = "play.opened"
        SYSTEM = True
        play_id: str
        risk: str
        reason: str
        owner: str
        due_at: datetime
        churn_risk_event_id: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.plays[self.play_id] = Play(
                self.play_id, self.risk, self.reason, self.owner, self.occurred_at, self.due_at
            )

    @domain_event
    class PlayOverdue(Event):
        """Written by the ledger: a play was still open at its due instant (R-PLAY-4)."""

        WIRE_TYPE = "play.overdue"
        SYSTEM = True
        play_id: str
        owner: str
        due_at: datetime

    @domain_event
    class CalendarChangeProposed(Event):
        """A new business calendar, whole, proposed to take effect at ``effective_at``."""

        WIRE_TYPE = "customer.calendar_change_proposed"
        proposal_id: str
        calendar: dict[str, Any]
        effective_at: datetime

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.calendar_proposals[self.proposal_id] = CalendarProposal(
                self.proposal_id, self.calendar, self.effective_at, self.actor_id, self.occurred_at
            )

    @domain_event
    class CalendarChangeApproved(Event):
        """Leadership approved a calendar change: the proposal's calendar becomes the next
        version, in force from ``effective_at`` (copied from the proposal with its calendar,
        so the version is whole on its own)."""

        WIRE_TYPE = "customer.calendar_change_approved"
        proposal_id: str
        version: int
        calendar: dict[str, Any]
        effective_at: datetime

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            proposal = aggregate.calendar_proposals[self.proposal_id]
            proposal.approved_version = self.version
            aggregate.calendar_versions.append(
                CalendarVersionRecord(
                    self.version,
                    self.calendar,
                    self.effective_at,
                    self.occurred_at,
                    self.actor_id,
                    self.proposal_id,
                    proposal.proposed_by,
                )
            )

    @domain_event
    class ExceptionRequested(Event):
        """A customer-specific exception, waiting for leadership's review (R-EXC-1)."""

        WIRE_TYPE = "customer.exception_requested"
        exception_id: str
        kind: str
        targets: dict[str, dict[str, Any]]
        reason: str
        effective_at: datetime
        expires_at: datetime

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.exceptions[self.exception_id] = CustomerException(
                self.exception_id,
                self.kind,
                self.targets,
                self.reason,
                self.effective_at,
                self.expires_at,
                requested_by=self.actor_id,
                requested_at=self.occurred_at,
            )

    @domain_event
    class ExceptionApproved(Event):
        """Leadership approved an exception: it applies from ``effective_from`` (R-EXC-2)."""

        WIRE_TYPE = "customer.exception_approved"
        exception_id: str
        effective_from: datetime

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            exception = aggregate.exceptions[self.exception_id]
            exception.approved_by = self.actor_id
            exception.approved_at = self.occurred_at
            exception.effective_from = self.effective_from

    @domain_event
    class ExceptionExpired(Event):
        """Written by the ledger: an approved exception reached its expiry (R-EXC-2)."""

        WIRE_TYPE = "customer.exception_expired"
        SYSTEM = True
        exception_id: str
        expires_at: datetime

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            exception = aggregate.exceptions.get(self.exception_id)
            if exception is not None:
                exception.expired = True

    @domain_event
    class ChurnRiskRaised(Event):
        """Written by the ledger: health fell low or sharply, or the customer went silent."""

        WIRE_TYPE = "customer.churn_risk_raised"
        SYSTEM = True
        reason: str
        health_score: float | None

    @domain_event
    class DataErased(Event):
        """Written by the ledger on an operator's ``ledger erase`` (R-ERASE-1): which
        personal fields were erased from the customer's events, its tickets' and its
        inputs, how many of each, who asked (the actor) and why; never the values."""

        WIRE_TYPE = "customer.data_erased"
        SYSTEM = True
        fields: list[str]
        subjects: int
        events: int
        rejections: int
        deferred: int
        deliveries: int
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.erased_fields = aggregate.erased_fields | frozenset(self.fields)

    def __init__(self) -> None:
        self.name = ""
        self.tier = ""
        self.erased_fields: frozenset[str] = frozenset()
        self.calendar: dict[str, Any] = {}
        self.success_owner = ""
        self.escalation_contact = ""
        self.decision_maker: dict[str, str] = {}
        self.check_ins: dict[str, CheckIn] = {}
        self.milestones: list[str] = []
        self.feedback_ids: frozenset[str] = frozenset()
        self.status = "active"
        self.arr: Decimal | None = None
        self.plays: dict[str, Play] = {}
        self.exceptions: dict[str, CustomerException] = {}
        self.last_occurred_at: datetime | None = None
        self.calendar_proposals: dict[str, CalendarProposal] = {}
        self.calendar_versions: list[CalendarVersionRecord] = []

    # Commands -------------------------------------------------------------------------

    @classmethod
    def onboard(cls, customer_id: str, meta: EventMeta, **data: Any) -> Customer:
        """Onboard a customer: owner, escalation contact and decision maker are required."""
        _check_contacts(data)
        _check_calendar(data["calendar"], "R-SLA-1")
        return cls._create(cls.Onboarded, id=customer_id, **data, **meta.event_kwargs())

    def record_erasure(
        self, meta: EventMeta, fields: list[str], counts: dict[str, int], reason: str
    ) -> None:
        """Record an erasure of the customer's personal data (R-ERASE-1): the fields and
        how many events and rows lost them, with the operator's reason."""
        require(
            not is_blank(reason),
            "R-ERASE-1",
            "an erasure records why it was made: reason is blank",
            field="data.reason",
        )
        require(
            bool(fields),
            "R-ERASE-1",
            "an erasure names the fields it erased: fields is empty",
            field="data.fields",
        )
        self.trigger_event(
            self.DataErased,
            fields=list(fields),
            subjects=counts["subjects"],
            events=counts["events"],
            rejections=counts["rejections"],
            deferred=counts["deferred"],
            deliveries=counts["deliveries"],
            reason=reason,
            **meta.event_kwargs(),
        )

    def change_owner(self, meta: EventMeta, success_owner: str, reason: str) -> None:
        """Hand the account to another success owner (R-CS-1: never to nobody)."""
        self._check(meta)
        require(
            not is_blank(success_owner),
            "R-CS-1",
            "every enterprise customer has a success owner: success_owner is blank",
            field="data.success_owner",
        )
        self._record(meta, self.OwnerChanged, success_owner=success_owner, reason=reason)

    def schedule_check_in(self, meta: EventMeta, check_in_id: str, due_at: datetime) -> None:
        """Put a check-in in the diary."""
        self._check(meta)
        require(
            check_in_id not in self.check_ins,
            "R-STATE-3",
            f"check-in {check_in_id!r} is scheduled already; use a new check_in_id",
            field="data.check_in_id",
        )
        self._record(meta, self.CheckInScheduled, check_in_id=check_in_id, due_at=due_at)

    def complete_check_in(self, meta: EventMeta, check_in_id: str, notes: str) -> None:
        """Record that a scheduled check-in happened."""
        self._check(meta)
        check_in = self.check_ins.get(check_in_id)
        require(
            check_in is not None,
            "R-STATE-3",
            f"no check-in {check_in_id!r} was scheduled for {self.id}",
            field="data.check_in_id",
        )
        require(
            check_in is None or check_in.completed_at is None,
            "R-STATE-3",
            f"check-in {check_in_id!r} was completed already",
            field="data.check_in_id",
        )
        self._record(meta, self.CheckInCompleted, check_in_id=check_in_id, notes=notes)

    def propose_calendar_change(
        self,
        meta: EventMeta,
        proposal_id: str,
        calendar: dict[str, Any],
        effective_at: datetime,
    ) -> None:
        """Propose a whole new calendar from ``effective_at`` on; anyone may propose, but
        not for an instant already past (R-CAL-2)."""
        self._check(meta)
        require(
            not is_blank(proposal_id),
            "R-CAL-3",
            "a calendar change needs a non-blank proposal_id",
            field="data.proposal_id",
        )
        require(
            proposal_id not in self.calendar_proposals,
            "R-STATE-3",
            f"calendar proposal {proposal_id!r} exists already; use a new proposal_id",
            field="data.proposal_id",
        )
        _check_not_past(effective_at, meta.occurred_at, "proposed", "data.effective_at")
        _check_calendar(calendar, "R-CAL-3")
        self._record(
            meta,
            self.CalendarChangeProposed,
            proposal_id=proposal_id,
            calendar=calendar,
            effective_at=effective_at,
        )

    def approve_calendar_change(self, meta: EventMeta, proposal_id: str) -> None:
        """Approve a calendar change: only leadership, never the proposer (R-CAL-1), and
        only while its ``effective_at`` is not past (R-CAL-2: a change never reaches into
        time already counted)."""
        self._check(meta)
        proposal = self.calendar_proposals.get(proposal_id)
        require(
            proposal is not None,
            "R-STATE-3",
            f"no calendar proposal {proposal_id!r} for {self.id} to approve",
            field="data.proposal_id",
        )
        assert proposal is not None
        require(
            proposal.approved_version is None,
            "R-STATE-3",
            f"calendar proposal {proposal_id!r} was approved already as version "
            f"{proposal.approved_version}",
            field="data.proposal_id",
        )
        require_review(
            meta.actor_role,
            meta.actor_id,
            proposal.proposed_by,
            "R-CAL-1",
            changes="calendar changes",
            change="calendar change",
        )
        _check_not_past(proposal.effective_at, meta.occurred_at, "approved", "occurred_at")
        self._record(
            meta,
            self.CalendarChangeApproved,
            proposal_id=proposal_id,
            version=self.calendar_versions[-1].version + 1 if self.calendar_versions else 2,
            calendar=proposal.calendar,
            effective_at=proposal.effective_at,
        )

    def calendar_in_force(self, instant: datetime) -> dict[str, Any]:
        """The calendar (wire form) that counts at ``instant``, by the versions approved."""
        if not self.calendar_versions:
            return self.calendar
        return calendar_in_force(self.calendar_versions, instant).calendar

    def record_feedback(
        self,
        meta: EventMeta,
        feedback_id: str,
        kind: str,
        product_area: str,
        text: str,
        ticket_id: str | None,
    ) -> None:
        """Record a customer's feedback: written, with an id of its own (R-CS-5). The
        handler checks that ``ticket_id`` is one of this customer's tickets."""
        self._check(meta)
        require(
            not is_blank(feedback_id),
            "R-CS-5",
            "feedback needs an id: feedback_id is blank",
            field="data.feedback_id",
        )
        require(
            feedback_id not in self.feedback_ids,
            "R-STATE-3",
            f"feedback {feedback_id!r} of {self.id} is recorded already; use a new feedback_id",
            field="data.feedback_id",
        )
        require(
            not is_blank(text),
            "R-CS-5",
            "feedback is recorded in the customer's words: text is blank",
            field="data.text",
        )
        self._record(
            meta,
            self.FeedbackRecorded,
            feedback_id=feedback_id,
            kind=kind,
            product_area=product_area,
            text=text,
            ticket_id=ticket_id,
        )

    def record(self, meta: EventMeta, event_class: type[Customer.Event], **data: Any) -> None:
        """Record a success signal that no rule constrains beyond order (R-IN-5)."""
        self._check(meta)
        self._record(meta, event_class, **data)

    def change_contract(self, meta: EventMeta, arr: Decimal, reason: str) -> None:
        """The contract's annual recurring revenue from now on (R-REV-1)."""
        self._check(meta)
        require(
            self.status != "churned",
            "R-STATE-2",
            f"{self.id} churned: a contract change needs an active customer "
            "(send customer.renewed to win it back)",
        )
        require(
            arr > 0,
            "R-REV-1",
            "a contract's arr is above 0: a customer whose revenue ends churned "
            "(send customer.churned)",
            field="data.arr",
        )
        self._record(meta, self.ContractChanged, arr=arr, reason=reason)

    def request_exception(
        self,
        meta: EventMeta,
        exception_id: str,
        kind: str,
        targets: dict[str, dict[str, Any]],
        reason: str,
        effective_at: datetime,
        expires_at: datetime,
    ) -> None:
        """Ask for a customer-specific exception: it needs an id and a written reason
        (R-EXC-1), and a span of at most 366 days that has not ended (R-EXC-2)."""
        self._check(meta)
        require(
            not is_blank(exception_id),
            "R-EXC-1",
            "an exception needs a non-blank exception_id",
            field="data.exception_id",
        )
        require(
            exception_id not in self.exceptions,
            "R-STATE-3",
            f"exception {exception_id!r} exists already; use a new exception_id",
            field="data.exception_id",
        )
        require(
            not is_blank(reason),
            "R-EXC-1",
            "no customer-specific treatment without a documented reason: reason is blank",
            field="data.reason",
        )
        require(
            expires_at > effective_at,
            "R-EXC-2",
            f"expires_at {_utc(expires_at)} is not after effective_at {_utc(effective_at)}",
            field="data.expires_at",
        )
        require(
            expires_at - effective_at <= EXCEPTION_MAX,
            "R-EXC-2",
            f"an exception runs at most 366 days: from {_utc(effective_at)} to "
            f"{_utc(expires_at)} is longer; request a new one when it expires",
            field="data.expires_at",
        )
        require(
            expires_at > meta.occurred_at,
            "R-EXC-2",
            f"expires_at {_utc(expires_at)} has passed already",
            field="data.expires_at",
        )
        self._record(
            meta,
            self.ExceptionRequested,
            exception_id=exception_id,
            kind=kind,
            targets=targets,
            reason=reason,
            effective_at=effective_at,
            expires_at=expires_at,
        )

    def approve_exception(self, meta: EventMeta, exception_id: str) -> None:
        """Approve an exception: only leadership, never the requester (R-EXC-1), and
        before it expires (R-EXC-2). It applies from ``max(effective_at, now)``."""
        self._check(meta)
        exception = self.exceptions.get(exception_id)
        require(
            exception is not None,
            "R-STATE-3",
            f"no exception {exception_id!r} was requested for {self.id}",
            field="data.exception_id",
        )
        assert exception is not None
        require(
            exception.approved_at is None,
            "R-STATE-3",
            f"exception {exception_id!r} was approved already",
            field="data.exception_id",
        )
        require_review(
            meta.actor_role,
            meta.actor_id,
            exception.requested_by,
            "R-EXC-1",
            changes="customer-specific exception",
            change="exception",
            proposer_is="requester",
            review="review",
        )
        require(
            meta.occurred_at < exception.expires_at,
            "R-EXC-2",
            f"exception {exception_id!r} expired at {_utc(exception.expires_at)}, before "
            "this approval; request a new one",
            field="data.exception_id",
        )
        self._record(
            meta,
            self.ExceptionApproved,
            exception_id=exception_id,
            effective_from=max(exception.effective_at, meta.occurred_at),
        )

    def record_exception_expired(self, meta: EventMeta, exception_id: str) -> None:
        """Written by the ledger's tick: an approved exception reached its expiry."""
        exception = self.exceptions[exception_id]
        assert exception.approved_at is not None and not exception.expired
        self._record(
            meta,
            self.ExceptionExpired,
            exception_id=exception_id,
            expires_at=exception.expires_at,
        )

    def raise_churn_risk(self, meta: EventMeta, reason: str, health_score: float | None) -> None:
        """Written by the ledger's tick: an early warning (R-CS-3)."""
        self._record(meta, self.ChurnRiskRaised, reason=reason, health_score=health_score)

    # Success plays (R-PLAY) ---------------------------------------------------------------

    def play_covering(self, at: datetime) -> Play | None:
        """The play that answers a churn risk raised at ``at``: one not closed by then
        (R-PLAY-1: a customer has one open play at a time). None: a new play opens."""
        return next((play for play in self.plays.values() if play.open_at(at)), None)

    def open_play(
        self, meta: EventMeta, *, risk: str, reason: str, churn_risk_event_id: str
    ) -> Play | None:
        """Written by the ledger's tick beside a churn risk raised at ``meta.occurred_at``:
        a play owned by the success owner, due ``PLAY_DUE`` later, unless a play covers
        that instant already (then None, and nothing is written)."""
        if self.play_covering(meta.occurred_at) is not None:
            return None
        play_id = play_id_for(self.id, len(self.plays) + 1)
        self._record(
            meta,
            self.PlayOpened,
            play_id=play_id,
            risk=risk,
            reason=reason,
            owner=self.success_owner,
            due_at=meta.occurred_at + PLAY_DUE,
            churn_risk_event_id=churn_risk_event_id,
        )
        return self.plays[play_id]

    def record_play_overdue(self, meta: EventMeta, play_id: str) -> None:
        """Written by the ledger's tick: the play was not closed by its due instant
        (R-PLAY-4; ``meta.occurred_at`` is that instant)."""
        play = self.plays[play_id]
        self._record(meta, self.PlayOverdue, play_id=play_id, owner=play.owner, due_at=play.due_at)

    def log_outreach(self, meta: EventMeta, play_id: str, channel: str, note: str) -> None:
        """Customer success reached out about an open play."""
        self._open_play(meta, play_id, note)
        self._record(meta, self.PlayOutreachLogged, play_id=play_id, channel=channel, note=note)

    def close_play(self, meta: EventMeta, play_id: str, outcome: str, note: str) -> None:
        """The play ends with its outcome."""
        self._open_play(meta, play_id, note)
        self._record(meta, self.PlayClosed, play_id=play_id, outcome=outcome, note=note)

    def _open_play(self, meta: EventMeta, play_id: str, note: str) -> Play:
        """R-IN-5, then: the play is the customer's (R-STATE-3), open (R-STATE-2), opened
        by ``occurred_at`` (R-PLAY-2), and the note says something (R-PLAY-3)."""
        self._check(meta)
        play = self.plays.get(play_id)
        if play is None:
            raise RuleViolation(
                "R-STATE-3",
                f"{self.id} has no play {play_id!r}: plays are opened by the ledger "
                "with a churn risk (its play.opened alert names the play)",
                field="data.play_id",
            )
        require(
            play.closed_at is None,
            "R-STATE-2",
            f"play {play_id} was closed at {_utc(play.closed_at)}",
            field="data.play_id",
        )
        require(
            meta.occurred_at >= play.opened_at,
            "R-PLAY-2",
            f"occurred_at {_utc(meta.occurred_at)} is before play {play_id} was opened, "
            f"at {_utc(play.opened_at)}",
            field="occurred_at",
        )
        require(
            not is_blank(note),
            "R-PLAY-3",
            "an outreach or a closing says what was done: note is blank",
            field="data.note",
        )
        return play

    # Helpers --------------------------------------------------------------------------

    def _check(self, meta: EventMeta) -> None:
        check_in_order(self.id, self.last_occurred_at, meta.occurred_at)

    def _record(self, meta: EventMeta, event_class: type[Customer.Event], **data: Any) -> None:
        self.trigger_event(event_class, **data, **meta.event_kwargs())


def _check_calendar(calendar: dict[str, Any], rule: str) -> None:
    try:
        BusinessCalendar.from_wire(calendar)
    except ValueError as error:
        raise RuleViolation(
            rule,
            f"calendar: {error}; business-clock SLA targets could never come due "
            "(leave hours out for Mon-Fri 09:00-17:00)",
            field="data.calendar.hours",
        ) from None


def _check_not_past(effective_at: datetime, occurred_at: datetime, what: str, field: str) -> None:
    require(
        effective_at >= occurred_at,
        "R-CAL-2",
        f"a calendar change cannot be {what} to take effect in the past: effective_at "
        f"{effective_at.isoformat()} is before this event's occurred_at "
        f"{occurred_at.isoformat()}; time already counted never moves",
        field=field,
    )


def _check_contacts(data: dict[str, Any]) -> None:
    for name in ("success_owner", "escalation_contact"):
        require(
            not is_blank(data.get(name)),
            "R-CS-1",
            f"every enterprise customer has a {name.replace('_', ' ')}: {name} is blank",
            field=f"data.{name}",
        )
    decision_maker = data.get("decision_maker") or {}
    for part in ("name", "email"):
        require(
            not is_blank(decision_maker.get(part)),
            "R-CS-1",
            f"every customer has a known decision-maker contact: decision_maker.{part} is blank",
            field=f"data.decision_maker.{part}",
        )
    email = decision_maker.get("email", "")
    require(
        "@" in email.strip(" @"),
        "R-CS-1",
        f"decision_maker.email {email!r} is not an e-mail address",
        field="data.decision_maker.email",
    )


def _utc(instant: datetime | None) -> str:
    return "" if instant is None else instant.astimezone(UTC).isoformat()
