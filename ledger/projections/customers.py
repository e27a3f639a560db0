"""A customer's read-model rows as a pure fold over its events (R-CS): no clock, no database.

``evolve(state, event) -> state`` on immutable state (``CustomerState``, from ``INITIAL``);
``rows(state)`` gives the rows by table.

One summary row plus one row per success signal: usage reports, surveys, check-ins,
milestones and contract events (renewals, contract changes, churn); one row per success
play (R-PLAY); one row per requested exception (R-EXC), with its approval once approved;
one per piece of product feedback (R-CS-5); and one per version of its business calendar
(``customer_calendars``: onboarding's is version 1, each approved change the next, R-CAL).
Health, churn risk and missed check-ins are *not* stored: they depend on "now" and are
computed by ``ledger.projections.health`` from these rows at any ``as_of``; so is whether a
play is overdue (from its ``due_at`` and ``closed_at``).

The ledger's own events change no row, but for ``play.opened``, which makes the play's
row. It may occur before the customer's latest event (the tick writes it at the churn
risk's instant); a play's own events never go back before its opening (R-PLAY-2), so
each play row's versions still follow one another in both times.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.customer import Customer
from ledger.projections.fold import Rows

CUSTOMER_KEYS = (
    "customer_id",
    "name",
    "tier",
    "timezone",
    "success_owner",
    "escalation_contact",
    "decision_maker_name",
    "decision_maker_email",
    "onboarded_at",
    "status",
    "arr",
    "churned_at",
    "last_occurred_at",
    "last_recorded_at",
)
"""The columns of the ``customers`` read model."""


@dataclass(frozen=True, slots=True)
class CustomerState:
    """One customer's fold so far: its summary row (None before onboarding) and its
    success signals. Immutable: ``evolve`` returns the next state."""

    customer: Mapping[str, Any] | None = None
    usage: tuple[Mapping[str, Any], ...] = ()
    surveys: tuple[Mapping[str, Any], ...] = ()
    check_ins: tuple[Mapping[str, Any], ...] = ()
    milestones: tuple[Mapping[str, Any], ...] = ()
    contracts: tuple[Mapping[str, Any], ...] = ()
    plays: tuple[Mapping[str, Any], ...] = ()
    calendars: tuple[Mapping[str, Any], ...] = ()
    exceptions: tuple[Mapping[str, Any], ...] = ()
    feedback: tuple[Mapping[str, Any], ...] = ()


INITIAL: Final = CustomerState()
"""A customer's state before its first event."""


def evolve(state: CustomerState, event: LedgerEvent) -> CustomerState:
    """The state after one more event of the customer, in log order."""
    if event.SYSTEM:
        if isinstance(event, Customer.PlayOpened) and state.customer is not None:
            return replace(state, plays=(*state.plays, _opened(state.customer, event)))
        return state
    if isinstance(event, Customer.Onboarded):
        state = replace(
            state,
            customer={
                "customer_id": event.originator_id,
                "name": event.name,
                "tier": event.tier,
                "timezone": onboarding_calendar(event).timezone,
                "success_owner": event.success_owner,
                "escalation_contact": event.escalation_contact,
                "decision_maker_name": event.decision_maker.get("name"),
                "decision_maker_email": event.decision_maker.get("email"),
                "onboarded_at": event.occurred_at,
                "status": "active",
                "arr": None,
                "churned_at": None,
            },
            calendars=(_calendar_row(event, 1, event.calendar, None, None),),
        )
    if state.customer is None:
        return state
    state, row = _signal(state, event, dict(state.customer))
    row["last_occurred_at"] = event.occurred_at
    row["last_recorded_at"] = event.recorded_at
    return replace(state, customer=row)


