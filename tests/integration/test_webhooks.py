"""Webhooks for alerts: a real HTTP receiver on loopback that fails the first attempts;
signatures checked with the ``standardwebhooks`` package (an independent implementation of
the spec), the backoff by an injected clock, and at least once across a killed dispatcher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ledger.adapters import tables
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.outbox import STREAM, Filling
from ledger.adapters.settings import Database
from ledger.adapters.webhook_client import SendResult, post
from ledger.services.intake import Ingestor, Input
from ledger.services.tick import tick
from ledger.services.webhooks import Backoff, Webhooks
from tests.conftest import PG_URL, FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
S = timedelta(seconds=1)
DELIVER = [sys.executable, "-m", "cli", "webhooks", "deliver", "--once", "--json"]
WAIT = 20.0  # seconds to wait for something that will happen (a failure, if it does not)


# the receiver ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def timestamp(self) -> int:
        return int(self.headers["webhook-timestamp"])

    def verify(self, secret: str) -> Any:
        """The body, if the signature verifies (the package's own check, which also holds
        the timestamp to five minutes of the real clock)."""
        return Webhook(secret).verify(self.body, self.headers)

    def signed_by(self, secret: str) -> bool:
        """The signature checked by the package at the header's own timestamp (for a
        dispatcher whose clock the test moved away from the real one)."""
        at = datetime.fromtimestamp(self.timestamp, UTC)
        expected = Webhook(secret).sign(self.id, at, self.body.decode())
        return expected in self.headers["webhook-signature"].split(" ")


class Receiver:
    """An HTTP server on a free loopback port answering each request as the script says:
    a status code, ``"drop"`` (close the connection without an answer) or ``"hold"``
    (keep the request open until ``release``); 200 once the script runs out."""

    def __init__(self, script: list[int | str]) -> None:
        self.script = list(script)
        self.requests: list[Received] = []
        self.changed = threading.Condition()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.changed:
                    action = receiver.script.pop(0) if receiver.script else 200
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    receiver.changed.notify_all()
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "hold":
                    receiver.released.wait(WAIT)
                    action = 200
                try:
                    self.send_response(int(action))
                    self.end_headers()
                except OSError:  # the dispatcher is gone
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def wait_for(self, count: int) -> list[Received]:
        """The first ``count`` requests, once they have come."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.requests) >= count, WAIT), (
                f"{len(self.requests)} of {count} requests came"
            )
            return self.requests[:count]


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[Receiver] = []

    def make(script: list[int | str]) -> Receiver:
        receiver = Receiver(script)
        receiver.thread.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.released.set()
        receiver.server.shutdown()
        receiver.server.server_close()


# alerts ---------------------------------------------------------------------------------------


def _ingest(ledger: LedgerApp, envelopes: list[dict[str, Any]], clock: FixedClock) -> None:
    outcomes = Ingestor(ledger, clock=clock).ingest_batch([Input(e, "test") for e in envelopes])
    assert [o.rejection for o in outcomes if o.rejection] == []


def _story(ledger: LedgerApp, clock: FixedClock) -> None:
    """T-1 (Sev1, never answered: first response breached at T0+60m) and T-2 (answered,
    resolved with a temporary fix expiring at T0+3h: no breach)."""
    env = Envelopes()
    e = env.make
    _ingest(
        ledger,
        [
            env.customer("C-1", at=T0 - timedelta(days=10)),
            env.ticket("T-1", at=T0),
            env.ticket("T-2", at=T0),
            e("ticket.responded", "T-2", {"public": True, "message": "on it"}, at=T0 + 5 * M),
            e(
                "ticket.temporary_fix_applied",
                "T-2",
                {"description": "restart", "expires_at": (T0 + 180 * M).isoformat(), "owner": "a"},
                at=T0 + 10 * M,
            ),
            e("ticket.resolved", "T-2", {"resolution": "restarted"}, at=T0 + 15 * M),
        ],
        clock,
    )


def _real_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _types(requests: list[Received]) -> list[tuple[str, str]]:
    return [(b["type"], b["data"]["subject"]) for b in (json.loads(r.body) for r in requests)]


# tests ----------------------------------------------------------------------------------------


