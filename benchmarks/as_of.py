"""Questions about now and about a past instant, on the ledger a harness run just built.

* ``board_live`` / ``board_past`` / ``board_past_known``: the SLA board (``sla list
  --breached``: the timer records of the question, then ``sla_board``) as of the end of
  the log, as of mid-quarter, and as of mid-quarter known at the middle of the ingest,
  in-process, p50 and p99;
* ``metrics_past``: R-MET figures for the quarter as of mid-quarter (the rows of the read
  models as of then, then ``metrics``), in-process;
* ``rss_mb``: the peak RSS of a fresh process asking each question once (its imports
  included), beside one that only imports what it needs (``baseline``).

``board_past_vs_live`` is the p50 of the past board over the live one's.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp, opened
from ledger.adapters.projector import engine_for
from ledger.adapters.settings import resolve_database
from ledger.projections.metrics import metrics
from ledger.projections.sla import sla_board
from ledger.services.reads import metrics_rows, timer_records

QUARTER = (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC))
PAST = QUARTER[0] + timedelta(days=45)


def _quantiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p99_ms": cuts[98], "runs": float(len(samples))}


def _timed(runs: int, question: Callable[[], object]) -> dict[str, float]:
    question()  # warm: the first run pays the imports and the catch-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        question()
        samples.append((time.perf_counter() - start) * 1000)
    return _quantiles(samples)


def _board(app: LedgerApp, engine: Engine, as_of: datetime, known_at: datetime | None) -> int:
    records = timer_records(app, engine, as_of, known_at, breached=True)
    return len(sla_board(records, as_of, breached=True))


def _metrics(app: LedgerApp, engine: Engine, as_of: datetime) -> dict[str, Any]:
    return metrics(metrics_rows(app, engine, as_of, None, *QUARTER), as_of, *QUARTER)


def _middle_of_ingest(app: LedgerApp) -> datetime:
    head = app.store.max_notification_id() or 0
    (notification,) = app.store.select_notifications(start=max(1, head // 2), limit=1)
    event = app.mapper.to_domain_event(notification)
    recorded: datetime = event.recorded_at  # type: ignore[attr-defined]
    return recorded


def _now(app: LedgerApp) -> datetime:
    return max(e.occurred_at for e in app.log_events()) + timedelta(days=1)


def as_of_queries(url: str, runs: int) -> dict[str, Any]:
    """Every measure on the ledger at ``url`` (caught up beforehand)."""
    database = resolve_database(url)
    with opened(database) as app:
        engine = engine_for(database)
        now, known = _now(app), _middle_of_ingest(app)
        figures: dict[str, Any] = {
            "board_live": _timed(runs, lambda: _board(app, engine, now, None)),
            "board_past": _timed(runs, lambda: _board(app, engine, PAST, None)),
            "board_past_known": _timed(runs, lambda: _board(app, engine, PAST, known)),
            "metrics_past": _timed(max(3, runs // 5), lambda: _metrics(app, engine, PAST)),
            "breached_live": _board(app, engine, now, None),
            "breached_past": _board(app, engine, PAST, None),
        }
        engine.dispose()
    figures["board_past_vs_live"] = (
        figures["board_past"]["p50_ms"] / figures["board_live"]["p50_ms"]
    )
    figures["rss_mb"] = {
        name: _child_rss(name, url) for name in ("baseline", "board_past", "metrics_past")
    }
    return figures


def _child_rss(question: str, url: str) -> float:
    """Peak RSS (MB) of a fresh process asking one question."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.as_of", question, url],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def _child(question: str, url: str) -> None:
    database = resolve_database(url)
    with opened(database) as app:
        engine = engine_for(database)
        if question == "board_past":
            _board(app, engine, PAST, None)
        elif question == "metrics_past":
            _metrics(app, engine, PAST)
        engine.dispose()
    peak_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
    print(json.dumps({"peak_rss_mb": peak_kb / 1024}))


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
