"""What the pages show and read of time: instants in the viewer's zone (with a customer's
local time beside them), durations, and the times people type into the as-of bar.

The forms the bar takes are the command line's (``--as-of``, read by
``ledger.services.spoken``): an instant with an offset, a date (midnight in the viewer's
zone), ``-1d`` ``-6h`` ``-30m`` ``-1h30m`` (``+2h`` is later), ``yesterday``, ``today``
and ``now``; and, because a browser's date-time field sends one, a date and time without
an offset, read in the viewer's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from ledger.services.spoken import BadTime, parse_time, zone_named

FORMS: Final = (
    "an instant (2026-03-16T15:00:00Z, or 2026-03-16 15:00 in the zone shown), "
    "a date (2026-03-16), -1d, -6h, -30m, yesterday, today or now"
)

COMMON_ZONES: Final = (
    "UTC",
    "America/Los_Angeles",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Oslo",
    "Asia/Jerusalem",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)
"""Offered in the zone field's list (any IANA zone may be typed)."""


def zone(name: str) -> tzinfo:
    """The IANA zone ``name`` (``BadTime`` naming the zone field if there is none)."""
    try:
        return zone_named(name)
    except BadTime:
        raise BadTime(f"zone {name!r} is not an IANA time zone (Europe/Berlin, UTC)") from None


def parse_when(text: str, field: str, *, tz: tzinfo, now: datetime) -> datetime:
    """A time as people type it, as a UTC instant (see the module's note)."""
    return parse_time(text, field, zone=tz, now=now, forms=FORMS, naive=True)


def utc_text(at: datetime) -> str:
    """An instant as the links carry it: UTC, to the second, with Z."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def as_instant(value: Any) -> datetime | None:
    """An answer's instant (a ``datetime`` or RFC 3339 text) as a ``datetime``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


def shown(value: Any, tz: tzinfo) -> str:
    """An instant in ``tz``: ``2026-03-16 16:00 CET`` (empty for none)."""
    at = as_instant(value)
    if at is None:
        return ""
    local = at.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def local_clock(value: Any, zone_name: str | None) -> str:
    """The customer's wall clock at an instant: ``09:00 EST`` (with the date when it is
    another day than in UTC)."""
    at = as_instant(value)
    if at is None or not zone_name:
        return ""
    try:
        local = at.astimezone(zone(zone_name))
    except BadTime:
        return ""
    day = "" if local.date() == at.astimezone(UTC).date() else f"{local:%m-%d} "
    return f"{day}{local:%H:%M} {local.tzname() or ''}".rstrip()


def duration(seconds: Any) -> str:
    """Seconds as people read them: ``2d 3h``, ``3h 20m``, ``12m``, ``40s``."""
    if seconds is None:
        return ""
    total = round(float(seconds))
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h"
    elif hours:
        text = f"{hours}h {minutes}m"
    elif minutes:
        text = f"{minutes}m"
    else:
        text = f"{secs}s"
    return sign + text


def age(value: Any, now: datetime) -> str:
    """How long before ``now`` an instant was: ``3h 20m ago``."""
    at = as_instant(value)
    if at is None:
        return ""
    seconds = (now - at).total_seconds()
    return f"{duration(seconds)} ago" if seconds >= 0 else f"in {duration(-seconds)}"
