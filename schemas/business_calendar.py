"""A customer's business calendar, as onboarding sends it (R-SLA-1)."""

from __future__ import annotations

from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from schemas.envelope import Model
from schemas.fields import Day, LocalTime
from schemas.time_zones import TIME_ZONES

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


_ZONES: Final = frozenset(TIME_ZONES)


def _iana_zone(name: str) -> str:
    """One of the listed IANA names (the schema's ``enum``) that loads here too."""
    try:
        if name not in _ZONES:
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PydanticCustomError(
            "time_zone", "Input should be an IANA time zone such as Europe/Berlin"
        ) from None
    return name


def _start_before_end(hours: tuple[str, str]) -> tuple[str, str]:
    start, end = hours
    if start >= end:
        raise PydanticCustomError(
            "opening_hours",
            "Opening {start} should be before closing {end}",
            {"start": start, "end": end},
        )
    return hours


OpeningHours = Annotated[tuple[LocalTime, LocalTime], AfterValidator(_start_before_end)]


class Calendar(Model):
    """Time zone, weekly opening hours in local wall time, holidays (R-SLA-1)."""

    timezone: Annotated[str, AfterValidator(_iana_zone)] = Field(
        description="IANA time zone, e.g. Europe/Berlin",
        json_schema_extra={"enum": list(TIME_ZONES)},
    )
    hours: dict[Weekday, OpeningHours] | None = Field(
        default=None,
        description='Opening hours per weekday, e.g. {"mon": ["09:00", "17:00"]}; end may '
        "be 24:00; a weekday left out is closed; null or absent means Mon-Fri 09:00-17:00",
    )
    holidays: list[Day] = Field(default_factory=list, description="Closed local dates, YYYY-MM-DD")
    hours_per_business_day: float = Field(
        default=8.0, gt=0, le=24, description="Business hours in one business day (P1D)"
    )
