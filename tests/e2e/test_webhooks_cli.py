"""``ledger webhooks`` as a user runs it: subscribe, tick, deliver to a real receiver, list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.integration.test_webhooks import Receiver
from tests.support import T0, Envelopes

M = timedelta(minutes=1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver([500])
    started.thread.start()
    yield started
    started.server.shutdown()
    started.server.server_close()


def test_subscribe_tick_deliver_and_list(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "ledger.db"
    env = Envelopes()
    events = write_jsonl(
        tmp_path / "in.jsonl",
        [env.customer("C-1", at=T0 - timedelta(days=3)), env.ticket("T-1", at=T0)],
    )
    assert ledger("ingest", str(events), db=db).returncode == 0

    added = ledger_json("webhooks", "add", receiver.url, "--event", "sla.breached", db=db)
    assert added["secret"].startswith("whsec_") and added["events"] == ["sla.breached"]
    listed = ledger_json("webhooks", "list", db=db)
    assert [s["id"] for s in listed] == [added["id"]]
    assert added["secret"] not in json.dumps(listed)  # shown once, at add

    assert ledger("tick", "--now", (T0 + 90 * M).isoformat(), db=db).returncode == 0
    first = ledger_json(
        "webhooks", "deliver", "--once", "--now", (T0 + 2 * 60 * M).isoformat(), db=db
    )
    assert (first["filled"], first["retrying"]) == (1, 1)
    retry = (T0 + 2 * 60 * M + timedelta(seconds=30)).isoformat()
    assert ledger_json("webhooks", "deliver", "--once", "--now", retry, db=db)["delivered"] == 1

    failed, accepted = receiver.wait_for(2)
    assert failed.id == accepted.id and accepted.signed_by(added["secret"])
    (delivery,) = ledger_json("webhooks", "deliveries", "--status", "delivered", db=db)
    assert (delivery["webhook_id"], delivery["attempts"]) == (accepted.id, 2)
    shown = ledger("webhooks", "deliveries", db=db)
    assert shown.returncode == 0 and "delivered" in shown.stdout and "HTTP 500" not in shown.stdout

    removed = ledger("webhooks", "remove", added["id"], db=db)
    assert removed.returncode == 0 and added["id"] in removed.stdout
    assert ledger_json("webhooks", "list", db=db) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["add", "ftp://x.example/in", "--event", "sla.breached"], "url: "),
        (["add", "http://x.example/in", "--event", "ticket.opened"], "event: 'ticket.opened'"),
        (["remove", "wh_nothing"], "id: no webhook subscription"),
        (["deliveries", "--status", "lost"], "status: 'lost'"),
        (["deliver", "--now", "2026-03-02T00:00:00Z"], "--now needs --once"),
    ],
)
def test_mistakes_are_one_line_naming_the_field(tmp_path: Path, args: list[str], says: str) -> None:
    db = tmp_path / "ledger.db"
    ledger("webhooks", "deliver", "--once", db=db)  # creates the ledger and its tables
    done = ledger("webhooks", *args, db=db)
    assert done.returncode == 1
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
