"""Tables more than one command family prints: a state, SLA timers, a trail, an ingest
report, and any list of rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from cli.common import out

if TYPE_CHECKING:
    from rich.table import Table

    from ledger.services.intake import IngestReport

SLA_COLUMNS = [
    "ticket_id",
    "customer_id",
    "timer",
    "severity",
    "policy_version",
    "started_at",
    "due_at",
    "stopped_at",
    "state",
    "breached_at",
]


def short(instant: str) -> str:
    """``2026-02-10T02:01:38.5+00:00`` as ``2026-02-10 02:01:38Z`` for tables (UTC)."""
    return instant[:19].replace("T", " ") + "Z"


def cell(value: Any) -> str:
    """A value as a table cell: nothing for None, instants short."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return short(value.isoformat())
    return str(value)


def table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    """Rows as a table of the given columns."""
    from rich.table import Table

    shown = Table(title=title, show_header=True)
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*(cell(row.get(c)) for c in columns))
    return shown


def print_state(title: str, view: dict[str, Any], skip: set[str]) -> None:
    """A subject's fields, one a row (values that are not text as JSON)."""
    import orjson
    from rich.table import Table

    shown = Table(title=title, show_header=False)
    shown.add_column("field", style="bold")
    shown.add_column("value")
    for key, value in view.items():
        if key not in skip:
            text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
            shown.add_row(key, text)
    out().print(shown)


def print_trail(entries: list[dict[str, Any]]) -> None:
    """A subject's trail, oldest first."""
    import orjson
    from rich.table import Table

    shown = Table(title="trail (times in UTC)", show_header=True)
    for column in ("v", "occurred_at", "recorded_at", "type"):
        shown.add_column(column, no_wrap=True)
    for column in ("actor", "source", "data"):
        shown.add_column(column, overflow="fold")
    for e in entries:
        shown.add_row(
            str(e["version"]),
            short(e["occurred_at"]),
            short(e["recorded_at"]),
            e["type"],
            f"{e['actor']['id']} ({e['actor']['role']})",
            e["source"],
            orjson.dumps(e["data"]).decode(),
        )
    out().print(shown)


def print_timers(title: str, rows: list[dict[str, Any]]) -> None:
    """A ticket's SLA timers."""
    from rich.table import Table

    shown = Table(title=title, show_header=True)
    for column in (
        "timer",
        "sev",
        "policy",
        "started_at",
        "due_at",
        "stopped_at",
        "state",
        "breached_at",
    ):
        shown.add_column(column, no_wrap=True)
    for r in rows:
        shown.add_row(
            r["timer"],
            str(r["severity"]),
            str(r["policy_version"]),
            *(
                short(r[k].isoformat()) if r[k] else ""
                for k in ("started_at", "due_at", "stopped_at")
            ),
            r["state"],
            short(r["breached_at"].isoformat()) if r["breached_at"] else "",
        )
    out().print(shown)


def print_report(report: IngestReport, title: str) -> None:
    """Counts of accepted, duplicate and rejected, and the rejections by rule."""
    from rich.table import Table

    shown = Table(title=title, show_header=True)
    shown.add_column("outcome")
    shown.add_column("inputs", justify="right")
    shown.add_row("accepted", str(report.accepted))
    shown.add_row("duplicate (acknowledged)", str(report.duplicates))
    shown.add_row("deferred (waiting, kept)", str(report.deferred))
    shown.add_row("rejected (kept)", str(report.rejected))
    shown.add_row("rejected before (not kept again)", str(report.already_rejected))
    out().print(shown)
    if report.released:
        out().print(
            f"Inputs deferred earlier and decided now: {report.released['accepted']} accepted, "
            f"{report.released['rejected']} rejected."
        )
    if report.deferred:
        out().print("List what waits with [bold]ledger deferred list[/].")
    if report.by_rule:
        rules = Table(title="rejected, by rule", show_header=True)
        rules.add_column("rule")
        rules.add_column("count", justify="right")
        rules.add_column("example (origin: reason)", overflow="fold")
        for rule, count in sorted(report.by_rule.items()):
            example = report.examples[rule]
            rules.add_row(rule, str(count), f"{example.origin}: {example.reason}")
        out().print(rules)
        out().print("List them with [bold]ledger rejects list[/].")
