"""Verifying ``ledger_event_keys`` against the stored events, and that no ``event_id`` is
stored twice.

The key table is what makes ingest idempotent (R-IN-4): an input whose ``event_id`` has a
key row is a duplicate and is not stored again. A key row deleted lets the same input be
stored a second time; a key row edited points at another event. So every stored event
must have the key row its ``event_id`` names, pointing back at it (subject and version),
and every key row must point at a stored event that carries its ``event_id``.

``KeyCheck`` rides along verification's single pass over the log (``observe`` each
decoded row, in log order) beside one streamed query: the key rows joined to the events
they name, in the same order. Two events with one ``event_id`` cannot both have their
key row (it is the table's primary key), so duplicates are looked for only among the
events whose check failed, and the events their ids' key rows name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text

from replay.audit import Finding, Scanned

KEYS = "ledger_event_keys"


def _events(conn: Connection) -> tuple[str, str]:
    """The events table and its notification id column, by backend."""
    if conn.dialect.name == "sqlite":
        return "stored_events", "rowid"
    return "ledger_events", "notification_id"


@dataclass
class _Failed:
    subject: str
    version: int
    notification_id: int
    event_id: str


@dataclass
class KeyCheck:
    """The key rows checked against the events of one pass over the log."""

    engine: Engine
    covered_up_to: int = 0
    events: int = 0
    uncovered: int = 0  # events after the last trusted checkpoint
    key_rows: int = 0
    findings: list[Finding] = field(default_factory=list)
    _failed: list[_Failed] = field(default_factory=list)
    _conn: Connection | None = None
    _joined: Iterator[Any] | None = None
    _next: Any = None

    def __enter__(self) -> KeyCheck:
        self._conn = self.engine.connect()
        table, nid = _events(self._conn)
        query = text(
            f"SELECT e.{nid} AS nid, k.event_id AS event_id FROM {KEYS} k "
            f"JOIN {table} e ON e.originator_id = k.subject AND e.originator_version = k.version "
            f"ORDER BY e.{nid}"
        )
        result = self._conn.execution_options(stream_results=True, yield_per=5_000).execute(query)
        self._joined = iter(result)
        self._next = next(self._joined, None)
        return self

    def __exit__(self, *_: object) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def observe(self, row: Scanned) -> None:
        """Check one stored row (in log order) against its key row."""
        self.events += 1
        if row.notification_id > self.covered_up_to:
            self.uncovered += 1
        nid = row.notification_id
        while self._next is not None and self._next.nid < nid:
            self._advance()
        key_ids = []  # the key rows naming this event (one, unless one was edited to)
        while self._next is not None and self._next.nid == nid:
            key_ids.append(str(self._next.event_id))
            self._advance()
        if row.event is None:
            return  # undecodable: verification names it already
        event_id = str(row.event.event_id)
        for other in key_ids:
            if other != event_id:
                self.findings.append(
                    Finding(
                        "key_mismatch",
                        f"the key row of event_id {other} names this event, which carries "
                        f"{event_id}",
                        row.subject,
                        row.version,
                        nid,
                    )
                )
        if event_id in key_ids:
            return
        self._failed.append(_Failed(row.subject, row.version, nid, event_id))
        self.findings.append(
            Finding(
                "key_missing",
                f"event_id {event_id} has no key row naming this event, so ingest would store "
                "it again",
                row.subject,
                row.version,
                nid,
            )
        )

    def _advance(self) -> None:
        self._next = next(self._joined, None) if self._joined is not None else None

    def finish(self) -> list[Finding]:
        """The findings: per event (``observe``), key rows naming no stored event, and
        event ids stored twice."""
        assert self._conn is not None
        conn = self._conn
        table, nid = _events(conn)
        self.key_rows = int(conn.execute(text(f"SELECT COUNT(*) FROM {KEYS}")).scalar_one())
        orphans = conn.execute(
            text(
                f"SELECT k.event_id, k.subject, k.version FROM {KEYS} k LEFT JOIN {table} e "
                "ON e.originator_id = k.subject AND e.originator_version = k.version "
                "WHERE e.originator_id IS NULL ORDER BY k.subject, k.version"
            )
        )
        for orphan in orphans:
            self.findings.append(
                Finding(
                    "key_orphan",
                    f"the key row of event_id {orphan.event_id} names {orphan.subject} "
                    f"v{orphan.version}, which is not stored",
                    subject=str(orphan.subject),
                    version=int(orphan.version),
                    about=f"{KEYS} {orphan.event_id}",
                )
            )
        self.findings += self._duplicates(conn, table, nid)
        return self.findings

    def _duplicates(self, conn: Connection, table: str, nid: str) -> list[Finding]:
        copies: dict[str, list[tuple[int, str, int]]] = {}
        for failed in self._failed:
            copies.setdefault(failed.event_id, []).append(
                (failed.notification_id, failed.subject, failed.version)
            )
        for event_id, found in copies.items():
            key = conn.execute(
                text(
                    f"SELECT e.{nid} AS nid, e.originator_id AS subject, "
                    "e.originator_version AS version, e.state AS state "
                    f"FROM {KEYS} k JOIN {table} e ON e.originator_id = k.subject "
                    "AND e.originator_version = k.version WHERE k.event_id = :id"
                ),
                {"id": event_id},
            ).first()
            if key is not None and _event_id(key.state) == event_id:
                found.append((int(key.nid), str(key.subject), int(key.version)))
        findings = []
        for event_id, found in copies.items():
            if len(found) < 2:
                continue
            found.sort()
            where = ", ".join(f"{s} v{v} (notification {n})" for n, s, v in found)
            first_nid, subject, version = found[0]
            findings.append(
                Finding(
                    "duplicate_event_id",
                    f"event_id {event_id} is stored {len(found)} times: {where}",
                    subject,
                    version,
                    first_nid,
                )
            )
        return findings


def _event_id(state: Any) -> str | None:
    try:
        loaded = orjson.loads(bytes(state))
    except orjson.JSONDecodeError:
        return None
    value = loaded.get("event_id") if isinstance(loaded, dict) else None
    return None if value is None else str(value)
