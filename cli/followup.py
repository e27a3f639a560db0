"""The RCA's follow-through and the product loop: ``ledger actions`` (preventive actions,
overdue first) and ``ledger insights`` (product areas ranked by customer pain, root
causes repeated with no runbook), as of any instant (R-TIME-1).

Both answers are ``ledger.services.answers``' (``actions``, ``insights``), as the HTTP API
gives them; this module reads the options and renders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from cli.common import (
    AsOfOption,
    DbOption,
    JsonOption,
    KnownAtOption,
    TzOption,
    ask,
    fail,
    out,
    print_json,
    when_known,
    window,
)
from cli.render import NOTHING, moment, span, zone_name

if TYPE_CHECKING:
    from ledger.services.queue import BadOption

COMMANDS: Final = ["actions", "insights"]
"""The commands of this module, under "Queries and read models" in ``ledger --help``."""

EXAMPLES: Final = {
    "actions": [
        "ledger actions --overdue --as-of 2026-04-05",
        "ledger actions --owner pe-li --status all --json",
    ],
    "insights": [
        "ledger insights --from 2026-01-01 --to 2026-04-01",
        "ledger insights --as-of 2026-03-01 --json",
    ],
}


def _bad(error: BadOption) -> str:
    return f"--{error.field.replace('_', '-')} {error.value}: {error.why}"


def _text(value: Any) -> str:
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return moment(value)
    return str(value)


def _title(what: str, count: int, when: datetime, known: datetime | None, order: str) -> str:
    noun = what if count != 1 else what.removesuffix("s")
    title = f"{count} {noun} as of {moment(when)}"
    if known is not None:
        title += f", as known at {moment(known)}"
    return f"{title}, {order} (times in {zone_name()})"


ACTION_COLUMNS: Final = [
    ("ticket_id", "ticket"),
    ("action_id", "action"),
    ("state", "state"),
    ("owner", "owner"),
    ("due_date", "due"),
    ("overdue_by", "overdue by"),
    ("completed_at", "completed"),
    ("verified_at", "verified"),
    ("description", "description"),
]
"""What a row of ``ledger actions`` shows (``--json`` has every column)."""


def actions(
    db: DbOption = None,
    owner: Annotated[str | None, typer.Option(help="Only actions owned by O.", metavar="O")] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only actions overdue as of --as-of.")
    ] = False,
    ticket: Annotated[
        str | None, typer.Option(help="Only the actions of this ticket's RCA.", metavar="T")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            metavar="S",
            help="pending (default: open or overdue), all, open, overdue, completed, "
            "verified or cancelled.",
        ),
    ] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """Preventive actions of RCAs and their follow-through, overdue first (R-RCA-4, R-RCA-5)."""
    from ledger.services import answers
    from ledger.services.followup import PENDING, ActionQuery
    from ledger.services.queue import BadOption

    if overdue and status not in (None, "overdue"):
        fail(f"--overdue and --status {status} ask for different actions: give one of them")
    try:
        query = ActionQuery(
            status="overdue" if overdue else (status or PENDING), owner=owner, ticket=ticket
        )
    except BadOption as error:
        fail(_bad(error))
    when, known = when_known(as_of, known_at, tz=tz, db=db, about=ticket)
    try:
        found = ask(db, answers.actions, when, known, query)
    except BadOption as error:
        fail(_bad(error))
    if json:
        print_json(answers.document(when, known, actions=found))
        return
    from rich.table import Table

    shown = Table(title=_title("actions", len(found), when, known, "soonest due first"))
    for key, header in ACTION_COLUMNS:
        shown.add_column(header, no_wrap=key != "description", overflow="fold")
    for row in found:
        cells = [
            span(row[key]) if key == "overdue_by" and row[key] is not None else _text(row[key])
            for key, _ in ACTION_COLUMNS
        ]
        shown.add_row(*cells)
    out().print(shown)


AREA_COLUMNS: Final = [
    ("rank", "rank"),
    ("product_area", "product area"),
    ("pain", "pain"),
    ("tickets", "tickets"),
    ("severity_points", "severity points"),
    ("repeat_incidents", "repeats"),
    ("breaches", "breaches"),
    ("feedback", "feedback (bug/ux/feature)"),
    ("customers_affected", "customers"),
]


def insights(
    db: DbOption = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Window start (default: the beginning).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Window end (default: --as-of).")] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """Product areas ranked by customer pain; root causes repeated with no runbook."""
    from rich.table import Table

    from ledger.services import answers

    when, known = when_known(as_of, known_at, tz=tz, db=db)
    start, end = window(from_, to)
    figures = ask(db, answers.insights, when, known, start, end)
    if json:
        print_json(answers.document(when, known, **figures))
        return
    areas = figures["areas"]
    title = _title("product areas", len(areas), when, known, "most pain first")
    shown = Table(title=title)
    for _, header in AREA_COLUMNS:
        shown.add_column(header, no_wrap=True)
    for row in areas:
        cells = {key: _text(row[key]) for key, _ in AREA_COLUMNS}
        feedback = row["feedback"]
        cells["feedback"] = (
            f"{feedback['total']} ({feedback['bug']}/{feedback['ux']}/"
            f"{feedback['feature_request']})"
        )
        shown.add_row(*(cells[key] for key, _ in AREA_COLUMNS))
    out().print(shown)
    without = figures["without_area"]
    if without["tickets"]:
        out().print(
            f"tickets opened in the window with no product area: {without['tickets']} "
            f"(severity points {without['severity_points']})",
            highlight=False,
        )
    gaps = figures["knowledge_gaps"]
    gap_table = Table(title=f"root causes on 2+ incidents with no runbook: {len(gaps)}")
    for header in ("root cause", "incidents", "tickets", "product areas", "last opened"):
        gap_table.add_column(header, overflow="fold")
    for gap in gaps:
        gap_table.add_row(
            gap["root_cause_code"],
            str(gap["incidents"]),
            ", ".join(gap["tickets"]),
            ", ".join(gap["product_areas"]) or NOTHING,
            moment(gap["last_opened_at"]),
        )
    out().print(gap_table)


def register(app: typer.Typer) -> None:
    """Add the follow-through and product-loop commands to ``app``."""
    app.command("actions")(actions)
    app.command("insights")(insights)