def test_an_alert_reaches_a_receiver_that_fails_first_on_the_backoff_schedule(
    ledger: LedgerApp, engine: Engine, clock: FixedClock, receiver_factory: Any
) -> None:
    receiver = receiver_factory([500, "drop"])
    hooks_clock = FixedClock(_real_now())
    hooks = Webhooks(ledger, engine, clock=hooks_clock)
    _story(ledger, clock)
    subscription = hooks.add(receiver.url, ["sla.breached"])
    tick(ledger, engine, T0 + 90 * M)  # T-1's first response breached at T0+60m

    start = hooks_clock.now
    first = hooks.run_once()
    assert (first.filled, first.sent, first.retrying) == (1, 1, 1)
    hooks_clock.now = start + 29 * S  # the first wait is 30 s
    assert hooks.run_once().sent == 0
    hooks_clock.now = start + 30 * S
    assert hooks.run_once().retrying == 1  # the connection was dropped
    hooks_clock.now = start + 89 * S  # the second wait is 60 s
    assert hooks.run_once().sent == 0
    hooks_clock.now = start + 90 * S
    last = hooks.run_once()
    assert (last.sent, last.delivered) == (1, 1)

    requests = receiver.wait_for(3)
    assert len({r.id for r in requests}) == 1  # the same message, three times
    assert [r.timestamp for r in requests] == [
        int((start + d).timestamp()) for d in (0 * S, 30 * S, 90 * S)
    ]
    bodies = [r.verify(subscription.secret) for r in requests]
    assert bodies[0] == bodies[1] == bodies[2]
    assert _types(requests) == [("sla.breached", "T-1")] * 3
    assert bodies[0]["data"]["data"]["timer"] == "first_response"
    assert bodies[0]["timestamp"] == (T0 + 60 * M).isoformat()
    with pytest.raises(WebhookVerificationError):
        requests[0].verify(hooks.add(receiver.url, ["sla.breached"]).secret)  # another key

    (delivery,) = hooks.deliveries()
    assert delivery["webhook_id"] == requests[0].id
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    log = delivery["attempt_log"]
    assert [a["status_code"] for a in log] == [500, None, 200]
    assert "500" in log[0]["error"] and log[1]["error"] and log[2]["error"] is None
    assert hooks.deliveries(status="pending") == []

    hooks_clock.now = start + timedelta(hours=1)  # nothing more to send, nothing new
    assert tick(ledger, engine, T0 + 90 * M).written == {}
    again = hooks.run_once()
    assert (again.filled, again.sent) == (0, 0)
    assert len(receiver.requests) == 3


def test_a_receiver_that_never_accepts_fails_the_delivery_after_max_attempts(
    ledger: LedgerApp, engine: Engine, clock: FixedClock, receiver_factory: Any
) -> None:
    receiver = receiver_factory([503] * 10)
    hooks_clock = FixedClock(T0 + 4 * 60 * M)
    backoff = Backoff(base=timedelta(seconds=10), cap=timedelta(seconds=40), max_attempts=5)
    assert backoff.schedule() == [10 * S, 20 * S, 40 * S, 40 * S]
    hooks = Webhooks(ledger, engine, clock=hooks_clock, backoff=backoff)
    _story(ledger, clock)
    subscription = hooks.add(receiver.url, ["fix.temporary_expired"])
    tick(ledger, engine, T0 + 4 * 60 * M)  # a breach (not asked for) and the fix's expiry

    start = hooks_clock.now
    for wait in [0 * S, *backoff.schedule()]:
        hooks_clock.now += wait
        assert hooks.run_once().sent == 1
    hooks_clock.now += timedelta(days=1)
    assert hooks.run_once().sent == 0

    requests = receiver.wait_for(5)
    assert [r.timestamp - int(start.timestamp()) for r in requests] == [0, 10, 30, 70, 110]
    assert all(r.signed_by(subscription.secret) for r in requests)
    assert _types(requests) == [("fix.temporary_expired", "T-2")] * 5
    (failed,) = hooks.deliveries(status="failed")
    assert (failed["attempts"], failed["next_attempt_at"], failed["last_status_code"]) == (
        5,
        None,
        503,
    )
    assert hooks.deliveries(status="delivered") == []


def test_a_dispatcher_that_dies_after_the_receiver_accepted_sends_the_same_id_again(
    ledger: LedgerApp, engine: Engine, clock: FixedClock, receiver_factory: Any
) -> None:
    """The answer came (200) but was never recorded: at least once means a duplicate id,
    after the lease, never a lost alert."""

    class Died(BaseException):
        pass

    def post_then_die(url: str, body: bytes, headers: Any, timeout: float) -> SendResult:
        result = post(url, body, headers, timeout)
        assert result.ok
        raise Died

    receiver = receiver_factory([])
    hooks_clock = FixedClock(T0 + 2 * 60 * M)
    _story(ledger, clock)
    dying = Webhooks(ledger, engine, clock=hooks_clock, send=post_then_die)
    subscription = dying.add(receiver.url, ["sla.breached"])
    tick(ledger, engine, T0 + 90 * M)
    with pytest.raises(Died):
        dying.run_once()
    (pending,) = dying.deliveries(status="pending")
    assert pending["attempts"] == 0  # nothing recorded

    hooks = Webhooks(ledger, engine, clock=hooks_clock)
    hooks_clock.now += hooks.lease - S  # claimed by the dead dispatcher until the lease ends
    assert hooks.run_once().sent == 0
    hooks_clock.now += S
    assert hooks.run_once().delivered == 1

    first, second = receiver.wait_for(2)
    assert first.id == second.id and first.body == second.body
    assert first.signed_by(subscription.secret) and second.signed_by(subscription.secret)
    (delivered,) = hooks.deliveries(status="delivered")
    assert delivered["attempts"] == 1


