"""The intake chain: rejected and deferred inputs under a hash chain of their own.

Domain events carry their own hash chain; the inputs the ledger kept but did not store as
events (``ledger_rejections``, ``ledger_deferred``) are ordinary rows that anyone with
write access could edit or delete. Every change the ledger makes to those two tables is
therefore recorded, in the same transaction, as an entry of ``ledger_intake_chain``:

* ``rejected`` / ``deferred``: a row was inserted; ``redeferred``: a deferred row now waits
  anew (its rule, reason or subject waited for changed); ``released``: a deferred row was
  decided and deleted (it became an event or a rejection, itself recorded);
* ``start``: the chain began (with a new ledger, or when a ledger made before it was
  opened); ``adopted``: a row that was already stored then, covered from that instant on.

An entry holds the row's table and id, a digest of its content, ``sha256`` of its payload
(not the payload: an erasure empties a payload in place and the chain still verifies),
a short hash of each column (so that verification can name the column that changed),
the batch's recording instant, the previous entry's hash and its own:
``entry_hash = sha256(canonical JSON of [seq, kind, table, row_id, recorded_at,
payload_sha256, fields, digest, previous_hash])``. Canonical JSON here is orjson with
sorted keys (UTF-8, no insignificant white space), fixed for this chain.

The recorders write the rows (``ledger.adapters.sqlite``, ``ledger.adapters.postgres``);
``replay.intake_chain`` verifies them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

TABLE: Final = "ledger_intake_chain"
REJECTIONS: Final = "ledger_rejections"
DEFERRED: Final = "ledger_deferred"
GENESIS: Final = "0" * 64
INTAKE_LOCK: Final = 0x1ED6E7  # PostgreSQL advisory lock: one writer of the chain at a time
HINT_DIGITS: Final = 12

KINDS: Final = frozenset(
    {"start", "adopted", "rejected", "deferred", "redeferred", "released", "erased"}
)
ROW_KINDS: Final = frozenset({"adopted", "rejected", "deferred", "redeferred", "erased"})
"""Kinds after which the row must be stored exactly as the entry recorded it."""

_REJECTION_FIELDS: Final = (
    "received_at",
    "rule",
    "code",
    "field",
    "reason",
    "event_id",
    "event_type",
    "subject",
    "origin",
    "payload_is_json",
    "fingerprint",
)
FIELDS: Final = {REJECTIONS: _REJECTION_FIELDS, DEFERRED: (*_REJECTION_FIELDS, "waits_for")}
"""The columns each entry covers, besides the id and the payload (covered by its digest)."""

COLUMNS: Final = (
    "seq",
    "kind",
    "source",
    "row_id",
    "recorded_at",
    "payload_sha256",
    "fields",
    "digest",
    "previous_hash",
    "entry_hash",
)

SQLITE_DDL: Final = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, "
    "row_id INTEGER NOT NULL, recorded_at TEXT NOT NULL, payload_sha256 TEXT NOT NULL, "
    "fields TEXT NOT NULL, digest TEXT NOT NULL, previous_hash TEXT NOT NULL, "
    "entry_hash TEXT NOT NULL)"
)
POSTGRES_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS {} ("
    "seq bigint PRIMARY KEY, kind text NOT NULL, source text NOT NULL, "
    "row_id bigint NOT NULL, recorded_at text NOT NULL, payload_sha256 text NOT NULL, "
    "fields text NOT NULL, digest text NOT NULL, previous_hash text NOT NULL, "
    "entry_hash text NOT NULL)"
)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def instant_text(value: Any) -> str:
    """An instant as the chain records it: SQLite's stored text as it is (the recorder
    writes UTC ISO 8601), PostgreSQL's ``timestamptz`` in UTC ISO 8601."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def payload_sha256(payload: Any) -> str:
    """``sha256`` of a stored payload (hex)."""
    return _sha256(bytes(payload))


def _canonical(name: str, value: Any) -> Any:
    if name == "received_at":
        return instant_text(value)
    if name == "payload_is_json":
        return bool(value)
    return value


@dataclass(frozen=True)
class Content:
    """What an entry records of a row: the digest of its content, its payload's hash,
    and a short hash of each column (JSON) to name what changed."""

    digest: str
    payload_sha256: str
    fields: str

    def hints(self) -> dict[str, str]:
        """Column name -> short hash."""
        return dict(orjson.loads(self.fields))


def content(source: str, row: Mapping[Any, Any], payload_hash: str | None = None) -> Content:
    """The recorded content of a stored row of ``source`` (``payload_hash``: the payload's
    hash to use instead of hashing the stored payload, for an erased one)."""
    values = {name: _canonical(name, row[name]) for name in FIELDS[source]}
    paid = payload_sha256(row["payload"]) if payload_hash is None else payload_hash
    covered = {"table": source, "id": int(row["id"]), "payload_sha256": paid, **values}
    digest = _sha256(_dumps(covered))
    hints = {name: _sha256(_dumps(value))[:HINT_DIGITS] for name, value in values.items()}
    return Content(digest, paid, _dumps(hints).decode())


