"""The distributed ledger against a real Kafka-protocol broker and the real PostgreSQL.

The broker is tansu, started once for this module on a free loopback port (or
``KAFKA_BOOTSTRAP``). Every test uses fresh topics and a fresh consumer group.

Most streams are emitted in two phases: onboardings and SLA policy events first, then
the rest. Kafka keeps order per subject only; a ``ticket.opened`` that overtakes its
customer's onboarding on another partition waits for it (R-IN-6), and one test emits
the stream plainly to show the ledger ends the same.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from consumers.emit import depended_on, emit
from consumers.ingest import ConsumerSettings, IngestConsumer
from consumers.kafka import producer
from consumers.relay import RejectionOutbox, Relay
from demo.quarter import DemoSpec, generate, quarter_end
from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.projector import Projector, engine_for, read_models
from ledger.adapters.settings import Database, resolve_database
from ledger.projections.registry import fold
from ledger.services.intake import Ingestor, IngestReport, Input
from ledger.services.queries import log_events
from ledger.services.tick import tick
from tests.conftest import PG_URL
from tests.kafka_support import FAST_GROUPS, broker, new_topic, read_topic
from tests.support import Envelopes

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

RECORDED = {"last_recorded_at", "recorded_at"}  # transaction time differs between runs


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    yield from broker()


@pytest.fixture
def pg_url(pg_database: Database) -> str:
    return f"{PG_URL}?schema={pg_database.schema}"


def phases(customers: int, seed: int = 3) -> tuple[list[bytes], list[bytes]]:
    """A demo stream split: what others depend on (onboardings, policy), then the rest."""
    first, rest = [], []
    for line in generate(DemoSpec(seed=seed, customers=customers)):
        try:
            kind = orjson.loads(line.raw).get("type", "")
        except (orjson.JSONDecodeError, AttributeError):
            kind = ""
        depended_on = kind == "customer.onboarded" or str(kind).startswith("sla_policy.")
        (first if depended_on else rest).append(line.raw)
    return first, rest


def file_run(lines: list[bytes], path: Path) -> tuple[IngestReport, dict[str, Any]]:
    """The same stream through `ledger ingest`'s path, and its projections: the reference."""
    app = open_app(resolve_database(str(path)))
    try:
        report = Ingestor(app).ingest(Input(line, "file") for line in lines)
        return report, comparable(fold(log_events(app)))
    finally:
        app.close()


