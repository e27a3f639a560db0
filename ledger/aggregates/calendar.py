"""Business calendars and SLA targets: business time added to, and counted between, instants.

A calendar has an IANA time zone, weekly opening hours in local wall time (at most one
interval per weekday, default Mon-Fri 09:00-17:00), closed local dates (holidays) and the
number of business hours in one business day (R-SLA-1).

Time and DST
    All arithmetic is on absolute instants (UTC). For each local date the day's opening
    hours are turned into a UTC interval through zoneinfo, so DST changes are right in both
    directions: a 09:00-17:00 day opens at 09:00 and closes at 17:00 local on the nights
    the clocks change, and a 00:00-24:00 day lasts 23 or 25 real hours (23.5 or 24.5 on
    Lord Howe Island). Local wall times are resolved with ``fold=0`` and normalised
    through UTC:

    * an ambiguous time (the repeated hour when clocks go back) is its first occurrence;
    * a time that does not exist (inside the gap when clocks go forward) resolves
      forward by the length of the gap: 02:30 on 2026-03-29 in Europe/Berlin is read with
      the offset in force before the change (+01:00) and so is 03:30 CEST. An interval
      whose two ends resolve out of order (02:30-03:15 on that night) is empty, and every
      interval is clipped to its own local date (from the resolved midnight that starts
      it to the one that ends it), so intervals of successive days never overlap.

Interval ends
    Opening intervals are half-open, ``[opens, closes)``: ``is_open`` is false at the
    closing instant. Counting is exact to the microsecond.

``add``
    ``add(t, 0)`` is ``t`` itself (in UTC), not ``next_open(t)``: nothing is counted, so
    nothing moves. This keeps ``add`` additive, ``add(add(t, a), b) == add(t, a + b)``,
    also when ``add(t, a)`` lands on a closing instant. A positive addition lands inside
    opening hours or exactly at a closing instant: a target that runs out at 17:00 is due
    at 17:00, not at 09:00 the next business day. ``next_open`` gives the instant a clock
    starts counting from (a Sev3 opened on a Saturday starts at 09:00 on Monday).

Cost
    ``add`` and ``between`` walk the local days they span (one cached interval per day),
    never minutes. A calendar without any opening hours is refused at construction; a
    finite set of holidays cannot close a calendar for ever, so the walks end.

The module is pure: it never reads the wall clock, and refuses naive datetimes (whose
meaning would depend on the machine's local zone).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday keys of opening hours, Monday first (``date.weekday()`` order)."""

OpeningHours = tuple[time, time | None]
"""``(start, end)`` in local wall time; an end of ``None`` means 24:00 (the next midnight)."""

Interval = tuple[datetime, datetime]
"""An opening interval ``[opens, closes)`` as UTC instants."""

Clock = Literal["24x7", "business"]
"""The clock an SLA target runs on."""

_ONE_DAY: Final = timedelta(days=1)
_ZERO: Final = timedelta(0)
_WIRE_KEYS: Final = frozenset({"timezone", "hours", "holidays", "hours_per_business_day"})
_WIRE_TIME: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_WIRE_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DURATION: Final = re.compile(
    r"P(?!$)(?:([0-9]+)W)?(?:([0-9]+)D)?(?:T(?=[0-9])(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?"
)


# Weekly opening hours --------------------------------------------------------------------


def _check_hours(day: str, hours: object) -> OpeningHours:
    """One weekday's ``(start, end)``, validated and normalised (fold 0)."""
    if not isinstance(hours, tuple | list) or len(hours) != 2:
        raise ValueError(f"opening hours for {day} should be a (start, end) pair, not {hours!r}")
    start, end = hours
    for edge, value in (("start", start), ("end", end)):
        if value is None and edge == "end":
            continue
        if not isinstance(value, time):
            raise ValueError(f"opening {edge} for {day} should be a datetime.time, not {value!r}")
        if value.tzinfo is not None:
            raise ValueError(f"opening {edge} for {day} should be local wall time, not {value}")
        if value.second or value.microsecond:
            raise ValueError(f"opening {edge} for {day} should be a whole minute, not {value}")
    assert isinstance(start, time)
    if end is not None and not start < end:
        raise ValueError(
            f"opening hours for {day} should start before they end: {start:%H:%M}-{end:%H:%M}"
            " (use None as the end for 24:00)"
        )
    return start.replace(fold=0), None if end is None else end.replace(fold=0)


