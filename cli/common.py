"""What every command family shares: the common options, the consoles, one-line failures,
JSON output, instants and time zones, signals and opening the ledger.

Importing the command line must stay cheap (``ledger --help`` imports every command
module): modules of ``cli`` import only typer, the standard library and light constants at
module level; the ledger, its stores, Kafka, rich and pydantic are imported by the
command that uses them. Types they need only for hints are imported under
``TYPE_CHECKING``.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Concatenate, Final, NoReturn, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from ledger.adapters.settings import ENV_DB_URL

if TYPE_CHECKING:
    import socket

    from rich.console import Console
    from sqlalchemy import Engine
    from typer._click import Command, Context, HelpFormatter

    from ledger.adapters.event_store import LedgerApp

OTHER_COMMANDS: Final = "Other commands"


class HelpGroup(TyperGroup):
    """A command group whose ``--help`` lists each command's first sentence whole, under
    the heading its ``rich_help_panel`` names (``cli/__init__.py`` assigns them).

    The command line prints click's plain help (``rich_markup_mode=None``): typer's rich
    help imports rich's markdown and traceback modules, markdown-it and pygments, which
    alone cost more CPU than the rest of ``ledger --help``. Plain help cuts command
    summaries at the terminal's width with "..." and has no headings; this wraps the
    summaries instead and groups them under headings, in the order the headings first
    appear.
    """

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        sections: dict[str | None, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                panel = getattr(command, "rich_help_panel", None)
                heading = panel if isinstance(panel, str) else None  # typer's default: unset
                summary = command.get_short_help_str(limit=1 << 16)
                sections.setdefault(heading, []).append((name, summary))
        for heading, rows in sections.items():
            if heading is not None:
                with formatter.section(heading):
                    formatter.write_dl(rows)
        if None in sections:  # a group without headings, or commands no heading claims
            with formatter.section(OTHER_COMMANDS if len(sections) > 1 else "Commands"):
                formatter.write_dl(sections[None])

    def invoke(self, ctx: Context) -> Any:
        if ctx.parent is None:  # a new command line: forget the last one's zone and clock
            _invocation.reset()
        return super().invoke(ctx)


def command_paths(group: Command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command under ``group`` (``("sla", "list")``), groups included."""
    if not isinstance(group, TyperGroup):
        return
    for name, command in group.commands.items():
        yield (*prefix, name)
        yield from command_paths(command, (*prefix, name))


TIME_FORMS: Final = (
    "an instant with offset (2026-03-16T15:00:00Z, 2026-03-16T16:00:00+01:00), "
    "a date (2026-03-16: midnight in --tz), -1d, -6h, -30m, -1h30m, yesterday, today or now"
)
TIME_HELP: Final = (
    "an instant with offset, a date (midnight in --tz), -1d/-6h/-30m, yesterday, today or now"
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=ENV_DB_URL,
        help="SQLite file path (default ./ledger.db) or postgresql+psycopg://user@host:port/db",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON instead of tables (instants in UTC).")
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of", help=f"Evaluate at this time: {TIME_HELP}; default now.", metavar="TIME"
    ),
]
KnownAtOption = Annotated[
    str | None,
    typer.Option(
        "--known-at",
        help="Only events the ledger had recorded by this time (same forms as --as-of).",
        metavar="TIME",
    ),
]
TzOption = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="Show instants in this IANA zone (Europe/Berlin), or `customer`: the customer's "
        "business-calendar zone; dates given to time options are midnight there. Default UTC; "
        "--json stays UTC.",
        metavar="ZONE",
        show_default=False,
    ),
]


@cache
def out() -> Console:
    """The console on standard output (made on first use)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = 160  # piped output: do not squeeze tables into 80 columns
    return console


@cache
def err() -> Console:
    """The console on standard error (made on first use)."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def fail(message: str) -> NoReturn:
    """Stop with a one-line error."""
    raise CliError(message)


# time ----------------------------------------------------------------------------------------


@dataclass
class _Invocation:
    """What one command line fixes once: the zone instants are shown (and dates read) in,
    and the wall clock's reading that relative times count from."""

    zone: tzinfo = UTC
    zone_name: str = "UTC"
    clock: datetime | None = None

    def reset(self) -> None:
        self.zone, self.zone_name, self.clock = UTC, "UTC", None

    def now(self) -> datetime:
        """The wall clock, read once per command line: ``--from -1d --to now`` is one day."""
        if self.clock is None:
            self.clock = datetime.now(UTC)
        return self.clock


_invocation = _Invocation()


def parse_time(text: str, option: str, *, zone: tzinfo, now: datetime) -> datetime:
    """A time as people say it (``ledger.services.spoken``), as a UTC instant, or a
    one-line error naming ``option``."""
    from ledger.services.spoken import BadTime
    from ledger.services.spoken import parse_time as spoken

    try:
        return spoken(text, option, zone=zone, now=now, forms=TIME_FORMS)
    except BadTime as error:
        fail(str(error))


