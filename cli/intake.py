"""Commands that take inputs in and look them up: ingest, rejects, deferred, schemas,
ticket show, customer show and sla show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    AsOfOption,
    DbOption,
    HelpGroup,
    JsonOption,
    KnownAtOption,
    TzOption,
    err,
    fail,
    open_ledger,
    out,
    print_json,
    read_lines,
    use_tz,
    when_known,
)
from cli.render import moment, print_report, print_state, print_timers, print_trail
from ledger.adapters.settings import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from ledger.adapters.event_store import LedgerApp
    from ledger.services.intake import IngestReport, Outcome

ticket_app = typer.Typer(help="Look at tickets.", no_args_is_help=True, cls=HelpGroup)
customer_app = typer.Typer(help="Look at customers.", no_args_is_help=True, cls=HelpGroup)
rejects_app = typer.Typer(
    help="Inputs the ledger rejected (kept, never dropped).", no_args_is_help=True, cls=HelpGroup
)
deferred_app = typer.Typer(
    help="Inputs waiting for a subject the ledger has not stored yet (R-IN-6).",
    no_args_is_help=True,
    cls=HelpGroup,
)
schemas_app = typer.Typer(
    help="The wire contract as JSON Schema.", no_args_is_help=True, cls=HelpGroup
)


# ingest ---------------------------------------------------------------------------------


def ingest_lines(
    ledger: LedgerApp,
    lines: Iterator[tuple[bytes, int]],
    label: str,
    total_bytes: int | None,
    batch_size: int,
    quiet: bool,
) -> IngestReport:
    """Ingest numbered lines with a progress bar on large inputs."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from ledger.services.intake import Ingestor, Input

    ingestor = Ingestor(ledger)
    show_bar = not quiet and err().is_terminal and (total_bytes is None or total_bytes > 1 << 20)
    with Progress(
        TextColumn("[bold]ingest[/] {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]} inputs"),
        TimeRemainingColumn(),
        console=err(),
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
    with open_ledger(db, create=True) as ledger:
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
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The ticket's state, its SLA timers and its trail (now, or as of an instant)."""
    from ledger.aggregates.ticket import Ticket
    from ledger.projections.registry import visible
    from ledger.services.queries import instant, ticket_state, trail
    from ledger.services.timelines import ticket_timers

    when, known = when_known(as_of, known_at, tz=tz, db=db, about=ticket_id)
    with open_ledger(db) as ledger:
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
    print_state(f"ticket {ticket_id}", view, skip={"trail", "rca", "description", "timers"})
    print_timers(f"SLA timers as of {moment(when)}", timers, when)
    print_trail(view["trail"])


@customer_app.command("show")
def customer_show(
    customer_id: Annotated[str, typer.Argument(help="Customer id, e.g. C-042.")],
    db: DbOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The customer's current state and its full trail."""
    from ledger.aggregates.customer import Customer
    from ledger.services.queries import customer_state, trail

    use_tz(tz, db=db, about=customer_id)
    with open_ledger(db) as ledger:
        customer = ledger.find(customer_id)
        if not isinstance(customer, Customer):
            fail(f"no customer {customer_id} in the ledger")
        events = ledger.history(customer_id)
    view = {**customer_state(customer), "trail": trail(events)}
    if json:
        print_json(view)
        return
    print_state(f"customer {customer_id}", view, skip={"trail", "check_ins", "calendar"})
    print_trail(view["trail"])


# rejects ----------------------------------------------------------------------------------


@rejects_app.command("list")
def rejects_list(
    db: DbOption = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id, e.g. R-IN-1.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    json: JsonOption = False,
) -> None:
    """Every rejected input with its rule, field, reason, time and original envelope."""
    from rich.table import Table

    from ledger.services.queries import rejection_view

    with open_ledger(db) as ledger:
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
    out().print(table)


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
    from rich.table import Table

    from ledger.services.queries import deferral_view

    with open_ledger(db) as ledger:
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
    out().print(table)


@deferred_app.command("expire")
def deferred_expire(
    db: DbOption = None,
    subject: Annotated[
        str | None, typer.Option(help="Only this subject's inputs (default: every one).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Reject every waiting input now (or one subject's), under the rule it would break."""
    from ledger.services.intake import Ingestor

    with open_ledger(db) as ledger:
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
    out().print(
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
    out().print(f"wrote {len(written)} JSON Schema files to {target}")


# sla show -----------------------------------------------------------------------------------


def sla_show(
    ticket_id: Annotated[str, typer.Argument(help="Ticket id, e.g. T-1001.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The ticket's timers as of an instant: due, stopped, paused, met or breached."""
    from ledger.services.timelines import ticket_timers

    when, known = when_known(as_of, known_at, tz=tz, db=db, about=ticket_id)
    with open_ledger(db) as ledger:
        rows = ticket_timers(ledger, ticket_id, when, known)
    if rows is None:
        fail(f"no ticket {ticket_id} in the ledger as of {when.isoformat()}")
    if json:
        print_json(rows)
        return
    print_timers(f"SLA timers of {ticket_id} as of {moment(when)}", rows, when)


def register(app: typer.Typer, sla: typer.Typer) -> None:
    """Add this family's commands to ``app`` and ``sla show`` to the sla group."""
    app.command()(ingest)
    app.add_typer(ticket_app, name="ticket")
    app.add_typer(customer_app, name="customer")
    app.add_typer(rejects_app, name="rejects")
    app.add_typer(deferred_app, name="deferred")
    app.add_typer(schemas_app, name="schemas")
    sla.command("show")(sla_show)
