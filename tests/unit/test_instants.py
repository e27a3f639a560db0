"""Times as people give them to the command line, and how people read them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cli.common import TIME_FORMS, CliError, parse_time, use_tz, window
from cli.render import NOTHING, cell, counts, moment, pct, span, timer_clock

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 16, 23, 30, tzinfo=UTC)  # already the 17th in Berlin


def at(text: str, zone: ZoneInfo | type[UTC] | None = None) -> datetime:
    return parse_time(text, "--as-of", zone=zone or UTC, now=NOW)  # type: ignore[arg-type]


def error(text: str, option: str = "--as-of") -> str:
    with pytest.raises(CliError) as raised:
        parse_time(text, option, zone=UTC, now=NOW)
    return str(raised.value)


def test_an_instant_with_offset_is_that_instant_in_utc() -> None:
    assert at("2026-03-16T16:00:00+01:00") == datetime(2026, 3, 16, 15, tzinfo=UTC)
    assert at("2026-03-16T15:00:00Z").utcoffset() == timedelta(0)


def test_a_date_is_midnight_in_the_zone() -> None:
    assert at("2026-03-16") == datetime(2026, 3, 16, tzinfo=UTC)
    assert at("2026-03-16", BERLIN) == datetime(2026, 3, 15, 23, tzinfo=UTC)  # CET
    assert at("2026-07-01", BERLIN) == datetime(2026, 6, 30, 22, tzinfo=UTC)  # CEST


def test_a_date_whose_midnight_does_not_exist_is_the_days_first_instant() -> None:
    # Chile moves its clocks from 00:00 to 01:00 on 2026-09-06: the day starts at 01:00 -03.
    santiago = ZoneInfo("America/Santiago")
    first = at("2026-09-06", santiago)  # type: ignore[arg-type]
    assert first == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert first.astimezone(santiago).date().isoformat() == "2026-09-06"


def test_relative_forms_count_from_now() -> None:
    assert at("now") == NOW
    assert at("-1d") == NOW - timedelta(days=1)
    assert at("-6h") == NOW - timedelta(hours=6)
    assert at("-30m") == NOW - timedelta(minutes=30)
    assert at("-1h30m") == NOW - timedelta(minutes=90)
    assert at("+2h") == NOW + timedelta(hours=2)
    assert at(" NOW ") == NOW


def test_today_and_yesterday_are_midnights_of_the_zones_date() -> None:
    assert at("today") == datetime(2026, 3, 16, tzinfo=UTC)
    assert at("yesterday") == datetime(2026, 3, 15, tzinfo=UTC)
    # 23:30Z is 00:30 on the 17th in Berlin: today began at 23:00Z on the 16th.
    assert at("today", BERLIN) == datetime(2026, 3, 16, 23, tzinfo=UTC)
    assert at("yesterday", BERLIN) == datetime(2026, 3, 15, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["tomorrow", "-1x", "1d", "16/03/2026", "", "2026-13-01T00:00:00Z", "2026-02-30"]
)
def test_a_bad_value_names_the_option_and_the_accepted_forms(text: str) -> None:
    message = error(text, "--from")
    assert message.startswith(f"--from {text!r}")
    assert "\n" not in message
    assert "-1d" in message and "yesterday" in message and "2026-03-16" in message


def test_a_time_without_offset_says_it_needs_one() -> None:
    message = error("2026-03-16T15:00")
    assert "needs an offset" in message and TIME_FORMS in message


def test_a_unit_given_twice_and_a_time_out_of_range_are_errors() -> None:
    assert "repeats a unit" in error("-1h2h")
    assert "out of the range" in error("-99999999d")


def test_from_after_to_names_both_options() -> None:
    with pytest.raises(CliError) as raised:
        window("2026-03-02", "2026-03-01")
    assert "--from 2026-03-02" in str(raised.value) and "--to 2026-03-01" in str(raised.value)
    assert window("2026-03-01", "2026-03-01") == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_an_unknown_zone_is_an_error_naming_tz() -> None:
    for name in ("Mars/Base", "../etc/passwd", ""):
        with pytest.raises(CliError, match=r"^--tz "):
            use_tz(name)
    with pytest.raises(CliError, match="--tz customer needs a command about one customer"):
        use_tz("customer")


def test_instants_are_shown_in_the_chosen_zone() -> None:
    instant = datetime(2026, 3, 16, 15, 0, 7, 500_000, tzinfo=UTC)
    assert moment(instant) == "2026-03-16 15:00:07Z"
    try:
        use_tz("Europe/Berlin")
        assert moment(instant) == "2026-03-16 16:00:07+01:00"
        assert cell("2026-03-16T15:00:07.5+00:00") == "2026-03-16 16:00:07+01:00"
        # a date is midnight there
        assert parse_time("2026-03-16", "--as-of", zone=BERLIN, now=NOW).hour == 23
    finally:
        use_tz("UTC")


def test_values_are_words_not_reprs() -> None:
    assert cell(None) == NOTHING
    assert cell(True) == "yes"
    assert cell({"name": "Dana", "email": None}) == f"name: Dana\nemail: {NOTHING}"
    assert cell(["a", "b"]) == "a, b"
    assert cell(97.5) == "97.5" and cell(4.0) == "4"
    assert pct(None) == "n/a" and pct(72.73) == "72.73%"
    assert counts({"sla.breached": 3, "fix.temporary_expired": 1}) == (
        "3 sla.breached, 1 fix.temporary_expired"
    )
    assert counts({}, "nothing new") == "nothing new"


def test_spans_read_as_days_hours_and_minutes() -> None:
    assert span(45) == "45s"
    assert span(35 * 60) == "35m"
    assert span(2 * 3600 + 5 * 60) == "2h 05m"
    assert span(3 * 86400 + 4 * 3600 + 5 * 60 + 59) == "3d 4h 05m"


AS_OF = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _timer(state: str, due: datetime | None, stopped: datetime | None = None) -> dict[str, object]:
    return {"state": state, "due_at": due, "stopped_at": stopped}


def test_a_timer_says_how_long_is_left_or_how_late_it_is() -> None:
    # without the projection's fields: worked out from due_at and the as-of instant
    assert timer_clock(_timer("running", AS_OF + timedelta(minutes=125)), AS_OF) == "2h 05m left"
    assert timer_clock(_timer("breached", AS_OF - timedelta(minutes=35)), AS_OF) == (
        "overdue by 35m"
    )
    late = _timer("breached", AS_OF - timedelta(hours=2), AS_OF - timedelta(hours=1))
    assert timer_clock(late, AS_OF) == "overdue by 1h 00m"  # stopped: how late it stopped
    assert timer_clock(_timer("met", AS_OF - timedelta(hours=1), AS_OF), AS_OF) == "met"
    assert timer_clock(_timer("running", None), AS_OF) == "no target"
    assert timer_clock(_timer("measured", None, AS_OF), AS_OF) == "no target"
    # with them: the projection's figures win (a paused timer's time left stays put)
    paused = {**_timer("paused", AS_OF - timedelta(hours=1)), "time_left": 600, "overdue_by": None}
    assert timer_clock(paused, AS_OF) == "10m left"
    breached = {**_timer("breached", AS_OF), "time_left": None, "overdue_by": 90}
    assert timer_clock(breached, AS_OF) == "overdue by 1m"
