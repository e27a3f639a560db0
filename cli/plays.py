"""``ledger plays``: the success plays (R-PLAY), one row per play, open ones soonest due
first, as of any instant (R-TIME-1).

The answer is ``ledger.services.answers.plays``, as ``GET /v1/plays`` gives it; this
module reads the options and renders."""

from __future__ import annotations

from typing import Annotated, Final

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
)
from cli.render import NOTHING, cell, moment, span, zone_name

COMMANDS: Final = ["plays"]
"""The commands of this module (under "Queries and read models" in ``ledger --help``)."""
EXAMPLES: Final = {
    "plays": [
        "ledger plays --open --owner cs-kim",
        "ledger plays --overdue --as-of 2026-03-20 --json",
    ]
}

COLUMNS: Final = [
    ("play_id", "play"),
    ("customer_id", "customer"),
    ("owner", "owner"),
    ("risk", "risk"),
    ("opened_at", "opened"),
    ("due_at", "due"),
    ("state", "state"),
    ("overdue_by", "overdue by"),
    ("outreach_count", "outreach"),
    ("first_outreach_at", "first outreach"),
    ("outcome", "outcome"),
]
"""What a row shows (``--json`` adds the reason, ``overdue`` and ``closed_at``)."""


def plays(
    db: DbOption = None,
    owner: Annotated[
        str | None, typer.Option(help="Only plays run by this success owner.", metavar="O")
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="Only this customer's plays, e.g. C-042.", metavar="C")
    ] = None,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only plays not closed (overdue ones included).")
    ] = False,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only plays still open past their due instant.")
    ] = False,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """Success plays opened by churn risks: owner, due, outreach, outcome (R-PLAY)."""
    from rich.table import Table

    from ledger.services import answers
    from ledger.services.plays import PlayQuery
    from ledger.services.queue import BadOption

    query = PlayQuery(owner=owner, customer=customer, open_only=open_only, overdue_only=overdue)
    when, known = when_known(as_of, known_at, tz=tz, db=db, about=customer)
    try:
        found = ask(db, answers.plays, when, known, query)
    except BadOption as error:  # a customer not onboarded by then
        fail(f"--{error.field} {error.value}: {error.why}")
    if json:
        print_json(answers.document(when, known, plays=found))
        return
    noun = "play" if len(found) == 1 else "plays"
    title = f"{len(found)} {noun} as of {moment(when)}"
    if known is not None:
        title += f", as known at {moment(known)}"
    shown = Table(title=f"{title}, open ones soonest due first (times in {zone_name()})")
    for _, header in COLUMNS:
        shown.add_column(header, overflow="fold")
    for row in found:
        cells = {key: cell(row[key]) for key, _ in COLUMNS}
        cells["overdue_by"] = NOTHING if row["overdue_by"] is None else span(row["overdue_by"])
        if row["state"] == "closed":
            cells["state"] = f"closed {moment(row['closed_at'])}"
        shown.add_row(*(cells[key] for key, _ in COLUMNS))
    out().print(shown)


def register(app: typer.Typer) -> None:
    """Add ``plays`` to ``app``."""
    app.command("plays")(plays)
