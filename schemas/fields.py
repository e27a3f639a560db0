"""Field types the models share: ids, subjects, local times, durations, money.

Each check runs in Python with a message a producer can act on, and carries the same
rule into the JSON Schema as a ``pattern`` (RE2/ECMA-safe: no look-arounds).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Final
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

NonEmpty = Annotated[str, Field(min_length=1)]

# Instants and dates -------------------------------------------------------------------
# RFC 3339 section 5.6, what JSON Schema's ``format: date-time`` means. The schema files
# also carry it as a pattern, since validators need not assert ``format``. In Python the
# offset is optional so that a naive timestamp gets pydantic's "timezone_aware" error.
_DATE_TIME: Final = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
_OFFSET: Final = r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
INSTANT_PATTERN: Final = f"^{_DATE_TIME}{_OFFSET}$"
_RFC3339: Final = re.compile(f"{_DATE_TIME}{_OFFSET}?")
DATE_PATTERN: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _rfc3339(value: object) -> object:
    """Parse the RFC 3339 form only (pydantic alone also takes e.g. a missing seconds)."""
    if not isinstance(value, str):
        return value  # the strict datetime check names the wrong JSON type
    if _RFC3339.fullmatch(value) is not None:
        try:
            return datetime.fromisoformat(value[:-1] + "Z" if value[-1] == "z" else value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "rfc3339", "Input should be an RFC 3339 timestamp such as 2026-03-27T16:30:00+01:00"
    )


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    Field(json_schema_extra={"pattern": INSTANT_PATTERN}),
]
"""A timestamp with offset; a naive one is rejected."""

Day = Annotated[date, Field(json_schema_extra={"pattern": DATE_PATTERN})]
"""A calendar date, YYYY-MM-DD."""

# Event ids -----------------------------------------------------------------------------
UUID_PATTERN: Final = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_UUID: Final = re.compile(UUID_PATTERN)


def _uuid_text(value: object) -> object:
    """Only the hyphenated 8-4-4-4-12 form (what ``format: uuid`` means in JSON Schema)."""
    if isinstance(value, str) and _UUID.match(value) is None:
        raise PydanticCustomError(
            "uuid_form", "Input should be a UUID written 8-4-4-4-12 hex digits"
        )
    return value


EventId = Annotated[
    UUID, BeforeValidator(_uuid_text), Field(json_schema_extra={"pattern": UUID_PATTERN})
]

# Subjects ------------------------------------------------------------------------------
TICKET_ID_PATTERN: Final = r"^T-.+$"
CUSTOMER_ID_PATTERN: Final = r"^C-.+$"


def _prefixed(prefix: str, what: str) -> AfterValidator:
    pattern = re.compile(re.escape(prefix) + r".+")

    def check(value: str) -> str:
        if pattern.fullmatch(value) is None:
            raise PydanticCustomError(
                "subject_family",
                "Input should be {what} ({prefix}...) for this event type",
                {"what": what, "prefix": prefix},
            )
        return value

    return AfterValidator(check)


TicketId = Annotated[
    str, _prefixed("T-", "a ticket id"), Field(json_schema_extra={"pattern": TICKET_ID_PATTERN})
]
CustomerId = Annotated[
    str,
    _prefixed("C-", "a customer id"),
    Field(json_schema_extra={"pattern": CUSTOMER_ID_PATTERN}),
]

# Local wall-clock times ----------------------------------------------------------------
LOCAL_TIME_PATTERN: Final = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
_LOCAL_TIME: Final = re.compile(LOCAL_TIME_PATTERN)


def _local_time(value: str) -> str:
    if _LOCAL_TIME.match(value) is None:
        raise PydanticCustomError(
            "local_time", "Input should be a local time HH:MM from 00:00 to 24:00"
        )
    return value


LocalTime = Annotated[
    str, AfterValidator(_local_time), Field(json_schema_extra={"pattern": LOCAL_TIME_PATTERN})
]

# ISO 8601 durations --------------------------------------------------------------------
_TIME_PART: Final = r"T(?:[0-9]+H(?:[0-9]+M)?(?:[0-9]+S)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)"
DURATION_PATTERN: Final = (
    rf"^P(?:[0-9]+W(?:[0-9]+D)?(?:{_TIME_PART})?|[0-9]+D(?:{_TIME_PART})?|{_TIME_PART})$"
)
_DURATION: Final = re.compile(DURATION_PATTERN)
_DURATION_PARTS: Final = re.compile(
    r"P(?:([0-9]+)W)?(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?"
)


def _duration(value: str) -> str:
    parts = _DURATION_PARTS.fullmatch(value) if _DURATION.match(value) else None
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
        raise PydanticCustomError("iso_duration", "Input should be a shorter duration") from None
    if length <= timedelta(0):
        raise PydanticCustomError("iso_duration", "Input should be a positive duration")
    return value


IsoDuration = Annotated[
    str, AfterValidator(_duration), Field(json_schema_extra={"pattern": DURATION_PATTERN})
]

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
    if value.startswith("-") and _MONEY.match(value[1:]):
        raise PydanticCustomError("decimal_string", "Input should be greater than or equal to 0")
    if _MONEY.match(value) is None:
        raise PydanticCustomError(
            "decimal_string", 'Input should be a decimal string such as "120000.00"'
        )
    return Decimal(value)


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN}),
]