class _Week(Mapping[str, OpeningHours]):
    """Immutable, hashable weekly opening hours: weekday key -> ``(start, end)``."""

    __slots__ = ("_days", "_hash")

    def __init__(self, hours: Mapping[str, Any]) -> None:
        if not isinstance(hours, Mapping):
            raise ValueError(f"opening hours should map weekdays to (start, end), not {hours!r}")
        unknown = [day for day in hours if day not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekday {unknown[0]!r}: use one of {', '.join(WEEKDAYS)}")
        self._days: tuple[OpeningHours | None, ...] = tuple(
            _check_hours(day, hours[day]) if day in hours else None for day in WEEKDAYS
        )
        self._hash = hash(self._days)

    def on(self, weekday: int) -> OpeningHours | None:
        """Opening hours on ``date.weekday()`` number ``weekday``, None when closed."""
        return self._days[weekday]

    def __getitem__(self, day: str) -> OpeningHours:
        hours = self._days[WEEKDAYS.index(day)] if day in WEEKDAYS else None
        if hours is None:
            raise KeyError(day)
        return hours

    def __iter__(self) -> Iterator[str]:
        return (day for day, hours in zip(WEEKDAYS, self._days, strict=True) if hours is not None)

    def __len__(self) -> int:
        return sum(hours is not None for hours in self._days)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Week):
            return self._days == other._days
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return repr({day: (_wire_time(s), _wire_time(e)) for day, (s, e) in self.items()})

    def __reduce__(self) -> tuple[type[_Week], tuple[dict[str, OpeningHours]]]:
        return _Week, (dict(self.items()),)


def _wire_time(value: time | None) -> str:
    return "24:00" if value is None else f"{value:%H:%M}"


def _parse_wire_time(day: str, edge: str, text: object) -> time | None:
    if edge == "end" and text == "24:00":
        return None
    match = _WIRE_TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        allowed = "00:00 to 24:00" if edge == "end" else "00:00 to 23:59"
        raise ValueError(f"opening {edge} for {day} should be HH:MM from {allowed}, not {text!r}")
    return time(int(match[1]), int(match[2]))


DEFAULT_HOURS: Final[Mapping[str, OpeningHours]] = _Week(
    {day: (time(9), time(17)) for day in WEEKDAYS[:5]}
)
"""Mon-Fri 09:00-17:00, the default when a calendar gives no hours (R-SLA-1)."""


