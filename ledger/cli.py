"""The ``ledger`` command line: ingest, look up, list rejections, export schemas, demo."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from ledger.aggregates.customer import Customer
from ledger.aggregates.ticket import Ticket
from ledger.app import LedgerApp, opened
from ledger.board import visible
from ledger.ingest import DEFAULT_BATCH_SIZE, Ingestor, IngestReport, Input, Outcome
from ledger.settings import ENV_DB_URL, resolve_database
from ledger.timelines import ticket_timers
from ledger.views import (
    customer_state,
    deferral_view,
    instant,
    rejection_view,
    ticket_state,
    trail,
)

app = typer.Typer(
    name="ledger",
    help="The ledger: an event-sourced incident and ticket ledger for enterprise support.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ticket_app = typer.Typer(help="Look at tickets.", no_args_is_help=True)
customer_app = typer.Typer(help="Look at customers.", no_args_is_help=True)
rejects_app = typer.Typer(
    help="Inputs the ledger rejected (kept, never dropped).", no_args_is_help=True
)
deferred_app = typer.Typer(
    help="Inputs waiting for a subject the ledger has not stored yet (R-IN-6).",
    no_args_is_help=True,
)
schemas_app = typer.Typer(help="The wire contract as JSON Schema.", no_args_is_help=True)
sla_app = typer.Typer(
    help="SLA timers (first response, update cadence, resolution).", no_args_is_help=True
)
app.add_typer(ticket_app, name="ticket")
app.add_typer(customer_app, name="customer")
app.add_typer(rejects_app, name="rejects")
app.add_typer(deferred_app, name="deferred")
app.add_typer(schemas_app, name="schemas")
app.add_typer(sla_app, name="sla")

out = Console()
if not out.is_terminal:
    out.width = 160  # piped output: do not squeeze tables into 80 columns
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=ENV_DB_URL,
        help="SQLite file path (default ./ledger.db) or postgresql+psycopg://user@host:port/db",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Evaluate at this instant (RFC 3339 with offset); default now."),
]
KnownAtOption = Annotated[
    str | None,
    typer.Option("--known-at", help="Only events the ledger had recorded by this instant."),
]


def parse_instant(text: str | None, option: str) -> datetime | None:
    """An RFC 3339 instant with offset, or a one-line error naming the option."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {text!r} is not an ISO 8601 instant")
    if value.tzinfo is None:
        fail(f"{option} {text!r} needs an offset, e.g. 2026-03-27T14:05:00+01:00")
    return value


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def fail(message: str) -> NoReturn:
    """Stop with a one-line error."""
    raise CliError(message)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: long-running commands finish their step and exit."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def print_json(value: Any) -> None:
    """Write ``value`` as JSON to standard output."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())
    sys.stdout.write("\n")


def _open(db: str | None) -> AbstractContextManager[LedgerApp]:
    return opened(resolve_database(db))


# ingest ---------------------------------------------------------------------------------


def read_lines(path: str) -> Iterator[tuple[bytes, int]]:
    """Non-blank lines of a JSON Lines file (``-`` is stdin) with their line numbers."""
    stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    with stream:
        for number, line in enumerate(stream, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line, number


def ingest_lines(
    ledger: LedgerApp,
    lines: Iterator[tuple[bytes, int]],
    label: str,
    total_bytes: int | None,
    batch_size: int,
    quiet: bool,
) -> IngestReport:
    """Ingest numbered lines with a progress bar on large inputs."""
    ingestor = Ingestor(ledger)
    show_bar = not quiet and err.is_terminal and (total_bytes is None or total_bytes > 1 << 20)
    with Progress(
        TextColumn("[bold]ingest[/] {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]} inputs"),
        TimeRemainingColumn(),
        console=err,
        disable=not show_bar,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total_bytes, events=0)
        sizes: dict[str, int] = {}

        def inputs() -> Iterator[Input]:
            for line, number in lines:
                origin = f"{label}:{number}"
                sizes[origin] = len(line) + 1
                yield Input(line, origin)

        def advance(outcomes: list[Outcome]) -> None:
            done = sum(sizes.pop(o.origin, 0) for o in outcomes)
            progress.update(task, advance=done)
            progress.update(task, events=progress.tasks[0].fields["events"] + len(outcomes))

        return ingestor.ingest(inputs(), batch_size=batch_size, on_batch=advance)


def print_report(report: IngestReport, title: str) -> None:
    """Counts of accepted, duplicate and rejected, and the rejections by rule."""
    table = Table(title=title, show_header=True)
    table.add_column("outcome")
    table.add_column("inputs", justify="right")
    table.add_row("accepted", str(report.accepted))
    table.add_row("duplicate (acknowledged)", str(report.duplicates))
    table.add_row("deferred (waiting, kept)", str(report.deferred))
    table.add_row("rejected (kept)", str(report.rejected))
    table.add_row("rejected before (not kept again)", str(report.already_rejected))
    out.print(table)
    if report.released:
        out.print(
            f"Inputs deferred earlier and decided now: {report.released['accepted']} accepted, "
            f"{report.released['rejected']} rejected."
        )
    if report.deferred:
        out.print("List what waits with [bold]ledger deferred list[/].")
    if report.by_rule:
        rules = Table(title="rejected, by rule", show_header=True)
        rules.add_column("rule")
        rules.add_column("count", justify="right")
        rules.add_column("example (origin: reason)", overflow="fold")
        for rule, count in sorted(report.by_rule.items()):
            example = report.examples[rule]
            rules.add_row(rule, str(count), f"{example.origin}: {example.reason}")
        out.print(rules)
        out.print("List them with [bold]ledger rejects list[/].")


@app.command()
def ingest(
    file: Annotated[str, typer.Argument(help="A JSON Lines file of envelopes; - reads stdin.")],
    db: DbOption = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Inputs per transaction.")
    ] = DEFAULT_BATCH_SIZE,
    json: JsonOption = False,
) -> None:
    """Ingest envelopes: each is accepted, acknowledged as a duplicate, or rejected and kept."""
    if file != "-" and not Path(file).is_file():
        fail(f"no such file: {file}")
    total = None if file == "-" else Path(file).stat().st_size
    label = "stdin" if file == "-" else Path(file).name
    with _open(db) as ledger:
        report = ingest_lines(ledger, read_lines(file), label, total, batch_size, quiet=json)
    if json:
        print_json(report.as_dict())
    else:
        print_report(report, f"ingested {label}")


# ticket / customer ------------------------------------------------------------------------


@ticket_app.command("show")
def ticket_show(
    ticket_id: Annotated[str, typer.Argument(help="Ticket id, e.g. T-1001.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    json: JsonOption = False,
) -> None:
    """The ticket's state, its SLA timers and its trail (now, or as of an instant)."""
    when = parse_instant(as_of, "--as-of") or datetime.now(UTC)
    known = parse_instant(known_at, "--known-at")
    with _open(db) as ledger:
        ticket = ledger.find(ticket_id)
        if not isinstance(ticket, Ticket):
            fail(f"no ticket {ticket_id} in the ledger")
        timers = ticket_timers(ledger, ticket_id, when, known)
        if timers is None:
            fail(f"no ticket {ticket_id} in the ledger as of {when.isoformat()}")
        events = ledger.history(ticket_id)
    if as_of is None and known_at is None:
        state = ticket_state(ticket)
    else:
        state = {"id": ticket_id, "as_of": instant(when), "known_at": instant(known)}
        events = visible(events, when, known)
    view = {**state, "timers": timers, "trail": trail(events)}
    if json:
        print_json(view)
        return
    _print_state(f"ticket {ticket_id}", view, skip={"trail", "rca", "description", "timers"})
    _print_timers(f"SLA timers as of {when.isoformat()}", timers)
    _print_trail(view["trail"])