def _zone(name: str) -> tzinfo:
    """The IANA zone called ``name``, or a one-line error naming ``--tz``."""
    from ledger.services.spoken import BadTime, zone_named

    try:
        return zone_named(name)
    except BadTime:
        fail(
            f"--tz {name!r} is not an IANA time zone (Europe/Berlin, America/New_York, UTC) "
            "nor `customer`"
        )


def use_tz(tz: str | None, *, db: str | None = None, about: str | None = None) -> None:
    """Show instants in ``tz`` and read dates there (``None``: UTC). ``customer`` is the
    business-calendar zone of the customer the command is about: ``about`` is that
    customer's id or a ticket's."""
    if tz is None:
        return
    name = tz.strip()
    if name.lower() == "customer":
        if about is None:
            fail(
                "--tz customer needs a command about one customer or ticket (ticket show, "
                "sla show, health C-042, sla list --customer C-042...); here give a zone "
                "such as Europe/Berlin"
            )
        name = customer_zone(db, about)
    _invocation.zone, _invocation.zone_name = _zone(name), name


def customer_zone(db: str | None, subject: str) -> str:
    """The business-calendar zone of the customer ``subject`` is, or whose ticket it is."""
    from ledger.aggregates.customer import Customer
    from ledger.aggregates.ticket import Ticket

    with open_ledger(db) as ledger:
        found = ledger.find(subject)
        if isinstance(found, Ticket):
            found = ledger.find(found.customer_id)
    if not isinstance(found, Customer):
        fail(f"--tz customer: no customer or ticket {subject} in the ledger")
    calendar = found.calendar_in_force(datetime.now(UTC))  # (a change may move its zone)
    return str(calendar.get("timezone") or "UTC")


def display_zone() -> tuple[tzinfo, str]:
    """The zone human output shows instants in, and its name (``UTC`` unless ``--tz``)."""
    return _invocation.zone, _invocation.zone_name


def now() -> datetime:
    """The wall clock as this command line read it (once: every option counts from it)."""
    return _invocation.now()


def parse_instant(text: str | None, option: str) -> datetime | None:
    """``text`` as a UTC instant (the forms of ``TIME_FORMS``), or a one-line error naming
    the option. Dates and ``today`` are read in the zone of ``--tz`` (set it first with
    ``use_tz``)."""
    if text is None:
        return None
    return parse_time(text, option, zone=_invocation.zone, now=_invocation.now())


def when_known(
    as_of: str | None,
    known_at: str | None,
    *,
    tz: str | None = None,
    db: str | None = None,
    about: str | None = None,
) -> tuple[datetime, datetime | None]:
    """``--as-of`` (default now) and ``--known-at`` (default everything recorded), read
    after ``--tz`` (see ``use_tz`` for ``db`` and ``about``)."""
    use_tz(tz, db=db, about=about)
    when = parse_instant(as_of, "--as-of") or now()
    return when, parse_instant(known_at, "--known-at")


def window(
    start: str | None, end: str | None, *, names: tuple[str, str] = ("--from", "--to")
) -> tuple[datetime | None, datetime | None]:
    """``--from`` and ``--to`` as instants; ``--from`` after ``--to`` is an error."""
    first, last = parse_instant(start, names[0]), parse_instant(end, names[1])
    if first is not None and last is not None and first > last:
        fail(
            f"{names[0]} {start} ({first.isoformat()}) is after {names[1]} {end} "
            f"({last.isoformat()}): the window would hold nothing"
        )
    return first, last


# the rest ------------------------------------------------------------------------------------


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: long-running commands finish their step and exit."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def print_json(value: Any) -> None:
    """Write ``value`` as JSON to standard output."""
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())
    sys.stdout.write("\n")


def open_ledger(db: str | None, *, create: bool = False) -> AbstractContextManager[LedgerApp]:
    """The ledger at ``--db`` (or the configured one), closed on exit.

    Read commands open a ledger that exists (a path or schema holding none is an error
    naming it, and nothing is created); commands that write pass ``create=True``."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.settings import resolve_database

    return opened(resolve_database(db), create=create)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def ask(
    db: str | None,
    question: Callable[Concatenate[LedgerApp, Engine, _P], _T],
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> _T:
    """``question(ledger, engine, ...)`` (a question of ``ledger.services.answers`` that
    reads the read models) on the ledger at ``--db``, which must exist, closed after."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database

    database = resolve_database(db)
    with opened(database, create=False) as ledger:
        return question(ledger, engine_for(database), *args, **kwargs)


def read_lines(path: str) -> Iterator[tuple[bytes, int]]:
    """Non-blank lines of a JSON Lines file (``-`` is stdin) with their line numbers."""
    stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    with stream:
        for number, line in enumerate(stream, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line, number


def listening(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` and listening (port 0: a free one), to hand
    to a server; a port that cannot be had is an error naming it."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # (the protocol named: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it a keep-alive answer waits ~40 ms for the client's delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
