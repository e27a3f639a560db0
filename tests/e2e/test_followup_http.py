"""``GET /v1/actions`` and ``GET /v1/insights`` on a live ``ledger serve``, on SQLite and
PostgreSQL: the same answers as ``ledger actions --json`` and ``ledger insights --json``;
a reader of C-1 only sees the actions of C-1's tickets and may not ask for insights,
which are about every customer; bad parameters are problem details naming them."""

from __future__ import annotations

from typing import Any

import httpx

from ledger.adapters.settings import Database
from tests.e2e.http_support import cli_json, db_url, serving
from tests.follow_through_story import follow_through, story
from tests.support import Envelopes

AS_OF = "2026-03-25T00:00:00Z"
PROBLEM = "application/problem+json"


def _get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_actions_and_insights_over_http(database: Database) -> None:
    db = db_url(database)
    env = Envelopes()
    everyone = cli_json("readers", "add", "everyone", db=db)["token"]
    c1_only = cli_json("readers", "add", "c1-only", "--customer", "C-1", db=db)["token"]
    with serving(db) as server:
        producer = cli_json(
            "producers", "add", "all", "--source", "*", "--role", "*", "--type", "*", db=db
        )["token"]
        lines = [*story(env), *follow_through(env)]
        with server.client(producer) as sender:
            posted = sender.post("/v1/events", json=lines)
            assert posted.status_code == 200, posted.text
            assert posted.json()["counts"] == {"accepted": len(lines)}
        with server.client(everyone) as reader:
            actions = _get(reader, "/v1/actions", as_of=AS_OF, status="all")
            cli = cli_json("actions", "--as-of", AS_OF, "--status", "all", db=db)
            assert {k: v for k, v in actions.items() if k != "next_cursor"} == cli
            assert actions["next_cursor"] is None
            insights = _get(reader, "/v1/insights", as_of=AS_OF, **{"from": "2026-03-01T00:00:00Z"})
            assert insights == cli_json(
                "insights", "--as-of", AS_OF, "--from", "2026-03-01T00:00:00Z", db=db
            )
            bad = reader.get("/v1/actions", params={"status": "done"})
            assert (bad.status_code, bad.headers["content-type"]) == (400, PROBLEM)
            assert bad.json()["field"] == "status"
            nobody = reader.get("/v1/actions", params={"owner": "pe-nobody"})
            assert (nobody.status_code, nobody.json()["field"]) == (400, "owner")
        with server.client(c1_only) as scoped:
            theirs = _get(scoped, "/v1/actions", as_of=AS_OF, status="all")["actions"]
            assert [(a["ticket_id"], a["action_id"]) for a in theirs] == [
                ("T-1", "PA-1"),
                ("T-1", "PA-2"),
                ("T-1", "PA-3"),
            ]
            other = scoped.get("/v1/actions", params={"ticket": "T-2", "as_of": AS_OF})
            assert (other.status_code, other.json()["field"]) == (400, "ticket")  # as if absent
            forbidden = scoped.get("/v1/insights")
            assert (forbidden.status_code, forbidden.headers["content-type"]) == (403, PROBLEM)
