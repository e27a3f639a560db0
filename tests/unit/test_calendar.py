"""Business calendars (R-SLA-1): worked examples and properties across DST and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates.calendar import BusinessCalendar, Target, parse_duration

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN_CAL = BusinessCalendar("Europe/Berlin")


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def test_sev3_opened_saturday_is_due_monday_at_five() -> None:
    due = Target("P1D", "business").due(local(BERLIN, 2026, 3, 28, 10), BERLIN_CAL)
    assert due == local(BERLIN, 2026, 3, 30, 17)


def test_sev3_opened_friday_afternoon_is_due_monday_same_time() -> None:
    due = Target("P1D", "business").due(local(BERLIN, 2026, 3, 27, 16), BERLIN_CAL)
    assert due == local(BERLIN, 2026, 3, 30, 16)


def test_sev1_on_the_spring_forward_night_is_due_sixty_real_minutes_later() -> None:
    opened = local(BERLIN, 2026, 3, 29, 1, 30)
    due = Target("PT1H", "24x7").due(opened, BERLIN_CAL)
    assert due - opened == timedelta(hours=1)
    assert due.astimezone(BERLIN).hour == 3  # 03:30 CEST: 02:xx did not exist


def test_holiday_is_skipped() -> None:
    calendar = BusinessCalendar("Europe/Berlin", holidays=frozenset({date(2026, 6, 4)}))
    wednesday = local(BERLIN, 2026, 6, 3, 10)
    assert Target("P2D", "business").due(wednesday, calendar) == local(BERLIN, 2026, 6, 8, 10)


def test_fall_back_night_in_new_york_counts_real_hours() -> None:
    always = BusinessCalendar("America/New_York", week=((0, 1440),) * 7)
    start = local(NEW_YORK, 2026, 10, 31, 12)
    assert always.between(start, start.astimezone(UTC) + timedelta(days=1)) == timedelta(days=1)
    assert always.between(local(NEW_YORK, 2026, 11, 1), local(NEW_YORK, 2026, 11, 2)) == (
        timedelta(hours=25)
    )


def test_short_days_and_short_business_day() -> None:
    calendar = BusinessCalendar.from_wire(
        {
            "timezone": "Europe/Berlin",
            "hours_per_business_day": 7.5,
            "hours": {d: ["09:00", "16:30"] for d in ("mon", "tue", "wed", "thu", "fri")},
        }
    )
    monday = local(BERLIN, 2026, 6, 1, 9)
    assert Target("P1D", "business").due(monday, calendar) == local(BERLIN, 2026, 6, 1, 16, 30)
    long_days = BusinessCalendar.from_wire(
        {
            "timezone": "Europe/Berlin",
            "hours": {d: ["09:00", "19:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        }
    )
    assert Target("P1D", "business").due(monday, long_days) == local(BERLIN, 2026, 6, 1, 17)


def test_closing_instant_is_due_not_next_morning() -> None:
    nine = local(BERLIN, 2026, 6, 1, 9)
    assert BERLIN_CAL.add(nine, timedelta(hours=8)) == local(BERLIN, 2026, 6, 1, 17)


def test_no_opening_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="no opening hours"):
        BusinessCalendar.from_wire({"timezone": "UTC", "hours": {}})


def test_parse_duration() -> None:
    assert parse_duration("P1W2DT3H4M5S") == (9, timedelta(hours=3, minutes=4, seconds=5))
    with pytest.raises(ValueError):
        parse_duration("P1M")


CALENDARS = [
    BERLIN_CAL,
    BusinessCalendar("America/New_York"),
    BusinessCalendar("Asia/Kolkata", week=((570, 1110),) * 6 + (None,)),
    BusinessCalendar("Australia/Lord_Howe"),
    BusinessCalendar(
        "Europe/Berlin",
        holidays=frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(0, 365, 9)),
    ),
    BusinessCalendar("America/Los_Angeles", week=(None,) * 5 + ((600, 960),) * 2),
    BusinessCalendar("Europe/London", week=((0, 1440),) * 7),
]
calendars = st.sampled_from(CALENDARS)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
# Some instants right on DST nights, where bugs hide.
dst_nights = st.sampled_from(
    [
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2026, 4, 4, 14, 45, tzinfo=UTC),
    ]
)
starts = st.one_of(instants, dst_nights)
spans = st.integers(min_value=0, max_value=200 * 3600).map(lambda s: timedelta(seconds=s))


@settings(max_examples=300, deadline=None)
@given(calendars, starts, spans, spans)
def test_add_is_monotone_and_additive(
    calendar: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    low, high = sorted((a, b))
    assert calendar.add(start, low) <= calendar.add(start, high)
    assert calendar.add(calendar.add(start, a), b) == calendar.add(start, a + b)


@settings(max_examples=300, deadline=None)
@given(calendars, starts, spans)
def test_between_undoes_add(calendar: BusinessCalendar, start: datetime, a: timedelta) -> None:
    assert calendar.between(start, calendar.add(start, a)) == a


@settings(max_examples=300, deadline=None)
@given(calendars, starts, spans.filter(lambda d: d > timedelta(0)))
def test_positive_addition_lands_in_opening_hours(
    calendar: BusinessCalendar, start: datetime, a: timedelta
) -> None:
    due = calendar.add(start, a)
    just_before = due - timedelta(seconds=1)
    assert calendar.is_open(just_before) or calendar.is_open(due)
    assert calendar.between(just_before, due) == timedelta(seconds=1)


@settings(max_examples=200, deadline=None)
@given(calendars, starts, spans, spans)
def test_between_is_additive_over_a_split(
    calendar: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    middle, end = start + a, start + a + b
    assert calendar.between(start, end) == calendar.between(start, middle) + calendar.between(
        middle, end
    )
