"""The HTTP API on the ledger a harness run measures: ingest over loopback, then the board.

On a fresh ledger of its own (the same workload lines the harness wrote to
``stream.jsonl``), ``ledger serve --port 0`` runs as a subprocess with auth on: a
producer allowed every source, role and type (``'*'``) and a reader of every customer.
The harness waits for the address it prints (no sleeping), then:

* ``ingest``: a load client, a separate Python process (httpx, one keep-alive connection),
  posts the stream as NDJSON in batches of ``batch`` lines, sequentially (one connection:
  the batches reach the server in the stream's order, as the file ingest reads them; a
  second connection would let batches overtake each other and decide other outcomes;
  ``http_ingest_many`` does that on purpose). The rate is stored events per second from
  the first request to the last response. Every POST must answer 200, and the outcomes'
  counts (accepted, duplicate, deferred, rejected) and the stored events must equal the
  file ingest's, so the figure is for the same work. The server runs ``--no-follow``, as
  compose runs it beside ``ledger project --follow``: its process ingests, as the file
  ingest's does, and the reads catch the read models up (``behind_at_end``: how far behind
  they were when the last response came). ``server_cpu_s``: the server process's CPU time
  over the ingest (beside the file ingest's ``ingest_cpu_s``: the same work, whatever the
  neighbours of a shared machine did to the wall clock);
* ``board_live`` / ``board_past``: ``GET /v1/board?breached=true`` as of the end of the
  log (its last event plus a day, as ``benchmarks.as_of`` asks) and as of mid-quarter,
  ``runs`` times each from the client process, one after the other, p50 and p99 in ms
  as the client sees them (one warm request first; the read models caught up and the
  database settled before, as for the in-process figures).

Run as ``python -m benchmarks.http ingest|board ...`` it is the load client.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
ADDRESS: Final = re.compile(rb"listening on (http://\S+)")
START_TIMEOUT: Final = 120.0
NDJSON: Final = "application/x-ndjson"
STATUSES: Final = ("accepted", "duplicate", "deferred", "rejected")


# the harness's side ---------------------------------------------------------------------------


def http_measures(
    stream: Path,
    url: str,
    expected: Mapping[str, int],
    *,
    batch: int,
    runs: int,
    past: datetime,
    settle: Callable[[str], None],
    log: Path,
) -> dict[str, Any]:
    """Ingest ``stream`` over HTTP into the fresh ledger at ``url``, then time the board.

    ``expected``: the file ingest's outcome counts and stored events, which the HTTP
    ingest must reproduce; ``settle(url)`` readies the database for the latency
    measures; the server's log goes to ``log``."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for, latest_occurred
    from ledger.adapters.settings import resolve_database
    from ledger.services.principals import add_producer, add_reader

    database = resolve_database(url)
    with opened(database):
        engine = engine_for(database)
        producer = add_producer(engine, "bench-load", sources=["*"], roles=["*"], types=["*"])
        reader = add_reader(engine, "bench-board")
        engine.dispose()
    with serving(url, log) as (address, pid):
        cpu = _cpu_of(pid)
        ingest = _client("ingest", address, producer, str(stream), str(batch))
        server_cpu = _cpu_of(pid) - cpu
        _check(ingest, expected)
        _client("board", address, reader, "1")  # the read models caught up (by the request)
        engine = engine_for(database)
        latest = latest_occurred(engine)
        engine.dispose()
        assert latest is not None
        settle(url)
        now = latest + timedelta(days=1)
        board = _client("board", address, reader, str(runs), now.isoformat(), past.isoformat())
    with opened(database) as app:
        events = app.store.event_count()
    if events != expected["events"]:
        raise AssertionError(f"HTTP ingest stored {events} events, the file ingest {expected}")
    seconds = ingest["seconds"]
    return {
        "batch": batch,
        "connections": 1,
        "requests": ingest["requests"],
        "events": events,
        "seconds": seconds,
        "ingest_per_s": events / seconds,
        "ingest_inputs_per_s": ingest["inputs"] / seconds,
        "counts": ingest["counts"],
        "behind_at_end": ingest["behind_at_end"],
        "server_cpu_s": server_cpu,
        "client_cpu_s": ingest["cpu_s"],
        "board_live": board["board_live"],
        "board_past": board["board_past"],
        "board_timers_first_page": board["timers"],
    }