# Resolving local wall time -----------------------------------------------------------------


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise ValueError(f"time zone should be an IANA name such as Europe/Berlin, not {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None


def _resolve(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """Local wall time to UTC: fold 0, so gaps resolve forward and folds to the first pass."""
    return datetime.combine(day, wall, zone).astimezone(UTC)


@lru_cache(maxsize=1 << 14)
def _midnight(timezone: str, day: date) -> datetime:
    """The instant the local date ``day`` begins (its 00:00, resolved as above)."""
    return _resolve(day, time(0), ZoneInfo(timezone))


@lru_cache(maxsize=1 << 15)
def _interval(timezone: str, day: date, start: time, end: time | None) -> Interval | None:
    """``start``-``end`` local on ``day`` in UTC, clipped to the day; None when empty."""
    zone = ZoneInfo(timezone)
    day_starts, day_ends = _midnight(timezone, day), _midnight(timezone, day + _ONE_DAY)
    opens = min(max(_resolve(day, start, zone), day_starts), day_ends)
    closes = day_ends if end is None else min(max(_resolve(day, end, zone), day_starts), day_ends)
    return (opens, closes) if opens < closes else None


def _utc(instant: object, name: str) -> datetime:
    if not isinstance(instant, datetime):
        raise ValueError(f"{name} should be a datetime, not {instant!r}")
    if instant.utcoffset() is None:
        raise ValueError(f"{name} should be timezone-aware, not the naive {instant.isoformat()}")
    return instant.astimezone(UTC)


# The calendar ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessCalendar:
    """A customer's business calendar (R-SLA-1); immutable and hashable.

    ``hours`` maps weekday keys (:data:`WEEKDAYS`) to ``(start, end)`` local wall times in
    whole minutes, end ``None`` meaning 24:00; a weekday left out is closed. Any mapping
    is accepted and stored as an immutable, hashable one. ``holidays`` are local dates
    closed all day. ``hours_per_business_day`` (0 < h <= 24) is the length of ``P1D`` on
    the business clock; it need not equal a day's opening hours.
    """

    timezone: str = "UTC"
    hours: Mapping[str, OpeningHours] = DEFAULT_HOURS
    holidays: frozenset[date] = frozenset()
    hours_per_business_day: float = 8.0

    def __post_init__(self) -> None:
        _zone(self.timezone)
        week = self.hours if isinstance(self.hours, _Week) else _Week(self.hours)
        if not week:
            raise ValueError("calendar has no opening hours")
        object.__setattr__(self, "hours", week)
        try:
            holidays = frozenset(self.holidays)
        except TypeError:
            raise ValueError(f"holidays should be a set of dates, not {self.holidays!r}") from None
        for day in holidays:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise ValueError(f"holiday {day!r} should be a datetime.date")
        object.__setattr__(self, "holidays", holidays)
        per_day = self.hours_per_business_day
        if isinstance(per_day, bool) or not isinstance(per_day, int | float):
            raise ValueError(f"hours_per_business_day should be a number, not {per_day!r}")
        if not 0 < per_day <= 24:
            raise ValueError(f"hours_per_business_day should be in (0, 24], not {per_day!r}")
        object.__setattr__(self, "hours_per_business_day", float(per_day))

    # Wire form ----------------------------------------------------------------------------

    @classmethod
    def from_wire(cls, calendar: Mapping[str, Any] | None) -> BusinessCalendar:
        """From the event contract's JSON form (``customer.onboarded`` ``data.calendar``).

        ``{"timezone": "Europe/Berlin", "hours": {"mon": ["09:00", "17:00"], ...},
        "holidays": ["2026-12-25"], "hours_per_business_day": 8}``. Every key is optional:
        no calendar at all is the default (UTC, Mon-Fri 09:00-17:00); absent or null
        ``hours`` mean Mon-Fri 09:00-17:00; ``24:00`` is allowed as an end. Anything
        malformed raises ``ValueError`` naming the offending part.
        """
        if calendar is None:
            return cls()
        if not isinstance(calendar, Mapping):
            raise ValueError(f"calendar should be an object, not {calendar!r}")
        unknown = sorted(str(key) for key in calendar if key not in _WIRE_KEYS)
        if unknown:
            raise ValueError(f"unknown calendar field {unknown[0]!r}")
        wire_hours = calendar.get("hours")
        hours: Mapping[str, OpeningHours] = DEFAULT_HOURS
        if wire_hours is not None:
            if not isinstance(wire_hours, Mapping):
                raise ValueError(f"hours should map weekdays to [start, end], not {wire_hours!r}")
            parsed: dict[str, OpeningHours] = {}
            for day, pair in wire_hours.items():
                if not isinstance(pair, list | tuple) or len(pair) != 2:
                    raise ValueError(f"hours for {day} should be [start, end], not {pair!r}")
                start = _parse_wire_time(day, "start", pair[0])
                assert start is not None  # "24:00" is an end only
                parsed[day] = (start, _parse_wire_time(day, "end", pair[1]))
            hours = parsed
        wire_holidays = calendar.get("holidays") or []
        if not isinstance(wire_holidays, list | tuple):
            raise ValueError(f"holidays should be a list of dates, not {wire_holidays!r}")
        return cls(
            timezone=calendar.get("timezone", "UTC"),
            hours=hours,
            holidays=frozenset(_parse_wire_date(day) for day in wire_holidays),
            hours_per_business_day=calendar.get("hours_per_business_day", 8.0),
        )

    def to_wire(self) -> dict[str, Any]:
        """The contract's JSON form, with every field spelled out; ``from_wire`` inverts it."""
        return {
            "timezone": self.timezone,
            "hours": {day: [_wire_time(s), _wire_time(e)] for day, (s, e) in self.hours.items()},
            "holidays": sorted(day.isoformat() for day in self.holidays),
            "hours_per_business_day": self.hours_per_business_day,
        }

    # Intervals ----------------------------------------------------------------------------

    def business_day(self) -> timedelta:
        """The length of one business day (``P1D`` on the business clock)."""
        return timedelta(hours=self.hours_per_business_day)

    def opening(self, day: date) -> Interval | None:
        """The local date's opening interval ``[opens, closes)`` in UTC; None when closed."""
        if day in self.holidays:
            return None
        hours = self.hours.get(WEEKDAYS[day.weekday()])
        if hours is None:
            return None
        return _interval(self.timezone, day, hours[0], hours[1])

    def _intervals_after(self, instant: datetime) -> Iterator[Interval]:
        """The opening intervals that close after ``instant`` (UTC), in order; endless."""
        # From the day before the instant's local date: a day's interval may run past the
        # instant's local midnight when that midnight falls in a DST gap.
        day = instant.astimezone(ZoneInfo(self.timezone)).date() - _ONE_DAY
        while True:
            interval = self.opening(day)
            if interval is not None and interval[1] > instant:
                yield interval
            day += _ONE_DAY

    # Arithmetic ---------------------------------------------------------------------------

    def is_open(self, instant: datetime) -> bool:
        """Whether business time runs at ``instant`` (false at a closing instant)."""
        instant = _utc(instant, "instant")
        opens, _ = next(self._intervals_after(instant))
        return opens <= instant

    def next_open(self, instant: datetime) -> datetime:
        """``instant`` (in UTC) if open, else the next instant the calendar opens."""
        instant = _utc(instant, "instant")
        opens, _ = next(self._intervals_after(instant))
        return max(opens, instant)

    def add(self, start: datetime, business: timedelta) -> datetime:
        """The instant (UTC) at which ``business`` of business time, counted from ``start``,
        has run. ``add(t, 0)`` is ``t``; a positive amount ends inside opening hours or
        exactly at a closing instant. Negative amounts raise ``ValueError``."""
        start = _utc(start, "start")
        if business < _ZERO:
            raise ValueError(f"cannot add negative business time {business}")
        if business == _ZERO:
            return start
        remaining = business
        for opens, closes in self._intervals_after(start):
            begin = max(opens, start)
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: opening intervals never run out")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``; zero when ``end`` is not after ``start``."""
        start, end = _utc(start, "start"), _utc(end, "end")
        total = _ZERO
        if end <= start:
            return total
        for opens, closes in self._intervals_after(start):
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total


def _parse_wire_date(text: object) -> date:
    if isinstance(text, str) and _WIRE_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"holiday should be a date YYYY-MM-DD, not {text!r}")


# Durations and SLA targets -----------------------------------------------------------------


def parse_duration(text: str) -> tuple[int, timedelta]:
    """ISO 8601 ``PnWnDTnHnMnS`` as ``(whole days, weeks counted as 7, time part)``.

    Whole numbers only, at least one component, no years or months (their length
    varies). ``"P1W2DT3H"`` is ``(9, timedelta(hours=3))``. Anything else raises
    ``ValueError`` naming the text.
    """
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration PnWnDTnHnMnS such as PT4H or P1D "
            "(no years or months)"
        )
    weeks, days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    try:
        rest = timedelta(hours=hours, minutes=minutes, seconds=seconds)
        timedelta(days=weeks * 7 + days) + rest  # the whole must fit in a timedelta
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None
    return weeks * 7 + days, rest


