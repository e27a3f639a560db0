"""The ledger against the physical limit and the library, on SQLite and PostgreSQL, in one run.

    python -m benchmarks.harness                      # 10k and 100k events, both backends, Kafka
    python -m benchmarks.harness --sizes 10k,100k,1m  # 1M is opt-in (minutes)
    python -m benchmarks.harness --smoke              # seconds: the harness works, no figures

For each backend and each size the workload is the demo's seeded stream (its mix of event
types, duplicates and bad inputs) scaled by the number of customers, with 15% more lines
of internal notes spread over its tickets by a Zipf law (many small streams, a few hot
ones), plus one ticket of exactly 100 events for the replay measure. Measured:

* ``physical``: the same serialised events (the ingested rows) inserted raw into a table
  of the same shape, 1000 rows per transaction;
* ``library_batched`` / ``library_single``: a plain eventsourcing application storing the
  same domain events, 1000 per save / one per save (on a sample of at most 3000);
* ``ingest``: ``Ingestor`` end to end (validation, rules, hashing, store), in a child
  process reading the stream from a file, whose peak RSS is ``peak_rss_mb``;
* ``rebuild``: every read model from the log, once the database has settled (``settle``:
  PostgreSQL vacuumed, analysed and checkpointed, SQLite's WAL checkpointed), as the
  latency measures below are;
* ``replay``: the hot ticket replayed as of 200 instants of its life, p50 and p99;
* ``sla_breached``: ``sla list --breached`` over 10k open tickets, p50 and p99;
* ``kafka``: a producer process, the consumer storing batches, and ``ledger project
  --follow`` in a third process, all at once through a tansu broker (PostgreSQL only);
* ``as_of``: the SLA board as of now, as of a past instant and known at a past instant,
  metrics for the quarter as of a past instant, and the peak RSS of a process asking
  them (``benchmarks/as_of.py``);
* ``http``: the same stream posted to ``ledger serve`` (a fresh ledger, auth on) by a
  load client in another process, 1000 lines a request as NDJSON, one request after the
  other on one keep-alive connection, events per second from the first request to the
  last response (``http_ingest_vs_file``: over ``ingest``'s rate), its outcome counts
  checked against the file ingest's; then ``GET /v1/board?breached=true`` as of now and
  as of a past instant, p50 and p99 as the client sees them (``benchmarks/http.py``;
  ``--no-http`` leaves it out). Beside it, the file ingest again on a fresh ledger in
  the requests' batches, one transaction of 1000 inputs each
  (``http_ingest_vs_file_same_batch``: the HTTP rate over that one), which tells what
  the transactions' size costs from what the HTTP path costs. Then the stream again
  on a fresh ledger from 4 connections at once (``http_many``), split by subject as
  Kafka producers key their records, each part posted in 1000-line requests one after
  the other, as several producers would: the server stores the requests that arrive
  during a commit together in the next, decided while the one before is written
  (``web/group_commit.py``);
  ``http_many_vs_file``: its rate over ``ingest``'s; what is stored at the end (events,
  rejections by rule, inputs left deferred) checked against the file ingest's;
* ``pages``: the web board's pages (board as of now and mid-quarter, breached board,
  queue, a typical and the hot ticket, a customer with its 90-day trend, customers,
  rejections, audit) rendered by the app in-process through its ASGI interface, p50
  and p99 (``board_past_vs_live``: the past board's p50 over the live one's;
  ``benchmarks/pages.py``; ``--no-pages`` leaves it out);
* ``--no-core`` leaves out the physical and library writes, ``replay`` and ``as_of``
  (ingest and rebuild stay: the sections after them need the ledger);
* ``audit`` (sizes from 100k, and the smoke size; ``--no-audit`` leaves it out): last,
  on the size's ledger, with a key of its own and a real witness (``ledger witness
  serve`` on a free loopback port): the first checkpoint over the whole log (seconds,
  events/s, peak RSS of its process), the witness cosigning it (ms); ~1% more events
  appended, the incremental checkpoint (seconds) and its cosignature (ms, the consistency
  proof sent in hashes and bytes); ``ledger verify --witness ... --quorum 1 --against
  URL`` and the same with ``--read-models`` (seconds, peak RSS); inclusion proofs of 200
  random (subject, version) pairs and consistency proofs between 200 random pairs of
  tree sizes (p50 and p99 ms, hashes and bytes), and checking one from the signed notes
  and the log's key alone (p50 ms) (``benchmarks/audit_grade.py``);
* ``startup``: CPU seconds (user + system, median of 5) of ``ledger --help`` and of
  ``ledger sla show T-... --json`` on a small demo ledger, each a whole process, beside a
  bare ``python -c "import json"``, and their ratio to it (``--startup-only`` runs just
  this). The children write and read bytecode under a scratch ``PYTHONPYCACHEPREFIX``
  after one warm-up run, as an installed package would.

Sizes of 10k events or less are measured three times and each figure is the median (the
runs are kept beside it): a run of a second or two is at the mercy of a busy neighbour.

Results go to ``benchmarks/results/latest.json`` (machine, versions, seed, settings, raw
figures) and are printed as a table.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder

from benchmarks.as_of import PAST, as_of_queries
from benchmarks.audit_grade import appended_count, audit_measures
from benchmarks.http import http_ingest_many, http_measures, stored_state
from benchmarks.pages import PAGES, page_renders
from demo.quarter import DemoLine, DemoSpec, generate
from ledger.adapters.event_store import DateAsISO, LedgerApp, open_app, opened
from ledger.adapters.projector import Projector, engine_for
from ledger.adapters.settings import Database, resolve_database
from ledger.projections.sla import sla_board
from ledger.services.intake import DEFAULT_BATCH_SIZE, Ingestor, Input
from ledger.services.reads import timer_records
from replay.history import replay_ticket

PG_URL = os.environ.get("LEDGER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).parent / "results"
LINES_PER_CUSTOMER = 305  # what the demo generates per enterprise customer, measured
CHATTER_SHARE = 0.15  # of the lines: internal notes spread over tickets by Zipf
ZIPF_S = 1.0
HOT = "T-HOT"
START = datetime(2026, 1, 5, tzinfo=UTC)


# workload -----------------------------------------------------------------------------------


def _size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * factor)


def _envelope(
    n: int, type_: str, subject: str, at: datetime, role: str, data: Any, prefix: str = "bench"
) -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}/{subject}/{n}")),
            "type": type_,
            "schema_version": 1,
            "occurred_at": at.isoformat(),
            "source": "benchmark",
            "actor": {"id": "se-bench" if role != "customer" else "u-bench", "role": role},
            "subject": subject,
            "data": data,
        }
    ).encode()


def hot_ticket(customer: str, at: datetime, events: int = 100) -> list[bytes]:
    """One long Sev1 with ``events`` events: opened, updates every 20 minutes, resolved."""
    opened_data = {
        "customer_id": customer,
        "channel": "support_portal",
        "title": "Every rendering job fails",
        "description": "All jobs fail since the deploy",
        "severity": 1,
        "category": "platform_down",
    }
    lines = [_envelope(0, "ticket.opened", HOT, at, "customer", opened_data)]
    for n in range(1, events - 1):
        data = {"message": f"update {n}: still mitigating"}
        lines.append(
            _envelope(
                n,
                "ticket.update_posted",
                HOT,
                at + n * timedelta(minutes=20),
                "support_engineer",
                data,
            )
        )
    lines.append(
        _envelope(
            events - 1,
            "ticket.resolved",
            HOT,
            at + events * timedelta(minutes=20),
            "support_engineer",
            {"resolution": "rolled back the deploy"},
        )
    )
    return lines


def workload(events: int, seed: int) -> list[bytes]:
    """About ``events`` lines: the demo's stream (its mix of event types, duplicates and
    bad inputs, scaled by the number of customers) with Zipf-distributed chatter over its
    tickets mixed in, then the hot ticket."""
    chatter = round(events * CHATTER_SHARE)
    customers = max(2, round((events - chatter) / LINES_PER_CUSTOMER))
    demo = generate(DemoSpec(seed=seed, customers=customers))
    lines = zipf_chatter(demo, chatter, random.Random(seed))
    return lines + hot_ticket("C-001", datetime(2026, 2, 2, 9, tzinfo=UTC))


def zipf_chatter(demo: list[DemoLine], count: int, rng: random.Random) -> list[bytes]:
    """The demo's lines with ``count`` internal notes (``ticket.responded``, not public)
    spread over its tickets by a Zipf law (weight ``1 / rank ** ZIPF_S``, ranks shuffled):
    many tickets get none or a few, a handful get thousands at 1M.

    Each note goes at a random place in its ticket's open life in arrival order, and
    occurs when the ticket's latest accepted event before it occurred, so every note is
    accepted and leaves the demo's expected outcomes (SLA, rejections) unchanged.
    """
    events: dict[str, list[tuple[int, str]]] = {}  # ticket -> (line index, occurred_at)
    closed: dict[str, int] = {}
    for index, line in enumerate(demo):
        if line.expect != "accept":
            continue
        envelope = json.loads(line.raw)
        subject, type_ = envelope["subject"], envelope["type"]
        if type_ == "ticket.opened" or subject in events:  # rca.* events are the ticket's
            events.setdefault(subject, []).append((index, envelope["occurred_at"]))
            if type_ == "ticket.closed":
                closed[subject] = index
    tickets = list(events)
    rng.shuffle(tickets)
    weights = [1 / rank**ZIPF_S for rank in range(1, len(tickets) + 1)]
    notes: dict[int, list[bytes]] = {}  # after line index -> notes
    for n, ticket in enumerate(rng.choices(tickets, weights, k=count) if tickets else []):
        history = events[ticket]
        last = closed.get(ticket, len(demo)) - 1  # a closed ticket takes nothing more
        after = rng.randint(history[0][0], last)
        occurred_at = history[bisect.bisect_right(history, (after, "\uffff")) - 1][1]
        note = _envelope(
            n,
            "ticket.responded",
            ticket,
            datetime.fromisoformat(occurred_at),
            "support_engineer",
            {"public": False, "message": f"internal note {n}"},
            prefix="chatter",
        )
        notes.setdefault(after, []).append(note)
    lines: list[bytes] = []
    for index, line in enumerate(demo):
        lines.append(line.raw)
        lines.extend(notes.get(index, ()))
    return lines


def more_tickets(count: int, customer: str = "C-001") -> list[bytes]:
    """``count`` events on new tickets of ``customer`` (opened, then updates, 50 events a
    ticket at most), all accepted: what the audit section appends before its incremental
    checkpoint."""
    lines = []
    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for n in range(count):
        ticket, step = f"T-AUDIT-{n // 50}", n % 50
        if step == 0:
            data: dict[str, Any] = {
                "customer_id": customer,
                "channel": "support_portal",
                "title": "Audit benchmark",
                "description": "Appended for the incremental checkpoint",
                "severity": 1,
                "category": "platform_down",
            }
            lines.append(_envelope(0, "ticket.opened", ticket, at, "customer", data, "audit"))
        else:
            data = {"message": f"update {step}"}
            when = at + step * timedelta(minutes=1)
            lines.append(
                _envelope(
                    step, "ticket.update_posted", ticket, when, "support_engineer", data, "audit"
                )
            )
    return lines


def open_tickets(count: int) -> list[bytes]:
    """Enterprise customers and ``count`` Sev2 tickets that nobody answers."""
    lines = []
    customers = max(1, count // 250)
    for c in range(customers):
        lines.append(
            _envelope(
                0,
                "customer.onboarded",
                f"C-{c}",
                START,
                "customer_success",
                {
                    "name": f"Customer {c}",
                    "tier": "enterprise",
                    "calendar": {"timezone": "UTC"},
                    "success_owner": "cs-bench",
                    "escalation_contact": "ops@example.com",
                    "decision_maker": {"name": "D", "email": "d@example.com"},
                },
            )
        )
    for t in range(count):
        at = START + timedelta(days=1, seconds=30 * t)
        lines.append(
            _envelope(
                0,
                "ticket.opened",
                f"T-{t}",
                at,
                "customer",
                {
                    "customer_id": f"C-{t % customers}",
                    "channel": "support_portal",
                    "title": "Slow exports",
                    "description": "Exports take hours",
                    "severity": 2,
                    "category": "partial_outage",
                },
            )
        )
    return lines


# databases ----------------------------------------------------------------------------------


class Scratch:
    """Fresh databases for one measurement: SQLite files, or PostgreSQL schemas."""

    def __init__(self, backend: str, root: Path) -> None:
        self.backend, self.root, self.schemas = backend, root, []

    def database(self, name: str) -> Database:
        if self.backend == "sqlite":
            return resolve_database(str(self.root / f"{name}.db"))
        schema = f"bench_{name}_{uuid.uuid4().hex[:6]}"
        self.schemas.append(schema)
        return resolve_database(f"{PG_URL}?schema={schema}")

    def url(self, name: str) -> str:
        """A fresh database's ``--db`` (the SQLite file, or the URL with its schema)."""
        database = self.database(name)
        if self.backend == "sqlite":
            return str(database.sqlite_path)
        return f"{PG_URL}?schema={database.schema}"

    def drop(self) -> None:
        if not self.schemas:
            return
        with _admin() as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _admin() -> psycopg.Connection[Any]:
    database = resolve_database(PG_URL)
    return psycopg.connect(
        host=database.host,
        port=database.port,
        user=database.user,
        dbname=database.dbname,
        autocommit=True,
    )


