"""Verifying the intake chain: rejected and deferred inputs as the ledger recorded them.

``ledger.adapters.intake_chain`` says what the chain holds. Verification reads the whole
chain in order and checks that

* its entries run 1, 2, 3, ..., each naming its predecessor's hash and hashing to its own
  (an entry edited, deleted or inserted in place breaks it there);
* every row of ``ledger_rejections`` and ``ledger_deferred`` is the row its latest entry
  recorded, column by column (an erased row, ``erased_at`` set and its payload emptied,
  is checked against the payload hash the chain holds), every row an entry recorded is
  still stored unless a later entry released it, and no row is stored that the chain
  never recorded;
* with a checkpoint that carries the chain's head (``intake_head``: size and hash), the
  stored chain still has that entry at that size: a chain rewritten and re-hashed after
  it was checkpointed no longer does.

Rows stored before the chain existed are adopted by it when a ledger made earlier is
opened: they are covered from that instant (the ``start`` entry) on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, inspect, text

from ledger.adapters import intake_chain as ic
from replay.audit import Finding


def intake_head(conn: Connection) -> tuple[int, str]:
    """The chain's size (its last entry's number) and head hash; (0, genesis) if none."""
    if not inspect(conn).has_table(ic.TABLE):
        return 0, ic.GENESIS
    row = conn.execute(
        text(f"SELECT seq, entry_hash FROM {ic.TABLE} ORDER BY seq DESC LIMIT 1")
    ).first()
    return (0, ic.GENESIS) if row is None else (int(row.seq), str(row.entry_hash))


@dataclass
class IntakeCheck:
    """What verifying the intake chain found."""

    entries: int = 0
    rejections: int = 0
    deferred: int = 0
    erased: int = 0
    head: str = ic.GENESIS
    started_at: str | None = None
    adopted: int = 0
    covered: int = 0
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the findings are the verification's)."""
        return {
            "entries": self.entries,
            "head": self.head,
            "rejections": self.rejections,
            "deferred": self.deferred,
            "erased": self.erased,
            "covered_from": self.started_at,
            "adopted_when_started": self.adopted,
            "covered_by_checkpoint": self.covered,
            "uncovered": self.entries - self.covered,
        }


def _entry(row: Any) -> ic.Entry:
    return ic.Entry(
        int(row.seq),
        str(row.kind),
        str(row.source),
        int(row.row_id),
        str(row.recorded_at),
        str(row.payload_sha256),
        str(row.fields),
        str(row.digest),
        str(row.previous_hash),
        str(row.entry_hash),
    )


def _where(source: str, row_id: int) -> str:
    return f"{source} id {row_id}"


def verify_intake(conn: Connection, covered: tuple[int, str] | None = None) -> IntakeCheck:
    """Verify the chain and the rows it covers (``covered``: the size and head hash a
    trusted checkpoint carries)."""
    check = IntakeCheck()
    if not inspect(conn).has_table(ic.TABLE):
        check.findings.append(
            Finding(
                "intake_chain",
                f"{ic.TABLE} is missing: the rejected and deferred inputs are not covered",
                about=ic.TABLE,
            )
        )
        return check
    latest = _walk(conn, check, covered)
    _rows(conn, check, latest)
    return check


