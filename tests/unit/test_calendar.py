"""Business calendars and SLA targets (R-SLA-1): worked examples, DST nights, properties."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates.calendar import (
    DEFAULT_HOURS,
    WEEKDAYS,
    BusinessCalendar,
    Target,
    _interval,
    parse_duration,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NUUK = ZoneInfo("America/Nuuk")
SANTIAGO = ZoneInfo("America/Santiago")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")
US = timedelta(microseconds=1)
H = timedelta(hours=1)

BERLIN_CAL = BusinessCalendar("Europe/Berlin")
SEV1 = Target("PT1H", "24x7")
SEV3 = Target("P1D", "business")
SEV4 = Target("P2D", "business")


def at(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0
) -> datetime:
    """A local wall time in ``zone`` (fold 0 unless told), as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold)


def every_day(start: time, end: time | None) -> dict[str, tuple[time, time | None]]:
    return dict.fromkeys(WEEKDAYS, (start, end))


def utc_equal(a: datetime, b: datetime) -> bool:
    """Instant equality (aware datetimes sharing a tzinfo compare wall times, fold ignored)."""
    return a.astimezone(UTC) == b.astimezone(UTC)


# Worked examples (R-SLA-1) -----------------------------------------------------------------


def test_sev3_opened_saturday_starts_monday_nine_and_is_due_monday_five() -> None:
    opened = at(BERLIN, 2026, 3, 28, 10)  # a Saturday
    assert BERLIN_CAL.next_open(opened) == at(BERLIN, 2026, 3, 30, 9)
    due = SEV3.due(opened, BERLIN_CAL)
    assert due == at(BERLIN, 2026, 3, 30, 17)
    assert due.tzinfo is UTC


def test_sev3_opened_friday_afternoon_is_due_monday_same_time() -> None:
    assert SEV3.due(at(BERLIN, 2026, 3, 27, 16), BERLIN_CAL) == at(BERLIN, 2026, 3, 30, 16)


def test_sev1_on_the_spring_forward_night_is_due_sixty_real_minutes_later() -> None:
    opened = at(BERLIN, 2026, 3, 29, 1, 30)  # CET; 02:00-03:00 does not exist that night
    due = SEV1.due(opened, BERLIN_CAL)
    assert due - opened == H
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_sev4_from_wednesday_with_thursday_holiday_is_due_monday() -> None:
    calendar = BusinessCalendar("Europe/Berlin", holidays=frozenset({date(2026, 6, 4)}))
    wednesday = at(BERLIN, 2026, 6, 3, 10)
    # Wed 10-17 (7h) + Fri 9-17 (8h) + Mon 9-10 (1h) = 16h = two business days
    assert SEV4.due(wednesday, calendar) == at(BERLIN, 2026, 6, 8, 10)
    assert calendar.between(at(BERLIN, 2026, 6, 4, 0), at(BERLIN, 2026, 6, 5, 0)) == timedelta(0)


def test_new_york_fall_back_night() -> None:
    always = BusinessCalendar("America/New_York", every_day(time(0), None))
    # 2026-11-01: 01:00-02:00 happens twice; the local day lasts 25 real hours.
    assert always.between(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2)) == 25 * H
    assert always.between(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9)) == 23 * H
    # A Sev1 opened at the first 01:30 is due at the second 01:30, one real hour later.
    opened = at(NEW_YORK, 2026, 11, 1, 1, 30)
    assert utc_equal(SEV1.due(opened, always), at(NEW_YORK, 2026, 11, 1, 1, 30, fold=1))
    assert SEV1.due(opened, always) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    # Night hours that contain the repeated hour count it twice (real time).
    night = BusinessCalendar("America/New_York", every_day(time(0), time(4)))
    assert night.between(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2)) == 5 * H
    assert night.between(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9)) == 3 * H
    # Office hours across the weekend of the change: Friday 16:00 EDT -> Monday 16:00 EST.
    office = BusinessCalendar("America/New_York")
    due = SEV3.due(at(NEW_YORK, 2026, 10, 30, 16), office)
    assert due == at(NEW_YORK, 2026, 11, 2, 16)
    assert due - at(NEW_YORK, 2026, 10, 30, 16) == timedelta(days=3, hours=1)


