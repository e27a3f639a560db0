"""``GET /metrics`` over real HTTP: the figures equal what the command line says.

A minimal FastAPI application is instrumented as ``create_app`` does (``instrument``),
served by uvicorn on a loopback socket bound before the server starts (so the first
request simply waits in the backlog), and scraped with httpx; the exposition is parsed
with prometheus_client's own parser. Each figure is compared, number for number, with
``ledger sla list --json``, ``ledger rejects list --json``, ``ledger deferred list
--json`` and ``ledger status --json`` on the same database, as of the same instant.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from typer.testing import CliRunner

from cli import app as cli_app
from ledger.adapters import tables
from ledger.adapters.event_store import opened
from ledger.adapters.projector import engine_for
from ledger.adapters.settings import resolve_database
from ledger.aggregates.base import LedgerEvent
from tests.conftest import BACKENDS, FixedClock
from tests.support import Envelopes
from web.metrics import AT_RISK_MINUTES, SEVERITIES, STATES, instrument

AFTER_DEMO = datetime(2026, 4, 6, 0, 0, tzinfo=UTC)  # the demo's last event: 04-05 22:59:57
MORNING = datetime(2026, 4, 6, 8, 30, tzinfo=UTC)  # timers due at 09:00 are at risk
NEXT_DAY = datetime(2026, 4, 7, 12, 0, tzinfo=UTC)  # breaches the tick has not written


def ledger(*args: str) -> Any:
    """``ledger ARGS --json``, in process; its JSON."""
    result = CliRunner().invoke(cli_app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module", params=BACKENDS)
def demo_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo quarter in a fresh ledger of each backend (made once per module)."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("metrics") / "ledger.db")
    else:
        import uuid

        import psycopg

        from tests.conftest import PG_URL

        schema = f"t_{uuid.uuid4().hex[:12]}"
        url = f"{PG_URL}?schema={schema}"
        database = resolve_database(url)

        def drop() -> None:
            with psycopg.connect(
                host=database.host,
                port=database.port,
                user=database.user,
                dbname=database.dbname,
                autocommit=True,
            ) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

        request.addfinalizer(drop)
    ledger("demo", "--db", url)
    # The demo leaves no timer paused: a ticket waiting on its customer, answered first.
    env = Envelopes(start=datetime(2026, 4, 5, 22, 0, tzinfo=UTC), seed=9001)
    waiting = [
        env.ticket("T-9901", customer_id="C-010", severity=2, category="major_degradation"),
        env.make("ticket.responded", "T-9901", {"public": True, "message": "on it"}),
        env.make("ticket.status_changed", "T-9901", {"status": "waiting_on_customer"}),
    ]
    path = tmp_path_factory.mktemp("input") / "waiting.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in waiting))
    assert ledger("ingest", str(path), "--db", url)["accepted"] == 3
    ledger("project", "--db", url)  # /metrics reads the read models as they stand
    return url


@dataclass
class Served:
    """A running server: its base URL and the clock its metrics read."""

    url: str
    clock: FixedClock

    def scrape(self) -> dict[str, Any]:
        """``GET /metrics``, parsed: {family name: [(sample name, labels, value)]}."""
        response = httpx.get(f"{self.url}/metrics", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return {
            family.name: [(s.name, s.labels, s.value) for s in family.samples]
            for family in text_string_to_metric_families(response.text)
        }


def make_app(db: str, clock: FixedClock | None) -> FastAPI:
    """A minimal application, instrumented as ``create_app`` does."""
    app = FastAPI()

    @app.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        if thing_id > 100:
            raise HTTPException(status_code=404, detail="no such thing")
        return {"thing": thing_id}

    if clock is None:
        instrument(app, db)
    else:
        instrument(app, db, clock=clock)
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening now: requests wait in the backlog until uvicorn accepts
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def served(demo_db: str) -> Iterator[Served]:
    """The instrumented application on the demo ledger, its clock held by the test."""
    clock = FixedClock(AFTER_DEMO)
    with serve(make_app(demo_db, clock)) as url:
        yield Served(url, clock)


def _by(samples: list[tuple[str, dict[str, str], float]], *keys: str) -> dict[Any, float]:
    return {
        tuple(labels[k] for k in keys) if len(keys) > 1 else labels[keys[0]]: value
        for _, labels, value in samples
    }


@pytest.mark.parametrize("as_of", [AFTER_DEMO, MORNING, NEXT_DAY], ids=str)
def test_sla_figures_equal_the_sla_board(served: Served, demo_db: str, as_of: datetime) -> None:
    served.clock.now = as_of
    metrics = served.scrape()
    at = as_of.isoformat()

    board = ledger("sla", "list", "--db", demo_db, "--as-of", at)["timers"]
    states = Counter((str(t["severity"]), t["state"]) for t in board)
    timers = _by(metrics["ledger_sla_timers"], "severity", "state")
    assert {k: v for k, v in timers.items() if v} == states
    assert set(timers) >= {(str(s), state) for s in SEVERITIES for state in STATES}
    assert timers[("2", "paused")] == 1  # T-9901's update timer

    risky = ledger("sla", "list", "--db", demo_db, "--as-of", at, "--at-risk", str(AT_RISK_MINUTES))
    at_risk = _by(metrics["ledger_sla_at_risk"], "severity")
    assert {k: v for k, v in at_risk.items() if v} == Counter(
        str(t["severity"]) for t in risky["timers"]
    )

    breached = ledger("sla", "list", "--db", demo_db, "--as-of", at, "--breached")["timers"]
    breaches = _by(metrics["ledger_sla_breaches_total"], "severity")
    assert {k: v for k, v in breaches.items() if v} == Counter(str(t["severity"]) for t in breached)
    # The demo's tick wrote every breach up to its end; later ones wait for the next tick
    # (test_the_tick_writes_what_was_unwritten).
    unwritten = metrics["ledger_sla_breaches_unwritten"][0][2]
    assert (unwritten > 0) == (as_of == NEXT_DAY)


@pytest.mark.parametrize("as_of", [AFTER_DEMO, NEXT_DAY, NEXT_DAY + timedelta(days=60)], ids=str)
def test_plays_and_actions_equal_their_queues(
    served: Served, demo_db: str, as_of: datetime
) -> None:
    """``ledger_success_plays`` and ``ledger_rca_actions`` count what ``ledger plays
    --open`` and ``ledger actions`` (open or overdue) list, by state, at scrape time."""
    served.clock.now = as_of
    metrics = served.scrape()
    at = as_of.isoformat()
    plays = ledger("plays", "--db", demo_db, "--as-of", at, "--open")["plays"]
    actions = ledger("actions", "--db", demo_db, "--as-of", at)["actions"]
    for family, rows in (("ledger_success_plays", plays), ("ledger_rca_actions", actions)):
        gauges = _by(metrics[family], "state")
        assert set(gauges) == {"open", "overdue"}
        assert {k: v for k, v in gauges.items() if v} == Counter(r["state"] for r in rows)
    assert metrics["ledger_success_plays"] and actions  # (the demo has both)


def test_counts_equal_status_rejects_and_deferred(served: Served, demo_db: str) -> None:
    served.clock.now = AFTER_DEMO
    metrics = served.scrape()
    status = ledger("status", "--db", demo_db)
    rejects = ledger("rejects", "list", "--db", demo_db)
    deferred = ledger("deferred", "list", "--db", demo_db)

    assert metrics["ledger_up"][0][2] == 1
    assert metrics["ledger_ingested_events_total"][0][2] == status["events"]
    assert metrics["ledger_log_head"][0][2] == status["log_head"]
    assert _by(metrics["ledger_rejections_total"], "rule") == Counter(r["rule"] for r in rejects)
    assert sum(_by(metrics["ledger_rejections_total"], "rule").values()) == status["rejections"]
    assert metrics["ledger_deferred_inputs"][0][2] == len(deferred) == status["deferred"]
    lag = _by(metrics["ledger_projection_lag_events"], "projection")
    assert lag == {n: p["behind"] for n, p in status["projections"].items()}
    positions = _by(metrics["ledger_projection_position"], "projection")
    assert positions == {n: p["position"] for n, p in status["projections"].items()}
    assert set(_by(metrics["ledger_projection_stale_seconds"], "projection").values()) == {0}
    assert "ledger_checkpoint_age_seconds" not in metrics  # the demo signs no checkpoint


def test_http_latency_by_route_template_method_and_status(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for thing in (1, 2, 3, 101):
            client.get(f"/things/{thing}")
        assert client.get("/nowhere/at/all").status_code == 404
        assert client.post("/things/1").status_code == 405
    counts = {
        (labels["method"], labels["route"], labels["status"]): value
        for name, labels, value in served.scrape()["ledger_http_request_duration_seconds"]
        if name.endswith("_count")
    }
    assert counts[("GET", "/things/{thing_id}", "200")] == 3
    assert counts[("GET", "/things/{thing_id}", "404")] == 1
    assert counts[("GET", "<unmatched>", "404")] == 1
    assert not any(route.startswith("/things/1") for _, route, _ in counts)


def test_lag_progress_and_checkpoint_age(demo_db: str, tmp_path: Path) -> None:
    """A projection held back five events and a signed checkpoint: lag, staleness, last
    progress and checkpoint age, from the log's own instants."""
    checkpoint = ledger("checkpoint", "--db", demo_db)
    signed = datetime.fromisoformat(checkpoint["statement"]["created_at"].replace("Z", "+00:00"))
    database = resolve_database(demo_db)
    engine = engine_for(database)
    status = ledger("status", "--db", demo_db)
    head = status["log_head"]
    with engine.begin() as conn:
        conn.execute(
            update(tables.tracking)
            .where(tables.tracking.c.projection == "tickets")
            .values(position=head - 5)
        )
    try:
        with opened(database, create=False) as app:
            events = {
                n.id: app.mapper.to_domain_event(n)
                for n in app.store.select_notifications(head - 5, 10)
            }
            recorded = {i: e.recorded_at for i, e in events.items() if isinstance(e, LedgerEvent)}
        clock = FixedClock(signed + timedelta(seconds=42))
        with serve(make_app(demo_db, clock)) as url:
            metrics = Served(url, clock).scrape()
        status = ledger("status", "--db", demo_db)
    finally:
        with engine.begin() as conn:
            conn.execute(update(tables.tracking).values(position=head))
        engine.dispose()
    assert status["projections"]["tickets"]["behind"] == 5
    assert _by(metrics["ledger_projection_lag_events"], "projection") == {
        n: p["behind"] for n, p in status["projections"].items()
    }
    stale = _by(metrics["ledger_projection_stale_seconds"], "projection")
    first_unapplied = min(i for i in recorded if i > head - 5)
    assert stale["tickets"] == pytest.approx(
        (clock.now - recorded[first_unapplied]).total_seconds()
    )
    assert stale["customers"] == 0
    progress = _by(metrics["ledger_projection_last_progress_timestamp_seconds"], "projection")
    assert progress["tickets"] == pytest.approx(recorded[head - 5].timestamp())
    assert progress["customers"] == pytest.approx(recorded[head].timestamp())
    assert metrics["ledger_checkpoint_age_seconds"][0][2] == pytest.approx(42)
    assert metrics["ledger_checkpoint_uncovered_events"][0][2] == 0


