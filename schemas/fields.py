"""Field types the models share: instants, dates, ids, labels, integers, durations, money.

Each check runs in Python with a message a producer can act on, and carries the same
rule into the JSON Schema as a ``pattern`` or a bound (RE2/ECMA-safe: no look-arounds).
Python matches every pattern whole (``fullmatch``), as ECMA-262 does; a JSON Schema
library that searches with Python's ``re`` would let a final newline through ``$``, so
patterned strings also carry ``"not": {"pattern": "\\n$"}`` in the schema.

The bounds are R-IN-7's (docs/event-contract.md, "Bounds"): instants whose UTC form lies
in years 0001..9999, integers within signed 64 bits, subject ids of one ASCII pattern of
at most 128 characters, other identifiers of at most 128 characters without control
characters, policy durations of at most 366 days.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

NOT_FINAL_NEWLINE: Final[dict[str, Any]] = {"pattern": "\n$"}
"""Refuses a final newline where Python's ``re.search`` would let ``$`` match before it."""


def _patterned(pattern: str, *refused: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema keywords for a string that matches ``pattern`` whole and none of
    ``refused``."""
    return (
        {"pattern": pattern, "not": {"anyOf": [NOT_FINAL_NEWLINE, *refused]}}
        if refused
        else {
            "pattern": pattern,
            "not": NOT_FINAL_NEWLINE,
        }
    )


# Free text ---------------------------------------------------------------------------------
NO_NUL_PATTERN: Final = "^[^\x00]*$"
Text = Annotated[str, Field(json_schema_extra={"pattern": NO_NUL_PATTERN})]
"""Any text without NUL (U+0000), which `parse_envelope` refuses in every string."""

NonEmpty = Annotated[Text, Field(min_length=1)]

# Integers ------------------------------------------------------------------------------
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An integer within signed 64 bits (R-IN-7)."""
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""A non-negative integer within signed 64 bits (R-IN-7)."""

# Instants and dates -------------------------------------------------------------------------
# RFC 3339 section 5.6 with real calendar dates (leap years included), hours 00-23, seconds
# 00-59 and offsets within +-23:59: exactly what Python's datetime takes, so the pattern
# alone tells valid from invalid in any JSON Schema library, with or without ``format``.
_YEAR: Final = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_MONTH_DAY: Final = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR: Final = (
    r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
)
_DATE: Final = rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME: Final = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
_OFFSET: Final = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
INSTANT_PATTERN: Final = f"^{_DATE}[Tt]{_TIME}{_OFFSET}$"
DATE_PATTERN: Final = f"^{_DATE}$"
# In Python a plain form suffices: datetime.fromisoformat refuses the impossible dates,
# hours, seconds and offsets the schema's pattern spells out (and costs less to match).
_FORM: Final = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
_INSTANT: Final = re.compile(f"{_FORM}(?:[Zz]|[+-][0-9]{{2}}:[0-5][0-9])")
_NAIVE: Final = re.compile(_FORM)
_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # date.fromisoformat does the rest


def _rfc3339(value: object) -> object:
    """Parse the RFC 3339 form only, and only instants that have a UTC form.

    pydantic alone also takes e.g. a missing seconds; a naive timestamp is handed on so
    that pydantic names it ("timezone_aware"). An instant such as
    ``0001-01-01T00:00:00+14:00`` is a valid RFC 3339 text whose UTC form is before year 1:
    it would overflow wherever the ledger converts it, so it is refused here (R-IN-7).
    """
    if not isinstance(value, str):
        return value  # the strict datetime check names the wrong JSON type
    if _INSTANT.fullmatch(value) is not None:
        try:
            instant = datetime.fromisoformat(value[:-1] + "Z" if value[-1] == "z" else value)
        except ValueError:
            raise _not_rfc3339() from None
        try:
            instant.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError(
                "instant_range",
                "Input should be an instant whose UTC form lies within years 0001 to 9999",
            ) from None
        return instant
    if _NAIVE.fullmatch(value) is not None:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _not_rfc3339()


def _not_rfc3339() -> PydanticCustomError:
    return PydanticCustomError(
        "rfc3339", "Input should be an RFC 3339 timestamp such as 2026-03-27T16:30:00+01:00"
    )


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    Field(json_schema_extra=_patterned(INSTANT_PATTERN)),
]
"""A timestamp with offset whose UTC form exists; a naive one is rejected."""


def _day(value: object) -> object:
    if not isinstance(value, str):
        return value
    if _DAY.fullmatch(value) is not None:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date_form", "Input should be a calendar date YYYY-MM-DD")


Day = Annotated[date, BeforeValidator(_day), Field(json_schema_extra=_patterned(DATE_PATTERN))]
"""A calendar date, YYYY-MM-DD."""

# Event ids -----------------------------------------------------------------------------
UUID_PATTERN: Final = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
NIL_UUID: Final = "00000000-0000-0000-0000-000000000000"
_UUID: Final = re.compile(UUID_PATTERN)


def _uuid_text(value: object) -> object:
    """Only the hyphenated 8-4-4-4-12 form (what ``format: uuid`` means), never the nil UUID."""
    if isinstance(value, str):
        if _UUID.fullmatch(value) is None:
            raise PydanticCustomError(
                "uuid_form", "Input should be a UUID written 8-4-4-4-12 hex digits"
            )
        if value == NIL_UUID:
            raise PydanticCustomError("uuid_nil", "Input should not be the nil UUID")
    return value


EventId = Annotated[
    UUID,
    BeforeValidator(_uuid_text),
    Field(json_schema_extra=_patterned(UUID_PATTERN, {"const": NIL_UUID})),
]
"""A UUID, 8-4-4-4-12 hex digits, not the nil UUID."""

# Subjects and references to them ----------------------------------------------------------
ID_MAX_LENGTH: Final = 128
_ID_TAIL: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,125}"  # 128 characters with the prefix
TICKET_ID_PATTERN: Final = rf"^T-{_ID_TAIL}$"
CUSTOMER_ID_PATTERN: Final = rf"^C-{_ID_TAIL}$"


def _prefixed(prefix: str, what: str) -> AfterValidator:
    pattern = re.compile(re.escape(prefix) + _ID_TAIL)

    def check(value: str) -> str:
        if pattern.fullmatch(value) is None:
            raise PydanticCustomError(
                "subject_id",
                "Input should be {what}: {prefix} then up to 126 ASCII letters, digits, "
                "'.', '_' or '-', starting with a letter or digit",
                {"what": what, "prefix": prefix},
            )
        return value

    return AfterValidator(check)


TicketId = Annotated[
    str,
    _prefixed("T-", "a ticket id"),
    Field(json_schema_extra=_patterned(TICKET_ID_PATTERN)),
]
CustomerId = Annotated[
    str,
    _prefixed("C-", "a customer id"),
    Field(json_schema_extra=_patterned(CUSTOMER_ID_PATTERN)),
]

# Other identifiers ------------------------------------------------------------------------
LABEL_MAX_LENGTH: Final = 128
_CONTROL: Final = "\x00-\x1f\x7f-\x9f"
LABEL_PATTERN: Final = f"^[^{_CONTROL}]*$"
_HAS_CONTROL: Final = re.compile(f"[{_CONTROL}]")


def _no_control(value: str) -> str:
    if _HAS_CONTROL.search(value) is not None:
        raise PydanticCustomError(
            "label_control",
            "Input should not contain control characters (U+0000-U+001F, U+007F-U+009F)",
        )
    return value


Label = Annotated[
    str,
    Field(max_length=LABEL_MAX_LENGTH, json_schema_extra=_patterned(LABEL_PATTERN)),
    AfterValidator(_no_control),
]
"""An identifier the ledger compares (check_in_id, proposal_id, action_id, root_cause_code):
at most 128 characters, no control characters. Blankness is the domain's business."""

NonEmptyLabel = Annotated[Label, Field(min_length=1)]
"""actor.id and source: a `Label` of at least one character."""


def actor_key(actor_id: str) -> str:
    """An actor id as the ledger compares them: Unicode NFKC, case-folded, stripped."""
    return unicodedata.normalize("NFKC", actor_id).casefold().strip()


# Local wall-clock times ----------------------------------------------------------------
LOCAL_TIME_PATTERN: Final = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
_LOCAL_TIME: Final = re.compile(LOCAL_TIME_PATTERN)


def _local_time(value: str) -> str:
    if _LOCAL_TIME.fullmatch(value) is None:
        raise PydanticCustomError(
            "local_time", "Input should be a local time HH:MM from 00:00 to 24:00"
        )
    return value


LocalTime = Annotated[
    str, AfterValidator(_local_time), Field(json_schema_extra=_patterned(LOCAL_TIME_PATTERN))
]

# ISO 8601 durations --------------------------------------------------------------------
MAX_DURATION: Final = timedelta(days=366)
_TIME_PART: Final = r"T(?:[0-9]+H(?:[0-9]+M)?(?:[0-9]+S)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)"
DURATION_PATTERN: Final = (
    rf"^P(?:[0-9]+W(?:[0-9]+D)?(?:{_TIME_PART})?|[0-9]+D(?:{_TIME_PART})?|{_TIME_PART})$"
)
_DURATION: Final = re.compile(DURATION_PATTERN)
_DURATION_PARTS: Final = re.compile(
    r"P(?:([0-9]+)W)?(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?"
)
_TOO_LONG: Final = "Input should be at most 366 days (P52W2D)"


def duration_length(value: str, day: timedelta = timedelta(days=1)) -> timedelta:
    """A valid `IsoDuration` as a length, a day (and a seventh of a week) counted as ``day``."""
    parts = _DURATION_PARTS.fullmatch(value)
    assert parts is not None
    weeks, days, hours, minutes, seconds = (int(part or 0) for part in parts.groups())
    return (weeks * 7 + days) * day + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _duration(value: str) -> str:
    parts = _DURATION_PARTS.fullmatch(value) if _DURATION.fullmatch(value) else None
    if parts is None:
        raise PydanticCustomError(
            "iso_duration",
            "Input should be an ISO 8601 duration PnWnDTnHnMnS such as PT4H or P1D "
            "(no years or months)",
        )
    weeks, days, hours, minutes, seconds = (int(part or 0) for part in parts.groups())
    try:
        length = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise PydanticCustomError("duration_range", _TOO_LONG) from None
    if length <= timedelta(0):
        raise PydanticCustomError("iso_duration", "Input should be a positive duration")
    if length > MAX_DURATION:
        raise PydanticCustomError("duration_range", _TOO_LONG)
    return value


IsoDuration = Annotated[
    str, AfterValidator(_duration), Field(json_schema_extra=_patterned(DURATION_PATTERN))
]
"""A positive ISO 8601 duration of at most 366 days (R-IN-7)."""

# Money ---------------------------------------------------------------------------------
MONEY_PATTERN: Final = r"^[0-9]+(?:\.[0-9]+)?$"
_MONEY: Final = re.compile(MONEY_PATTERN)


def _money(value: object) -> Decimal:
    """A decimal string only: a JSON number would already have lost precision."""
    if isinstance(value, Decimal) and value.is_finite() and value >= 0:
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "decimal_string", 'Input should be a decimal string such as "120000.00"'
        )
    if value.startswith("-") and _MONEY.fullmatch(value[1:]):
        raise PydanticCustomError("decimal_string", "Input should be greater than or equal to 0")
    if _MONEY.fullmatch(value) is None:
        raise PydanticCustomError(
            "decimal_string", 'Input should be a decimal string such as "120000.00"'
        )
    return Decimal(value)


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    WithJsonSchema({"type": "string", **_patterned(MONEY_PATTERN)}),
]