def _walk(
    conn: Connection, check: IntakeCheck, covered: tuple[int, str] | None
) -> dict[tuple[str, int], ic.Entry]:
    """Check the chain's links; each row's latest entry."""
    latest: dict[tuple[str, int], ic.Entry] = {}
    expected_seq, previous = 1, ic.GENESIS
    result = conn.execute(text(f"SELECT * FROM {ic.TABLE} ORDER BY seq"))
    for row in result:
        entry = _entry(row)
        name = f"intake chain entry {entry.seq}"
        check.entries += 1
        if entry.seq != expected_seq:
            span = (
                f"entries {expected_seq}-{entry.seq - 1} are"
                if entry.seq - 1 > expected_seq
                else f"entry {expected_seq} is"
            )
            check.findings.append(
                Finding("intake_chain", f"{span} missing before entry {entry.seq}", about=name)
            )
        if entry.previous_hash != previous:
            check.findings.append(
                Finding(
                    "intake_chain",
                    f"does not name the hash of the entry before it ({previous[:12]}; it names "
                    f"{entry.previous_hash[:12]})",
                    about=name,
                )
            )
        if entry.computed_hash() != entry.entry_hash:
            check.findings.append(
                Finding(
                    "intake_chain",
                    f"its content ({entry.kind} of {_where(entry.source, entry.row_id)}) does not "
                    f"match its hash",
                    about=name,
                )
            )
        if entry.kind not in ic.KINDS or (entry.kind != "start") != (entry.source in ic.FIELDS):
            check.findings.append(
                Finding(
                    "intake_chain",
                    f"is a {entry.kind!r} of {entry.source!r}, which the ledger never writes",
                    about=name,
                )
            )
        elif entry.kind == "start":
            if check.started_at is None:
                check.started_at = entry.recorded_at
                counts = orjson.loads(entry.fields) if entry.fields.startswith("{") else {}
                check.adopted = sum(int(v) for v in counts.values() if isinstance(v, int))
        else:
            latest[(entry.source, entry.row_id)] = entry
        if covered is not None and entry.seq == covered[0]:
            check.covered = entry.seq
            if entry.entry_hash != covered[1]:
                check.findings.append(
                    Finding(
                        "intake_head",
                        f"the checkpoint signed the intake chain up to entry {covered[0]} with "
                        f"head {covered[1][:12]}; the stored chain has {entry.entry_hash[:12]} "
                        "there: entries up to it were rewritten",
                        about=name,
                    )
                )
        expected_seq, previous = entry.seq + 1, entry.entry_hash
    check.head = previous
    if covered is not None and covered[0] > check.entries and covered[0] >= expected_seq:
        check.findings.append(
            Finding(
                "intake_head",
                f"the checkpoint signed {covered[0]} intake chain entries; only "
                f"{expected_seq - 1} are stored: entries were deleted from its end",
                about=ic.TABLE,
            )
        )
    return latest


def _rows(conn: Connection, check: IntakeCheck, latest: dict[tuple[str, int], ic.Entry]) -> None:
    """Every stored row against its latest entry; every recorded row still stored."""
    for source in (ic.REJECTIONS, ic.DEFERRED):
        result = conn.execute(text(f"SELECT * FROM {source} ORDER BY id"))
        for row in result:
            values = row._mapping
            row_id = int(values["id"])
            if source == ic.REJECTIONS:
                check.rejections += 1
            else:
                check.deferred += 1
            entry = latest.pop((source, row_id), None)
            where = _where(source, row_id)
            subject = values["subject"]
            if entry is None or entry.kind not in ic.ROW_KINDS:
                detail = (
                    "is stored but the intake chain never recorded it"
                    if entry is None
                    else f"was released by intake chain entry {entry.seq} "
                    f"({entry.recorded_at}) but is stored again"
                )
                check.findings.append(
                    Finding("intake_inserted", detail, subject=subject, about=where)
                )
                continue
            erased = values.get("erased_at") is not None
            if erased:
                check.erased += 1
            stored_payload = bytes(values["payload"])
            keep_hash = entry.payload_sha256 if erased and not stored_payload else None
            recorded = ic.content(source, values, keep_hash)
            if recorded.digest == entry.digest:
                continue
            was, now = _hints(entry.fields), recorded.hints()
            changed = sorted(name for name in set(was) | set(now) if was.get(name) != now.get(name))
            if recorded.payload_sha256 != entry.payload_sha256:
                changed.append("payload")
            what = ", ".join(changed) or "its id or the chain's digest"
            check.findings.append(
                Finding(
                    "intake_altered",
                    f"{what} changed since intake chain entry {entry.seq} recorded it "
                    f"({entry.kind} at {entry.recorded_at})",
                    subject=subject,
                    about=where,
                )
            )
    for (source, row_id), entry in sorted(latest.items(), key=lambda item: item[1].seq):
        if entry.kind in ic.ROW_KINDS:
            check.findings.append(
                Finding(
                    "intake_deleted",
                    f"recorded by intake chain entry {entry.seq} ({entry.kind} at "
                    f"{entry.recorded_at}) but no longer stored",
                    about=_where(source, row_id),
                )
            )


def _hints(fields: str) -> dict[str, str]:
    try:
        loaded = orjson.loads(fields)
    except orjson.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
