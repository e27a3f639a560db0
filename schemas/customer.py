"""Customer payloads (subject = customer id)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from schemas.base import Data, Instant, LocalTime, Model

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone") from None
    return name


class Calendar(Model):
    """The customer's business calendar (R-SLA-1)."""

    timezone: Annotated[str, AfterValidator(_zone)] = Field(description="IANA time zone")
    hours: dict[Weekday, tuple[LocalTime, LocalTime]] | None = Field(
        default=None,
        description="Opening hours per weekday in local wall time, e.g. "
        '{"mon": ["09:00", "17:00"]}; a weekday left out is closed; '
        "absent means Mon-Fri 09:00-17:00",
    )
    holidays: list[date] = Field(default_factory=list, description="Closed local dates")
    hours_per_business_day: float = Field(
        default=8.0, gt=0, le=24, description="Business hours in one business day"
    )

    @model_validator(mode="after")
    def _opening_before_closing(self) -> Calendar:
        for day, (start, end) in (self.hours or {}).items():
            if start >= end:
                raise ValueError(f"hours.{day}: opening {start} is not before closing {end}")
        return self


class Contact(Model):
    """A named person with an e-mail address."""

    name: str
    email: str


class CustomerOnboardedData(Data):
    """customer.onboarded (R-CS-1)."""

    name: str
    tier: Literal["enterprise", "self_serve"]
    calendar: Calendar
    success_owner: str
    escalation_contact: str
    decision_maker: Contact


class CustomerOwnerChangedData(Data):
    """customer.owner_changed"""

    success_owner: str
    reason: str


class CustomerCheckInScheduledData(Data):
    """customer.check_in_scheduled (R-CS-4)."""

    check_in_id: str
    due_at: Instant


class CustomerCheckInCompletedData(Data):
    """customer.check_in_completed"""

    check_in_id: str
    notes: str


class CustomerMilestoneReachedData(Data):
    """customer.milestone_reached"""

    milestone: str


class CustomerUsageReportedData(Data):
    """customer.usage_reported"""

    period_start: date
    period_end: date
    active_users: int = Field(ge=0)
    videos_localized: int = Field(ge=0)
    error_count: int = Field(ge=0)

    @model_validator(mode="after")
    def _period(self) -> CustomerUsageReportedData:
        if self.period_end < self.period_start:
            raise ValueError("period_end: before period_start")
        return self


class CustomerSurveyRecordedData(Data):
    """customer.survey_recorded: CSAT 1-5 or NPS 0-10."""

    kind: Literal["csat", "nps"]
    score: int
    ticket_id: str | None = None

    @model_validator(mode="after")
    def _score_range(self) -> CustomerSurveyRecordedData:
        low, high = (1, 5) if self.kind == "csat" else (0, 10)
        if not low <= self.score <= high:
            raise ValueError(f"score: a {self.kind} score is {low} to {high}, not {self.score}")
        return self


def _money(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "120000.00", not a number')
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise ValueError(f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} is not a non-negative amount")
    return amount


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$"}),
]


class CustomerContractData(Data):
    """customer.renewed / customer.churned."""

    arr: Money = Field(description="Annual recurring revenue, a decimal string")
    reason: str
