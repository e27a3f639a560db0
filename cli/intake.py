"""Commands that take inputs in and look them up: ingest, rejects, deferred, schemas,
ticket show, customer show and sla show.

Every query (ticket show, customer show, sla show) answers as of ``--as-of``, from what
was recorded by ``--known-at`` (R-TIME-1), and its JSON is one object that starts with
the ``as_of`` and ``known_at`` it was computed for, in UTC (``known_at`` null: everything
recorded). Ticket show, customer show and rejects list answer with
``ledger.services.answers``, as the HTTP API does."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    parse_instant,
    print_json,
    read_lines,
    when_known,
)
from cli.render import (
    moment,
    print_report,
    print_state,
    print_timers,
    print_trail,
    short,
    span,
    table,
    zone_name,
)
from ledger.adapters.settings import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from ledger.adapters.event_store import LedgerApp
    from ledger.services.answers import Absent
    from ledger.services.intake import IngestReport, Input, Outcome

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


def numbered_inputs(
    lines: Iterator[tuple[bytes, int]], label: str, sizes: dict[str, int]
) -> Iterator[Input]:
    """Numbered lines as inputs whose origin is ``label:line``; ``sizes`` notes each
    one's bytes (for the progress bar) until it is ingested."""
    from ledger.services.intake import Input

    for line, number in lines:
        origin = f"{label}:{number}"
        sizes[origin] = len(line) + 1
        yield Input(line, origin)


def envelopes_ahead(inputs: Iterator[Input], label: str) -> Iterator[Input]:
    """The inputs, once one is a JSON object; read up to it before the ledger is opened,
    so input in which no line is one (a CSV, a binary file) stops with a one-line error
    and nothing is created or stored."""
    from ledger.services.intake import NoJsonObject, json_objects_required

    required = json_objects_required(inputs)
    try:
        first = next(required, None)
    except NoJsonObject as error:
        lines_read = "1 line" if error.inputs == 1 else f"{error.inputs} lines"
        fail(
            f"no line of {label} is a JSON object ({lines_read} read): nothing was stored; "
            "ingest takes JSON Lines, one envelope object a line"
        )
    return required if first is None else itertools.chain([first], required)


def ingest_lines(
    ledger: LedgerApp,
    inputs: Iterator[Input],
    sizes: dict[str, int],
    label: str,
    total_bytes: int | None,
    batch_size: int,
    quiet: bool,
    check: bool = False,
) -> IngestReport:
    """Ingest inputs (``numbered_inputs``) with a progress bar on large inputs (``check``:
    decide them all, store nothing)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from ledger.services.intake import Ingestor

    ingestor = Ingestor(ledger, check=check)
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

        def advance(outcomes: list[Outcome]) -> None:
            done = sum(sizes.pop(o.origin, 0) for o in outcomes)
            progress.update(task, advance=done)
            progress.update(task, events=progress.tasks[0].fields["events"] + len(outcomes))

        return ingestor.ingest(inputs, batch_size=batch_size, on_batch=advance)


def ingest(
    file: Annotated[str, typer.Argument(help="A JSON Lines file of envelopes; - reads stdin.")],
    db: DbOption = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Inputs per transaction.")
    ] = DEFAULT_BATCH_SIZE,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="A dry run: validate and decide every line against the ledger, store nothing.",
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Ingest envelopes: each is accepted, acknowledged as a duplicate, deferred, or rejected
    and kept (--check: the same report, and nothing is stored)."""
    import tempfile

    from ledger.adapters.settings import resolve_database

    if file != "-" and not Path(file).is_file():
        fail(f"no such file: {file}")
    total = None if file == "-" else Path(file).stat().st_size
    label = "stdin" if file == "-" else Path(file).name
    sizes: dict[str, int] = {}
    inputs = envelopes_ahead(numbered_inputs(read_lines(file), label, sizes), label)
    database = resolve_database(db)
    with tempfile.TemporaryDirectory(prefix="ledger-check-") as scratch:
        target = db
        if check and database.kind == "sqlite" and not Path(database.sqlite_path).exists():
            target = str(Path(scratch) / "empty.db")  # check against an empty ledger: no file made
        # A check creates no ledger (a PostgreSQL schema holding none is an error).
        with open_ledger(target, create=not check or target != db) as ledger:
            report = ingest_lines(
                ledger, inputs, sizes, label, total, batch_size, quiet=json, check=check
            )
    if json:
        print_json(report.as_dict())
    elif check:
        print_report(report, f"checked {label}: nothing stored")
        out().print("A dry run: an ingest now would end so; nothing was stored or kept.")
    else:
        print_report(report, f"ingested {label}")


