"""``ledger demo``: a seeded quarter generated, ingested and summarised."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.table import Table

from ledger.app import opened
from ledger.demo import DemoSpec, generate, write_jsonl
from ledger.ingest import Ingestor, IngestReport, Input, Outcome
from ledger.settings import resolve_database
from ledger.summary import holdings


def _expected(outcome: Outcome) -> str:
    if outcome.status == "rejected":
        assert outcome.rejection is not None
        return outcome.rejection.rule
    return "accept" if outcome.status == "accepted" else "duplicate"


def run_demo(
    db: str | None, out_file: Path | None, seed: int, customers: int, *, as_json: bool
) -> None:
    """Generate, optionally write, ingest and print what the ledger holds."""
    from ledger.cli import err, out, print_json, print_report

    lines = generate(DemoSpec(seed=seed, customers=customers))
    if out_file is not None:
        write_jsonl(lines, out_file)
    database = resolve_database(db)
    outcomes: list[Outcome] = []
    with opened(database) as ledger:
        was_empty = ledger.store.event_count() == 0
        report = Ingestor(ledger).ingest(
            (Input(line.raw, f"demo:{n}") for n, line in enumerate(lines, start=1)),
            on_batch=outcomes.extend,
        )
        held = holdings(ledger).as_dict()
        rejections_kept = sum(ledger.store.rejection_counts().values())
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
    }
    if out_file is not None:
        summary["written_to"] = str(out_file)
    if as_json:
        print_json(summary)
        return
    out.print(f"[bold]demo[/]: seed {seed}, {len(lines)} lines, into {database.label}")
    if out_file is not None:
        out.print(f"wrote the lines to {out_file}")
    print_report(report, "ingest")
    _print_holdings(held, report)
    if was_empty and surprises:
        err.print(
            f"[yellow]warning:[/] {sum(surprises.values())} lines did not end as the "
            f"generator meant: {dict(surprises)}"
        )


def _print_holdings(held: dict[str, Any], report: IngestReport) -> None:
    from ledger.cli import out

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
    out.print(table)