@customer_app.command("show")
def customer_show(
    customer_id: Annotated[str, typer.Argument(help="Customer id, e.g. C-042.")],
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """The customer's current state and its full trail."""
    with _open(db) as ledger:
        customer = ledger.find(customer_id)
        if not isinstance(customer, Customer):
            fail(f"no customer {customer_id} in the ledger")
        events = ledger.history(customer_id)
    view = {**customer_state(customer), "trail": trail(events)}
    if json:
        print_json(view)
        return
    _print_state(f"customer {customer_id}", view, skip={"trail", "check_ins", "calendar"})
    _print_trail(view["trail"])


def _print_state(title: str, view: dict[str, Any], skip: set[str]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in view.items():
        if key not in skip:
            shown = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
            table.add_row(key, shown)
    out.print(table)


def _short(instant: str) -> str:
    """``2026-02-10T02:01:38.5+00:00`` as ``2026-02-10 02:01:38Z`` for tables (UTC)."""
    return instant[:19].replace("T", " ") + "Z"


def _print_trail(entries: list[dict[str, Any]]) -> None:
    table = Table(title="trail (times in UTC)", show_header=True)
    for column in ("v", "occurred_at", "recorded_at", "type"):
        table.add_column(column, no_wrap=True)
    for column in ("actor", "source", "data"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            str(e["version"]),
            _short(e["occurred_at"]),
            _short(e["recorded_at"]),
            e["type"],
            f"{e['actor']['id']} ({e['actor']['role']})",
            e["source"],
            orjson.dumps(e["data"]).decode(),
        )
    out.print(table)


# rejects ----------------------------------------------------------------------------------


@rejects_app.command("list")
def rejects_list(
    db: DbOption = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id, e.g. R-IN-1.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    json: JsonOption = False,
) -> None:
    """Every rejected input with its rule, field, reason, time and original envelope."""
    with _open(db) as ledger:
        rows = [rejection_view(r) for r in ledger.store.rejections(rule=rule, limit=limit)]
    if json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} rejected inputs", show_header=True)
    for column in ("id", "received_at", "rule", "field", "subject", "type", "origin", "reason"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["received_at"],
            r["rule"],
            r["field"] or "",
            r["subject"] or "",
            r["type"] or "",
            r["origin"],
            r["reason"],
        )
    out.print(table)


# deferred ---------------------------------------------------------------------------------


@deferred_app.command("list")
def deferred_list(
    db: DbOption = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject's inputs.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    json: JsonOption = False,
) -> None:
    """Inputs waiting for a subject, oldest first: what they wait for, since when, and
    the rule they will be rejected under if it never comes."""
    with _open(db) as ledger:
        rows = [deferral_view(d) for d in ledger.store.deferred(subject=subject, limit=limit)]
    if json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} deferred inputs", show_header=True)
    for column in ("id", "received_at", "subject", "type", "waits_for", "rule", "origin"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["received_at"],
            r["subject"] or "",
            r["type"] or "",
            r["waits_for"],
            r["rule"],
            r["origin"],
        )
    out.print(table)


