"""What one server process keeps: the ledger application, the read models' engine, one
ingestor (writes take turns), and a projection runner following the log in the
background, whose progress ``/readyz`` judges.

The runner gives way to writes: while POSTs keep coming (one being stored, or the last
done less than ``QUIET_SECONDS`` ago) it waits, for at most ``MAX_DEFER_SECONDS``, then
catches up whatever came meanwhile. In one process the two share one interpreter lock
(and, on SQLite, one database write lock): caught up after every request, the read
models took as much CPU as the ingest, and halved it. Reads are not affected by the
wait: each catches the read models up before it answers.

Garbage collection goes as in ``ledger ingest`` (``ledger.adapters.collection``): from
the first POST until none has come for ``QUIET_SECONDS``, automatic collection is off;
the young generations are collected after each batch, the whole heap every 500,000
inputs, and a thread of the runtime turns automatic collection on again once the writes
stop. Under automatic collection the server walked its whole heap (up to 20,000 cached
aggregates and what they hold) again and again: 16 % of its CPU at 1M events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from sqlalchemy import text

from ledger.adapters.collection import WhileBusy
from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.projector import Projector, engine_for
from ledger.adapters.settings import Database
from ledger.services.answers import lag
from ledger.services.intake import Ingestor
from web.group_commit import GroupCommit

log = logging.getLogger(__name__)

DEFAULT_MAX_LAG: Final = 100_000
"""Events the read models may be behind the log and still be ready."""
DEFAULT_STALL_SECONDS: Final = 60.0
"""How long the runner may go without completing a catch-up while behind."""
POLL_SECONDS: Final = 0.5
QUIET_SECONDS: Final = 0.25
"""How long after the last write the runner waits before it catches up."""
MAX_DEFER_SECONDS: Final = 5.0
"""The longest the runner gives way to writes that keep coming."""


@dataclass(frozen=True)
class Readiness:
    """Whether the process can answer: the database reachable, the projections moving."""

    ready: bool
    log_head: int
    behind: int
    seconds_since_progress: float
    detail: str


class Runtime:
    """The ledger of one server process (made once, closed on shutdown)."""

    def __init__(
        self,
        database: Database,
        *,
        follow: bool = True,
        max_lag: int = DEFAULT_MAX_LAG,
        stall_seconds: float = DEFAULT_STALL_SECONDS,
    ) -> None:
        self.database = database
        self.app: LedgerApp = open_app(database)  # a server takes writes: it may create one
        self.engine = engine_for(database)
        Projector(self.app, self.engine)  # the read-model tables, before the first request
        self.ingestor = Ingestor(self.app)
        self.write_lock = threading.Lock()
        self.group_commit = GroupCommit(self.ingestor, self.writing)  # POST /v1/events
        self.max_lag = max_lag
        self.stall_seconds = stall_seconds
        self._follow = follow
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._progress = time.monotonic()
        self._error: str | None = None
        self._writes = 0  # POST batches waiting for the write lock or being stored
        self._last_write = 0.0
        self._writes_changed = threading.Condition()
        self._collection = WhileBusy(QUIET_SECONDS)
        self._collector: threading.Thread | None = None

    @contextmanager
    def writing(self, inputs: int) -> Iterator[None]:
        """Hold the write lock for one batch of ``inputs`` (writes take turns); the runner
        gives way, and automatic garbage collection is off while writes keep coming."""
        with self._writes_changed:
            self._writes += 1
            self._collection.started()
            self._writes_changed.notify_all()
        try:
            with self.write_lock:
                try:
                    yield
                finally:
                    self._collection.done(inputs)
        finally:
            with self._writes_changed:
                self._writes -= 1
                self._last_write = time.monotonic()
                self._writes_changed.notify_all()

    def _collect_when_quiet(self) -> None:
        """Turn automatic collection on again once the writes have stopped."""
        with self._writes_changed:
            while not self._stop.is_set():
                if self._collection.resume_if_quiet(busy=self._writes > 0):
                    continue
                wait = None if self._writes else self._collection.quiet_in()
                self._writes_changed.wait(wait)

    def _give_way(self) -> None:
        """Wait while writes keep coming (at most ``MAX_DEFER_SECONDS``)."""
        deadline = time.monotonic() + MAX_DEFER_SECONDS
        with self._writes_changed:
            while not self._stop.is_set():
                now = time.monotonic()
                quiet_at = self._last_write + QUIET_SECONDS
                if now >= deadline or (self._writes == 0 and now >= quiet_at):
                    return
                until = deadline if self._writes else min(quiet_at, deadline)
                self._writes_changed.wait(until - now)

    def start(self) -> None:
        """Start following the log (the read models stay close behind the writes), and
        the thread that ends the writes' collection policy when they stop."""
        if self._collector is None:
            self._collector = threading.Thread(
                target=self._collect_when_quiet, name="collection", daemon=True
            )
            self._collector.start()
        if self._follow and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="projections", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        projector = Projector(self.app, self.engine)
        while not self._stop.is_set():
            self._give_way()
            if self._stop.is_set():
                break
            try:
                report = projector.catch_up()
            except Exception as error:  # keep trying; /readyz says so once it lasts
                self._error = f"{type(error).__name__}: {error}"
                log.warning("projection runner: %s", self._error)
                self._stop.wait(POLL_SECONDS)
                continue
            self._progress, self._error = time.monotonic(), None
            if not any(report.applied.values()):
                self._stop.wait(POLL_SECONDS)

    def readiness(self) -> Readiness:
        """Ready when the database answers and the read models are within ``max_lag``
        events of the log, with a catch-up completed in the last ``stall_seconds``
        (when they are behind at all)."""
        since = time.monotonic() - self._progress
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            where = lag(self.app, self.engine)
        except Exception as error:
            return Readiness(False, 0, 0, since, f"database unreachable: {type(error).__name__}")
        behind = where.behind
        if behind > self.max_lag:
            detail = f"read models {behind} events behind the log (at most {self.max_lag})"
            return Readiness(False, where.head, behind, since, detail)
        if behind and self._follow and since > self.stall_seconds:
            why = f" ({self._error})" if self._error else ""
            detail = (
                f"read models {behind} events behind and no catch-up completed for "
                f"{since:.0f} s (at most {self.stall_seconds:.0f}){why}"
            )
            return Readiness(False, where.head, behind, since, detail)
        return Readiness(True, where.head, behind, since, "ready")

    def close(self) -> None:
        """Stop following and release the database."""
        self._stop.set()
        with self._writes_changed:
            self._writes_changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._collector is not None:
            self._collector.join(timeout=30)
        self.group_commit.close()
        self._collection.end()
        self.app.close()
        self.engine.dispose()
