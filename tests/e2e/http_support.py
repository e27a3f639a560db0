"""``ledger serve`` as a real process on a free loopback port, for the HTTP tests.

The server is started with ``--port 0``; the fixture reads its standard output until it
prints the address it listens on (no sleeping: a reader thread sets an event). Standard
error is read the same way, so a test can wait for a line the server logs (``wait_for``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

from ledger.adapters.settings import Database
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = re.compile(r"listening on (http://\S+)")
START_TIMEOUT = 60.0


def db_url(database: Database) -> str:
    """The ``--db`` of a test database (SQLite path, or PostgreSQL URL with its schema)."""
    if database.kind == "sqlite":
        return str(database.sqlite_path)
    return f"{PG_URL}?schema={database.schema}"


class Server:
    """A running ``ledger serve``: its URL, its log lines, and how to stop it."""

    def __init__(self, db: str, *args: str) -> None:
        self.db = db
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", "0", "--db", db, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.url = ""
        for stream in (self.process.stdout, self.process.stderr):
            assert stream is not None
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()
        found = self.wait_for(ADDRESS, START_TIMEOUT)
        self.url = found.group(1)

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of stream: wake the waiters
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first log line matching ``pattern`` (waiting for it), or fail with the log."""
        seen = 0

        def found() -> re.Match[str] | None:
            nonlocal seen
            for line in self.lines[seen:]:
                match = pattern.search(line)
                if match:
                    return match
            seen = len(self.lines)
            return None

        matched: list[re.Match[str]] = []

        def done() -> bool:
            match = found()
            if match is not None:
                matched.append(match)
                return True
            return self.process.poll() is not None and self.lines[-1:] == [""]

        with self._changed:
            self._changed.wait_for(done, timeout)
            if not matched:
                log = "\n".join(self.lines)
                state = "exited" if self.process.poll() is not None else "timed out"
                raise AssertionError(f"server {state} before {pattern.pattern!r}:\n{log}")
            return matched[0]

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An HTTP client on the server (with a bearer token, if given)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kwargs)

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, and wait for the exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def serving(db: str, *args: str) -> Iterator[Server]:
    """A server on ``db`` for the duration of the block."""
    server = Server(db, *args)
    try:
        yield server
    finally:
        server.stop()


def cli_json(*args: str, db: str) -> Any:
    """``ledger ARGS --json --db DB``, parsed (the command must succeed). The command line's
    own application, run in this process: the same command as a shell runs, without
    starting Python and importing the ledger for each question."""
    import json

    from typer.testing import CliRunner

    import cli

    result = CliRunner().invoke(cli.app, [*args, "--json", "--db", db], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