def stored_state(url: str) -> dict[str, Any]:
    """What a ledger holds at the end of an ingest: events, rejections kept by rule, inputs
    still deferred."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.settings import resolve_database

    with opened(resolve_database(url)) as app:
        return {
            "events": app.store.event_count(),
            "rejections": app.store.rejection_counts(),
            "deferred": app.store.deferred_count(),
        }


def http_ingest_many(
    stream: Path,
    url: str,
    expected: Mapping[str, Any],
    *,
    batch: int,
    connections: int,
    log: Path,
) -> dict[str, Any]:
    """Ingest ``stream`` over HTTP into the fresh ledger at ``url`` from ``connections``
    connections at once, the stream split by subject (``partitions``), each part in its
    order. Batches of other parts overtake each other, so an input may wait for a subject
    (R-IN-6: deferred, then decided when it arrives) where the file ingest found it
    stored: the outcomes' counts differ, what is stored at the end must not (the events,
    the rejections kept, the inputs left waiting: ``expected``, from ``stored_state``)."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from ledger.services.principals import add_producer

    database = resolve_database(url)
    with opened(database):
        engine = engine_for(database)
        producer = add_producer(engine, "bench-load", sources=["*"], roles=["*"], types=["*"])
        engine.dispose()
    with serving(url, log) as (address, pid):
        cpu = _cpu_of(pid)
        ingest = _client("ingest", address, producer, str(stream), str(batch), str(connections))
        server_cpu = _cpu_of(pid) - cpu
    if ingest["statuses"] != {"200": ingest["requests"]}:
        raise AssertionError(f"POST /v1/events answered {ingest['statuses']}")
    stored = stored_state(url)
    if stored != expected:
        raise AssertionError(f"HTTP ingest from {connections} stored {stored}, the file {expected}")
    seconds = ingest["seconds"]
    return {
        "batch": batch,
        "connections": connections,
        "requests": ingest["requests"],
        "events": stored["events"],
        "seconds": seconds,
        "ingest_per_s": stored["events"] / seconds,
        "counts": ingest["counts"],
        "server_cpu_s": server_cpu,
        "client_cpu_s": ingest["cpu_s"],
    }


def _check(ingest: Mapping[str, Any], expected: Mapping[str, int]) -> None:
    """Every POST answered 200, with the file ingest's outcome counts."""
    if ingest["statuses"] != {"200": ingest["requests"]}:
        raise AssertionError(f"POST /v1/events answered {ingest['statuses']}")
    wanted = {status: expected[status] for status in STATUSES}
    got = {status: ingest["counts"].get(status, 0) for status in STATUSES}
    if got != wanted:
        raise AssertionError(f"HTTP ingest outcomes {got}, the file ingest's {wanted}")


@contextmanager
def serving(url: str, log: Path) -> Iterator[tuple[str, int]]:
    """``ledger serve --port 0 --no-follow --db URL`` (auth on) until the block ends; its address
    and process id."""
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", "0", "--no-follow", "--db", url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            yield printed_address(process.stdout, log), process.pid
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def printed_address(stdout: IO[bytes], log: Path) -> str:
    """The address a server prints once it listens (``... listening on http://...``; a
    reader thread: no sleeping)."""
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in stdout:
            match = ADDRESS.search(line)
            if match and not found:
                found.append(match.group(1).decode())
                ready.set()
        ready.set()  # end of output: the server exited

    threading.Thread(target=read, daemon=True).start()
    ready.wait(START_TIMEOUT)
    if not found:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the server printed no address:\n{tail}")
    return found[0]


