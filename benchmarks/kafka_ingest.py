"""End-to-end ingest from Kafka into the ledger: emit a demo stream, consume, time it.

    python -m benchmarks.kafka_ingest [--customers 240] [--partitions 6] [--batch-size 1000]
        [--db postgresql+psycopg://...?schema=...] [--bootstrap HOST:PORT]

Without ``--bootstrap`` a tansu broker is started for the run. The stream is emitted
dependencies first (onboardings, SLA policy) and consumed; then the rest is emitted in
full and a fresh group member resumes from the stored positions. The figure is that
member's rate from its first batch to its last (the group join is not counted): poll,
validate, decide, one PostgreSQL transaction per batch with its Kafka positions, and
the Kafka offset commit.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from consumers.emit import depended_on, emit
from consumers.ingest import ConsumerSettings, IngestConsumer
from consumers.kafka import producer
from ledger.app import opened
from ledger.demo import DemoSpec, generate
from ledger.settings import resolve_database
from tests.kafka_support import FAST_GROUPS, broker, new_topic


@contextlib.contextmanager
def broker_for(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
    else:
        yield from broker()


def consume_until(member: IngestConsumer, count: int) -> list[tuple[float, int]]:
    """Run the member until it consumed ``count`` inputs; (time, inputs) after each batch."""
    stop, marks = threading.Event(), []

    def on_batch(_: Any, totals: dict[str, Any]) -> None:
        marks.append((time.perf_counter(), totals["inputs"]))
        if totals["inputs"] >= count:
            stop.set()

    member.run(stop, on_batch=on_batch)
    return marks


def measure(
    bootstrap: str, database: Any, lines: list[bytes], partitions: int, batch_size: int
) -> dict[str, float]:
    """Emit, consume and store ``lines`` through Kafka; rates in inputs per second."""
    first = [x for x in lines if depended_on(x)]
    rest = [x for x in lines if not depended_on(x)]
    with opened(database) as ledger:
        topic = new_topic(bootstrap, partitions, "bench")
        settings = ConsumerSettings(
            bootstrap,
            topic=topic,
            group=f"bench-{uuid.uuid4().hex[:6]}",
            batch_size=batch_size,
            timing=FAST_GROUPS,
        )
        publisher = producer(bootstrap, "bench")
        emit(publisher, topic, first)
        consume_until(IngestConsumer(ledger, settings), len(first))
        start = time.perf_counter()
        emit(publisher, topic, rest)
        produced = time.perf_counter() - start
        publisher.close()
        member = IngestConsumer(ledger, settings)
        marks = consume_until(member, len(rest))
    (t0, n0), (t1, n1) = marks[0], marks[-1]
    return {
        "emit_per_s": len(rest) / produced,
        "consume_store_per_s": (n1 - n0) / (t1 - t0),
        "inputs": float(len(lines)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=240)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument(
        "--db",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test?schema=bench_kafka_"
        + uuid.uuid4().hex[:6],
    )
    args = parser.parse_args()
    lines = [line.raw for line in generate(DemoSpec(seed=7, customers=args.customers))]
    database = resolve_database(args.db)
    with broker_for(args.bootstrap) as bootstrap:
        figures = measure(bootstrap, database, lines, args.partitions, args.batch_size)
    print(f"database: {database.label}; {len(lines)} lines, {args.partitions} partitions")
    print(f"emit (idempotent, acks=all): {figures['emit_per_s']:,.0f} msgs/s")
    print(f"consume -> ledger: {figures['consume_store_per_s']:,.0f} inputs/s")


if __name__ == "__main__":
    main()