def settle(database: Database) -> None:
    """Do now what a bulk load leaves the database to do later, so that the next measure
    times the ledger rather than the aftermath of the previous one: PostgreSQL's first
    reads of fresh rows write hint bits and its dirty pages are flushed by a checkpoint
    at some point (autovacuum and the checkpointer would, in their time); SQLite's WAL is
    copied into the database file at some commit. Run before rebuild and before the
    latency measures."""
    if database.kind == "sqlite":
        with sqlite3.connect(database.sqlite_path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with _admin() as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (database.schema,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'VACUUM (ANALYZE) "{database.schema}"."{table}"')
        conn.execute("CHECKPOINT")


class PlainApplication(Application[str]):
    """eventsourcing's Application with its own recorder; only the date transcoding added."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


# measures -----------------------------------------------------------------------------------


def child_ingest(stream: Path, url: str, batch: int | None = None) -> dict[str, Any]:
    """In a fresh process: ingest the file (in batches of ``batch`` inputs; the default:
    ``ledger ingest``'s), report time, counts and peak RSS."""
    sized = [] if batch is None else ["--child-batch", str(batch)]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.harness", "--child-ingest", str(stream), url, *sized],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _run_child_ingest(stream: Path, url: str, batch: int | None) -> None:
    def lines() -> Iterator[Input]:
        with stream.open("rb") as file:
            for line in file:
                yield Input(line.rstrip(b"\n"), "bench")

    with opened(resolve_database(url)) as ledger:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        ingestor = Ingestor(ledger)
        report = (
            ingestor.ingest(lines())
            if batch is None
            else ingestor.ingest(lines(), batch_size=batch)
        )
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        events = ledger.store.event_count()
    peak_kb = _peak_rss_kb()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_s": (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
                "inputs": report.inputs,
                "events": events,
                "accepted": report.accepted,
                "counts": {
                    "accepted": report.accepted,
                    "duplicate": report.duplicates,
                    "deferred": report.deferred,
                    "rejected": report.rejected + report.already_rejected,
                },
                "peak_rss_mb": peak_kb / 1024,
            }
        )
    )


