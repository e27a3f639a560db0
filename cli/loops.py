"""``ledger health-check LOOP``: fails (exit 1) when a service's loop is stuck.

A container health check that only runs ``ledger status`` stays healthy while a loop
hangs with the database reachable. This one asks whether the loop's *work* gets done,
from what the database holds (the loops keep their positions there, and every event its
recording instant), so it needs no heartbeat and works from any container:

* ``project``: no projection has left an event unapplied for more than ``--max-age``
  seconds (``ledger_projection_stale_seconds``);
* ``tick``: no SLA breach came due more than ``--max-age`` seconds ago without the log
  holding it (``ledger_sla_breach_write_delay_seconds``); with ``--checkpoint``, no event
  was left uncovered by a signed checkpoint for longer either;
* ``relay``: no event was left unpublished to ``ledger.events`` for longer;
* ``webhooks``: no event was left unread by the webhook outbox for longer, and no
  delivery has been due for longer without an attempt (``ledger webhooks deliver``).

``--max-age`` must exceed the loop's own period (``tick --every 60``: at least 60 s).
A breach whose ticket arrived late (backfilled) is due at once; the tick writes it at
its next run, so let the check fail a few times in a row before it counts (compose:
``retries``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from cli.common import DbOption, JsonOption, fail, out, print_json


class Loop(StrEnum):
    """The loops a health check can judge."""

    project = "project"
    tick = "tick"
    relay = "relay"
    webhooks = "webhooks"


def health_check(
    loop: Annotated[
        Loop, typer.Argument(help="The service's loop: project, tick, relay or webhooks.")
    ],
    db: DbOption = None,
    max_age: Annotated[
        float,
        typer.Option(
            min=1,
            help="Seconds work may wait undone before the loop counts as stuck.",
            metavar="SECONDS",
        ),
    ] = 120.0,
    checkpoint: Annotated[
        bool, typer.Option("--checkpoint", help="tick: its checkpoints must keep up too.")
    ] = False,
    topic: Annotated[str, typer.Option(help="relay: the topic it publishes to.")] = "ledger.events",
    json: JsonOption = False,
) -> None:
    """Exit 1 when a service's loop has left work undone for longer than --max-age."""
    from datetime import UTC, datetime

    from sqlalchemy import inspect, select

    from ledger.adapters import tables
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from web.metrics import operator_figures, stale_seconds

    database = resolve_database(db)
    now = datetime.now(UTC)
    waits: dict[str, float] = {}
    with opened(database, create=False) as ledger:
        engine = engine_for(database)
        try:
            figures = operator_figures(ledger, engine, now)
            if loop is Loop.project:
                for name, projection in figures.projections.items():
                    waits[f"projection {name}"] = projection.stale_seconds
            elif loop is Loop.tick:
                waits["unwritten breach"] = figures.breach_write_delay
                waits["unwritten overdue play or action"] = figures.overdue_write_delay
                if checkpoint:
                    waits["uncheckpointed event"] = stale_seconds(
                        ledger, figures.checkpoint_covers, figures.head, now
                    )
            elif loop is Loop.webhooks:
                from ledger.adapters.outbox import Outbox

                outbox = Outbox(engine)
                waits["alert not in the outbox"] = stale_seconds(
                    ledger, outbox.position(), figures.head, now
                )
                due = outbox.due(now, 1)
                waits["delivery due"] = (
                    (now - due[0].next_attempt_at).total_seconds()
                    if due and due[0].next_attempt_at is not None
                    else 0.0
                )
            else:
                stream = f"relay:{topic}"
                position = None  # (no publisher has started yet: no table)
                if inspect(engine).has_table(tables.publish_positions.name):
                    with engine.connect() as conn:
                        position = conn.execute(
                            select(tables.publish_positions.c.position).where(
                                tables.publish_positions.c.stream == stream
                            )
                        ).scalar()
                waits[f"unpublished event ({stream})"] = stale_seconds(
                    ledger, int(position or 0), figures.head, now
                )
        finally:
            engine.dispose()
    stuck = {what: age for what, age in waits.items() if age > max_age}
    report: dict[str, Any] = {
        "loop": loop.value,
        "healthy": not stuck,
        "max_age": max_age,
        "waiting_seconds": {what: round(age, 3) for what, age in waits.items()},
    }
    if json:
        print_json(report)
        if stuck:
            raise typer.Exit(1)
        return
    if stuck:
        fail(
            f"{loop.value} is stuck: "
            + ", ".join(f"oldest {what} waits {age:.0f} s" for what, age in stuck.items())
            + f" (more than {max_age:.0f} s)"
        )
    oldest = max(waits.values(), default=0.0)
    out().print(f"{loop.value}: ok (oldest work waits {oldest:.0f} s, at most {max_age:.0f} s)")


def register(app: typer.Typer) -> None:
    """Add ``health-check`` to ``app``."""
    app.command(name="health-check")(health_check)