def test_wall_clock_and_an_unreachable_ledger(demo_db: str, tmp_path: Path) -> None:
    """Without a clock, SLA states are as of the scrape (as ``sla list`` without
    ``--as-of``: the demo's timers all stand still by now); a ledger that is not there
    is ``ledger_up 0``, not an error."""
    with (
        serve(make_app(demo_db, None)) as url,
        serve(make_app(str(tmp_path / "none.db"), None)) as nowhere,
    ):
        metrics = Served(url, FixedClock()).scrape()
        board = ledger("sla", "list", "--db", demo_db)["timers"]
        missing = Served(nowhere, FixedClock()).scrape()
    timers = _by(metrics["ledger_sla_timers"], "severity", "state")
    assert {k: v for k, v in timers.items() if v} == Counter(
        (str(t["severity"]), t["state"]) for t in board
    )
    assert missing["ledger_up"][0][2] == 0
    assert "ledger_sla_timers" not in missing
    assert not (tmp_path / "none.db").exists()


def test_the_tick_writes_what_was_unwritten(served: Served, demo_db: str) -> None:
    """Last (it writes): the breaches the tick writes are the unwritten ones, the oldest
    as long ago as the delay says; then none is unwritten."""
    served.clock.now = NEXT_DAY
    before = served.scrape()
    ticked = ledger("tick", "--db", demo_db, "--now", NEXT_DAY.isoformat())
    ledger("project", "--db", demo_db)
    after = served.scrape()
    breaches = [e for e in ticked["events"] if e["type"] == "sla.breached"]
    assert before["ledger_sla_breaches_unwritten"][0][2] == len(breaches) > 0
    oldest = min(datetime.fromisoformat(e["occurred_at"]) for e in breaches)
    delay = before["ledger_sla_breach_write_delay_seconds"][0][2]
    assert delay == (NEXT_DAY - oldest).total_seconds()
    assert after["ledger_sla_breaches_unwritten"][0][2] == 0
    assert after["ledger_sla_breach_write_delay_seconds"][0][2] == 0
    assert after["ledger_sla_breaches_total"] == before["ledger_sla_breaches_total"]
    # and so for the overdue plays and RCA actions it owes (R-PLAY-4, R-RCA-4)
    owed = [e for e in ticked["events"] if e["type"] in ("play.overdue", "rca.action_overdue")]
    assert before["ledger_overdue_unwritten"][0][2] == len(owed)
    oldest = min((datetime.fromisoformat(e["occurred_at"]) for e in owed), default=NEXT_DAY)
    assert before["ledger_overdue_write_delay_seconds"][0][2] == (NEXT_DAY - oldest).total_seconds()
    assert after["ledger_overdue_unwritten"][0][2] == 0
    assert after["ledger_overdue_write_delay_seconds"][0][2] == 0


DASHBOARD = (
    Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards" / "ledger.json"
)


def test_the_grafana_dashboard_asks_only_for_exposed_metrics(served: Served, demo_db: str) -> None:
    if "ledger_checkpoint_age_seconds" not in served.scrape():  # (run alone: sign one)
        ledger("checkpoint", "--db", demo_db)
    httpx.get(f"{served.url}/things/7", timeout=10)
    exposed = {name for samples in served.scrape().values() for name, _, _ in samples}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    asked = {name for expr in exprs for name in re.findall(r"\bledger_[a-z0-9_]+", expr)}
    assert asked and asked <= exposed, asked - exposed
    family = re.compile(r"_(bucket|count|sum|created)$")
    unshown = {family.sub("", n) for n in exposed} - {family.sub("", n) for n in asked}
    assert not unshown  # every figure has a panel
