"""Where a publisher (relay, rejection outbox) got to, kept in the ledger's database.

A position moves only by compare-and-set, after the broker acknowledged everything up to
it: a crash re-sends at most what was not acknowledged as sent (at-least-once, with ids
in every message so consumers can deduplicate), and two publishers never both move it.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from ledger.adapters import tables
from ledger.adapters.projector import create_tables, insert_missing


class StreamPosition:
    """One named publishing position."""

    def __init__(self, engine: Engine, stream: str) -> None:
        self.engine = engine
        self.stream = stream
        create_tables(engine)
        with engine.begin() as conn:
            insert_missing(conn, tables.publish_positions, [{"stream": stream}])

    def get(self) -> int:
        """The last id published and acknowledged."""
        with self.engine.connect() as conn:
            value = conn.scalar(
                select(tables.publish_positions.c.position).where(
                    tables.publish_positions.c.stream == self.stream
                )
            )
        return int(value or 0)

    def advance(self, old: int, new: int) -> bool:
        """Move from ``old`` to ``new``; False when another publisher moved it first."""
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(tables.publish_positions)
                .where(
                    tables.publish_positions.c.stream == self.stream,
                    tables.publish_positions.c.position == old,
                )
                .values(position=new)
            )
        return moved.rowcount == 1