def _peak_rss_kb() -> int:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the parent's across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def physical(ledger: LedgerApp, scratch: Scratch) -> float:
    """Raw batched inserts of the ingested rows into a table of the same shape."""
    rows = [
        (str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in ledger.log_notifications()
    ]
    start: float
    if scratch.backend == "sqlite":
        conn = sqlite3.connect(scratch.root / "physical.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE e (originator_id TEXT, originator_version INTEGER, topic TEXT,"
            " state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        start = time.perf_counter()
        for i in range(0, len(rows), 1000):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO e VALUES (?, ?, ?, ?)", rows[i : i + 1000])
            conn.execute("COMMIT")
        seconds = time.perf_counter() - start
        conn.close()
        return len(rows) / seconds
    database = scratch.database("physical")
    with psycopg.connect(
        host=database.host, port=database.port, user=database.user, dbname=database.dbname
    ) as pg:
        pg.execute(f'CREATE SCHEMA "{database.schema}"')
        pg.execute(
            f'CREATE TABLE "{database.schema}".e (notification_id BIGSERIAL, '
            "originator_id TEXT, originator_version INTEGER, topic TEXT, state BYTEA, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        pg.commit()
        start = time.perf_counter()
        with pg.cursor() as cursor:
            for i in range(0, len(rows), 1000):
                cursor.executemany(
                    f'INSERT INTO "{database.schema}".e (originator_id, originator_version, '
                    "topic, state) VALUES (%s, %s, %s, %s)",
                    rows[i : i + 1000],
                )
                pg.commit()
        return len(rows) / (time.perf_counter() - start)


def library(ledger: LedgerApp, scratch: Scratch, per_save: int, limit: int | None) -> float:
    """A plain eventsourcing application storing the same domain events."""
    events = list(ledger.log_events())[:limit]
    database = scratch.database(f"library{per_save}")
    open_app(database).close()  # the schema and tables, as the ledger makes them
    env = {
        k: v for k, v in database.eventsourcing_env().items() if k != "APPLICATION_RECORDER_TOPIC"
    }
    anchor = PlainApplication(env=env)
    start = time.perf_counter()
    for i in range(0, len(events), per_save):
        anchor.events.put(events[i : i + per_save])
    seconds = time.perf_counter() - start
    anchor.close()
    return len(events) / seconds


def _quantiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p99_ms": cuts[98], "runs": float(len(samples))}


def replay_latency(ledger: LedgerApp, runs: int, seed: int) -> dict[str, float]:
    """The hot ticket replayed as of instants across its life."""
    history = ledger.history(HOT)
    first, last = history[0].occurred_at, history[-1].occurred_at
    rng = random.Random(seed)
    samples = []
    for _ in range(runs):
        at = first + (last - first) * rng.random()
        start = time.perf_counter()
        view = replay_ticket(ledger, HOT, at)
        samples.append((time.perf_counter() - start) * 1000)
        assert view is not None
    return {**_quantiles(samples), "events": float(len(history))}


def breached_board(scratch: Scratch, tickets: int, runs: int) -> dict[str, float]:
    """``sla list --breached`` (the live timers it asks for, then the board) over open
    tickets."""
    database = scratch.database("board")
    with opened(database) as ledger:
        Ingestor(ledger).ingest(Input(line, "bench") for line in open_tickets(tickets))
        engine = engine_for(database)
        Projector(ledger, engine).catch_up()
        settle(database)
        as_of = START + timedelta(days=30)
        samples, breached = [], 0
        for _ in range(runs):
            start = time.perf_counter()
            records = timer_records(ledger, engine, as_of, breached=True)
            breached = len(sla_board(records, as_of, breached=True))
            samples.append((time.perf_counter() - start) * 1000)
        engine.dispose()
    return {**_quantiles(samples), "open_tickets": float(tickets), "breached": float(breached)}


def kafka(scratch: Scratch, lines: list[bytes]) -> dict[str, float]:
    """Emit, consume and store, and project, through tansu, all at once: inputs per second."""
    from benchmarks.kafka_ingest import broker_for, pipelined

    with broker_for(None) as bootstrap:  # $KAFKA_BOOTSTRAP, or tansu started for the run
        figures = pipelined(bootstrap, scratch.database("kafka"), lines, 6, DEFAULT_BATCH_SIZE)
    return {**figures, "end_to_end_per_s": figures["pipelined_per_s"]}


def http(scratch: Scratch, stream: Path, ingest: dict[str, Any], smoke: bool) -> dict[str, Any]:
    """The same stream through ``ledger serve`` on a fresh ledger, by a load client in
    batches of 1000 (200 in smoke mode, so that it takes several requests), then the
    board over HTTP (``benchmarks/http.py``)."""
    return http_measures(
        stream,
        scratch.url("http"),
        {**ingest["counts"], "events": ingest["events"]},
        batch=200 if smoke else HTTP_BATCH,
        runs=3 if smoke else 20,
        past=PAST,
        settle=lambda at: settle(resolve_database(at)),
        log=scratch.root / "serve.log",
    )


def http_many(
    scratch: Scratch, stream: Path, expected: dict[str, Any], smoke: bool
) -> dict[str, Any]:
    """The same stream through ``ledger serve`` on a fresh ledger, by a load client posting
    from ``HTTP_CONNECTIONS`` connections at once, the stream split by subject."""
    return http_ingest_many(
        stream,
        scratch.url("http_many"),
        expected,
        batch=200 if smoke else HTTP_BATCH,
        connections=HTTP_CONNECTIONS,
        log=scratch.root / "serve-many.log",
    )


HTTP_BATCH = 1000
HTTP_CONNECTIONS = 4
AUDIT_FROM = 100_000  # the audit section's smallest size (any size with --smoke)


# the run ------------------------------------------------------------------------------------


def _child_cpu(command: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one child process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup(root: Path, seed: int, runs: int) -> dict[str, Any]:
    """Start-up of the command line: whole processes, CPU seconds, median of ``runs``."""
    lines = generate(DemoSpec(seed=seed, customers=2))
    path = root / "startup.db"
    with opened(resolve_database(str(path))) as ledger:
        Ingestor(ledger).ingest(Input(line.raw, "bench") for line in lines)
    ticket = next(
        json.loads(line.raw)["subject"]
        for line in lines
        if line.expect == "accept" and b'"ticket.opened"' in line.raw
    )
    script = Path(sys.executable).with_name("ledger")
    ledger_cmd = [str(script)] if script.exists() else [sys.executable, "-m", "cli"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    commands = {
        "bare_python": [sys.executable, "-c", "import json"],
        "help": [*ledger_cmd, "--help"],
        "sla_show": [*ledger_cmd, "sla", "show", ticket, "--json", "--db", str(path)],
    }
    samples: dict[str, list[float]] = {}
    for name, command in commands.items():
        _child_cpu(command, env)  # warm-up: bytecode written
        samples[name] = [round(_child_cpu(command, env), 3) for _ in range(runs)]
    cpu = {name: statistics.median(values) for name, values in samples.items()}
    bare = cpu["bare_python"]
    return {
        "runs": runs,
        "ticket": ticket,
        "cpu_s": cpu,
        "ratio_to_bare_python": {n: round(cpu[n] / bare, 1) for n in ("help", "sla_show")},
        "samples": samples,
    }


def print_startup(figures: dict[str, Any]) -> None:
    """The start-up figures, one line each."""
    cpu, ratio = figures["cpu_s"], figures["ratio_to_bare_python"]
    print(f"start-up, CPU seconds (median of {figures['runs']} processes):")
    rows = [
        ("python -c 'import json'", cpu["bare_python"], ""),
        ("ledger --help", cpu["help"], f"x{ratio['help']}"),
        (f"ledger sla show {figures['ticket']} --json", cpu["sla_show"], f"x{ratio['sla_show']}"),
    ]
    for label, seconds, times in rows:
        print(f"  {label:<34} {seconds:.3f}  {times}")


def repeats_for(size: int, smoke: bool) -> int:
    """How many times a size is measured: a 10k run lasts a second or two, which a busy
    neighbour on a shared machine can slow by a quarter, so small sizes take the median
    of three; a larger run is long enough to average such spells out."""
    return 1 if smoke or size > SMALL else 3


SMALL = 10_000


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs (nested figures too), the runs kept as measured."""
    if len(runs) == 1:
        return runs[0]

    def merge(values: list[Any]) -> Any:
        first = values[0]
        if isinstance(first, dict):
            return {key: merge([v[key] for v in values]) for key in first}
        if isinstance(first, int | float) and not isinstance(first, bool):
            return statistics.median(values)
        return first

    return {**merge(runs), "runs": runs}


def run_size(
    backend: str,
    size: int,
    seed: int,
    root: Path,
    smoke: bool,
    with_kafka: bool,
    with_http: bool = True,
    with_pages: bool = True,
    with_audit: bool = True,
    with_core: bool = True,
) -> dict[str, Any]:
    """Every measure at one size, repeated as ``repeats_for`` says (medians reported)."""
    runs = [
        run_once(
            backend,
            size,
            seed,
            root / f"run{n}",
            smoke,
            with_kafka,
            with_http,
            with_pages,
            with_audit,
            with_core,
        )
        for n in range(repeats_for(size, smoke))
    ]
    return median_of(runs)


def run_once(
    backend: str,
    size: int,
    seed: int,
    root: Path,
    smoke: bool,
    with_kafka: bool,
    with_http: bool = True,
    with_pages: bool = True,
    with_audit: bool = True,
    with_core: bool = True,
) -> dict[str, Any]:
    scratch = Scratch(backend, root / f"{backend}-{size}")
    scratch.root.mkdir(parents=True, exist_ok=True)
    try:
        lines = workload(size, seed)
        stream = scratch.root / "stream.jsonl"
        stream.write_bytes(b"".join(line + b"\n" for line in lines))
        database = scratch.database("ledger")
        url = (
            database.sqlite_path if backend == "sqlite" else (f"{PG_URL}?schema={database.schema}")
        )
        ingest = child_ingest(stream, url)
        result: dict[str, Any] = {
            "backend": backend,
            "size": size,
            "lines": len(lines),
            "events": ingest["events"],
            "ingest_per_s": ingest["events"] / ingest["seconds"],
            "ingest_inputs_per_s": ingest["inputs"] / ingest["seconds"],
            "ingest_cpu_s": ingest["cpu_s"],
            "peak_rss_mb": ingest["peak_rss_mb"],
        }
        with opened(database) as ledger:
            if with_core:
                result["physical_per_s"] = physical(ledger, scratch)
                result["library_batched_per_s"] = library(ledger, scratch, 1000, None)
                result["library_single_per_s"] = library(ledger, scratch, 1, 300 if smoke else 3000)
            engine = engine_for(database)
            settle(database)
            start = time.perf_counter()
            Projector(ledger, engine).rebuild()
            result["rebuild_per_s"] = ingest["events"] / (time.perf_counter() - start)
            engine.dispose()
            settle(database)
            if with_core:
                result["replay"] = replay_latency(ledger, 20 if smoke else 200, seed)
        if with_core:
            result["as_of"] = as_of_queries(url, 3 if smoke else 20)
        if with_pages:
            result["pages"] = page_renders(str(url), 3 if smoke else 20)
        if with_core:
            result["ingest_vs_physical"] = result["ingest_per_s"] / result["physical_per_s"]
            result["ingest_vs_library_batched"] = (
                result["ingest_per_s"] / result["library_batched_per_s"]
            )
            result["ingest_vs_library_single"] = (
                result["ingest_per_s"] / result["library_single_per_s"]
            )
        if with_http:
            result["http"] = http(scratch, stream, ingest, smoke)
            result["http_ingest_vs_file"] = result["http"]["ingest_per_s"] / result["ingest_per_s"]
            # The file ingest again in the HTTP requests' batches, one transaction each:
            # how much of the gap is the transactions' size, how much the HTTP path.
            batched = child_ingest(stream, scratch.url("same_batch"), result["http"]["batch"])
            result["ingest_same_batch_per_s"] = batched["events"] / batched["seconds"]
            result["ingest_same_batch_cpu_s"] = batched["cpu_s"]
            result["http_ingest_vs_file_same_batch"] = (
                result["http"]["ingest_per_s"] / result["ingest_same_batch_per_s"]
            )
            # Producers at once, each waiting for its answers: their batches share commits.
            result["http_many"] = http_many(scratch, stream, stored_state(str(url)), smoke)
            result["http_many_vs_file"] = (
                result["http_many"]["ingest_per_s"] / result["ingest_per_s"]
            )
        if with_kafka and backend == "postgres":
            result["kafka"] = kafka(scratch, lines)
        if with_audit and (smoke or size >= AUDIT_FROM):  # last: it writes checkpoint tables
            result["audit"] = audit_measures(
                str(url),
                scratch.root / "audit",
                more_tickets(appended_count(ingest["events"])),
                runs=20 if smoke else 200,
                seed=seed,
                settle=lambda at: settle(resolve_database(at)),
            )
        return result
    finally:
        scratch.drop()


def environment(args: argparse.Namespace) -> dict[str, Any]:
    versions = {}
    for package in (
        "eventsourcing",
        "SQLAlchemy",
        "pydantic",
        "psycopg",
        "kafka-python",
        "cryptography",
        "orjson",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    database = resolve_database(PG_URL)
    try:
        with psycopg.connect(
            host=database.host, port=database.port, user=database.user, dbname=database.dbname
        ) as pg:
            row = pg.execute("SHOW server_version").fetchone()
            versions["postgresql"] = row[0] if row else None
    except psycopg.OperationalError:
        versions["postgresql"] = None
    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.machine(),
        },
        "versions": versions,
        "seed": args.seed,
        "settings": {
            "sizes": args.sizes,
            "backends": args.backends,
            "smoke": args.smoke,
            "kafka": args.kafka,
            "batch_size": DEFAULT_BATCH_SIZE,
            "settled": "before rebuild and the latency measures (benchmarks.harness.settle)",
            "replay_runs": 200,
            "board_open_tickets": args.board_tickets,
            "http": args.http,
            "http_batch": HTTP_BATCH,
            "http_connections": 1,
            "pages": args.pages,
            "audit": args.audit,
            "audit_from_size": AUDIT_FROM,
        },
    }


COLUMNS = (
    ("backend", "backend", "{}"),
    ("events", "events", "{:,}"),
    ("physical_per_s", "physical/s", "{:,.0f}"),
    ("library_single_per_s", "lib 1/save", "{:,.0f}"),
    ("library_batched_per_s", "lib 1000/save", "{:,.0f}"),
    ("ingest_per_s", "ingest/s", "{:,.0f}"),
    ("ingest_vs_library_single", "x lib 1", "{:.1f}"),
    ("ingest_vs_physical", "of physical", "{:.0%}"),
    ("rebuild_per_s", "rebuild/s", "{:,.0f}"),
    ("replay_p50", "replay p50 ms", "{:.1f}"),
    ("replay_p99", "replay p99 ms", "{:.1f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ("kafka_per_s", "kafka e2e/s", "{:,.0f}"),
)


GROWTH = {
    "ingest": lambda r: r["ingest_per_s"],
    "rebuild": lambda r: r["rebuild_per_s"],
    "kafka": lambda r: r.get("kafka", {}).get("end_to_end_per_s"),
}


def growth(results: list[dict[str, Any]], backend: str) -> dict[str, float]:
    """Each rate at the largest size over the same rate at the smallest."""
    runs = sorted((r for r in results if r["backend"] == backend), key=lambda r: r["size"])
    if len(runs) < 2:
        return {}
    ratios = {}
    for name, rate in GROWTH.items():
        small, large = rate(runs[0]), rate(runs[-1])
        if small and large:
            ratios[name] = large / small
    return ratios


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the figures."""
    rows = []
    for r in results:
        if "replay" not in r:  # (--no-core)
            continue
        flat = {
            **r,
            "replay_p50": r["replay"]["p50_ms"],
            "replay_p99": r["replay"]["p99_ms"],
            "kafka_per_s": r.get("kafka", {}).get("end_to_end_per_s"),
        }
        rows.append(
            [fmt.format(flat[key]) if flat.get(key) is not None else "" for key, _, fmt in COLUMNS]
        )
    head = "| " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(row) + " |" for row in rows)])


def as_of_table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the questions about now and about a past instant."""
    head = (
        "| backend | events | board now p50/p99 ms | board past p50/p99 ms | past / now "
        "| board past, known at p50/p99 ms | metrics past p50 ms | peak RSS board/metrics MB |"
    )
    rows = [head, "|" + "---|" * 8]
    for r in results:
        q = r.get("as_of")
        if not q:
            continue
        rows.append(
            f"| {r['backend']} | {r['events']:,} "
            f"| {q['board_live']['p50_ms']:.0f} / {q['board_live']['p99_ms']:.0f} "
            f"| {q['board_past']['p50_ms']:.0f} / {q['board_past']['p99_ms']:.0f} "
            f"| {q['board_past_vs_live']:.2f} "
            f"| {q['board_past_known']['p50_ms']:.0f} / {q['board_past_known']['p99_ms']:.0f} "
            f"| {q['metrics_past']['p50_ms']:.0f} "
            f"| {q['rss_mb']['board_past']:.0f} / {q['rss_mb']['metrics_past']:.0f} "
            f"(imports {q['rss_mb']['baseline']:.0f}) |"
        )
    return "\n".join(rows)


def http_table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the HTTP figures beside the file ingest and in-process board."""
    head = (
        "| backend | events | file ingest/s | HTTP ingest/s | HTTP ÷ file | CPU HTTP ÷ file "
        "| file ingest/s in the requests' batches | HTTP ÷ that "
        f"| HTTP ingest/s from {HTTP_CONNECTIONS} connections | that ÷ file "
        "| requests | board now p50/p99 ms | board past p50/p99 ms "
        "| in-process now / past p50 ms |"
    )
    rows = [head, "|" + "---|" * 14]
    for r in results:
        h = r.get("http")
        if not h:
            continue
        q = r.get("as_of", {})
        in_process = (
            f"{q['board_live']['p50_ms']:.0f} / {q['board_past']['p50_ms']:.0f}" if q else ""
        )
        rows.append(
            f"| {r['backend']} | {r['events']:,} | {r['ingest_per_s']:,.0f} "
            f"| {h['ingest_per_s']:,.0f} | {r['http_ingest_vs_file']:.2f} "
            f"| {h['server_cpu_s'] / r['ingest_cpu_s']:.2f} "
            f"| {r.get('ingest_same_batch_per_s', 0):,.0f} "
            f"| {r.get('http_ingest_vs_file_same_batch', 0):.2f} "
            f"| {r.get('http_many', {}).get('ingest_per_s', 0):,.0f} "
            f"| {r.get('http_many_vs_file', 0):.2f} "
            f"| {h['requests']} of {h['batch']} "
            f"| {h['board_live']['p50_ms']:.0f} / {h['board_live']['p99_ms']:.0f} "
            f"| {h['board_past']['p50_ms']:.0f} / {h['board_past']['p99_ms']:.0f} "
            f"| {in_process} |"
        )
    return "\n".join(rows)


def pages_table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the web pages' server-side render times, p50 / p99 ms."""
    head = (
        "| backend | events | "
        + " | ".join(name.replace("_", " ") for name in PAGES)
        + " | past / live |"
    )
    rows = [head, "|" + "---|" * (len(PAGES) + 3)]
    for r in results:
        p = r.get("pages")
        if not p:
            continue
        cells = " | ".join(f"{p[n]['p50_ms']:.0f} / {p[n]['p99_ms']:.0f}" for n in PAGES)
        rows.append(
            f"| {r['backend']} | {r['events']:,} | {cells} | {p['board_past_vs_live']:.2f} |"
        )
    return "\n".join(rows)


def audit_table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the audit figures (``benchmarks/audit_grade.py``)."""
    head = (
        "| backend | events | checkpoint s | checkpoint events/s | checkpoint RSS MB "
        "| +1% checkpoint s | cosign first / +1% ms | consistency sent hashes / bytes "
        "| verify s / RSS MB | verify --read-models s / RSS MB "
        "| inclusion p50 / p99 ms | inclusion hashes / bytes | consistency p50 / p99 ms "
        "| consistency hashes / bytes | check from note p50 ms inclusion / consistency |"
    )
    rows = [head, "|" + "---|" * 15]
    for r in results:
        a = r.get("audit")
        if not a:
            continue
        c, w, p = a["checkpoint"], a["witness"], a["proofs"]
        v, m = a["verify"], a["verify_read_models"]
        inc, con = p["inclusion"], p["consistency"]
        rows.append(
            f"| {r['backend']} | {c['events']:,} | {c['seconds']:.2f} "
            f"| {c['events_per_s']:,.0f} | {c['peak_rss_mb']:.0f} "
            f"| {a['incremental']['seconds']:.2f} (+{a['incremental']['events']:,}) "
            f"| {w['first_cosign_ms']:.0f} / {w['incremental_cosign_ms']:.0f} "
            f"| {w['consistency_hashes']} / {w['consistency_bytes']} "
            f"| {v['seconds']:.2f} / {v['peak_rss_mb']:.0f} "
            f"| {m['seconds']:.2f} / {m['peak_rss_mb']:.0f} "
            f"| {inc['p50_ms']:.2f} / {inc['p99_ms']:.2f} "
            f"| {inc['hashes_median']:.0f} / {inc['bytes_median']:.0f} "
            f"| {con['p50_ms']:.2f} / {con['p99_ms']:.2f} "
            f"| {con['hashes_median']:.0f} / {con['bytes_median']:.0f} "
            f"| {p['inclusion_verify']['p50_ms']:.2f} / {p['consistency_verify']['p50_ms']:.2f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10k,100k", help="comma-separated, e.g. 10k,100k,1m")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--board-tickets", type=int, default=10_000)
    parser.add_argument("--no-kafka", dest="kafka", action="store_false")
    parser.add_argument(
        "--http",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ingest and the board through ledger serve (default on)",
    )
    parser.add_argument(
        "--pages",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the web board's pages rendered in-process (default on)",
    )
    parser.add_argument(
        "--audit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="checkpoint, witness, verify and proofs at sizes from 100k (default on)",
    )
    parser.add_argument(
        "--core",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="physical and library writes, replay and the as-of questions (default on; "
        "off: ingest and rebuild only, which the other sections need)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument(
        "--out", type=Path, help="default results/latest.json (results/startup.json)"
    )
    parser.add_argument(
        "--startup-only", action="store_true", help="only the command line's start-up"
    )
    parser.add_argument("--child-ingest", nargs=2, metavar=("STREAM", "DB"), help=argparse.SUPPRESS)
    parser.add_argument("--child-batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ingest:
        _run_child_ingest(Path(args.child_ingest[0]), args.child_ingest[1], args.child_batch)
        return
    if args.out is None:
        args.out = RESULTS / ("startup.json" if args.startup_only else "latest.json")
    if args.smoke:
        args.sizes, args.board_tickets = "600", 300
    sizes = [_size(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    results: list[dict[str, Any]] = []
    boards: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("command line start-up ...", file=sys.stderr, flush=True)
        started = startup(root, args.seed, 2 if args.smoke else 5)
        if args.startup_only:
            backends = []
        for backend in backends:
            for size in sizes:
                print(f"{backend} at {size:,} events ...", file=sys.stderr, flush=True)
                results.append(
                    run_size(
                        backend,
                        size,
                        args.seed,
                        root,
                        args.smoke,
                        args.kafka,
                        args.http,
                        args.pages,
                        args.audit,
                        args.core,
                    )
                )
            scratch = Scratch(backend, root / f"{backend}-board")
            scratch.root.mkdir(parents=True, exist_ok=True)
            try:
                boards[backend] = breached_board(
                    scratch, args.board_tickets, 5 if args.smoke else 20
                )
            finally:
                scratch.drop()
    scaling = {backend: growth(results, backend) for backend in backends}
    document = {
        **environment(args),
        "results": results,
        "sla_breached": boards,
        "largest_vs_smallest": scaling,
        "startup": started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    if results:
        if any("replay" in r for r in results):  # (not with --no-core)
            print(table(results))
            print(as_of_table(results))
        if any("http" in r for r in results):
            print(http_table(results))
        if any("pages" in r for r in results):
            print(pages_table(results))
        if any("audit" in r for r in results):
            print(audit_table(results))
    print_startup(started)
    for backend, board in boards.items():
        print(
            f"{backend}: sla list --breached over {board['open_tickets']:,.0f} open tickets: "
            f"p50 {board['p50_ms']:.0f} ms, p99 {board['p99_ms']:.0f} ms"
        )
        if scaling[backend]:
            print(
                f"{backend}: rate at the largest size / at the smallest: "
                + ", ".join(f"{name} {ratio:.2f}" for name, ratio in scaling[backend].items())
            )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
