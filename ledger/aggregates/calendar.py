"""Business calendars and SLA targets: business time added to, and counted between, instants.

A calendar has an IANA time zone, weekly opening hours in local wall time (one interval
per weekday, default Mon-Fri 09:00-17:00), closed local dates (holidays) and the
number of business hours in a business day (R-SLA-1).

All arithmetic is on absolute instants. Each local date's opening interval is turned
into UTC through zoneinfo, so DST changes are right in both directions: a 09:00-17:00
day stays 09:00-17:00 local, and a 00:00-24:00 day lasts 23 or 25 real hours on the
nights the clocks change. A local time that does not exist (inside a spring-forward gap)
resolves forward (02:30 on such a night in Europe/Berlin is 03:30 CEST); an ambiguous one
(fall-back) means its first occurrence.

``add(t, 0)`` is ``t``; a positive addition lands inside opening hours or exactly at a
closing instant: a target that ends at 17:00 is due at 17:00, not at 09:00 next day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DEFAULT_HOURS: Final = (540, 1020)  # 09:00-17:00 in minutes
_MAX_CLOSED_DAYS: Final = 3660  # ten years of holidays in a row means a broken calendar
_DURATION: Final = re.compile(
    r"^P(?!$)(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
)

Interval = tuple[datetime, datetime]


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class BusinessCalendar:
    """A customer's business calendar; hashable, so its daily intervals can be cached."""

    timezone: str = "UTC"
    # Opening (start, end) in minutes after local midnight per weekday, Monday first;
    # None = closed. End 1440 is 24:00.
    week: tuple[tuple[int, int] | None, ...] = (_DEFAULT_HOURS,) * 5 + (None, None)
    holidays: frozenset[date] = frozenset()
    hours_per_business_day: float = 8.0

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a week has seven days")
        if not any(self.week):
            raise ValueError("calendar has no opening hours")
        for hours in self.week:
            if hours is not None and not 0 <= hours[0] < hours[1] <= 1440:
                raise ValueError(f"opening hours {hours} are not within one day")
        if self.hours_per_business_day <= 0:
            raise ValueError("hours_per_business_day must be positive")
        ZoneInfo(self.timezone)

    @classmethod
    def from_wire(cls, calendar: Mapping[str, Any] | None) -> BusinessCalendar:
        """From the contract's form: ``{"timezone", "hours"?, "holidays"?,
        "hours_per_business_day"?}``; absent hours mean Mon-Fri 09:00-17:00."""
        calendar = calendar or {}
        hours = calendar.get("hours")
        week: tuple[tuple[int, int] | None, ...]
        if hours is None:
            week = cls.week
        else:
            week = tuple(
                (_minutes(hours[day][0]), _minutes(hours[day][1])) if day in hours else None
                for day in WEEKDAYS
            )
        return cls(
            timezone=calendar.get("timezone", "UTC"),
            week=week,
            holidays=frozenset(date.fromisoformat(str(d)) for d in calendar.get("holidays", [])),
            hours_per_business_day=float(calendar.get("hours_per_business_day", 8.0)),
        )

    def to_wire(self) -> dict[str, Any]:
        """The contract's form."""
        return {
            "timezone": self.timezone,
            "hours": {
                day: [_clock(h[0]), _clock(h[1])]
                for day, h in zip(WEEKDAYS, self.week, strict=True)
                if h is not None
            },
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "hours_per_business_day": self.hours_per_business_day,
        }

    # Intervals --------------------------------------------------------------------------

    def opening(self, day: date) -> Interval | None:
        """The local date's opening interval in UTC, or None when closed."""
        return _opening(self, day)

    def _intervals_from(self, instant: datetime) -> Iterator[Interval]:
        """Opening intervals that end after ``instant``, in order (endless)."""
        day = instant.astimezone(ZoneInfo(self.timezone)).date() - timedelta(days=1)
        closed_run = 0
        while True:
            interval = self.opening(day)
            day += timedelta(days=1)
            if interval is None:
                closed_run += 1
                if closed_run > _MAX_CLOSED_DAYS:
                    raise ValueError("calendar is closed for ten years in a row")
                continue
            closed_run = 0
            if interval[1] > instant:
                yield interval

    # Arithmetic -------------------------------------------------------------------------

    def is_open(self, instant: datetime) -> bool:
        """Whether business time is running at ``instant`` (intervals are [start, end))."""
        instant = instant.astimezone(UTC)
        start, _ = next(self._intervals_from(instant))
        return start <= instant

    def next_open(self, instant: datetime) -> datetime:
        """``instant`` if open, else the next opening instant (UTC)."""
        instant = instant.astimezone(UTC)
        start, _ = next(self._intervals_from(instant))
        return max(start, instant)

    def add(self, start: datetime, business: timedelta) -> datetime:
        """The instant after ``business`` of business time counted from ``start`` (UTC)."""
        if business < timedelta(0):
            raise ValueError("cannot add negative business time")
        start = start.astimezone(UTC)  # aware arithmetic in a zone would be wall-clock
        if business == timedelta(0):
            return start
        remaining = business
        for opens, closes in self._intervals_from(start):
            begin = max(opens, start)
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: intervals are endless")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in [start, end); zero when end is not after start."""
        total = timedelta(0)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return total
        for opens, closes in self._intervals_from(start):
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total

    def business_day(self) -> timedelta:
        """The length of one business day (``hours_per_business_day``)."""
        return timedelta(hours=self.hours_per_business_day)


@lru_cache(maxsize=65536)
def _opening(calendar: BusinessCalendar, day: date) -> Interval | None:
    hours = calendar.week[day.weekday()]
    if hours is None or day in calendar.holidays:
        return None
    zone = ZoneInfo(calendar.timezone)
    return _local(day, hours[0], zone), _local(day, hours[1], zone)


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """Local wall time to UTC; 24:00 is the next midnight; gaps resolve forward."""
    if minutes == 1440:
        day, minutes = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minutes // 60, minutes % 60), zone)
    return wall.astimezone(UTC)


def parse_duration(text: str) -> tuple[int, timedelta]:
    """ISO 8601 ``PnWnDTnHnMnS`` as (whole days, weeks counted as 7, and the time part)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an ISO 8601 duration PnWnDTnHnMnS")
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return weeks * 7 + days, timedelta(hours=hours, minutes=minutes, seconds=seconds)


@dataclass(frozen=True)
class Target:
    """An SLA target: a duration on a clock (``24x7`` real time, or ``business`` time)."""

    duration: str
    clock: Literal["24x7", "business"]

    @classmethod
    def from_wire(cls, target: Mapping[str, Any]) -> Target:
        """From ``{"duration": "PT4H", "clock": "24x7"}``."""
        return cls(str(target["duration"]), target["clock"])

    def length(self, calendar: BusinessCalendar) -> timedelta:
        """Elapsed time (24x7) or business time (P1D = one business day)."""
        days, rest = parse_duration(self.duration)
        day = timedelta(days=1) if self.clock == "24x7" else calendar.business_day()
        return days * day + rest

    def due(self, start: datetime, calendar: BusinessCalendar) -> datetime:
        """When a timer started at ``start`` comes due (UTC)."""
        if self.clock == "24x7":
            return start.astimezone(UTC) + self.length(calendar)
        return calendar.add(start, self.length(calendar))

    def elapsed(self, start: datetime, end: datetime, calendar: BusinessCalendar) -> timedelta:
        """Time counted on this target's clock between two instants."""
        if self.clock == "24x7":
            return max(end - start, timedelta(0))
        return calendar.between(start, end)