def _signal(
    state: CustomerState, event: LedgerEvent, row: dict[str, Any]
) -> tuple[CustomerState, dict[str, Any]]:
    """What one event adds to the signals, and changes in ``row`` (a fresh copy)."""
    at, cid = event.occurred_at, row["customer_id"]
    if isinstance(event, Customer.OwnerChanged):
        row["success_owner"] = event.success_owner
        state = _plays(
            state,
            # Open plays go with the account (those opened by then: the tick may write a
            # play at an instant after the change, under the owner it knew)
            lambda play: play["closed_at"] is None and play["opened_at"] <= at,
            {"owner": event.success_owner, "last_occurred_at": at},
        )
    elif isinstance(event, Customer.PlayOutreachLogged):
        state = _plays(
            state,
            lambda play: play["play_id"] == event.play_id,
            {"outreach_count": None, "first_outreach_at": at, "last_occurred_at": at},
        )
    elif isinstance(event, Customer.PlayClosed):
        state = _plays(
            state,
            lambda play: play["play_id"] == event.play_id,
            {"closed_at": at, "outcome": event.outcome, "last_occurred_at": at},
        )
    elif isinstance(event, Customer.CheckInScheduled):
        check_in = {
            "customer_id": cid,
            "check_in_id": event.check_in_id,
            "scheduled_at": at,
            "due_at": event.due_at,
            "completed_at": None,
        }
        state = replace(state, check_ins=(*state.check_ins, check_in))
    elif isinstance(event, Customer.CheckInCompleted):
        done = event.check_in_id
        state = replace(
            state,
            check_ins=tuple(
                {**c, "completed_at": at} if c["check_in_id"] == done else c
                for c in state.check_ins
            ),
        )
    elif isinstance(event, Customer.MilestoneReached):
        milestone = {"customer_id": cid, "milestone": event.milestone, "at": at}
        state = replace(state, milestones=(*state.milestones, milestone))
    elif isinstance(event, Customer.UsageReported):
        usage = {
            "customer_id": cid,
            "seq": len(state.usage) + 1,
            "at": at,
            "period_start": event.period_start,
            "period_end": event.period_end,
            "active_users": event.active_users,
            "videos_localized": event.videos_localized,
            "error_count": event.error_count,
        }
        state = replace(state, usage=(*state.usage, usage))
    elif isinstance(event, Customer.SurveyRecorded):
        survey = {
            "customer_id": cid,
            "seq": len(state.surveys) + 1,
            "at": at,
            "kind": event.kind,
            "score": event.score,
            "ticket_id": event.ticket_id,
        }
        state = replace(state, surveys=(*state.surveys, survey))
    elif isinstance(event, Customer.ContractChanged):
        row["arr"] = str(event.arr)
        contract = {
            "customer_id": cid,
            "seq": len(state.contracts) + 1,
            "kind": "changed",
            "arr": str(event.arr),
            "reason": event.reason,
            "at": at,
        }
        state = replace(state, contracts=(*state.contracts, contract))
    elif isinstance(event, Customer.CalendarChangeApproved):
        version = _calendar_row(event, event.version, event.calendar, event.effective_at, event)
        state = replace(state, calendars=(*state.calendars, version))
    elif isinstance(event, Customer.FeedbackRecorded):
        feedback = {
            "customer_id": cid,
            "feedback_id": event.feedback_id,
            "at": at,
            "kind": event.kind,
            "product_area": event.product_area,
            "text": event.text,
            "ticket_id": event.ticket_id,
        }
        state = replace(state, feedback=(*state.feedback, feedback))
    elif isinstance(event, (Customer.Renewed, Customer.Churned)):
        churned = isinstance(event, Customer.Churned)
        row["status"] = "churned" if churned else "active"
        row["arr"] = str(event.arr)
        row["churned_at"] = at if churned else None
        contract = {
            "customer_id": cid,
            "seq": len(state.contracts) + 1,
            "kind": "churned" if churned else "renewed",
            "arr": str(event.arr),
            "reason": event.reason,
            "at": at,
        }
        state = replace(state, contracts=(*state.contracts, contract))
    elif isinstance(event, Customer.ExceptionRequested):
        exception = {
            "customer_id": cid,
            "exception_id": event.exception_id,
            "kind": event.kind,
            "targets": event.targets,
            "reason": event.reason,
            "requested_by": event.actor_id,
            "requested_at": at,
            "effective_at": event.effective_at,
            "expires_at": event.expires_at,
            "approved_by": None,
            "approved_at": None,
            "effective_from": None,
        }
        state = replace(state, exceptions=(*state.exceptions, exception))
    elif isinstance(event, Customer.ExceptionApproved):
        approved = event.exception_id
        state = replace(
            state,
            exceptions=tuple(
                {
                    **e,
                    "approved_by": event.actor_id,
                    "approved_at": at,
                    "effective_from": event.effective_from,
                }
                if e["exception_id"] == approved
                else e
                for e in state.exceptions
            ),
        )
    return state, row