# Product areas and bounded text -------------------------------------------------------
PRODUCT_AREA_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_PRODUCT_AREA: Final = re.compile(PRODUCT_AREA_PATTERN)


def _product_area(value: str) -> str:
    if _PRODUCT_AREA.fullmatch(value) is None:
        raise PydanticCustomError(
            "product_area",
            "Input should be a product area slug: a lower-case ASCII letter or digit, then "
            "up to 63 of a-z, 0-9, '_' or '-' (e.g. dubbing, subtitle-export)",
        )
    return value


ProductArea = Annotated[
    str, AfterValidator(_product_area), Field(json_schema_extra=_patterned(PRODUCT_AREA_PATTERN))
]
"""A product area, a short slug (``dubbing``, ``subtitle-export``): what insights group by."""

SHORT_TEXT_MAX_LENGTH: Final = 2000
ShortText = Annotated[Text, Field(max_length=SHORT_TEXT_MAX_LENGTH)]
"""Free text of at most 2000 characters (a note, a title, a piece of feedback); no NUL."""

REF_MAX_LENGTH: Final = 2048
Reference = Annotated[
    str,
    Field(max_length=REF_MAX_LENGTH, json_schema_extra=_patterned(LABEL_PATTERN)),
    AfterValidator(_no_control),
]
"""A reference to a knowledge entry (a URL or an id): at most 2048 characters, no control
characters."""
