"""Times as people type them, read one way for every interface: the command line's
``--as-of`` / ``--from`` / ``--to`` and the web board's as-of bar.

``2026-03-16T15:00:00Z`` (an instant with an offset), ``2026-03-16`` (midnight in the
zone the reader works in), ``-1d`` ``-6h`` ``-30m`` ``-1h30m`` (units ``w d h m s``;
``+2h`` is later) from ``now``, ``yesterday`` and ``today`` (midnight in the zone) and
``now``. A date and time without an offset is read in the zone when the interface says
so (``naive``: a browser's date-time field sends one), and refused otherwise.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

_RELATIVE: Final = re.compile(r"([+-])((?:\d+[wdhms])+)")
_RELATIVE_PART: Final = re.compile(r"(\d+)([wdhms])")
_UNITS: Final = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadTime(ValueError):
    """A time or zone that cannot be read; the message names the field and the forms."""


def midnight(day: date, zone: tzinfo) -> datetime:
    """The first instant of ``day`` in ``zone``, in UTC. Where midnight does not exist (a
    DST gap at midnight) this is read with the offset before the gap (as zoneinfo's
    ``fold=0`` and RFC 5545 do), which is the day's first instant."""
    return datetime.combine(day, time(0), zone).astimezone(UTC)


@cache
def zone_named(name: str) -> tzinfo:
    """The IANA zone ``name`` (``UTC`` in any case); ``BadTime`` if there is none."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise BadTime(f"{name!r} is not an IANA time zone") from None


def parse_time(
    text: str, field: str, *, zone: tzinfo, now: datetime, forms: str, naive: bool = False
) -> datetime:
    """``text`` as a UTC instant (see the module's note), or ``BadTime`` naming ``field``
    and listing the ``forms`` accepted."""
    word = text.strip().lower()
    try:
        if word == "now":
            return now
        if word in ("today", "yesterday"):
            day = now.astimezone(zone).date() - timedelta(days=int(word == "yesterday"))
            return midnight(day, zone)
        relative = _RELATIVE.fullmatch(word)
        if relative:
            parts = _RELATIVE_PART.findall(relative.group(2))
            units = [unit for _, unit in parts]
            if len(set(units)) != len(units):
                raise BadTime(f"{field} {text!r} repeats a unit; accepted: {forms}")
            step = sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), timedelta())
            return now - step if relative.group(1) == "-" else now + step
        if _DATE.fullmatch(word):
            try:
                day = date.fromisoformat(word)
            except ValueError:
                raise BadTime(
                    f"{field} {text!r} is not a calendar date; accepted: {forms}"
                ) from None
            return midnight(day, zone)
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise BadTime(f"{field} {text!r} is not a time; accepted: {forms}") from None
        if value.tzinfo is None:
            if not naive:
                raise BadTime(
                    f"{field} {text!r} needs an offset (2026-03-27T14:05:00+01:00, or Z for "
                    f"UTC); accepted: {forms}"
                )
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    except OverflowError:
        raise BadTime(f"{field} {text!r} is out of the range of dates; accepted: {forms}") from None