PLAY_KEYS = (
    "customer_id",
    "play_id",
    "risk",
    "reason",
    "owner",
    "opened_at",
    "due_at",
    "first_outreach_at",
    "outreach_count",
    "closed_at",
    "outcome",
    "last_occurred_at",
)
"""The columns of the ``success_plays`` read model."""


def _opened(customer: Mapping[str, Any], event: Customer.PlayOpened) -> dict[str, Any]:
    return {
        "customer_id": customer["customer_id"],
        "play_id": event.play_id,
        "risk": event.risk,
        "reason": event.reason,
        "owner": event.owner,
        "opened_at": event.occurred_at,
        "due_at": event.due_at,
        "first_outreach_at": None,
        "outreach_count": 0,
        "closed_at": None,
        "outcome": None,
        "last_occurred_at": event.occurred_at,
    }


def _plays(
    state: CustomerState, which: Callable[[Mapping[str, Any]], bool], change: dict[str, Any]
) -> CustomerState:
    """``state`` with ``change`` made to the plays ``which`` picks (new rows; the others
    as they were). ``outreach_count: None`` counts one more; ``first_outreach_at`` is set
    only once."""
    plays = []
    for play in state.plays:
        if which(play):
            changed = {**play, **change}
            if "outreach_count" in change:
                changed["outreach_count"] = play["outreach_count"] + 1
            if play.get("first_outreach_at") is not None:
                changed["first_outreach_at"] = play["first_outreach_at"]
            play = changed
        plays.append(play)
    return replace(state, plays=tuple(plays))


def rows(state: CustomerState) -> Rows:
    """The customer's rows by table (fresh containers); none before onboarding."""
    if state.customer is None:
        return {}
    return {
        "customers": [dict(state.customer)],
        "customer_usage": [dict(row) for row in state.usage],
        "customer_surveys": [dict(row) for row in state.surveys],
        "customer_check_ins": [dict(row) for row in state.check_ins],
        "customer_milestones": [dict(row) for row in state.milestones],
        "customer_contracts": [dict(row) for row in state.contracts],
        "success_plays": [dict(row) for row in state.plays],
        "customer_calendars": [dict(row) for row in state.calendars],
        "customer_exceptions": [dict(row) for row in state.exceptions],
        "customer_feedback": [dict(row) for row in state.feedback],
    }


def project_customer(events: list[LedgerEvent]) -> Rows:
    """The customer's rows after folding ``events`` (none if they hold no onboarding)."""
    state = INITIAL
    for event in events:
        state = evolve(state, event)
    return rows(state)


def _calendar_row(
    event: LedgerEvent,
    version: int,
    calendar: Mapping[str, Any],
    effective_at: datetime | None,
    approval: Customer.CalendarChangeApproved | None,
) -> Mapping[str, Any]:
    """One version of the customer's calendar (version 1: onboarding's, from the start)."""
    return {
        "customer_id": event.originator_id,
        "version": version,
        "effective_at": effective_at,
        "approved_at": event.occurred_at,
        "approved_by": event.actor_id,
        "proposal_id": approval.proposal_id if approval is not None else None,
        "timezone": calendar.get("timezone", "UTC"),
        "calendar": dict(calendar),
    }


_CALENDARS: OrderedDict[str, BusinessCalendar] = OrderedDict()
_CALENDAR_CACHE: Final = 4096


def onboarding_calendar(
    event: Customer.Onboarded | Customer.CalendarChangeApproved,
) -> BusinessCalendar:
    """The calendar an onboarding (or an approved change) carries, parsed once per event
    (events never change; parsing loads the time zone and is the dearest step of a
    customer's fold)."""
    key = event.event_hash or event.event_id  # (one process may read several ledgers)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        calendar = BusinessCalendar.from_wire(event.calendar)
        _CALENDARS[key] = calendar
        if len(_CALENDARS) > _CALENDAR_CACHE:
            _CALENDARS.popitem(last=False)
    return calendar
