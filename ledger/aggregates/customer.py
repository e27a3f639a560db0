"""The enterprise customer: ownership, contacts, calendar and success signals (R-CS)."""

from __future__ import annotations

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
from ledger.aggregates.rules import RuleViolation, check_in_order, is_blank, require

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


@dataclass
class CheckIn:
    """A scheduled check-in and, once it happened, when (R-CS-4)."""

    check_in_id: str
    due_at: datetime
    completed_at: datetime | None = None


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
    class ChurnRiskRaised(Event):
        """Written by the ledger: health fell low or sharply, or the customer went silent."""

        WIRE_TYPE = "customer.churn_risk_raised"
        SYSTEM = True
        reason: str
        health_score: float | None

    def __init__(self) -> None:
        self.name = ""
        self.tier = ""
        self.calendar: dict[str, Any] = {}
        self.success_owner = ""
        self.escalation_contact = ""
        self.decision_maker: dict[str, str] = {}
        self.check_ins: dict[str, CheckIn] = {}
        self.milestones: list[str] = []
        self.status = "active"
        self.arr: Decimal | None = None
        self.plays: dict[str, Play] = {}
        self.last_occurred_at: datetime | None = None

    # Commands -------------------------------------------------------------------------

    @classmethod
    def onboard(cls, customer_id: str, meta: EventMeta, **data: Any) -> Customer:
        """Onboard a customer: owner, escalation contact and decision maker are required."""
        _check_contacts(data)
        try:
            BusinessCalendar.from_wire(data["calendar"])
        except ValueError as error:
            raise RuleViolation(
                "R-SLA-1",
                f"calendar: {error}; business-clock SLA targets could never come due "
                "(leave hours out for Mon-Fri 09:00-17:00)",
                field="data.calendar.hours",
            ) from None
        return cls._create(cls.Onboarded, id=customer_id, **data, **meta.event_kwargs())

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