def test_short_business_day_with_matching_short_hours() -> None:
    calendar = BusinessCalendar.from_wire(
        {
            "timezone": "Europe/Berlin",
            "hours_per_business_day": 7.5,
            "hours": {d: ["09:00", "16:30"] for d in WEEKDAYS[:5]},
        }
    )
    assert SEV3.length(calendar) == timedelta(hours=7.5)
    monday = at(BERLIN, 2026, 6, 1, 9)
    assert SEV3.due(monday, calendar) == at(BERLIN, 2026, 6, 1, 16, 30)  # not Tuesday 09:00
    assert SEV3.due(at(BERLIN, 2026, 6, 1, 12), calendar) == at(BERLIN, 2026, 6, 2, 12)
    assert SEV4.due(monday, calendar) == at(BERLIN, 2026, 6, 2, 16, 30)


def test_business_day_shorter_than_opening_hours() -> None:
    calendar = BusinessCalendar.from_wire(
        {"timezone": "Europe/Berlin", "hours": {d: ["09:00", "19:00"] for d in WEEKDAYS[:5]}}
    )
    assert SEV3.due(at(BERLIN, 2026, 6, 1, 9), calendar) == at(BERLIN, 2026, 6, 1, 17)
    assert SEV3.due(at(BERLIN, 2026, 6, 1, 15), calendar) == at(BERLIN, 2026, 6, 2, 13)


def test_a_target_ending_at_closing_time_is_due_at_closing_time() -> None:
    nine, five = at(BERLIN, 2026, 6, 1, 9), at(BERLIN, 2026, 6, 1, 17)
    assert BERLIN_CAL.add(nine, 8 * H) == five
    assert not BERLIN_CAL.is_open(five)  # intervals are [opens, closes)
    assert BERLIN_CAL.is_open(five - US)
    assert BERLIN_CAL.add(five, US) == at(BERLIN, 2026, 6, 2, 9) + US
    assert BERLIN_CAL.add(BERLIN_CAL.add(nine, 8 * H), US) == BERLIN_CAL.add(nine, 8 * H + US)


def test_adding_nothing_stays_put_even_when_closed() -> None:
    saturday = at(BERLIN, 2026, 3, 28, 10)
    assert BERLIN_CAL.add(saturday, timedelta(0)) == saturday
    assert BERLIN_CAL.add(saturday, timedelta(0)).tzinfo is UTC
    assert BERLIN_CAL.add(saturday, US) == at(BERLIN, 2026, 3, 30, 9) + US


def test_next_open_and_is_open() -> None:
    monday_ten = at(BERLIN, 2026, 6, 1, 10)
    assert BERLIN_CAL.is_open(monday_ten)
    assert BERLIN_CAL.next_open(monday_ten) == monday_ten
    assert BERLIN_CAL.is_open(at(BERLIN, 2026, 6, 1, 9))
    assert not BERLIN_CAL.is_open(at(BERLIN, 2026, 6, 1, 9) - US)
    assert BERLIN_CAL.next_open(at(BERLIN, 2026, 6, 1, 17)) == at(BERLIN, 2026, 6, 2, 9)
    assert BERLIN_CAL.next_open(at(BERLIN, 2026, 6, 5, 17)) == at(BERLIN, 2026, 6, 8, 9)


# DST nights ----------------------------------------------------------------------------


def test_office_hours_keep_local_wall_time_on_both_dst_nights() -> None:
    daily = BusinessCalendar("Europe/Berlin", every_day(time(9), time(17)))
    for day in (date(2026, 3, 29), date(2026, 10, 25)):  # Sundays the clocks change
        interval = daily.opening(day)
        assert interval is not None
        opens, closes = interval
        assert opens == datetime.combine(day, time(9), BERLIN)
        assert closes == datetime.combine(day, time(17), BERLIN)
        assert closes - opens == 8 * H


def test_night_hours_containing_the_change_are_real_hours() -> None:
    night = BusinessCalendar("Europe/Berlin", every_day(time(0), time(8)))
    assert night.between(at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 30)) == 7 * H
    assert night.between(at(BERLIN, 2026, 10, 25), at(BERLIN, 2026, 10, 26)) == 9 * H
    assert night.between(at(BERLIN, 2026, 6, 1), at(BERLIN, 2026, 6, 2)) == 8 * H