def comparable(board: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Read-model rows without transaction time, in a stable order."""
    return {
        name: sorted(
            tuple(sorted((k, str(v)) for k, v in row.items() if k not in RECORDED)) for row in rows
        )
        for name, rows in board.items()
    }


class Progress:
    """Inputs consumed so far by the members of a group, to await a total."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.by_member: dict[int, int] = {}
        self.accepted_by_member: dict[int, int] = {}

    def batch(self, member: int, totals: dict[str, Any]) -> None:
        with self.condition:
            self.by_member[member] = totals["inputs"]
            self.accepted_by_member[member] = totals["accepted"] + totals["released"]["accepted"]
            self.condition.notify_all()

    def await_accepted(self, target: int, timeout: float = 120) -> None:
        """Wait until the members accepted ``target`` inputs, at once or once released
        (an input deferred behind a subject another member was storing at the time waits
        for the next batch, or the idle release, of its member)."""
        with self.condition:
            reached = self.condition.wait_for(
                lambda: sum(self.accepted_by_member.values()) >= target, timeout
            )
        assert reached, f"accepted {sum(self.accepted_by_member.values())} of {target}"

    def await_total(self, target: int, timeout: float = 120) -> None:
        with self.condition:
            reached = self.condition.wait_for(
                lambda: sum(self.by_member.values()) >= target, timeout
            )
        assert reached, f"consumed {sum(self.by_member.values())} of {target}"


class Member:
    """An ingest consumer on its own thread, reporting to a shared ``Progress``."""

    def __init__(
        self,
        app: LedgerApp,
        settings: ConsumerSettings,
        engine: Engine,
        rejected_topic: str,
        progress: Progress,
    ) -> None:
        self.outbox = RejectionOutbox(
            app, engine, producer(settings.bootstrap, "t"), rejected_topic
        )
        self.consumer = IngestConsumer(app, settings, outbox=self.outbox)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.consumer.run,
            args=(self.stop,),
            kwargs={"on_batch": lambda _, totals: progress.batch(id(self), totals)},
            daemon=True,
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.outbox.producer.close()


def settings(bootstrap: str, topic: str, batch_size: int = 500) -> ConsumerSettings:
    return ConsumerSettings(
        bootstrap,
        topic=topic,
        group=f"g-{uuid.uuid4().hex[:8]}",
        batch_size=batch_size,
        timing=FAST_GROUPS,
    )


def test_counts_are_exact_with_duplicates_and_garbage(
    bootstrap: str, pg_database: Database, tmp_path: Path
) -> None:
    first, rest = phases(customers=4)
    reference, _ = file_run(first + rest, tmp_path / "reference.db")
    assert reference.duplicates > 0 and reference.rejected > 0  # the demo has both
    inbound, rejected = new_topic(bootstrap, 3), new_topic(bootstrap, 1)
    app = open_app(pg_database)
    engine = engine_for(pg_database)
    progress = Progress()
    member = Member(app, settings(bootstrap, inbound), engine, rejected, progress)
    try:
        publisher = producer(bootstrap, "test-emit")
        emit(publisher, inbound, first)
        progress.await_total(len(first))
        emit(publisher, inbound, rest)
        progress.await_total(len(first) + len(rest))
        publisher.close()
    finally:
        member.close()
    report = member.consumer.report
    assert (report.accepted, report.duplicates, report.rejected) == (
        reference.accepted,
        reference.duplicates,
        reference.rejected,
    )
    assert report.by_rule == reference.by_rule
    assert app.store.event_count() == reference.accepted
    assert sum(app.store.rejection_counts().values()) == reference.rejected
    published = read_topic(bootstrap, rejected, reference.rejected)
    assert sorted(orjson.loads(v)["rule"] for _, _, v in published) == sorted(
        r for r, n in reference.by_rule.items() for _ in range(n)
    )
    app.close()
    engine.dispose()


def _consume_process(bootstrap: str, url: str, topic: str, group: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "consume",
            "--bootstrap",
            bootstrap,
            "--db",
            url,
            "--topic",
            topic,
            "--group",
            group,
            "--rejected-topic",
            f"{topic}-rejected",
            "--batch-size",
            "200",
            "--session-timeout-ms",
            "6000",
            "--max-poll-interval-ms",
            "6000",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def _await_line(process: subprocess.Popen[str], predicate: Any) -> str:
    assert process.stderr is not None
    for line in process.stderr:
        if predicate(line):
            return line
    raise AssertionError(f"consumer ended (exit {process.wait()}) before the awaited line")


def _totals(line: str) -> int:
    return int(line.split("totals: ")[1].split(" inputs")[0]) if "totals: " in line else -1


def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(
    bootstrap: str, pg_database: Database, pg_url: str, tmp_path: Path
) -> None:
    first, rest = phases(customers=12)
    reference, reference_rows = file_run(first + rest, tmp_path / "reference.db")
    inbound = new_topic(bootstrap, 3)
    group = f"g-{uuid.uuid4().hex[:8]}"
    publisher = producer(bootstrap, "test-emit")
    consumer = _consume_process(bootstrap, pg_url, inbound, group)
    try:
        emit(publisher, inbound, first)
        _await_line(consumer, lambda line: _totals(line) >= len(first))
        emit(publisher, inbound, rest)
        _await_line(consumer, lambda line: _totals(line) >= len(first) + len(rest) // 3)
        consumer.send_signal(signal.SIGKILL)  # mid-stream: no goodbye, no commit
        consumer.wait(timeout=30)
    finally:
        consumer.kill()
    app = open_app(pg_database)
    engine = engine_for(pg_database)
    try:
        done_before = sum(p.offset + 1 for p in app.store.positions(group))
        assert len(first) <= done_before < len(first) + len(rest)
        restarted = _consume_process(bootstrap, pg_url, inbound, group)
        try:
            remaining = len(first) + len(rest) - done_before
            _await_line(restarted, lambda line: _totals(line) >= remaining)
            restarted.send_signal(signal.SIGTERM)
            assert restarted.wait(timeout=30) == 0  # SIGTERM: finish, commit, leave, exit 0
        finally:
            restarted.kill()
        assert app.store.event_count() == reference.accepted  # none lost, none twice
        assert app.store.rejection_counts() == reference.by_rule
        Projector(app, engine).catch_up()
        assert comparable(read_models(engine)) == reference_rows
    finally:
        app.close()
        engine.dispose()
        publisher.close()


def test_plain_emit_over_six_partitions_with_a_sigkill_equals_the_file_ingest(
    bootstrap: str, pg_database: Database, pg_url: str, tmp_path: Path
) -> None:
    """No dependencies first: tickets overtake their customers' onboardings on other
    partitions. They wait (R-IN-6) and are decided when the customer arrives, so the
    ledger ends as ``ledger ingest`` of the same file leaves it, a SIGKILL included."""
    lines = [line.raw for line in generate(DemoSpec(seed=5, customers=12))]
    stream = tmp_path / "stream.jsonl"
    stream.write_bytes(b"\n".join(lines) + b"\n")
    reference, reference_rows = file_run(lines, tmp_path / "reference.db")
    assert reference.deferred > 0  # tickets of a customer nobody onboarded: still waiting
    inbound = new_topic(bootstrap, 6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    emitted = _cli("emit", str(stream), "--bootstrap", bootstrap, "--topic", inbound)
    assert emitted == {"sent": len(lines), "topic": inbound}
    consumer = _consume_process(bootstrap, pg_url, inbound, group)
    try:
        _await_line(consumer, lambda line: _totals(line) >= len(lines) // 3)
        consumer.send_signal(signal.SIGKILL)  # mid-stream: no goodbye, no commit
        consumer.wait(timeout=30)
    finally:
        consumer.kill()
    app = open_app(pg_database)
    engine = engine_for(pg_database)
    try:
        done_before = sum(p.offset + 1 for p in app.store.positions(group))
        assert 0 < done_before < len(lines)
        assert app.store.deferred_count() > 0  # overtaken tickets were waiting
        restarted = _consume_process(bootstrap, pg_url, inbound, group)
        try:
            _await_line(restarted, lambda line: _totals(line) >= len(lines) - done_before)
            restarted.send_signal(signal.SIGTERM)
            assert restarted.wait(timeout=30) == 0
        finally:
            restarted.kill()
        assert app.store.event_count() == reference.accepted
        assert app.store.rejection_counts() == reference.by_rule
        assert app.store.deferred_count() == reference.deferred
        Projector(app, engine).catch_up()
        assert comparable(read_models(engine)) == reference_rows
    finally:
        app.close()
        engine.dispose()


def test_poison_records_in_every_batch_are_kept_and_the_consumer_goes_on(
    bootstrap: str, pg_database: Database
) -> None:
    """A tombstone, a record keyed by another subject, an instant that overflows UTC, an
    integer past 64 bits and bytes that are no JSON, one in the middle of every batch:
    each is a kept rejection naming its field; every valid record is stored."""
    env = Envelopes()
    valid = [env.customer("C-1")] + [env.ticket(f"T-{n}") for n in range(1, 10)]
    usage = env.make(
        "customer.usage_reported",
        "C-1",
        {
            "period_start": "2026-02-01",
            "period_end": "2026-02-28",
            "active_users": 2**64,
            "videos_localized": 1,
            "error_count": 0,
        },
    )
    poison: list[tuple[bytes, bytes | None, str, str]] = [
        (b"T-1", None, "R-WIRE-1", "(document)"),
        (b"C-9", orjson.dumps(env.ticket("T-50")), "R-WIRE-5", "(key)"),
        (
            b"T-51",
            orjson.dumps({**env.ticket("T-51"), "occurred_at": "0001-01-01T00:00:00+14:00"}),
            "R-WIRE-2",
            "occurred_at",
        ),
        (b"C-1", json.dumps(usage).encode(), "R-WIRE-2", "data.active_users"),
        (b"T-52", b"\xff not json", "R-WIRE-1", "(document)"),
    ]
    expected = {(rule, field) for _, _, rule, field in poison}
    records: list[tuple[bytes | None, bytes | None]] = []
    for n, envelope in enumerate(valid):
        records.append((envelope["subject"].encode(), orjson.dumps(envelope)))
        if n % 2 == 1 and poison:  # batches of 3: a poison record in every other one
            key, value, _, _ = poison.pop(0)
            records.append((key, value))
    assert not poison
    inbound, rejected = new_topic(bootstrap, 1), new_topic(bootstrap, 1)
    app = open_app(pg_database)
    engine = engine_for(pg_database)
    progress = Progress()
    member = Member(app, settings(bootstrap, inbound, batch_size=3), engine, rejected, progress)
    publisher = producer(bootstrap, "test-poison")
    try:
        for key, value in records:
            publisher.send(inbound, key=key, value=value)
        publisher.flush()
        progress.await_total(len(records))
        assert member.thread.is_alive()  # one bad message never stops the consumer
    finally:
        member.close()
        publisher.close()
    assert app.store.event_count() == len(valid)
    kept = [(r.rejection.rule, r.rejection.field) for r in app.store.rejections()]
    assert len(kept) == 5 and set(kept) == expected
    app.close()
    engine.dispose()


def test_two_consumers_in_one_group_give_the_same_ledger_as_one(
    bootstrap: str, pg_database: Database, tmp_path: Path
) -> None:
    first, rest = phases(customers=6, seed=9)
    reference, reference_rows = file_run(first + rest, tmp_path / "reference.db")
    inbound, rejected = new_topic(bootstrap, 4), new_topic(bootstrap, 1)
    shared = settings(bootstrap, inbound, batch_size=100)
    engine = engine_for(pg_database)
    apps = [open_app(pg_database), open_app(pg_database)]
    progress = Progress()
    members = [Member(app, shared, engine, rejected, progress) for app in apps]
    publisher = producer(bootstrap, "test-emit")
    try:
        emit(publisher, inbound, first)
        progress.await_total(len(first))
        emit(publisher, inbound, rest)
        progress.await_total(len(first) + len(rest))
        progress.await_accepted(reference.accepted)
        assignments = [m.consumer.consumer.assignment() for m in members]
        assert all(assignments) and not set.intersection(*map(set, assignments))
    finally:
        for member in members:
            member.close()
        publisher.close()
    reports = [m.consumer.report for m in members]
    assert sum(r.accepted + r.released["accepted"] for r in reports) == reference.accepted
    assert apps[0].store.event_count() == reference.accepted
    assert apps[0].store.rejection_counts() == reference.by_rule
    assert comparable(fold(log_events(apps[0]))) == reference_rows
    for app in apps:
        app.close()
    engine.dispose()


def test_the_relay_output_consumed_back_equals_the_notification_log(
    bootstrap: str, pg_database: Database
) -> None:
    app = open_app(pg_database)
    engine = engine_for(pg_database)
    lines = [line.raw for line in generate(DemoSpec(seed=2, customers=3))]
    Ingestor(app).ingest(Input(line, "file") for line in lines)
    events_topic, alerts_topic = new_topic(bootstrap, 1), new_topic(bootstrap, 1)
    publisher = producer(bootstrap, "test-relay")
    try:
        relay = Relay(app, engine, publisher, events_topic=events_topic, alerts_topic=alerts_topic)
        assert relay.publish_new() == app.store.event_count()
        assert relay.publish_new() == 0  # nothing twice
        # The tick writes alerts; a relay started afresh resumes after what it published.
        written = sum(tick(app, engine, quarter_end(DemoSpec())).written.values())
        assert written > 0
        restarted = Relay(
            app, engine, publisher, events_topic=events_topic, alerts_topic=alerts_topic
        )
        assert restarted.publish_new() == written
        log = [
            (n.id, n.originator_id, n.originator_version)
            for n in app.store.select_notifications(start=None, limit=10**6)
        ]
        consumed = [orjson.loads(v) for _, _, v in read_topic(bootstrap, events_topic, len(log))]
        assert [(m["notification_id"], m["subject"], m["version"]) for m in consumed] == log
        first = consumed[0]
        assert set(first) >= {
            "notification_id",
            "type",
            "occurred_at",
            "recorded_at",
            "actor",
            "data",
        }
        alerts = [orjson.loads(v) for _, _, v in read_topic(bootstrap, alerts_topic, written)]
        assert len(alerts) == written
        assert {a["type"] for a in alerts} <= {
            "sla.breached",
            "sla.warning",
            "fix.temporary_expired",
            "customer.churn_risk_raised",
            "customer.exception_expired",
            "rca.action_overdue",
            "play.opened",
            "play.overdue",
        }
    finally:
        publisher.close()
        app.close()
        engine.dispose()


def test_the_cli_emits_consumes_relays_and_reports(
    bootstrap: str, pg_database: Database, pg_url: str, tmp_path: Path
) -> None:
    lines = [line.raw for line in generate(DemoSpec(seed=4, customers=3))]
    stream = tmp_path / "stream.jsonl"
    stream.write_bytes(b"\n".join(lines) + b"\n")
    reference, _ = file_run(
        [x for x in lines if depended_on(x)] + [x for x in lines if not depended_on(x)],
        tmp_path / "reference.db",
    )
    inbound = new_topic(bootstrap, 3)
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = _consume_process(bootstrap, pg_url, inbound, group)
    try:
        emitted = _cli(
            "emit",
            str(stream),
            "--bootstrap",
            bootstrap,
            "--topic",
            inbound,
            "--dependencies-first",
            "--db",
            pg_url,
            "--group",
            group,
        )
        assert emitted == {"sent": len(lines), "topic": inbound}
        _await_line(consumer, lambda line: _totals(line) >= len(lines))
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(timeout=30) == 0
    finally:
        consumer.kill()
    events_topic = new_topic(bootstrap, 3)
    relayed = _cli(
        "relay",
        "--bootstrap",
        bootstrap,
        "--db",
        pg_url,
        "--events-topic",
        events_topic,
        "--alerts-topic",
        new_topic(bootstrap, 1),
    )
    assert relayed["published"] == reference.accepted
    status = _cli("status", "--db", pg_url)
    assert status["events"] == reference.accepted
    assert status["rejections"] == reference.rejected
    assert {c["group"] for c in status["consumers"]} == {group}
    assert status["publishers"][f"relay:{events_topic}"] == status["log_head"]


def _cli(*args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)