def entry_hash(
    seq: int,
    kind: str,
    source: str,
    row_id: int,
    recorded_at: str,
    payload_hash: str,
    fields: str,
    digest: str,
    previous_hash: str,
) -> str:
    """The hash of one entry, over its content and its predecessor's hash."""
    hashed = [seq, kind, source, row_id, recorded_at, payload_hash, fields, digest, previous_hash]
    return _sha256(_dumps(hashed))


@dataclass(frozen=True)
class Entry:
    """One entry of the intake chain."""

    seq: int
    kind: str
    source: str
    row_id: int
    recorded_at: str
    payload_sha256: str
    fields: str
    digest: str
    previous_hash: str
    entry_hash: str

    def row(self) -> tuple[Any, ...]:
        """As a row of ``COLUMNS``."""
        return (
            self.seq,
            self.kind,
            self.source,
            self.row_id,
            self.recorded_at,
            self.payload_sha256,
            self.fields,
            self.digest,
            self.previous_hash,
            self.entry_hash,
        )

    def computed_hash(self) -> str:
        """The hash its content gives (``entry_hash`` unless it was altered)."""
        return entry_hash(
            self.seq,
            self.kind,
            self.source,
            self.row_id,
            self.recorded_at,
            self.payload_sha256,
            self.fields,
            self.digest,
            self.previous_hash,
        )


Change = tuple[str, str, int, Content | None]
"""(kind, table, row id, content; None for a release)."""


def chained(head: tuple[int, str], recorded_at: datetime, changes: Iterable[Change]) -> list[Entry]:
    """The entries recording ``changes`` after the chain's ``head`` (seq, entry hash)."""
    seq, previous = head
    at = instant_text(recorded_at)
    entries = []
    for kind, source, row_id, recorded in changes:
        seq += 1
        paid, fields, digest = ("", "{}", "")
        if recorded is not None:
            paid, fields, digest = recorded.payload_sha256, recorded.fields, recorded.digest
        hashed = entry_hash(seq, kind, source, row_id, at, paid, fields, digest, previous)
        entries.append(Entry(seq, kind, source, row_id, at, paid, fields, digest, previous, hashed))
        previous = hashed
    return entries


def started(
    now: datetime, rejections: Sequence[Mapping[str, Any]], deferred: Sequence[Mapping[str, Any]]
) -> list[Entry]:
    """The first entries of a chain: ``start`` (when, and how many rows it adopted), then
    every row stored already (rejections, then deferred inputs, by id)."""
    at = instant_text(now)
    counts = _dumps({"adopted_rejections": len(rejections), "adopted_deferred": len(deferred)})
    fields = counts.decode()
    first = Entry(
        1, "start", "", 0, at, "", fields, "", GENESIS,
        entry_hash(1, "start", "", 0, at, "", fields, "", GENESIS),
    )  # fmt: skip
    adopted: list[Change] = [
        ("adopted", source, int(row["id"]), content(source, row))
        for source, rows in ((REJECTIONS, rejections), (DEFERRED, deferred))
        for row in rows
    ]
    return [first, *chained((1, first.entry_hash), now, adopted)]


def batch_changes(
    released: Sequence[int],
    redeferred: Sequence[Mapping[str, Any]],
    rejected: Sequence[Mapping[str, Any]],
    deferred: Sequence[Mapping[str, Any]],
) -> list[Change]:
    """A batch's changes to the two tables, in the order it makes them, from the rows as
    stored (read back in the batch's transaction)."""
    changes: list[Change] = [("released", DEFERRED, int(i), None) for i in sorted(released)]
    for kind, source, rows in (
        ("redeferred", DEFERRED, redeferred),
        ("rejected", REJECTIONS, rejected),
        ("deferred", DEFERRED, deferred),
    ):
        ordered = sorted(rows, key=lambda row: int(row["id"]))
        changes += [(kind, source, int(row["id"]), content(source, row)) for row in ordered]
    return changes


def erased_changes(
    source: str, rows: Sequence[Mapping[str, Any]], recorded: Mapping[int, str]
) -> list[Change]:
    """The entries of rows an erasure rewrote (R-ERASE-1: payload emptied, ``erased_at``
    set, the reason without the erased values): each row as it is now, with the payload
    hash its previous entry recorded (``recorded``, by row id), since the payload is gone
    but what it was stays committed to."""
    return [
        (
            "erased",
            source,
            int(row["id"]),
            content(source, row, recorded.get(int(row["id"]), payload_sha256(b""))),
        )
        for row in sorted(rows, key=lambda row: int(row["id"]))
    ]
