"""CLI commands of the distributed ledger: consume, relay, emit.

These are the composition root for ``consumers/`` (Kafka services), so this module is
the one place under ``ledger/`` that imports them.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from consumers.emit import emit as emit_lines
from consumers.ingest import ConsumerSettings, IngestConsumer
from consumers.kafka import (
    ALERTS,
    ENV_BOOTSTRAP,
    EVENTS,
    GROUP,
    INBOUND,
    REJECTED,
    GroupTiming,
    bootstrap_servers,
    producer,
)
from consumers.relay import RejectionOutbox, Relay
from ledger.app import opened
from ledger.cli import DbOption, JsonOption, app, fail, out, print_json, read_lines
from ledger.ingest import Outcome
from ledger.projector import engine_for
from ledger.settings import resolve_database

BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        envvar=ENV_BOOTSTRAP,
        help="Kafka bootstrap servers, HOST:PORT[,HOST:PORT].",
        show_default=False,
    ),
]


def _servers(value: str | None) -> str:
    try:
        return bootstrap_servers(value)
    except ValueError as error:
        fail(str(error))


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _log_to_stderr() -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@app.command()
def consume(
    bootstrap: BootstrapOption = None,
    db: DbOption = None,
    topic: Annotated[str, typer.Option(help="Topic to consume.")] = INBOUND,
    group: Annotated[str, typer.Option(help="Consumer group id.")] = GROUP,
    rejected_topic: Annotated[str, typer.Option(help="Where rejections go.")] = REJECTED,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per batch.")] = 1000,
    session_timeout_ms: Annotated[int, typer.Option(min=1000)] = 10_000,
    heartbeat_interval_ms: Annotated[int, typer.Option(min=100)] = 1_000,
    max_poll_interval_ms: Annotated[int, typer.Option(min=1000)] = 60_000,
) -> None:
    """Consume envelopes from Kafka into the ledger, exactly once; SIGTERM stops cleanly."""
    servers = _servers(bootstrap)
    _log_to_stderr()
    database = resolve_database(db)
    settings = ConsumerSettings(
        servers,
        topic=topic,
        group=group,
        batch_size=batch_size,
        timing=GroupTiming(session_timeout_ms, heartbeat_interval_ms, max_poll_interval_ms),
    )
    stop = _stop_on_signals()
    with opened(database) as ledger:
        publisher = producer(servers, f"{group}-rejections")
        outbox = RejectionOutbox(ledger, engine_for(database), publisher, rejected_topic)
        member = IngestConsumer(ledger, settings, outbox=outbox)
        _say(f"consuming {topic} as group {group} into {database.label}")

        def batch(outcomes: list[Outcome], totals: dict[str, Any]) -> None:
            _say(
                f"batch: {len(outcomes)} inputs; totals: {totals['inputs']} inputs, "
                f"{totals['accepted']} accepted, {totals['duplicates']} duplicate, "
                f"{totals['rejected']} rejected"
            )

        report = member.run(stop, on_batch=batch)
        publisher.close()
    _say(f"stopped after {report.inputs} inputs: {report.as_dict()}")


@app.command()
def relay(
    bootstrap: BootstrapOption = None,
    db: DbOption = None,
    events_topic: Annotated[str, typer.Option(help="Every stored event.")] = EVENTS,
    alerts_topic: Annotated[str, typer.Option(help="Breaches, expiries, churn risk.")] = ALERTS,
    follow: Annotated[bool, typer.Option("--follow", help="Keep publishing.")] = False,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
    json: JsonOption = False,
) -> None:
    """Publish stored events, in log order, to Kafka (at least once); resumes after a restart."""
    servers = _servers(bootstrap)
    database = resolve_database(db)
    with opened(database) as ledger:
        publisher = producer(servers, "ledger-relay")
        relayer = Relay(
            ledger,
            engine_for(database),
            publisher,
            events_topic=events_topic,
            alerts_topic=alerts_topic,
        )
        published = relayer.publish_new()
        if follow:
            _say(f"relaying {database.label} to {events_topic}; SIGTERM stops")
            relayer.follow(
                _stop_on_signals(),
                poll_seconds=poll,
                on_publish=lambda n, at: _say(f"published {n} events, up to {at}"),
            )
        position = relayer.position.get()
        publisher.close()
    if json:
        print_json({"published": published, "position": position})
    else:
        out.print(f"published {published} events to {events_topic}; relayed up to {position}")


@app.command()
def emit(
    file: Annotated[str, typer.Argument(help="A JSON Lines file of envelopes; - reads stdin.")],
    bootstrap: BootstrapOption = None,
    topic: Annotated[str, typer.Option(help="Topic to produce to.")] = INBOUND,
    json: JsonOption = False,
) -> None:
    """Produce a JSON Lines file to Kafka, keyed by subject (idempotent, acks=all)."""
    if file != "-" and not Path(file).is_file():
        fail(f"no such file: {file}")
    servers = _servers(bootstrap)
    publisher = producer(servers, "ledger-emit")
    try:
        sent = emit_lines(publisher, topic, (line for line, _ in read_lines(file)))
    finally:
        publisher.close()
    if json:
        print_json({"sent": sent, "topic": topic})
    else:
        out.print(f"sent {sent} lines to {topic}")
