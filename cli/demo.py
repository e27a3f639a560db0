"""``ledger demo``: a seeded quarter generated, ingested and summarised."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import DbOption, JsonOption, err, out, print_json
from cli.render import counts, moment, print_report, table

if TYPE_CHECKING:
    from ledger.projections.fold import Rows
    from ledger.services.intake import IngestReport, Outcome

AT_RISK_MINUTES = 24 * 60
LOWEST_HEALTH = 5


def board_summary(rows: Rows, now: datetime) -> dict[str, Any]:
    """How the demo ends: SLA compliance by severity, tickets at risk, lowest health."""
    from ledger.projections.health import health
    from ledger.projections.metrics import compliance
    from ledger.projections.sla import sla_board

    return {
        "as_of": now,
        "known_at": None,  # everything recorded
        "sla_compliance": compliance(rows["sla_timers"], None, now, now),
        "at_risk": sla_board(rows["sla_timers"], now, at_risk=AT_RISK_MINUTES),
        "lowest_health": [
            {k: r[k] for k in ("customer_id", "name", "score", "trend", "flags")}
            for r in health(rows, now)
            if r["status"] == "active" and r["tier"] == "enterprise"
        ][:LOWEST_HEALTH],
    }


def _expected(outcome: Outcome) -> str:
    if outcome.status == "rejected":
        assert outcome.rejection is not None
        return outcome.rejection.rule
    return {"accepted": "accept", "deferred": "deferred"}.get(outcome.status, "duplicate")


def demo(
    db: DbOption = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the generated JSON Lines here.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same quarter.")] = 7,
    customers: Annotated[int, typer.Option(min=1, help="Enterprise customers.")] = 24,
    json: JsonOption = False,
) -> None:
    """Generate a seeded quarter of support operations, ingest it and summarise the ledger."""
    run_demo(db, out_file, seed, customers, as_json=json)


def run_demo(
    db: str | None, out_file: Path | None, seed: int, customers: int, *, as_json: bool
) -> None:
    """Generate, optionally write, ingest and print what the ledger holds."""
    from demo.quarter import DemoSpec, generate, quarter_end, write_jsonl
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from ledger.services.intake import Ingestor, Input
    from ledger.services.queries import holdings, rows_as_of
    from ledger.services.tick import tick

    spec = DemoSpec(seed=seed, customers=customers)
    lines = generate(spec)
    if out_file is not None:
        write_jsonl(lines, out_file)
    database = resolve_database(db)
    outcomes: list[Outcome] = []
    with opened(database) as ledger:
        was_empty = ledger.store.event_count() == 0
        report = Ingestor(ledger).ingest(
            (Input(line.raw, f"demo:{n}") for n, line in enumerate(lines, start=1)),
            on_batch=lambda batch: outcomes.extend(o for o in batch if not o.released),
        )
        held = holdings(ledger).as_dict()
        rejections_kept = sum(ledger.store.rejection_counts().values())
        now = quarter_end(spec)
        engine = engine_for(database)
        ticked = tick(ledger, engine, now)
        board = board_summary(rows_as_of(ledger, engine, now), now)
    surprises = Counter(
        f"{line.expect} -> {_expected(o)}"
        for line, o in zip(lines, outcomes, strict=True)
        if line.expect != _expected(o)
    )
    summary: dict[str, Any] = {
        "database": database.label,
        "lines": len(lines),
        "ingest": report.as_dict(),
        "ledger": held,
        "rejections_kept": rejections_kept,
        "unexpected_outcomes": dict(surprises) if was_empty else None,
        "tick": ticked.as_dict() | {"events": None},
        **board,
    }
    if out_file is not None:
        summary["written_to"] = str(out_file)
    if as_json:
        print_json(summary)
        return
    out().print(f"[bold]demo[/]: seed {seed}, {len(lines)} lines, into {database.label}")
    if out_file is not None:
        out().print(f"wrote the lines to {out_file}")
    print_report(report, "ingest")
    _print_holdings(held, report)
    _print_board(board, ticked.written)
    if was_empty and surprises:
        err().print(
            f"[yellow]warning:[/] {sum(surprises.values())} lines did not end as the "
            f"generator meant: {counts(dict(surprises))}"
        )


def _print_holdings(held: dict[str, Any], report: IngestReport) -> None:
    from rich.table import Table

    table = Table(title="the ledger now holds", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("count", justify="right")
    table.add_row("events stored", str(held["events"]))
    for tier, count in held["customers"].items():
        table.add_row(f"customers ({tier})", str(count))
    table.add_row("tickets", str(held["tickets"]))
    for severity, count in held["tickets_by_severity"].items():
        table.add_row(f"  by current severity: {severity}", str(count))
    for status, count in held["tickets_by_status"].items():
        table.add_row(f"  by status: {status}", str(count))
    table.add_row("RCAs published", str(held["rcas_published"]))
    table.add_row("rejections kept", str(report.rejected))
    out().print(table)


def _print_board(board: dict[str, Any], written: dict[str, int]) -> None:
    out().print(
        f"[bold]as of {moment(board['as_of'])}[/] (the quarter's end); "
        f"the tick wrote {counts(written, 'nothing new')}",
        highlight=False,
        soft_wrap=True,  # one line however many kinds it wrote (warnings made it long)
    )
    out().print(
        table(
            "SLA compliance by severity",
            board["sla_compliance"],
            ["severity", "met", "breached", "open", "compliance_pct"],
        )
    )
    out().print(
        table(
            f"tickets at risk: running timers due within {AT_RISK_MINUTES // 60} hours",
            board["at_risk"],
            ["ticket_id", "customer_id", "timer", "severity", "due_at", "minutes_left"],
        )
    )
    out().print(
        table(
            f"the {LOWEST_HEALTH} customers with the lowest health",
            [{**r, "flags": ", ".join(r["flags"])} for r in board["lowest_health"]],
            ["customer_id", "name", "score", "trend", "flags"],
        )
    )


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command()(demo)
