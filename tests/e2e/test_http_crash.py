"""A server killed (SIGKILL) in the middle of a POST loses nothing it answered accepted,
and nothing is stored twice when the same envelopes (same ``event_id``) are sent again:
on SQLite and on PostgreSQL.

The kill comes once the server has read the large body and logged that it is
ingesting it (it waits for that log line, not for a time), so it lands while the batch
is being decided or written. Either the whole batch committed (one transaction per
request) or none of it did: the retry answers every one of its envelopes alike, all
duplicates or all accepted.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ledger.adapters.settings import Database
from tests.e2e.http_support import Server, cli_json, db_url, serving
from tests.support import T0, Envelopes

ANSWERED = 60  # envelopes answered before the crash
LARGE = 3000  # envelopes of the POST the server is killed in


def _envelopes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    env = Envelopes(seed=7)
    answered = [env.customer(f"C-{n}", at=T0 - timedelta(days=2)) for n in range(ANSWERED)]
    large = [
        env.ticket(f"T-{n}", at=T0 + timedelta(seconds=n), customer_id=f"C-{n % ANSWERED}")
        for n in range(LARGE)
    ]
    return answered, large


def _stored(db: str) -> int:
    events: int = cli_json("status", db=db)["events"]
    return events


def test_sigkill_mid_post_loses_no_accepted_event_and_stores_none_twice(
    database: Database,
) -> None:
    db = db_url(database)
    answered, large = _envelopes()
    server = Server(db, "--no-auth")
    try:
        with server.client() as client:
            first = client.post("/v1/events", json=answered).json()
            assert first["counts"] == {"accepted": ANSWERED}, first
        crashed: list[BaseException] = []

        def post_large() -> None:
            try:
                with server.client() as client:
                    client.post("/v1/events", json=large)
            except httpx.HTTPError as error:
                crashed.append(error)

        import threading

        poster = threading.Thread(target=post_large)
        poster.start()
        server.wait_for(re.compile(rf"POST /v1/events: {LARGE} inputs"), 60)
        server.kill()
        poster.join(timeout=60)
        assert crashed, "the large POST was answered: the server was killed too late"
    finally:
        server.stop()

    stored = _stored(db)
    assert stored in (ANSWERED, ANSWERED + LARGE), stored  # the batch whole, or none of it

    with serving(db, "--no-auth") as again, again.client() as client:
        retry = client.post("/v1/events", json=answered + large).json()["outcomes"]
        assert [o["status"] for o in retry[:ANSWERED]] == ["duplicate"] * ANSWERED
        statuses = {o["status"] for o in retry[ANSWERED:]}
        assert statuses == ({"duplicate"} if stored > ANSWERED else {"accepted"}), statuses
        once_more = client.post("/v1/events", json=answered + large).json()
        assert once_more["counts"] == {"duplicate": ANSWERED + LARGE}
        ticket = client.get(f"/v1/tickets/T-{LARGE - 1}").json()
        assert [e["type"] for e in ticket["trail"]] == ["ticket.opened"]

    assert _stored(db) == ANSWERED + LARGE


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_stopped_server_keeps_what_it_answered(database: Database) -> None:
    """SIGTERM between requests: the next server answers every envelope a duplicate."""
    db = db_url(database)
    answered, _ = _envelopes()
    with serving(db, "--no-auth") as server, server.client() as client:
        assert client.post("/v1/events", json=answered).json()["counts"] == {"accepted": ANSWERED}
    with serving(db, "--no-auth") as server, server.client() as client:
        assert client.post("/v1/events", json=answered).json()["counts"] == {"duplicate": ANSWERED}
