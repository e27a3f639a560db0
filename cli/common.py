"""What every command family shares: the common options, the consoles, one-line failures,
JSON output, instants, signals and opening the ledger."""

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

from ledger.app import LedgerApp, opened
from ledger.settings import ENV_DB_URL, resolve_database

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

out = Console()
if not out.is_terminal:
    out.width = 160  # piped output: do not squeeze tables into 80 columns
err = Console(stderr=True, soft_wrap=True)


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
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())
    sys.stdout.write("\n")


def open_ledger(db: str | None) -> AbstractContextManager[LedgerApp]:
    """The ledger at ``--db`` (or the configured one), closed on exit."""
    return opened(resolve_database(db))


def read_lines(path: str) -> Iterator[tuple[bytes, int]]:
    """Non-blank lines of a JSON Lines file (``-`` is stdin) with their line numbers."""
    stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    with stream:
        for number, line in enumerate(stream, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line, number