@deferred_app.command("expire")
def deferred_expire(
    db: DbOption = None,
    subject: Annotated[
        str | None, typer.Option(help="Only this subject's inputs (default: every one).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Reject every waiting input now (or one subject's), under the rule it would break."""
    with _open(db) as ledger:
        if subject is not None and not ledger.store.deferred(subject=subject, limit=1):
            fail(f"no deferred input of {subject}")
        outcomes = Ingestor(ledger).expire_deferred(subject=subject)
    expired = [o for o in outcomes if o.status == "rejected" and o.rejection is not None]
    by_rule: dict[str, int] = {}
    for outcome in expired:
        assert outcome.rejection is not None
        by_rule[outcome.rejection.rule] = by_rule.get(outcome.rejection.rule, 0) + 1
    result = {
        "expired": len(expired),
        "rejected_by_rule": dict(sorted(by_rule.items())),
        "accepted": sum(o.status == "accepted" for o in outcomes),
    }
    if json:
        print_json(result)
        return
    out.print(
        f"{len(expired)} deferred inputs rejected"
        + (f" ({', '.join(f'{r}: {n}' for r, n in sorted(by_rule.items()))})" if by_rule else "")
        + "; list them with [bold]ledger rejects list[/]."
    )


# schemas ----------------------------------------------------------------------------------


@schemas_app.command("export")
def schemas_export(
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder to write to (default: the package's schemas/json)."),
    ] = None,
) -> None:
    """Write envelope.json (what producers send) and ledger-written.json, for services that
    do not speak Python."""
    from schemas import DEFAULT_SCHEMA_DIR, export_json_schemas

    target = out_dir or DEFAULT_SCHEMA_DIR
    written = export_json_schemas(target)
    out.print(f"wrote {len(written)} JSON Schema files to {target}")


# sla ----------------------------------------------------------------------------------------


@sla_app.command("show")
def sla_show(
    ticket_id: Annotated[str, typer.Argument(help="Ticket id, e.g. T-1001.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    json: JsonOption = False,
) -> None:
    """The ticket's timers as of an instant: due, stopped, paused, met or breached."""
    when = parse_instant(as_of, "--as-of") or datetime.now(UTC)
    known = parse_instant(known_at, "--known-at")
    with _open(db) as ledger:
        rows = ticket_timers(ledger, ticket_id, when, known)
    if rows is None:
        fail(f"no ticket {ticket_id} in the ledger as of {when.isoformat()}")
    if json:
        print_json(rows)
        return
    _print_timers(f"SLA timers of {ticket_id} as of {when.isoformat()}", rows)


def _print_timers(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title, show_header=True)
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
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(
            r["timer"],
            str(r["severity"]),
            str(r["policy_version"]),
            *(
                _short(r[k].isoformat()) if r[k] else ""
                for k in ("started_at", "due_at", "stopped_at")
            ),
            r["state"],
            _short(r["breached_at"].isoformat()) if r["breached_at"] else "",
        )
    out.print(table)


# demo -------------------------------------------------------------------------------------


@app.command()
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
    from ledger.demo_run import run_demo

    run_demo(db, out_file, seed, customers, as_json=json)


def main() -> None:
    """Entry point: one clear line and a non-zero exit on failure, never a traceback."""
    from ledger.errors import describe

    try:
        app()
    except CliError as error:
        err.print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as error:
        err.print(f"[red]error:[/] {describe(error)}", highlight=False)
        sys.exit(1)


# The projection, Kafka and audit commands register themselves on ``app``.
import ledger.cli_audit  # noqa: E402
import ledger.cli_kafka  # noqa: E402
import ledger.cli_projections  # noqa: E402, F401
