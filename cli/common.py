"""What every command family shares: the common options, the consoles, one-line failures,
JSON output, instants, signals and opening the ledger.

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
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from ledger.adapters.settings import ENV_DB_URL

if TYPE_CHECKING:
    from rich.console import Console
    from typer._click import Context, HelpFormatter

    from ledger.adapters.event_store import LedgerApp


class HelpGroup(TyperGroup):
    """A command group whose ``--help`` lists each command's first sentence whole.

    The command line prints click's plain help (``rich_markup_mode=None``): typer's rich
    help imports rich's markdown and traceback modules, markdown-it and pygments, which
    alone cost more CPU than the rest of ``ledger --help``. Plain help cuts command
    summaries at the terminal's width with "..."; this wraps them instead.
    """

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1 << 16)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


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


def when_known(as_of: str | None, known_at: str | None) -> tuple[datetime, datetime | None]:
    """``--as-of`` (default now) and ``--known-at`` (default everything recorded)."""
    when = parse_instant(as_of, "--as-of") or datetime.now(UTC)
    return when, parse_instant(known_at, "--known-at")


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


def read_lines(path: str) -> Iterator[tuple[bytes, int]]:
    """Non-blank lines of a JSON Lines file (``-`` is stdin) with their line numbers."""
    stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    with stream:
        for number, line in enumerate(stream, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line, number
