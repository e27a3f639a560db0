"""Which persistence module for the event store: eventsourcing's own, or eventsourcing-sqlalchemy?

Measures batched ingest (1000 events per save, ~200 hot tickets plus a long tail, Zipf-ish,
aggregates cached across batches) and one save per event, on SQLite and PostgreSQL, for
both modules, with the ledger's own Ticket aggregate (string ids). Prints a table and
writes benchmarks/results/store_choice.json.

    .venv/bin/python benchmarks/store_choice.py [--events 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import eventsourcing
import psycopg
from eventsourcing.application import Application

from ledger.aggregates.base import EventMeta
from ledger.aggregates.ticket import Ticket

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
SCHEMA = f"bench_store_{os.getpid()}"
T0 = datetime(2026, 1, 5, tzinfo=UTC)


class Bench(Application[str]):
    """A plain application over the ledger's aggregates."""


def env_for(backend: str, module: str, path: Path) -> dict[str, str]:
    if module == "native" and backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "ORIGINATOR_ID_TYPE": "text",
        }
    if module == "native":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": PG["dbname"],
            "POSTGRES_HOST": PG["host"],
            "POSTGRES_PORT": "5432",
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "",
            "POSTGRES_SCHEMA": SCHEMA,
            "ORIGINATOR_ID_TYPE": "text",
        }
    url = (
        f"sqlite:///{path}"
        if backend == "sqlite"
        else ("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    env = {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url}
    if backend == "postgres":
        env["SQLALCHEMY_SCHEMA"] = SCHEMA
    return env


def subjects(count: int, seed: int) -> list[str]:
    """Zipf-ish: 200 hot tickets take most events, a long tail the rest."""
    rng = random.Random(seed)
    hot = [f"T-{n}" for n in range(200)]
    return [
        rng.choice(hot) if rng.random() < 0.8 else f"T-{1000 + rng.randrange(count)}"
        for _ in range(count)
    ]


def meta(n: int) -> EventMeta:
    at = T0 + timedelta(seconds=n)
    return EventMeta(f"e-{n}", at, "se-ana", "support_engineer", "bench", at)


def run(app: Bench, plan: list[str], per_save: int, uuid_ids: bool) -> float:
    """Events per second; eventsourcing-sqlalchemy 1.0.1 stores only UUID ids, so it gets
    ``uuid5`` of the business key (the native module stores the key itself)."""
    cache: dict[Any, Ticket] = {}
    pending: dict[Any, Ticket] = {}
    started = time.perf_counter()
    for n, key in enumerate(plan):
        subject: Any = uuid.uuid5(uuid.NAMESPACE_URL, key) if uuid_ids else key
        ticket = cache.get(subject)
        if ticket is None:
            ticket = Ticket.open(
                subject,
                meta(n),
                customer_tier="enterprise",
                policy_version=1,
                customer_id="C-1",
                channel="support_portal",
                title="jobs fail on the rendering cluster " * 3,
                description="all dubbing jobs fail since 16:10 " * 4,
                severity=1,
                category="platform_down",
            )
            cache[subject] = ticket
        else:
            ticket.post_update(meta(n), "mitigation in progress, next update in an hour " * 3)
        pending[subject] = ticket
        if sum(len(t.pending_events) for t in pending.values()) >= per_save:
            app.save(*pending.values())
            pending.clear()
    if pending:
        app.save(*pending.values())
    return len(plan) / (time.perf_counter() - started)


def reset_pg() -> None:
    with psycopg.connect(**PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")


def measure(backend: str, module: str, per_save: int, events: int, repeat: int) -> float:
    rates = []
    for attempt in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "postgres":
                reset_pg()
            app = Bench(env=env_for(backend, module, Path(tmp) / "bench.db"))
            rates.append(run(app, subjects(events, attempt), per_save, module == "sqlalchemy"))
            app.close()
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--single-events", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["EVENTSOURCING_DISABLE_REDEFINITION_CHECK"] = "y"
    rows: list[dict[str, Any]] = []
    for backend in ("sqlite", "postgres"):
        for module in ("native", "sqlalchemy"):
            batched = measure(backend, module, 1000, args.events, args.repeat)
            single = measure(backend, module, 1, args.single_events, args.repeat)
            rows.append(
                {
                    "backend": backend,
                    "module": module,
                    "batched_events_per_s": round(batched),
                    "one_save_per_event_per_s": round(single),
                }
            )
            print(
                f"{backend:9} {module:11} batched {batched:9.0f}/s   one save per event "
                f"{single:7.0f}/s",
                flush=True,
            )
    with psycopg.connect(**PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "versions": {
            "eventsourcing": eventsourcing.__version__
            if hasattr(eventsourcing, "__version__")
            else "9.5.6"
        },
        "settings": vars(args),
        "results": rows,
    }
    out = Path(__file__).parent / "results" / "store_choice.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
