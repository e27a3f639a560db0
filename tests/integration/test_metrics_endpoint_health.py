"""``ledger health-check LOOP``: unhealthy exactly while a loop leaves its work undone.

The inputs are recorded an hour ago (the ingest's clock), so each loop that has not
done its part has work waiting for an hour; doing the part (catch up, tick, checkpoint,
publish) makes the check pass again. Everything else is the real clock.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from typer.testing import CliRunner

from cli import app as cli_app
from ledger.adapters import tables
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, insert_missing
from ledger.adapters.settings import Database
from ledger.services.intake import Ingestor, Input
from ledger.services.tick import tick
from tests.conftest import FixedClock
from tests.support import Envelopes


def check(database: Database, *args: str) -> tuple[int, dict[str, Any]]:
    """``ledger health-check ARGS --json``: exit code and report."""
    result = CliRunner().invoke(
        cli_app, ["health-check", *args, "--db", database.url, "--json"], catch_exceptions=False
    )
    return result.exit_code, json.loads(result.stdout)


def test_each_loop_is_unhealthy_while_its_work_waits(
    ledger: LedgerApp, engine: Engine, database: Database
) -> None:
    now = datetime.now(UTC)
    env = Envelopes(start=now - timedelta(hours=3))
    inputs = [
        env.customer("C-1", at=now - timedelta(days=10)),
        env.ticket("T-1", at=now - timedelta(hours=3)),  # Sev1: first response due in 1 h
    ]
    outcomes = Ingestor(ledger, clock=FixedClock(now - timedelta(hours=1))).ingest_batch(
        [Input(e, "test") for e in inputs]
    )
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    projector = Projector(ledger, engine)  # its tables, at position 0: an hour behind

    code, report = check(database, "project", "--max-age", "600")
    assert code == 1 and not report["healthy"]
    assert set(report["waiting_seconds"]) == {
        "projection tickets",
        "projection customers",
        "projection policy",
    }
    assert all(3590 < age < 3700 for age in report["waiting_seconds"].values())
    assert check(database, "project", "--max-age", "7200")[0] == 0
    projector.catch_up()
    code, report = check(database, "project", "--max-age", "1")
    assert code == 0 and set(report["waiting_seconds"].values()) == {0}

    code, report = check(database, "tick", "--max-age", "600")
    assert code == 1
    assert 7190 < report["waiting_seconds"]["unwritten breach"] < 7300  # due 2 h ago
    assert "sla.breached" in tick(ledger, engine, datetime.now(UTC)).written
    projector.catch_up()
    assert check(database, "tick", "--max-age", "600")[0] == 0

    code, report = check(database, "tick", "--max-age", "600", "--checkpoint")
    assert code == 1 and report["waiting_seconds"]["uncheckpointed event"] > 3590
    signed = CliRunner().invoke(cli_app, ["checkpoint", "--db", database.url])
    assert signed.exit_code == 0, signed.output
    assert check(database, "tick", "--max-age", "600", "--checkpoint")[0] == 0

    code, report = check(database, "relay", "--max-age", "600")
    assert code == 1 and report["waiting_seconds"]["unpublished event (relay:ledger.events)"]
    head = ledger.store.max_notification_id()
    with engine.begin() as conn:
        insert_missing(conn, tables.publish_positions, [{"stream": "relay:ledger.events"}])
        conn.execute(update(tables.publish_positions).values(position=head))
    assert check(database, "relay", "--max-age", "600")[0] == 0


def test_the_message_names_what_is_stuck(ledger: LedgerApp, database: Database) -> None:
    env = Envelopes(start=datetime.now(UTC) - timedelta(hours=2))
    Ingestor(ledger, clock=FixedClock(datetime.now(UTC) - timedelta(hours=1))).ingest_batch(
        [Input(env.customer("C-1"), "test")]
    )
    result = CliRunner().invoke(
        cli_app, ["health-check", "relay", "--db", database.url, "--max-age", "60"]
    )
    assert result.exit_code == 1  # (``main`` prints the CliError as ``error: ...``)
    assert re.fullmatch(
        r"relay is stuck: oldest unpublished event \(relay:ledger\.events\) waits 36\d\d s "
        r"\(more than 60 s\)",
        str(result.exception),
    )


def test_the_webhooks_loop_is_unhealthy_while_an_alert_or_a_delivery_waits(
    ledger: LedgerApp, engine: Engine, database: Database
) -> None:
    from ledger.services.webhooks import Webhooks

    now = datetime.now(UTC)
    env = Envelopes(start=now - timedelta(hours=3))
    Ingestor(ledger, clock=FixedClock(now - timedelta(hours=2))).ingest_batch(
        [
            Input(env.customer("C-1", at=now - timedelta(days=10)), "test"),
            Input(env.ticket("T-1", at=now - timedelta(hours=3)), "test"),  # Sev1: due in 1 h
        ]
    )
    Projector(ledger, engine).catch_up()
    hour_ago = FixedClock(now - timedelta(hours=1))
    hooks = Webhooks(ledger, engine, clock=hour_ago)
    hooks.add("http://127.0.0.1:9/hook", ["sla.breached"])
    assert check(database, "webhooks", "--max-age", "600")[0] == 1  # the log, not read yet
    assert hooks.fill() == 0  # read: nothing to send
    assert check(database, "webhooks", "--max-age", "600")[0] == 0
    assert "sla.breached" in tick(ledger, engine, now, clock=hour_ago).written

    code, report = check(database, "webhooks", "--max-age", "600")
    assert code == 1  # the alert, recorded an hour ago, is not in the outbox
    assert 3590 < report["waiting_seconds"]["alert not in the outbox"] < 3700
    assert hooks.fill() == 1  # due at once, by the fill's clock: an hour ago
    code, report = check(database, "webhooks", "--max-age", "600")
    assert code == 1 and report["waiting_seconds"]["alert not in the outbox"] == 0
    assert 3590 < report["waiting_seconds"]["delivery due"] < 3700
    assert check(database, "webhooks", "--max-age", "7200")[0] == 0


def test_the_tick_is_unhealthy_while_an_overdue_action_is_unwritten(
    ledger: LedgerApp, engine: Engine, database: Database
) -> None:
    """An RCA action past its due instant with no ``rca.action_overdue`` on the log is
    the tick's work waiting (R-RCA-4), from that instant on; the tick writes it and the
    check passes."""
    now = datetime.now(UTC)
    env = Envelopes(start=now - timedelta(days=10))
    due_date = (now - timedelta(days=3)).date()
    inputs = [env.customer("C-1", at=now - timedelta(days=20)), env.ticket("T-1")]
    rca = env.rca("T-1")  # (after the ticket: each envelope occurs after the one before)
    for event in rca:
        if event["type"] == "rca.preventive_action_added":
            event["data"]["due_date"] = due_date.isoformat()
    inputs += rca
    outcomes = Ingestor(ledger, clock=FixedClock(now - timedelta(days=5))).ingest_batch(
        [Input(e, "test") for e in inputs]
    )
    assert {o.status for o in outcomes} == {"accepted"}, [o.rejection for o in outcomes]
    Projector(ledger, engine).catch_up()
    due_at = datetime.combine(due_date + timedelta(days=1), datetime.min.time(), tzinfo=UTC)

    code, report = check(database, "tick", "--max-age", "600")
    assert code == 1
    waited = report["waiting_seconds"]["unwritten overdue play or action"]
    assert abs(waited - (now - due_at).total_seconds()) < 60
    assert "rca.action_overdue" in tick(ledger, engine, datetime.now(UTC)).written
    Projector(ledger, engine).catch_up()
    code, report = check(database, "tick", "--max-age", "600")
    assert code == 0 and report["waiting_seconds"]["unwritten overdue play or action"] == 0