def test_a_nonexistent_boundary_resolves_forward_by_the_gap() -> None:
    calendar = BusinessCalendar("Europe/Berlin", every_day(time(2, 30), time(6)))
    interval = calendar.opening(date(2026, 3, 29))
    assert interval is not None
    # 02:30 does not exist; read with the offset before the change (+01:00) it is 03:30 CEST
    assert interval[0] == at(BERLIN, 2026, 3, 29, 3, 30)
    assert interval[1] - interval[0] == timedelta(hours=2, minutes=30)
    # An ambiguous boundary is its first occurrence (CEST, fold 0).
    interval = calendar.opening(date(2026, 10, 25))
    assert interval is not None
    assert interval[0] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert interval[1] - interval[0] == timedelta(hours=4, minutes=30)


def test_hours_that_resolve_out_of_order_leave_the_day_closed() -> None:
    calendar = BusinessCalendar(
        "Europe/Berlin", {"sun": (time(2, 30), time(3, 15)), "mon": (time(9), time(17))}
    )
    assert calendar.opening(date(2026, 3, 29)) is None  # 03:30 CEST .. 03:15 CEST: empty
    assert calendar.opening(date(2026, 4, 5)) is not None
    sunday = at(BERLIN, 2026, 3, 29)
    assert calendar.next_open(sunday) == at(BERLIN, 2026, 3, 30, 9)


def test_a_day_never_runs_into_the_next_when_its_end_falls_in_a_gap() -> None:
    # America/Nuuk jumps from Saturday 23:00 -02 to Sunday 00:00 -01 (2026-03-28).
    calendar = BusinessCalendar(
        "America/Nuuk", {"sat": (time(9), time(23, 30)), "sun": (time(0), time(10))}
    )
    saturday, sunday = calendar.opening(date(2026, 3, 28)), calendar.opening(date(2026, 3, 29))
    assert saturday is not None and sunday is not None
    assert saturday[1] == sunday[0] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    whole = calendar.between(at(NUUK, 2026, 3, 28), at(NUUK, 2026, 3, 30))
    assert whole == 14 * H + 10 * H  # Saturday 09:00-23:00 -02, Sunday 00:00-10:00 -01


def test_midnight_in_a_gap() -> None:
    # America/Santiago skips 2026-09-06 00:00-01:00 and repeats 2026-04-04 23:00-24:00.
    always = BusinessCalendar("America/Santiago", every_day(time(0), None))
    assert always.between(at(SANTIAGO, 2026, 9, 5), at(SANTIAGO, 2026, 9, 7)) == 47 * H
    saturday, sunday = always.opening(date(2026, 9, 5)), always.opening(date(2026, 9, 6))
    assert saturday is not None and sunday is not None
    assert saturday[1] - saturday[0] == 24 * H
    assert saturday[1] == sunday[0] == at(SANTIAGO, 2026, 9, 6, 1)  # 00:00 resolves forward
    assert sunday[1] - sunday[0] == 23 * H
    april = always.opening(date(2026, 4, 4))
    assert april is not None
    assert april[1] - april[0] == 25 * H


def test_lord_howe_half_hour_dst() -> None:
    always = BusinessCalendar("Australia/Lord_Howe", every_day(time(0), None))
    spring, autumn = always.opening(date(2026, 10, 4)), always.opening(date(2026, 4, 5))
    assert spring is not None and autumn is not None
    assert spring[1] - spring[0] == timedelta(hours=23, minutes=30)
    assert autumn[1] - autumn[0] == timedelta(hours=24, minutes=30)
    night = BusinessCalendar("Australia/Lord_Howe", every_day(time(1), time(5)))
    assert night.between(at(LORD_HOWE, 2026, 10, 4), at(LORD_HOWE, 2026, 10, 5)) == 3.5 * H
    assert night.between(at(LORD_HOWE, 2026, 4, 5), at(LORD_HOWE, 2026, 4, 6)) == 4.5 * H


def test_24x7_target_is_real_time_and_elapsed_ignores_wall_clock() -> None:
    before, after = at(BERLIN, 2026, 3, 29, 1, 30), at(BERLIN, 2026, 3, 29, 3, 30)
    assert after - before == 2 * H  # same tzinfo: Python subtracts wall times...
    assert SEV1.elapsed(before, after, BERLIN_CAL) == H  # ...the clock counts real time
    assert SEV1.elapsed(after, before, BERLIN_CAL) == timedelta(0)
    assert SEV3.elapsed(at(BERLIN, 2026, 3, 27, 16), at(BERLIN, 2026, 3, 30, 10), BERLIN_CAL) == (
        2 * H
    )
    four_hours = Target("P1DT4H", "24x7")
    assert four_hours.due(before, BERLIN_CAL) - before == 28 * H


