"""End-to-end ingest from Kafka into the ledger: emit a demo stream, consume, time it.

    python -m benchmarks.kafka_ingest [--customers 240] [--partitions 6] [--batch-size 5000]
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
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from consumers.emit import depended_on, emit
from consumers.ingest import ConsumerSettings, IngestConsumer
from consumers.kafka import producer
from demo.quarter import DemoSpec, generate
from ledger.adapters.event_store import LedgerApp, opened
from ledger.adapters.projector import Projector, engine_for, positions
from ledger.adapters.settings import Database, resolve_database
from ledger.services.intake import DEFAULT_BATCH_SIZE
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


def _setup(
    bootstrap: str, lines: list[bytes], partitions: int, batch_size: int
) -> tuple[list[bytes], list[bytes], ConsumerSettings]:
    """The lines others depend on, the rest, and a consumer group on a fresh topic."""
    first = [x for x in lines if depended_on(x)]
    rest = [x for x in lines if not depended_on(x)]
    settings = ConsumerSettings(
        bootstrap,
        topic=new_topic(bootstrap, partitions, "bench"),
        group=f"bench-{uuid.uuid4().hex[:6]}",
        batch_size=batch_size,
        timing=FAST_GROUPS,
    )
    return first, rest, settings


def measure(
    bootstrap: str, database: Any, lines: list[bytes], partitions: int, batch_size: int
) -> dict[str, float]:
    """Emit, consume and store ``lines`` through Kafka; rates in inputs per second."""
    first, rest, settings = _setup(bootstrap, lines, partitions, batch_size)
    topic = settings.topic
    with opened(database) as ledger:
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


def pipelined(
    bootstrap: str, database: Database, lines: list[bytes], partitions: int, batch_size: int
) -> dict[str, float]:
    """The deployed shape: a producer process, this process consuming and storing, and
    ``ledger project --follow`` in a third, all at once. Inputs per second from the
    producer's first send to the read models holding the last event.

    Dependencies are sent, consumed and projected first, so the group join and the
    processes' start-up are not counted.
    """
    first, rest, settings = _setup(bootstrap, lines, partitions, batch_size)
    topic = settings.topic
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (tmp / "first").write_bytes(b"".join(x + b"\n" for x in first))
        (tmp / "rest").write_bytes(b"".join(x + b"\n" for x in rest))
        ledger = stack.enter_context(opened(database))
        consumed, stop = _Progress(), threading.Event()
        member = IngestConsumer(ledger, settings)
        worker = threading.Thread(
            target=member.run, args=(stop,), kwargs={"on_batch": consumed.update}
        )
        worker.start()
        stack.callback(worker.join)
        stack.callback(stop.set)
        _emit_in_child(bootstrap, topic, tmp / "first").wait_done()
        consumed.wait_for(len(first))
        engine = engine_for(database)
        stack.callback(engine.dispose)
        Projector(ledger, engine)  # the read-model tables, before the other process looks
        projector = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "project",
                "--follow",
                "--poll",
                "0.05",
                "--db",
                database.url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(projector.wait)
        stack.callback(projector.terminate)
        _wait_projected(ledger, engine, stop)
        emitter = _emit_in_child(bootstrap, topic, tmp / "rest")
        start = time.perf_counter()
        emitter.go()
        consumed.wait_for(len(lines))
        stored = time.perf_counter()
        _wait_projected(ledger, engine, stop)
        projected = time.perf_counter()
        emitted = emitter.wait_done()
    return {
        "pipelined_per_s": len(rest) / (projected - start),
        "pipelined_store_per_s": len(rest) / (stored - start),
        "pipelined_emit_per_s": len(rest) / emitted,
    }


class _Progress:
    """Inputs consumed so far, as the consumer thread reports them."""

    def __init__(self) -> None:
        self.inputs = 0
        self.changed = threading.Condition()

    def update(self, _: Any, totals: dict[str, Any]) -> None:
        with self.changed:
            self.inputs = totals["inputs"]
            self.changed.notify_all()

    def wait_for(self, inputs: int) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.inputs >= inputs)


def _wait_projected(ledger: LedgerApp, engine: Engine, stop: threading.Event) -> None:
    """Until every projection's position is the log's head (polled: another process)."""
    head = ledger.store.max_notification_id() or 0
    while min(positions(engine).values(), default=0) < head:
        stop.wait(0.02)


class _Emitter:
    """A producer process that has read its lines and waits for ``go``."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        self.child = child
        self.started = False
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"

    def go(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.write("go\n")
        self.child.stdin.flush()
        self.started = True

    def wait_done(self) -> float:
        """Seconds the child took to send and confirm every line (``go`` if not yet)."""
        out, _ = self.child.communicate(None if self.started else "go\n")
        return float(out.split()[-1])


def _emit_in_child(bootstrap: str, topic: str, lines: Path) -> _Emitter:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.kafka_ingest",
            "--emit",
            str(lines),
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return _Emitter(child)


def _emit_child(bootstrap: str, topic: str, lines: Path) -> None:
    publisher = producer(bootstrap, "bench")
    payloads = lines.read_bytes().splitlines()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    emit(publisher, topic, payloads)
    print(time.perf_counter() - start, flush=True)
    publisher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=240)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--emit", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument(
        "--db",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test?schema=bench_kafka_"
        + uuid.uuid4().hex[:6],
    )
    args = parser.parse_args()
    if args.emit:
        _emit_child(args.bootstrap, args.topic, args.emit)
        return
    lines = [line.raw for line in generate(DemoSpec(seed=7, customers=args.customers))]
    database = resolve_database(args.db)
    with broker_for(args.bootstrap) as bootstrap:
        figures = measure(bootstrap, database, lines, args.partitions, args.batch_size)
    print(f"database: {database.label}; {len(lines)} lines, {args.partitions} partitions")
    print(f"emit (idempotent, acks=all): {figures['emit_per_s']:,.0f} msgs/s")
    print(f"consume -> ledger: {figures['consume_store_per_s']:,.0f} inputs/s")


if __name__ == "__main__":
    main()