def _client(*args: str) -> dict[str, Any]:
    """The load client in a process of its own; its JSON report."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.http", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"load client {args[0]} failed:\n{result.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


# the load client ------------------------------------------------------------------------------


def _quantiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else []
    p50, p99 = (cuts[49], cuts[98]) if cuts else (samples[0], samples[0])
    return {"p50_ms": p50, "p99_ms": p99, "runs": float(len(samples))}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def partitions(lines: list[bytes], connections: int) -> list[list[bytes]]:
    """The lines split by subject, as a Kafka producer keys its records: a subject's lines
    in one partition, in the stream's order (a line that is no JSON object: by its bytes)."""
    import orjson

    parts: list[list[bytes]] = [[] for _ in range(connections)]
    for line in lines:
        try:
            subject = orjson.loads(line).get("subject")
        except (orjson.JSONDecodeError, AttributeError):
            subject = None
        key = subject.encode() if isinstance(subject, str) else line
        parts[zlib.crc32(key) % connections].append(line)
    return parts


def _ingest(
    address: str, token: str, stream: Path, batch: int, connections: int = 1
) -> dict[str, Any]:
    """Post the stream in batches of ``batch`` lines, one request after the other on each
    of ``connections`` keep-alive connections (more than one: the stream split by
    subject, one part a connection, each posted in its order)."""
    import httpx
    import orjson

    lines = stream.read_bytes().split(b"\n")  # as the file ingest reads it
    if lines and not lines[-1]:
        lines.pop()
    parts = [lines] if connections == 1 else partitions(lines, connections)
    posts = [
        [b"\n".join(part[i : i + batch]) + b"\n" for i in range(0, len(part), batch)]
        for part in parts
    ]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": NDJSON}
    statuses: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    tally = threading.Lock()
    clients = [
        httpx.Client(base_url=address, headers=headers, timeout=600) for _ in range(connections)
    ]
    for client in clients:
        client.get("/healthz").raise_for_status()  # the connections open before timing

    def post(client: httpx.Client, bodies: list[bytes]) -> None:
        for body in bodies:
            answer = client.post("/v1/events", content=body)
            found = orjson.loads(answer.content)["counts"] if answer.status_code == 200 else {}
            with tally:
                statuses[str(answer.status_code)] += 1
                counts.update(found)

    cpu = _cpu_seconds()
    start = time.perf_counter()
    threads = [
        threading.Thread(target=post, args=(client, bodies))
        for client, bodies in zip(clients, posts, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    ready = clients[0].get("/readyz").json()
    for client in clients:
        client.close()
    return {
        "seconds": seconds,
        "requests": sum(len(bodies) for bodies in posts),
        "connections": connections,
        "inputs": len(lines),
        "statuses": dict(statuses),
        "counts": dict(counts),
        "behind_at_end": ready.get("behind"),
        "cpu_s": cpu,
    }


def _board(
    address: str, token: str, runs: int, now: str | None, past: str | None
) -> dict[str, Any]:
    """``GET /v1/board?breached=true`` as of ``now`` and as of ``past``, ``runs`` times
    each after one warm request (with neither: one request as of when it is asked)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    figures: dict[str, Any] = {}
    with httpx.Client(base_url=address, headers=headers, timeout=600) as client:

        def ask(as_of: str | None) -> dict[str, Any]:
            params = {"breached": "true", **({"as_of": as_of} if as_of else {})}
            answer = client.get("/v1/board", params=params)
            answer.raise_for_status()
            found: dict[str, Any] = answer.json()
            return found

        if now is None or past is None:
            ask(None)
            return {}
        for name, as_of in (("board_live", now), ("board_past", past)):
            first = ask(as_of)  # warm
            figures.setdefault("timers", {})[name] = len(first["timers"])  # on the first page
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                ask(as_of)
                samples.append((time.perf_counter() - start) * 1000)
            figures[name] = _quantiles(samples)
    return figures


def main(argv: list[str]) -> None:
    """``ingest ADDRESS TOKEN STREAM BATCH [CONNECTIONS]`` or ``board ADDRESS TOKEN RUNS
    [NOW PAST]``."""
    what, address, token, *rest = argv
    if what == "ingest":
        connections = int(rest[2]) if len(rest) == 3 else 1
        report = _ingest(address, token, Path(rest[0]), int(rest[1]), connections)
    else:
        now, past = (rest[1], rest[2]) if len(rest) == 3 else (None, None)
        report = _board(address, token, int(rest[0]), now, past)
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