# An independent oracle: sample every quarter hour around real DST transitions and ask
# the local wall clock directly whether the calendar is open then.


def _oracle_open(calendar: BusinessCalendar, instant: datetime) -> bool:
    local = instant.astimezone(ZoneInfo(calendar.timezone))
    hours = calendar.hours.get(WEEKDAYS[local.weekday()])
    if hours is None or local.date() in calendar.holidays:
        return False
    start, end = hours
    wall = local.time().replace(fold=0)
    return start <= wall and (end is None or wall < end)


def _transitions(zone_name: str, first: int = 2024, last: int = 2030) -> list[datetime]:
    """The instants (UTC, to the second) at which the zone's UTC offset changes."""
    zone, found = ZoneInfo(zone_name), []
    day = datetime(first, 1, 1, tzinfo=UTC)
    while day.year <= last:
        following = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = day, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == day.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
        day = following
    return found


ORACLE_CALENDARS = [
    BERLIN_CAL,
    BusinessCalendar("Europe/Berlin", every_day(time(1), time(5))),
    BusinessCalendar("America/New_York", every_day(time(0), time(4))),
    BusinessCalendar("Australia/Lord_Howe", every_day(time(1), time(5))),
    BusinessCalendar("Australia/Lord_Howe", every_day(time(0), None)),
    BusinessCalendar("America/Santiago", every_day(time(0), None)),
    # Ends at 23:00: the first instant of the gap (spring) and of the repeat (autumn).
    BusinessCalendar("America/Nuuk", {"sat": (time(9), time(23)), "sun": (time(0), None)}),
]


@pytest.mark.parametrize("calendar", ORACLE_CALENDARS, ids=lambda c: c.timezone)
def test_agrees_with_the_local_wall_clock_around_every_transition(
    calendar: BusinessCalendar,
) -> None:
    step = timedelta(minutes=15)
    for transition in _transitions(calendar.timezone, 2025, 2027):
        start = transition.replace(minute=0, second=0) - timedelta(days=2)
        total = timedelta(0)
        for n in range(4 * 24 * 4):
            instant = start + n * step
            expected = _oracle_open(calendar, instant)
            assert calendar.is_open(instant) == expected, instant
            total += step if expected else timedelta(0)
        assert calendar.between(start, start + 4 * 24 * 4 * step) == total


# Construction and wire form -------------------------------------------------------------


