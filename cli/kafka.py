"""Commands of the distributed ledger: consume, relay, emit and status (``consumers/``
holds the Kafka services)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import (
    DbOption,
    JsonOption,
    ask,
    fail,
    out,
    print_json,
    read_lines,
    stop_on_signals,
)
from cli.render import counts, print_status
from consumers.kafka import ALERTS, ENV_BOOTSTRAP, EVENTS, GROUP, INBOUND, REJECTED
from ledger.adapters.settings import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from ledger.adapters.event_store import LedgerApp
    from ledger.services.intake import Outcome

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
    from consumers.kafka import bootstrap_servers

    try:
        return bootstrap_servers(value)
    except ValueError as error:
        fail(str(error))


def _log_to_stderr() -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def consume(
    bootstrap: BootstrapOption = None,
    db: DbOption = None,
    topic: Annotated[str, typer.Option(help="Topic to consume.")] = INBOUND,
    group: Annotated[str, typer.Option(help="Consumer group id.")] = GROUP,
    rejected_topic: Annotated[str, typer.Option(help="Where rejections go.")] = REJECTED,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per batch.")] = DEFAULT_BATCH_SIZE,
    session_timeout_ms: Annotated[int, typer.Option(min=1000)] = 10_000,
    heartbeat_interval_ms: Annotated[int, typer.Option(min=100)] = 1_000,
    max_poll_interval_ms: Annotated[int, typer.Option(min=1000)] = 60_000,
    require_signed: Annotated[
        bool,
        typer.Option(
            "--require-signed",
            help="Take only records signed by a known producer (ledger-producer and "
            "ledger-signature headers); reject and keep the rest (R-AUTH-4, R-AUTH-5), and "
            "check each signed record against its producer's scope (R-AUTH-1..3).",
        ),
    ] = False,
) -> None:
    """Consume envelopes from Kafka into the ledger, exactly once; SIGTERM stops cleanly."""
    from functools import partial

    from consumers.ingest import ConsumerSettings, IngestConsumer
    from consumers.kafka import GroupTiming, producer
    from consumers.relay import RejectionOutbox
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database

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
    stop = stop_on_signals()
    with opened(database) as ledger:
        publisher = producer(servers, f"{group}-rejections")
        outbox = RejectionOutbox(ledger, engine_for(database), publisher, rejected_topic)
        verifier = None
        if require_signed:
            from ledger.services.principals import verify_records

            verifier = partial(verify_records, engine_for(database))
        member = IngestConsumer(ledger, settings, outbox=outbox, verifier=verifier)
        signed = ", signed records only" if require_signed else ""
        _say(f"consuming {topic} as group {group} into {database.label}{signed}")

        def batch(outcomes: list[Outcome], totals: dict[str, Any]) -> None:
            _say(
                f"batch: {len(outcomes)} inputs; totals: {totals['inputs']} inputs, "
                f"{totals['accepted']} accepted, {totals['duplicates']} duplicate, "
                f"{totals['rejected']} rejected"
            )

        report = member.run(stop, on_batch=batch)
        publisher.close()
    _say(
        f"stopped after {report.inputs} inputs: {report.accepted} accepted, "
        f"{report.duplicates} duplicate, {report.deferred} deferred, {report.rejected} rejected"
        + (f" (by rule: {counts(dict(report.by_rule))})" if report.by_rule else "")
    )


def relay(
    bootstrap: BootstrapOption = None,
    db: DbOption = None,
    events_topic: Annotated[str, typer.Option(help="Every stored event.")] = EVENTS,
    alerts_topic: Annotated[
        str, typer.Option(help="Breaches, warnings, expiries, churn risk.")
    ] = ALERTS,
    follow: Annotated[bool, typer.Option("--follow", help="Keep publishing.")] = False,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
    json: JsonOption = False,
) -> None:
    """Publish stored events, in log order, to Kafka (at least once); resumes after a restart."""
    from consumers.kafka import producer
    from consumers.relay import Relay
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database

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
                stop_on_signals(),
                poll_seconds=poll,
                on_publish=lambda n, at: _say(f"published {n} events, up to {at}"),
            )
        position = relayer.position.get()
        publisher.close()
    if json:
        print_json({"published": published, "position": position})
    else:
        out().print(f"published {published} events to {events_topic}; relayed up to {position}")


def emit(
    file: Annotated[str, typer.Argument(help="A JSON Lines file of envelopes; - reads stdin.")],
    bootstrap: BootstrapOption = None,
    topic: Annotated[str, typer.Option(help="Topic to produce to.")] = INBOUND,
    dependencies_first: Annotated[
        bool,
        typer.Option(
            "--dependencies-first",
            help="Send onboardings and SLA policy events first and wait until the ledger "
            "(--db, --group) has consumed them, then the rest.",
        ),
    ] = False,
    db: DbOption = None,
    group: Annotated[str, typer.Option(help="With --dependencies-first: the consumers.")] = GROUP,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the consumers.")] = 300,
    producer_name: Annotated[
        str | None,
        typer.Option(
            "--producer",
            help="Sign every record as this producer (headers ledger-producer and "
            "ledger-signature), with the token from $LEDGER_TOKEN.",
            show_default=False,
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Produce a JSON Lines file to Kafka, keyed by subject (idempotent, acks=all)."""
    import os

    from consumers.emit import emit as emit_lines
    from consumers.emit import emit_dependencies_first, signed_by
    from consumers.kafka import producer
    from ledger.adapters.event_store import opened
    from ledger.adapters.settings import resolve_database
    from ledger.services.principals import ENV_TOKEN

    if file != "-" and not Path(file).is_file():
        fail(f"no such file: {file}")
    signer = None
    if producer_name is not None:
        token = os.environ.get(ENV_TOKEN, "").strip()
        if not token:
            fail(f"--producer {producer_name} signs with its token: set {ENV_TOKEN}")
        signer = signed_by(producer_name, token)
    servers = _servers(bootstrap)
    publisher = producer(servers, "ledger-emit")
    lines = (line for line, _ in read_lines(file))
    try:
        if dependencies_first:
            with opened(resolve_database(db)) as ledger:
                wait = _consumed_by(ledger, group, topic, timeout)
                sent = emit_dependencies_first(publisher, topic, lines, wait, signer)
        else:
            sent = emit_lines(publisher, topic, lines, signer)
    finally:
        publisher.close()
    if json:
        signed_as = {} if producer_name is None else {"producer": producer_name}
        print_json({"sent": sent, "topic": topic, **signed_as})
    else:
        signed = f", signed as {producer_name}" if producer_name else ""
        out().print(f"sent {sent} lines to {topic}{signed}")


def _consumed_by(
    ledger: LedgerApp, group: str, topic: str, timeout: float
) -> Callable[[dict[int, int]], None]:
    def wait(offsets: dict[int, int]) -> None:
        deadline = time.monotonic() + timeout
        while True:
            stored = {
                p.partition: p.offset for p in ledger.store.positions(group) if p.topic == topic
            }
            if all(stored.get(partition, -1) >= offset for partition, offset in offsets.items()):
                return
            if time.monotonic() > deadline:
                fail(f"consumer group {group} did not consume {topic} within {timeout:.0f} s")
            time.sleep(0.5)  # polling another process's progress in the database

    return wait


def status(db: DbOption = None, json: JsonOption = False) -> None:
    """Where everything stands: the log, projections, publishers, consumers, rejections."""
    from ledger.adapters.settings import resolve_database
    from ledger.services import answers

    report = ask(db, answers.status, resolve_database(db).label)
    if json:
        print_json(report)
        return
    print_status(report)


def register(app: typer.Typer) -> None:
    """Add this family's commands to ``app``."""
    for command in (consume, relay, emit, status):
        app.command()(command)
