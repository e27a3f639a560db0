"""The daily queues: ``ledger tickets`` (one row per ticket, by next breach) and
``ledger customers`` (one row per customer, lowest health first), as of any instant
(R-TIME-1).

Both answers are ``ledger.services.answers``' (``tickets``, ``customers``), as the HTTP
API gives them; this module reads the options and renders. A bad option value is one
line naming the option (options that take numbers are read here, not by click, whose
usage errors take several lines)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

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
from cli.render import NOTHING, moment, span, zone_name

if TYPE_CHECKING:
    from rich.table import Table

    from ledger.services.queue import BadOption


def _number(text: str | None, option: str, kind: type[int] | type[float]) -> Any:
    """An option's number, or a one-line error naming the option."""
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        fail(f"{option} {text}: not {noun}")


def _bad(error: BadOption) -> str:
    return f"--{error.field.replace('_', '-')} {error.value}: {error.why}"


# Human output: no value is "—", instants in the zone of --tz, seconds as a span.


def _text(value: Any) -> str:
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return moment(value)
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) if value else NOTHING
    return str(value)


def duration(seconds: int | None) -> str:
    """Seconds for a table (``2h 05m``), or "—" for none."""
    return NOTHING if seconds is None else span(seconds)


WRAPPED = frozenset({"name", "flags", "open_tickets", "missed_check_ins"})
"""Columns whose text (or header) may wrap; the others stay on one line."""


def _table(title: str, rows: list[dict[str, str]], columns: list[tuple[str, str]]) -> Table:
    from rich.table import Table

    shown = Table(title=title, show_header=True)
    for key, header in columns:
        shown.add_column(header, no_wrap=key not in WRAPPED, overflow="fold")
    for row in rows:
        shown.add_row(*(row[key] for key, _ in columns))
    return shown


def _title(what: str, count: int, when: datetime, known: datetime | None, order: str) -> str:
    noun = what if count != 1 else what.removesuffix("s")
    title = f"{count} {noun} as of {moment(when)}"
    if known is not None:
        title += f", as known at {moment(known)}"
    return f"{title}, {order} (times in {zone_name()})"


ORDER_TEXT = {
    "next-breach": "soonest breach first",
    "opened": "oldest first",
    "severity": "most severe first",
}


TICKET_COLUMNS = [
    ("ticket_id", "ticket"),
    ("severity", "sev"),
    ("status", "status"),
    ("customer_id", "customer"),
    ("tier", "tier"),
    ("assignee", "assignee"),
    ("timer", "next timer"),
    ("due_at", "due"),
    ("time_left", "time left"),
    ("overdue_by", "overdue by"),
    ("paused", "paused"),
]
"""What a row of the ticket queue shows (``--json`` adds the title, when it was opened and
the timer's state)."""

CUSTOMER_COLUMNS = [
    ("customer_id", "customer"),
    ("name", "name"),
    ("tier", "tier"),
    ("status", "status"),
    ("success_owner", "owner"),
    ("score", "health"),
    ("trend", "trend"),
    ("flags", "churn risk"),
    ("open_tickets", "open tickets"),
    ("missed_check_ins", "missed check-ins"),
    ("last_engagement_at", "last engaged"),
]


def tickets(
    db: DbOption = None,
    status: Annotated[
        str | None,
        typer.Option(
            metavar="S",
            help="unresolved (default: not resolved or closed), all, open, in_progress, "
            "waiting_on_customer, resolved or closed.",
        ),
    ] = None,
    severity: Annotated[
        str | None, typer.Option(help="Only this severity (1-4).", metavar="N")
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="Only this customer, e.g. C-042.", metavar="C")
    ] = None,
    assignee: Annotated[
        str | None, typer.Option(help="Only tickets assigned to A.", metavar="A")
    ] = None,
    breaching_within: Annotated[
        str | None,
        typer.Option(
            "--breaching-within",
            help="Only tickets whose next timer runs and is due within MIN minutes.",
            metavar="MIN",
        ),
    ] = None,
    sort: Annotated[
        str,
        typer.Option(help="next-breach (soonest due first), opened or severity.", metavar="ORDER"),
    ] = "next-breach",
    limit: Annotated[
        str | None, typer.Option(help="At most N tickets, after sorting.", metavar="N")
    ] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The ticket queue: one row per ticket with its next SLA timer, soonest breach first."""
    from ledger.services import answers
    from ledger.services.queue import UNRESOLVED, BadOption, TicketQuery

    try:
        query = TicketQuery(
            status=status or UNRESOLVED,
            severity=_number(severity, "--severity", int),
            customer=customer,
            assignee=assignee,
            breaching_within=_number(breaching_within, "--breaching-within", int),
            sort=sort,
            limit=_number(limit, "--limit", int),
        )
    except BadOption as error:
        fail(_bad(error))
    when, known = when_known(as_of, known_at, tz=tz, db=db, about=customer)
    try:
        queue = ask(db, answers.tickets, when, known, query)
    except BadOption as error:  # a customer not onboarded by then
        fail(_bad(error))
    if json:
        print_json(answers.document(when, known, tickets=queue))
        return
    shown = [
        {
            key: duration(row[key]) if key in ("time_left", "overdue_by") else _text(row[key])
            for key, _ in TICKET_COLUMNS
        }
        for row in queue
    ]
    title = _title("tickets", len(queue), when, known, ORDER_TEXT[query.sort])
    out().print(_table(title, shown, TICKET_COLUMNS))


def customers(
    db: DbOption = None,
    owner: Annotated[
        str | None, typer.Option(help="Only customers of success owner O.", metavar="O")
    ] = None,
    health_below: Annotated[
        str | None,
        typer.Option(
            "--health-below", help="Only customers whose health is below SCORE.", metavar="SCORE"
        ),
    ] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The customer queue: health, trend, churn risks, open tickets, missed check-ins."""
    from ledger.services import answers
    from ledger.services.queue import BadOption, CustomerQuery

    try:
        query = CustomerQuery(
            owner=owner, health_below=_number(health_below, "--health-below", float)
        )
    except BadOption as error:
        fail(_bad(error))
    when, known = when_known(as_of, known_at, tz=tz, db=db)
    queue = ask(db, answers.customers, when, known, query)
    if json:
        print_json(answers.document(when, known, customers=queue))
        return
    shown = []
    for row in queue:
        cells = {key: _text(row[key]) for key, _ in CUSTOMER_COLUMNS}
        cells["trend"] = f"{row['trend']:+}"
        cells["missed_check_ins"] = str(len(row["missed_check_ins"]))
        shown.append(cells)
    title = _title("customers", len(queue), when, known, "lowest health first")
    out().print(_table(title, shown, CUSTOMER_COLUMNS))


def register(app: typer.Typer) -> None:
    """Add the queues to ``app``."""
    app.command("tickets")(tickets)
    app.command("customers")(customers)