def test_a_killed_dispatcher_process_loses_nothing(
    database: Database,
    ledger: LedgerApp,
    engine: Engine,
    clock: FixedClock,
    receiver_factory: Any,
) -> None:
    """``ledger webhooks deliver --once`` killed (SIGKILL) while the receiver holds the
    request: the next run after the lease sends the same message."""
    receiver = receiver_factory(["hold"])
    _story(ledger, clock)
    hooks = Webhooks(ledger, engine, clock=FixedClock(T0))
    subscription = hooks.add(receiver.url, ["sla.breached"])
    tick(ledger, engine, T0 + 90 * M)
    db = (
        str(database.sqlite_path)
        if database.kind == "sqlite"
        else f"{PG_URL}?schema={database.schema}"
    )

    def deliver(now: datetime) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*DELIVER, "--now", now.isoformat(), "--db", db],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "LEDGER_DB_URL"},
        )

    at = T0 + 2 * 60 * M
    process = deliver(at)
    (held,) = receiver.wait_for(1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(WAIT)
    receiver.released.set()

    (pending,) = hooks.deliveries(status="pending")
    assert pending["attempts"] == 0
    for now, sent in [(at + 59 * S, 0), (at + 60 * S, 1)]:
        done = deliver(now)
        stdout, stderr = done.communicate(timeout=WAIT)
        assert done.returncode == 0, stderr
        assert json.loads(stdout)["delivered"] == sent
    again = receiver.wait_for(2)[1]
    assert again.id == held.id and again.body == held.body
    assert held.signed_by(subscription.secret) and again.signed_by(subscription.secret)
    assert [d["status"] for d in hooks.deliveries()] == ["delivered"]


def test_each_subscription_gets_the_alerts_it_named_stored_after_it_began(
    ledger: LedgerApp, engine: Engine, clock: FixedClock, receiver_factory: Any
) -> None:
    receiver = receiver_factory([])
    hooks = Webhooks(ledger, engine, clock=FixedClock(T0 + 5 * 60 * M))
    _story(ledger, clock)
    breaches = hooks.add(receiver.url + "/breaches", ["sla.breached"])
    tick(ledger, engine, T0 + 90 * M)  # T-1's breach
    everything = hooks.add(
        receiver.url + "/all",
        ["sla.breached", "fix.temporary_expired", "customer.churn_risk_raised"],
    )
    tick(ledger, engine, T0 + 4 * 60 * M)  # T-2's fix expired; no new breach
    report = hooks.run_once()
    assert (report.filled, report.delivered) == (2, 2)

    requests = receiver.wait_for(2)
    by_path = {r.path: r for r in requests}
    assert _types([by_path["/hooks/breaches"]]) == [("sla.breached", "T-1")]
    assert _types([by_path["/hooks/all"]]) == [("fix.temporary_expired", "T-2")]
    assert by_path["/hooks/breaches"].signed_by(breaches.secret)
    assert by_path["/hooks/all"].signed_by(everything.secret)
    assert not by_path["/hooks/all"].signed_by(breaches.secret)

    assert hooks.remove(breaches.id) == 0
    assert [s.id for s in hooks.subscriptions()] == [everything.id]


def test_filling_is_all_or_nothing_and_never_makes_a_message_twice(
    ledger: LedgerApp,
    engine: Engine,
    clock: FixedClock,
    receiver_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receiver_factory([])
    hooks = Webhooks(ledger, engine, clock=FixedClock(T0 + 5 * 60 * M))
    _story(ledger, clock)
    hooks.add(receiver.url, ["sla.breached", "fix.temporary_expired"])
    tick(ledger, engine, T0 + 4 * 60 * M)

    def crash(self: Filling, position: int) -> None:
        raise RuntimeError("crashed before the position moved")

    with monkeypatch.context() as patched:
        patched.setattr(Filling, "advance", crash)
        with pytest.raises(RuntimeError):
            hooks.fill()
    assert hooks.deliveries() == []  # the rows went with the transaction
    assert hooks.fill() == 2
    with engine.begin() as conn:  # as if the position had been lost: the log is read again
        conn.execute(
            update(tables.publish_positions)
            .where(tables.publish_positions.c.stream == STREAM)
            .values(position=0)
        )
    assert hooks.fill() == 0
    assert len(hooks.deliveries()) == 2


def test_removing_a_subscription_fails_its_pending_deliveries(
    ledger: LedgerApp, engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    hooks = Webhooks(ledger, engine, clock=FixedClock(T0 + 5 * 60 * M))
    _story(ledger, clock)
    subscription = hooks.add("http://127.0.0.1:9/never", ["sla.breached"])
    tick(ledger, engine, T0 + 90 * M)
    assert hooks.fill() == 1
    assert hooks.remove(subscription.id) == 1
    (failed,) = hooks.deliveries(status="failed")
    assert (failed["last_error"], failed["attempts"]) == ("subscription removed", 0)
    assert hooks.run_once().sent == 0
    assert [s.removed_at for s in hooks.subscriptions(include_removed=True)] == [T0 + 5 * 60 * M]