# ticket / customer ------------------------------------------------------------------------


def _as_of_text(when: datetime, known: datetime | None) -> str:
    """The instants of a question, for an error (in UTC, whole)."""
    known_text = "" if known is None else f", known at {known.astimezone(UTC).isoformat()}"
    return f"as of {when.astimezone(UTC).isoformat()}{known_text}"


def _as_of_title(when: datetime, known: datetime | None) -> str:
    """The instants of a question, for a table's title (in the zone of --tz)."""
    return f"as of {moment(when)}" + ("" if known is None else f", known at {moment(known)}")


def _absent(absent: Absent, when: datetime, known: datetime | None) -> str:
    """Why there is nothing to show: never stored, or not yet as of the instant; and
    the subject's rejected inputs, which are often the reason."""
    message = str(absent)
    if absent.stored:
        message += f" {_as_of_text(when, known)}"
    if absent.inputs:
        subject = absent.subject
        inputs = "1 input" if absent.inputs == 1 else f"{absent.inputs} inputs"
        message += (
            f"; {inputs} for {subject} rejected ({', '.join(absent.rules)}): "
            f"ledger rejects list --subject {subject}"
        )
    return message


def _print_rejected(subject: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        out().print(
            table(
                f"{len(rows)} rejected inputs for {subject} (kept, not part of the trail)",
                rows,
                ["id", "received_at", "rule", "field", "type", "event_id", "reason"],
            )
        )


@ticket_app.command("show")
def ticket_show(
    ticket_id: Annotated[str, typer.Argument(help="Ticket id, e.g. T-1001.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The ticket's state, its SLA timers, its trail and its rejected inputs (now, or as
    of an instant)."""
    from ledger.projections.registry import SubjectFailed
    from ledger.services import answers
    from ledger.services.queries import answered_at

    when, known = when_known(as_of, known_at, tz=tz, db=db, about=ticket_id)
    with open_ledger(db) as ledger:
        try:
            view = answers.ticket_view(ledger, ticket_id, when, known)
        except answers.Absent as absent:
            fail(_absent(absent, when, known))
        except SubjectFailed as error:
            fail(str(error))
    if json:
        print_json(answers.document(when, known, **view))
        return
    print_state(
        f"ticket {ticket_id} {_as_of_title(when, known)}",
        {**answered_at(when, known), **view},
        skip={"trail", "rca", "description", "timers", "rejected"},
    )
    print_timers(f"SLA timers as of {moment(when)}", view["timers"], when)
    print_trail(view["trail"])
    _print_rejected(ticket_id, view["rejected"])


@customer_app.command("show")
def customer_show(
    customer_id: Annotated[str, typer.Argument(help="Customer id, e.g. C-042.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The customer's state, its trail and its rejected inputs (now, or as of an instant)."""
    from ledger.services import answers
    from ledger.services.queries import answered_at

    when, known = when_known(as_of, known_at, tz=tz, db=db, about=customer_id)
    with open_ledger(db) as ledger:
        try:
            view = answers.customer_view(ledger, customer_id, when, known)
        except answers.Absent as absent:
            fail(_absent(absent, when, known))
    if json:
        print_json(answers.document(when, known, **view))
        return
    print_state(
        f"customer {customer_id} {_as_of_title(when, known)}",
        {**answered_at(when, known), **view, "open_play": _play_text(view["open_play"])},
        skip={
            "trail",
            "check_ins",
            "calendar",
            "calendar_versions",
            "calendar_proposals",
            "rejected",
            "plays",
            "exceptions",
        },
    )
    _print_calendars(view["calendar_versions"], view["calendar_proposals"])
    _print_exceptions(customer_id, view["exceptions"])
    print_trail(view["trail"])
    _print_rejected(customer_id, view["rejected"])


def _play_text(play: dict[str, Any] | None) -> str | None:
    """The open success play in one line: id, risk, owner, due, overdue by, outreach."""
    if play is None:
        return None
    text = f"{play['play_id']} ({play['risk']}), owner {play['owner']}, due {short(play['due_at'])}"
    if play["overdue_by"] is not None:
        text += f", overdue by {span(play['overdue_by'])}"
    return f"{text}, {play['outreach_count']} outreach"


def _print_calendars(versions: list[dict[str, Any]], proposals: list[dict[str, Any]]) -> None:
    """The customer's calendar versions (R-CAL) and the changes waiting for approval."""
    rows = [
        {
            **v,
            "effective_at": v["effective_at"] or "from the start",
            "timezone": v["calendar"].get("timezone"),
            "holidays": v["calendar"].get("holidays") or "none",
        }
        for v in versions
    ]
    columns = ["version", "effective_at", "approved_at", "approved_by", "in_force"]
    out().print(table("calendar versions", rows, [*columns, "timezone", "holidays"]))
    if proposals:
        columns = ["proposal_id", "proposed_by", "proposed_at", "effective_at"]
        out().print(table("calendar changes waiting for approval", proposals, columns))


def _print_exceptions(customer_id: str, exceptions: list[dict[str, Any]]) -> None:
    """The customer's reviewed exceptions (R-EXC), with their state (nothing when none)."""
    if not exceptions:
        return
    shown = [
        {
            **e,
            "targets": "; ".join(
                f"sev{severity} " + _targets_text(targets)
                for severity, targets in sorted(e["targets"].items())
            ),
        }
        for e in exceptions
    ]
    columns = ["exception_id", "state", "targets", "effective_from", "expires_at"]
    out().print(
        table(
            f"reviewed exceptions of {customer_id} (times in {zone_name()})",
            shown,
            [*columns, "requested_by", "approved_by", "reason"],
        )
    )


def _targets_text(targets: dict[str, Any]) -> str:
    """``first_response PT2H 24x7, update_every PT2H 24x7 (warn PT90M)`` (none: ``none``)."""
    parts = []
    for name, target in targets.items():
        if target is None:
            parts.append(f"{name} none")
            continue
        warn = f" (warn {target['warn_after']})" if target.get("warn_after") else ""
        parts.append(f"{name} {target['duration']} {target['clock']}{warn}")
    return ", ".join(parts)


# rejects ----------------------------------------------------------------------------------


@rejects_app.command("list")
def rejects_list(
    db: DbOption = None,
    subject: Annotated[
        str | None, typer.Option(help="Only inputs for this subject, e.g. T-1001.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only inputs received at or after this instant (RFC 3339 with offset)."),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option("--type", help="Only inputs of this wire type, e.g. ticket.opened."),
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id, e.g. R-IN-1.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    json: JsonOption = False,
) -> None:
    """Rejected inputs, oldest first, with rule, field, reason, time and original envelope."""
    from rich.table import Table

    from ledger.services import answers
    from ledger.services.queries import rejection_view

    received_since = parse_instant(since, "--since")
    if rule is not None and not answers.RULE_ID.fullmatch(rule):
        fail(f"--rule {rule!r} is not a rule id (R-AREA-N, e.g. R-IN-1)")
    with open_ledger(db) as ledger:
        if type_ is not None and not answers.known_type(ledger, type_):
            fail(
                f"--type {type_!r} is no wire type of the contract, and no rejected input "
                "names it (e.g. ticket.opened, customer.onboarded)"
            )
        rows = [
            rejection_view(r)
            for r in answers.rejections(
                ledger,
                rule=rule,
                subject=subject,
                event_type=type_,
                since=received_since,
                limit=limit,
            )
        ]
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
    """The ticket's timers as of an instant: due, time left or overdue, paused, met,
    breached, or measured (no target)."""
    from ledger.services.queries import answered_at
    from ledger.services.timelines import ticket_timers

    when, known = when_known(as_of, known_at, tz=tz, db=db, about=ticket_id)
    with open_ledger(db) as ledger:
        rows = ticket_timers(ledger, ticket_id, when, known)
    if rows is None:
        fail(f"no ticket {ticket_id} in the ledger {_as_of_text(when, known)}")
    if json:
        print_json({**answered_at(when, known), "ticket_id": ticket_id, "timers": rows})
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