def test_no_opening_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="calendar has no opening hours"):
        BusinessCalendar.from_wire({"timezone": "UTC", "hours": {}})
    with pytest.raises(ValueError, match="calendar has no opening hours"):
        BusinessCalendar("Europe/Berlin", {})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "Europe"}, "unknown time zone"),
        ({"timezone": ""}, "unknown time zone"),
        ({"hours": {"monday": (time(9), time(17))}}, "unknown weekday 'monday'"),
        ({"hours": {"mon": (time(17), time(9))}}, "start before they end"),
        ({"hours": {"mon": (time(9), time(0))}}, "use None as the end for 24:00"),
        ({"hours": {"mon": (time(9),)}}, "pair"),
        ({"hours": {"mon": (time(9), time(17, 0, 30))}}, "whole minute"),
        ({"hours": {"mon": (time(9, tzinfo=UTC), time(17))}}, "local wall time"),
        ({"hours": {"mon": ("09:00", "17:00")}}, "datetime.time"),
        ({"holidays": frozenset({datetime(2026, 12, 25)})}, "holiday"),
        ({"hours_per_business_day": 0}, r"\(0, 24\]"),
        ({"hours_per_business_day": 25}, r"\(0, 24\]"),
        ({"hours_per_business_day": float("nan")}, r"\(0, 24\]"),
    ],
)
def test_bad_calendars_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"timezone": "Europe/Berlin", "hours": {"mon": ["24:00", "24:00"]}}, "start for mon"),
        ({"timezone": "UTC", "hours": {"mon": ["9:00", "17:00"]}}, "HH:MM"),
        ({"timezone": "UTC", "hours": {"mon": ["09:00", "24:30"]}}, "HH:MM"),
        ({"timezone": "UTC", "hours": {"mon": ["09:00"]}}, r"\[start, end\]"),
        ({"timezone": "UTC", "hours": ["09:00", "17:00"]}, "map weekdays"),
        ({"timezone": "UTC", "holidays": ["25.12.2026"]}, "YYYY-MM-DD"),
        ({"timezone": "UTC", "holidays": ["2026-02-30"]}, "YYYY-MM-DD"),
        ({"timezone": "UTC", "holidays": "2026-12-25"}, "list of dates"),
        ({"timezone": "UTC", "holiday": ["2026-12-25"]}, "unknown calendar field 'holiday'"),
        ({"timezone": "Berlin"}, "unknown time zone 'Berlin'"),
        ({"timezone": "UTC", "hours_per_business_day": "8"}, "number"),
    ],
)
def test_bad_wire_calendars_name_the_problem(wire: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.from_wire(wire)


def test_from_wire_defaults_and_24_00() -> None:
    assert BusinessCalendar.from_wire(None) == BusinessCalendar()
    assert BusinessCalendar.from_wire({"timezone": "Europe/Berlin", "hours": None}) == BERLIN_CAL
    calendar = BusinessCalendar.from_wire(
        {
            "timezone": "Asia/Kolkata",
            "hours": {"sat": ["10:00", "24:00"], "sun": ["00:00", "24:00"]},
            "holidays": ["2026-12-25", "2026-01-26"],
            "hours_per_business_day": 8,
        }
    )
    assert calendar.hours == {"sat": (time(10), None), "sun": (time(0), None)}
    assert calendar.holidays == frozenset({date(2026, 12, 25), date(2026, 1, 26)})
    assert calendar.hours_per_business_day == 8.0
    assert calendar.to_wire() == {
        "timezone": "Asia/Kolkata",
        "hours": {"sat": ["10:00", "24:00"], "sun": ["00:00", "24:00"]},
        "holidays": ["2026-01-26", "2026-12-25"],
        "hours_per_business_day": 8.0,
    }
    saturday = calendar.opening(date(2026, 6, 6))
    assert saturday == (at(KOLKATA, 2026, 6, 6, 10), at(KOLKATA, 2026, 6, 7))


def test_calendars_are_hashable_values() -> None:
    hours = {"mon": (time(9), time(17)), "tue": (time(9), time(17))}
    calendar = BusinessCalendar("Europe/Berlin", hours, frozenset({date(2026, 12, 25)}))
    hours["wed"] = (time(9), time(17))  # the calendar keeps its own immutable copy
    assert list(calendar.hours) == ["mon", "tue"]
    same = BusinessCalendar.from_wire(calendar.to_wire())
    assert same == calendar and hash(same) == hash(calendar)
    assert len({calendar, same, BERLIN_CAL}) == 2
    assert pickle.loads(pickle.dumps(calendar)) == calendar
    assert BusinessCalendar().hours == DEFAULT_HOURS
    assert dict(DEFAULT_HOURS) == {d: (time(9), time(17)) for d in WEEKDAYS[:5]}
    with pytest.raises(TypeError):
        calendar.hours["thu"] = (time(9), time(17))  # type: ignore[index]
    assert replace(calendar, hours_per_business_day=6).business_day() == 6 * H


def test_naive_datetimes_and_negative_amounts_are_refused() -> None:
    naive = datetime(2026, 6, 1, 10)
    for call in (
        lambda: BERLIN_CAL.add(naive, H),
        lambda: BERLIN_CAL.between(naive, naive),
        lambda: BERLIN_CAL.is_open(naive),
        lambda: BERLIN_CAL.next_open(naive),
        lambda: SEV1.due(naive, BERLIN_CAL),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()
    with pytest.raises(ValueError, match="negative"):
        BERLIN_CAL.add(at(BERLIN, 2026, 6, 1, 10), -US)


def test_long_spans_walk_days_not_minutes() -> None:
    start = at(BERLIN, 2026, 6, 1, 10)
    before = _interval.cache_info()
    due = BERLIN_CAL.add(start, 10 * BERLIN_CAL.business_day())  # two business weeks
    after = _interval.cache_info()
    assert due == at(BERLIN, 2026, 6, 15, 10)
    assert (after.hits + after.misses) - (before.hits + before.misses) <= 16
    always = BusinessCalendar("Europe/London", every_day(time(0), None))
    ten_years = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2035, 1, 1, tzinfo=UTC))
    assert always.between(*ten_years) == ten_years[1] - ten_years[0]
    first, days = date(2025, 1, 1), (date(2035, 1, 1) - date(2025, 1, 1)).days
    weekdays = sum((first + timedelta(days=n)).weekday() < 5 for n in range(days))
    assert BERLIN_CAL.between(*ten_years) == weekdays * 8 * H