@dataclass(frozen=True)
class Target:
    """An SLA target: an ISO 8601 duration on a clock (R-SLA-1).

    On the ``24x7`` clock the duration is elapsed real time (``P1D`` is 24 hours). On the
    ``business`` clock it is business time of the customer's calendar, ``P1D`` being one
    business day of ``hours_per_business_day`` hours. ``warn_after`` (R-SLA-7), when set,
    is a shorter duration on the same clock after which a running timer is warned.
    """

    duration: str
    clock: Clock
    warn_after: str | None = None

    def __post_init__(self) -> None:
        parse_duration(self.duration)
        if self.warn_after is not None:
            parse_duration(self.warn_after)
        if self.clock not in ("24x7", "business"):
            raise ValueError(f"clock should be '24x7' or 'business', not {self.clock!r}")

    @classmethod
    def from_wire(cls, target: Mapping[str, Any]) -> Target:
        """From the contract's ``{"duration": "PT4H", "clock": "24x7"}`` (and an optional
        ``"warn_after": "PT3H"``)."""
        try:
            return cls(target["duration"], target["clock"], target.get("warn_after"))
        except (KeyError, TypeError, AttributeError):
            raise ValueError(f"target should be {{duration, clock}}, not {target!r}") from None

    def to_wire(self) -> dict[str, str]:
        """The contract's form."""
        wire = {"duration": self.duration, "clock": self.clock}
        if self.warn_after is not None:
            wire["warn_after"] = self.warn_after
        return wire

    def length(self, calendar: BusinessCalendar) -> timedelta:
        """The target as elapsed time (``24x7``) or business time (``business``)."""
        return self._length(self.duration, calendar)

    def warn_length(self, calendar: BusinessCalendar) -> timedelta | None:
        """``warn_after`` on the target's clock; None without one, or when on this
        calendar it would not come before the target (a business day shorter than the
        8 hours the wire compares with)."""
        if self.warn_after is None:
            return None
        warn = self._length(self.warn_after, calendar)
        return warn if warn < self.length(calendar) else None

    def _length(self, duration: str, calendar: BusinessCalendar) -> timedelta:
        days, rest = parse_duration(duration)
        day = _ONE_DAY if self.clock == "24x7" else calendar.business_day()
        return days * day + rest

    def due(self, start: datetime, calendar: BusinessCalendar | CalendarHistory) -> datetime:
        """When a timer started at ``start`` and never paused comes due (UTC).

        ``24x7``: ``start`` plus the length in real time (UTC arithmetic, so 60 minutes
        across a DST change are 60 real minutes). ``business``: ``calendar.add``; on a
        calendar history, a business day is that of the calendar in force at ``start``.
        """
        at_start = calendar if isinstance(calendar, BusinessCalendar) else calendar.at(start)
        if self.clock == "24x7":
            return _utc(start, "start") + self.length(at_start)
        return calendar.add(start, self.length(at_start))

    def elapsed(
        self, start: datetime, end: datetime, calendar: BusinessCalendar | CalendarHistory
    ) -> timedelta:
        """Time counted on this target's clock in ``[start, end)``; zero if end <= start."""
        if self.clock == "24x7":
            return max(_utc(end, "end") - _utc(start, "start"), _ZERO)
        return calendar.between(start, end)


