"""Audit costs on a demo-generated history: checkpoint, verify, export, replay, report.

    python -m benchmarks.audit [--customers 240] [--db PATH_OR_URL]

Ingests a seeded demo quarter into a fresh database, then times the first checkpoint
(every event checked and hashed into the tree), a full verify, a full export with
inclusion proofs and its offline check, and replays of the ticket with the most events
(p50 and p99 of 50 runs), and prints the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from demo.quarter import DemoSpec, generate
from ledger.adapters.event_store import opened
from ledger.adapters.projector import engine_for
from ledger.adapters.settings import resolve_database
from ledger.services.intake import Ingestor, Input
from replay.checkpoint import take_checkpoint
from replay.export import Selection, export
from replay.export_verify import verify_export
from replay.history import replay_ticket
from replay.keys import ENV_KEY, signing_key
from replay.report import render_report
from replay.verify import verify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=240)
    parser.add_argument("--db", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp())
    os.environ.setdefault(ENV_KEY, str(scratch / "bench-key.pem"))
    database = resolve_database(args.db or str(scratch / "bench.db"))
    lines = generate(DemoSpec(seed=7, customers=args.customers))
    key = signing_key(create=True)
    with opened(database) as ledger:
        Ingestor(ledger).ingest(Input(line.raw, "bench") for line in lines)
        engine = engine_for(database)
        events = ledger.store.max_notification_id() or 0

        def timed(label: str, run: object) -> float:
            start = time.perf_counter()
            run()  # type: ignore[operator]
            seconds = time.perf_counter() - start
            print(f"{label}: {seconds:.2f} s, {events / seconds:,.0f} events/s")
            return seconds

        now = datetime.now(UTC)
        print(f"database: {database.label}; {events} events")
        timed("first checkpoint", lambda: take_checkpoint(ledger, engine, key, now))
        timed("verify", lambda: verify(ledger, engine, key.public_key()))
        timed(
            "export (jsonl, inclusion proofs)",
            lambda: export(
                ledger,
                engine,
                key,
                scratch / "x",
                Selection(),
                fmt="jsonl",
                now=now,
                purpose="benchmark",
            ),
        )
        timed("verify-export (offline)", lambda: verify_export(scratch / "x"))
        busiest, size = Counter(
            e.originator_id for e in ledger.log_events() if e.originator_id.startswith("T-")
        ).most_common(1)[0]
        latencies = []
        for _ in range(50):
            start = time.perf_counter()
            view = replay_ticket(ledger, busiest, now)
            latencies.append((time.perf_counter() - start) * 1000)
        cuts = statistics.quantiles(latencies, n=100)
        print(
            f"replay {busiest} ({size} events) as of now: p50 {cuts[49]:.1f} ms, "
            f"p99 {cuts[98]:.1f} ms"
        )
        assert view is not None
        start = time.perf_counter()
        page = render_report(view)
        print(
            f"report of {busiest}: {(time.perf_counter() - start) * 1000:.1f} ms, "
            f"{len(page) / 1024:.0f} KiB"
        )


if __name__ == "__main__":
    main()