# Durations and targets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "rest"),
    [
        ("PT1H", 0, H),
        ("PT4H", 0, 4 * H),
        ("P1D", 1, timedelta(0)),
        ("P2D", 2, timedelta(0)),
        ("P1W", 7, timedelta(0)),
        ("P1W2DT3H4M5S", 9, timedelta(hours=3, minutes=4, seconds=5)),
        ("PT90M", 0, timedelta(minutes=90)),
        ("PT0S", 0, timedelta(0)),
        ("P1DT12H", 1, 12 * H),
    ],
)
def test_parse_duration(text: str, days: int, rest: timedelta) -> None:
    assert parse_duration(text) == (days, rest)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "P1DT",
        "1D",
        "p1d",
        "P1M",
        "P1Y",
        "P1.5D",
        "PT1,5H",
        "-P1D",
        "P1D2W",
        "PT1S1M",
        "PT1H\n",
        " PT1H",
        "P\u0661D",
        "P99999999999D",
    ],
)
def test_parse_duration_refuses_and_names_the_text(text: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    assert repr(text) in str(error.value)


def test_target_lengths_and_validation() -> None:
    short = BusinessCalendar(hours_per_business_day=7.5)
    assert Target("P1D", "24x7").length(short) == 24 * H
    assert Target("P1D", "business").length(short) == 7.5 * H
    assert Target("P1WT30M", "business").length(short) == 7 * 7.5 * H + timedelta(minutes=30)
    assert Target.from_wire({"duration": "PT4H", "clock": "24x7"}) == Target("PT4H", "24x7")
    assert Target("P1D", "business").to_wire() == {"duration": "P1D", "clock": "business"}
    with pytest.raises(ValueError, match="'P1M'"):
        Target("P1M", "24x7")
    with pytest.raises(ValueError, match="clock"):
        Target("P1D", "wall")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duration, clock"):
        Target.from_wire({"duration": "P1D"})


# Properties ------------------------------------------------------------------------------

CALENDARS = [
    BERLIN_CAL,
    BusinessCalendar("America/New_York"),
    BusinessCalendar("Asia/Kolkata", {d: (time(9, 30), time(18, 30)) for d in WEEKDAYS[:6]}),
    BusinessCalendar("Australia/Lord_Howe"),
    BusinessCalendar("Australia/Lord_Howe", every_day(time(1), time(5))),
    BusinessCalendar(
        "Europe/Berlin",
        {d: (time(9), time(16, 30)) for d in WEEKDAYS[:5]},
        frozenset(date(2025, 1, 1) + timedelta(days=n) for n in range(0, 6 * 365, 9)),
        hours_per_business_day=7.5,
    ),
    BusinessCalendar("America/Los_Angeles", {"sat": (time(10), time(16)), "sun": (time(10), None)}),
    BusinessCalendar("Europe/London", every_day(time(0), None)),
    BusinessCalendar("America/Santiago", every_day(time(0), None)),
    BusinessCalendar("America/Nuuk", {"sat": (time(9), time(23, 30)), "sun": (time(0), time(10))}),
    BusinessCalendar("Europe/Berlin", every_day(time(2, 30), time(3, 15))),
]
TRANSITIONS = {c.timezone: _transitions(c.timezone) for c in CALENDARS}
EARLIEST, LATEST = datetime(2024, 1, 1), datetime(2030, 12, 31)


@st.composite
def calendar_and_instant(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime]:
    """A calendar and an instant: anywhere in 2024-2030, or within 3 days of a DST change."""
    calendar = draw(st.sampled_from(CALENDARS))
    zone = ZoneInfo(calendar.timezone)
    strategies = [
        st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC)),
        st.datetimes(EARLIEST, LATEST, timezones=st.just(zone)),  # local, incl. gaps/folds
    ]
    if TRANSITIONS[calendar.timezone]:
        near = st.timedeltas(timedelta(days=-3), timedelta(days=3))
        strategies.append(
            st.builds(lambda t, d: t + d, st.sampled_from(TRANSITIONS[calendar.timezone]), near)
        )
    return calendar, draw(st.one_of(strategies))


