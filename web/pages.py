"""Pagination by cursor: opaque, stable.

A list answer holds at most ``page_size`` items and a ``next_cursor`` (null on the last
page). The cursor carries the question it continues: the instants it was answered for
(``as_of``, and ``known_at``; when the first page was asked about everything recorded,
the cursor fixes ``known_at`` to the instant that page was answered, so that what is
recorded meanwhile does not shift the pages), a digest of the filters, and how many
items came before. Asking the next page with other filters is a bad ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

import orjson

from web.problems import bad_parameter

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000

_T = TypeVar("_T")


@dataclass(frozen=True)
class Cursor:
    """Where a page starts, for one question."""

    as_of: datetime
    known_at: datetime | None
    filters: str
    offset: int


def digest(filters: Mapping[str, Any]) -> str:
    """A short digest of a question's filters (the cursor is only valid for them)."""
    text = orjson.dumps(dict(filters), option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(text).hexdigest()[:16]


def encode(cursor: Cursor) -> str:
    """The cursor as an opaque string (URL-safe)."""
    raw = orjson.dumps(
        {
            "a": cursor.as_of.isoformat(),
            "k": None if cursor.known_at is None else cursor.known_at.isoformat(),
            "f": cursor.filters,
            "o": cursor.offset,
        }
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, filters: Mapping[str, Any]) -> Cursor:
    """The cursor a client sent back, or a 400 naming ``cursor``."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        found = orjson.loads(raw)
        cursor = Cursor(
            datetime.fromisoformat(found["a"]),
            None if found["k"] is None else datetime.fromisoformat(found["k"]),
            str(found["f"]),
            int(found["o"]),
        )
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise bad_parameter("cursor", "cursor: not a cursor this API gave") from None
    if cursor.as_of.tzinfo is None or (cursor.known_at and cursor.known_at.tzinfo is None):
        raise bad_parameter("cursor", "cursor: not a cursor this API gave")
    if cursor.offset < 0:
        raise bad_parameter("cursor", "cursor: not a cursor this API gave")
    if cursor.filters != digest(filters):
        raise bad_parameter(
            "cursor", "cursor: it continues a question with other filters; ask without it"
        )
    return cursor


def page(
    items: Sequence[_T],
    offset: int,
    page_size: int,
    as_of: datetime,
    known_at: datetime | None,
    filters: Mapping[str, Any],
) -> tuple[list[_T], str | None]:
    """The page of ``items`` from ``offset``, and the cursor of the next (None: last)."""
    end = offset + page_size
    chosen = list(items[offset:end])
    if end >= len(items):
        return chosen, None
    return chosen, encode(Cursor(as_of, known_at, digest(filters), end))