# Effective-dated calendars -----------------------------------------------------------------


@dataclass(frozen=True)
class CalendarVersion:
    """One version of a customer's calendar: version 1 is onboarding's, in force from the
    beginning of time; each approved change is the next version, in force from its
    ``effective_at`` (never before its approval, ``approved_at``)."""

    version: int
    calendar: BusinessCalendar
    effective_at: datetime | None = None  # None: from the beginning of time (version 1)
    approved_at: datetime | None = None  # None: onboarding's


Segment = tuple[datetime | None, datetime | None, BusinessCalendar]
"""``[start, end)`` (None: unbounded) and the calendar that counts there."""


@dataclass(frozen=True)
class CalendarHistory:
    """A customer's calendar over time: versions, each in force from its ``effective_at``.

    At an instant the version in force is the one with the latest ``effective_at`` at or
    before it (ties: the higher version), as for SLA policy versions. Business time is
    counted piecewise: before a change on the calendar in force then, after it on the
    new one, so ``between`` and ``add`` behave as ``BusinessCalendar``'s do, switching
    calendars at each change (``add`` is additive across a change, and with every
    version equal the history counts exactly as its one calendar does). ``known_by``
    keeps the versions approved by an instant: what a timer that stopped then ran under.
    """

    versions: tuple[CalendarVersion, ...]
    _segments: tuple[Segment, ...] = field(init=False, repr=False, compare=False)
    _known: dict[datetime, CalendarHistory] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        versions = self.versions
        if not versions or versions[0].version != 1 or versions[0].effective_at is not None:
            raise ValueError("a calendar history starts with version 1, in force from the start")
        for before, after in pairwise(versions):
            if after.version != before.version + 1 or after.effective_at is None:
                raise ValueError(
                    f"calendar version {after.version} should follow {before.version} "
                    "with an effective_at"
                )
            if after.approved_at is None or _utc(after.effective_at, "effective_at") < _utc(
                after.approved_at, "approved_at"
            ):
                raise ValueError(
                    f"calendar version {after.version} takes effect before it was approved"
                )
        starts = sorted(
            {_utc(v.effective_at, "effective_at") for v in versions[1:] if v.effective_at}
        )
        bounds: list[datetime | None] = [None, *starts]
        segments: list[Segment] = []
        for i, start in enumerate(bounds):
            end = bounds[i + 1] if i + 1 < len(bounds) else None
            calendar = self._in_force(start).calendar
            if segments and segments[-1][2] == calendar:  # one stretch of one calendar
                segments[-1] = (segments[-1][0], end, calendar)
            else:
                segments.append((start, end, calendar))
        object.__setattr__(self, "_segments", tuple(segments))

    @classmethod
    def of(cls, calendar: BusinessCalendar) -> CalendarHistory:
        """A history of one version: onboarding's calendar, never changed."""
        return cls((CalendarVersion(1, calendar),))

    def approved(
        self, calendar: BusinessCalendar, effective_at: datetime, approved_at: datetime
    ) -> CalendarHistory:
        """The history with one more version (the next number)."""
        version = CalendarVersion(
            self.versions[-1].version + 1,
            calendar,
            effective_at.astimezone(UTC),
            approved_at.astimezone(UTC),
        )
        return CalendarHistory((*self.versions, version))

    @property
    def latest(self) -> CalendarVersion:
        """The version approved last (not necessarily in force yet)."""
        return self.versions[-1]

    @property
    def single(self) -> BusinessCalendar | None:
        """The one calendar that counts at every instant, if there is one."""
        return self._segments[0][2] if len(self._segments) == 1 else None

    def known_by(self, instant: datetime) -> CalendarHistory:
        """The history of the versions approved at or before ``instant``."""
        if len(self.versions) == 1:
            return self
        found = self._known.get(instant)
        if found is None:
            kept = tuple(
                v for v in self.versions if v.approved_at is None or v.approved_at <= instant
            )
            found = self if len(kept) == len(self.versions) else CalendarHistory(kept)
            self._known[instant] = found
        return found

    def _in_force(self, instant: datetime | None) -> CalendarVersion:
        applicable = [
            v
            for v in self.versions
            if v.effective_at is None or (instant is not None and v.effective_at <= instant)
        ]
        return max(
            applicable,
            key=lambda v: (v.effective_at is not None, v.effective_at or _EPOCH, v.version),
        )

    def in_force(self, instant: datetime) -> CalendarVersion:
        """The version whose calendar counts at ``instant``."""
        return self._in_force(_utc(instant, "instant"))

    def at(self, instant: datetime) -> BusinessCalendar:
        """The calendar that counts at ``instant``."""
        single = self.single
        return single if single is not None else self.in_force(instant).calendar

    def _from(self, instant: datetime) -> Iterator[Segment]:
        """The segments that end after ``instant``, in order."""
        return (s for s in self._segments if s[1] is None or s[1] > instant)

    def add(self, start: datetime, business: timedelta) -> datetime:
        """The instant (UTC) at which ``business`` of business time, counted from
        ``start`` on the calendar in force at each instant, has run (as
        ``BusinessCalendar.add``: ``add(t, 0)`` is ``t``, negative amounts raise)."""
        single = self.single
        if single is not None:
            return single.add(start, business)
        cursor = _utc(start, "start")
        if business < _ZERO:
            raise ValueError(f"cannot add negative business time {business}")
        remaining = business
        for _, end, calendar in self._from(cursor):
            if remaining == _ZERO:
                return cursor
            if end is None:
                return calendar.add(cursor, remaining)
            available = calendar.between(cursor, end)
            if remaining <= available:
                return calendar.add(cursor, remaining)
            remaining -= available
            cursor = end
        raise AssertionError("unreachable: the last segment is unbounded")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``, each stretch on the calendar in force then."""
        single = self.single
        if single is not None:
            return single.between(start, end)
        start, end = _utc(start, "start"), _utc(end, "end")
        total = _ZERO
        for first, last, calendar in self._from(start):
            if first is not None and first >= end:
                break
            total += calendar.between(
                start if first is None else max(first, start),
                end if last is None else min(last, end),
            )
        return total


_EPOCH: Final = datetime(1, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=256)
def _unchanged(calendar: BusinessCalendar) -> CalendarHistory:
    return CalendarHistory.of(calendar)


def as_history(calendar: BusinessCalendar | CalendarHistory) -> CalendarHistory:
    """A calendar history: itself, or a calendar's that never changed."""
    return calendar if isinstance(calendar, CalendarHistory) else _unchanged(calendar)