spans = st.one_of(
    st.timedeltas(timedelta(0), timedelta(days=21)),
    st.integers(0, 4 * 7 * 24 * 4).map(lambda n: n * timedelta(minutes=15)),
)
positive = spans.filter(lambda d: d > timedelta(0))
PROPERTY = settings(max_examples=400, deadline=None)


@PROPERTY
@given(calendar_and_instant(), spans, spans)
def test_add_is_monotone(
    case: tuple[BusinessCalendar, datetime], a: timedelta, b: timedelta
) -> None:
    calendar, start = case
    low, high = sorted((a, b))
    assert calendar.add(start, low) <= calendar.add(start, high)
    if low < high:
        assert calendar.add(start, low) < calendar.add(start, high)


@PROPERTY
@given(calendar_and_instant(), spans, spans)
def test_add_is_additive(
    case: tuple[BusinessCalendar, datetime], a: timedelta, b: timedelta
) -> None:
    calendar, start = case
    assert calendar.add(calendar.add(start, a), b) == calendar.add(start, a + b)


@PROPERTY
@given(calendar_and_instant(), spans)
def test_between_undoes_add(case: tuple[BusinessCalendar, datetime], a: timedelta) -> None:
    calendar, start = case
    assert calendar.between(start, calendar.add(start, a)) == a


@PROPERTY
@given(calendar_and_instant(), positive)
def test_positive_addition_lands_in_opening_hours_or_at_a_close(
    case: tuple[BusinessCalendar, datetime], a: timedelta
) -> None:
    calendar, start = case
    due = calendar.add(start, a)
    assert due > start.astimezone(UTC)
    assert calendar.is_open(due - US)  # the last microsecond was business time
    assert calendar.between(due - US, due) == US
    if not calendar.is_open(due):  # then due is a closing instant
        assert calendar.next_open(due) > due
    assert calendar.add(start, a) == calendar.add(calendar.next_open(start), a)


@PROPERTY
@given(calendar_and_instant(), spans, spans)
def test_between_is_additive_over_a_split(
    case: tuple[BusinessCalendar, datetime], a: timedelta, b: timedelta
) -> None:
    calendar, start = case
    middle, end = start.astimezone(UTC) + a, start.astimezone(UTC) + a + b
    whole = calendar.between(start, end)
    assert whole == calendar.between(start, middle) + calendar.between(middle, end)
    assert timedelta(0) <= whole <= end - start
    assert calendar.between(end, start) == timedelta(0)


@PROPERTY
@given(calendar_and_instant(), spans)
def test_add_of_between_comes_back_no_later(
    case: tuple[BusinessCalendar, datetime], a: timedelta
) -> None:
    calendar, start = case
    end = start.astimezone(UTC) + a
    back = calendar.add(start, calendar.between(start, end))
    assert back <= end
    assert calendar.between(back, end) == timedelta(0)


@PROPERTY
@given(calendar_and_instant())
def test_next_open(case: tuple[BusinessCalendar, datetime]) -> None:
    calendar, instant = case
    opens, instant_utc = calendar.next_open(instant), instant.astimezone(UTC)
    assert opens >= instant_utc
    assert calendar.is_open(opens)
    assert calendar.between(instant, opens) == timedelta(0)
    assert (opens == instant_utc) == calendar.is_open(instant)
    assert calendar.is_open(instant) == (calendar.between(instant, instant_utc + US) == US)


@PROPERTY
@given(calendar_and_instant(), spans)
def test_round_the_clock_calendars_count_every_real_microsecond(
    case: tuple[BusinessCalendar, datetime], a: timedelta
) -> None:
    calendar, start = case
    start = start.astimezone(UTC)  # local wall-clock arithmetic is not real time
    always = replace(calendar, hours=every_day(time(0), None), holidays=frozenset())
    assert always.between(start, start + a) == a
    assert always.add(start, a) == start + a
    assert Target("PT1H", "24x7").due(start, calendar) == start + H


@PROPERTY
@given(
    calendar_and_instant(),
    st.sampled_from(["PT1H", "PT4H", "P1D", "P2D", "P1DT2H30M", "P1W"]),
    st.sampled_from(["24x7", "business"]),
)
def test_targets_due_after_exactly_their_length(
    case: tuple[BusinessCalendar, datetime], duration: str, clock: Any
) -> None:
    calendar, start = case
    target = Target(duration, clock)
    due = target.due(start, calendar)
    assert target.elapsed(start, due, calendar) == target.length(calendar)
