"""Projection catch-up and rebuild rates on a demo-generated history.

    python benchmarks/projection_catch_up.py [--customers 240] [--db PATH_OR_URL]

Ingests a seeded demo quarter into a fresh database, then times ``Projector.catch_up``
from zero (every projection) and ``Projector.rebuild()``, and prints events per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from demo.quarter import DemoSpec, generate
from ledger.adapters.event_store import opened
from ledger.adapters.projector import Projector, engine_for, read_models
from ledger.adapters.settings import resolve_database
from ledger.services.intake import Ingestor, Input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=240)
    parser.add_argument("--db", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    url = args.db or str(Path(tempfile.mkdtemp()) / "bench.db")
    database = resolve_database(url)
    lines = generate(DemoSpec(seed=7, customers=args.customers))
    with opened(database) as ledger:
        Ingestor(ledger).ingest(Input(line.raw, "bench") for line in lines)
        events = ledger.store.max_notification_id() or 0
        engine = engine_for(database)
        projector = Projector(ledger, engine)
        start = time.perf_counter()
        projector.catch_up()
        catch_up = time.perf_counter() - start
        start = time.perf_counter()
        projector.rebuild()
        rebuild = time.perf_counter() - start
        rows = sum(len(r) for r in read_models(engine).values())
    projections = len(projector.projections)
    print(f"database: {database.label}; {events} events; {rows} read-model rows")
    print(
        f"catch-up from zero ({projections} projections): {catch_up:.2f} s, "
        f"{events / catch_up:,.0f} log events/s"
    )
    print(f"rebuild all: {rebuild:.2f} s, {events / rebuild:,.0f} log events/s")


if __name__ == "__main__":
    main()
