"""The HTTP API against a live ``ledger serve`` on a free loopback port, on SQLite and on
PostgreSQL: envelopes POSTed, every read compared with what ``ledger ... --json`` answers
on the same database for the same question, and the errors as problem details.

The ledger (default policy), T0 = 2026-03-02 09:00Z, asked as of T0+90m:

* C-1 and C-2 onboarded the day before; C-2 has a check-in due at T0+60m;
* T-1 (C-1, Sev1, T0): responded to, escalated to platform engineering, resolved with an
  RCA published; T-2 (C-1, Sev1, T0+30m): answered at T0+40m; T-3 (C-2, Sev2, T0+60m)
  assigned to se-bo;
* one input rejected (channel chat, R-IN-1), one deferred (a ticket of C-9, not
  onboarded), one duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from ledger.adapters.settings import Database
from tests.e2e.http_support import Server, cli_json, db_url, serving
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
AS_OF = "2026-03-02T10:30:00Z"  # T0+90m
PROBLEM = "application/problem+json"


def story() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first POST (the ledger as above) and a second, later one (T-4)."""
    env = Envelopes()
    respond = {"public": True, "message": "on it"}
    first = [
        env.customer("C-1", at=T0 - timedelta(days=1), success_owner="cs-jo"),
        env.customer("C-2", at=T0 - timedelta(days=1), success_owner="cs-kim"),
        env.make(
            "customer.check_in_scheduled",
            "C-2",
            {"check_in_id": "CI-1", "due_at": (T0 + 60 * M).isoformat()},
            role="customer_success",
            at=T0 - timedelta(hours=12),
        ),
        env.ticket("T-1", at=T0),
        env.make("ticket.responded", "T-1", respond, at=T0 + 5 * M),
        env.make(
            "ticket.escalated",
            "T-1",
            {"to_tier": "platform_engineer", "reason": "database down"},
            at=T0 + 10 * M,
        ),
        env.make(
            "ticket.permanent_fix_applied", "T-1", {"description": "failover"}, at=T0 + 20 * M
        ),
        *[{**e, "occurred_at": (T0 + (21 + n) * M).isoformat()} for n, e in enumerate(env.rca())],
        env.make("ticket.resolved", "T-1", {"resolution": "failed over"}, at=T0 + 30 * M),
        env.ticket("T-2", at=T0 + 30 * M),
        env.make("ticket.responded", "T-2", respond, at=T0 + 40 * M),
        env.ticket("T-3", at=T0 + 60 * M, customer_id="C-2", severity=2, category="partial_outage"),
        env.make("ticket.assigned", "T-3", {"assignee": "se-bo"}, at=T0 + 61 * M),
        env.ticket("T-8", at=T0 + 62 * M, channel="chat"),  # R-IN-1: not an approved channel
        env.ticket("T-9", at=T0 + 63 * M, customer_id="C-9"),  # C-9 not onboarded: deferred
    ]
    second = [
        env.ticket("T-4", at=T0 + 70 * M, customer_id="C-2", severity=3, category="feature_issue")
    ]
    return first, second


@pytest.fixture
def db(database: Database) -> str:
    return db_url(database)


def _get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    found: dict[str, Any] = response.json()
    return found


def _all_pages(client: httpx.Client, path: str, key: str, **params: Any) -> dict[str, Any]:
    """Every page of a list, joined (the first page's instants)."""
    first = _get(client, path, **params)
    items, cursor, pages = list(first[key]), first["next_cursor"], 1
    while cursor is not None:
        page = _get(client, path, **params, cursor=cursor)
        assert page["as_of"] == first["as_of"]
        items += page[key]
        cursor, pages = page["next_cursor"], pages + 1
    return {**{k: v for k, v in first.items() if k != "next_cursor"}, key: items, "_pages": pages}


def _same(http: dict[str, Any], cli: dict[str, Any]) -> None:
    """The HTTP answer is the CLI's (compared as JSON values)."""
    assert orjson.loads(orjson.dumps(http)) == orjson.loads(orjson.dumps(cli))


def test_every_read_answers_as_the_command_line(db: str) -> None:
    first, second = story()
    with serving(db, "--no-auth") as server, server.client() as client:
        posted = client.post("/v1/events", json=first)
        assert posted.status_code == 200, posted.text
        outcomes = posted.json()["outcomes"]
        assert [o["index"] for o in outcomes] == list(range(1, len(first) + 1))
        assert [o["event_id"] for o in outcomes] == [e["event_id"] for e in first]
        assert [o["status"] for o in outcomes[:-2]] == ["accepted"] * (len(first) - 2)
        chat, deferred = outcomes[-2:]
        assert chat["status"] == "rejected" and chat["rule"] == "R-IN-1", chat
        assert chat["field"] == "data.channel" and chat["reason"]
        assert deferred["status"] == "deferred" and deferred["waits_for"] == "C-9", deferred
        # Again, as NDJSON: every input is a duplicate, or rejected / deferred before.
        ndjson = b"\n".join(orjson.dumps(e) for e in first) + b"\n"
        again = client.post(
            "/v1/events", content=ndjson, headers={"content-type": "application/x-ndjson"}
        ).json()["outcomes"]
        assert [o["status"] for o in again[:-2]] == ["duplicate"] * (len(first) - 2)
        assert again[-2]["status"] == "rejected" and again[-2]["repeat"] is True
        known_between = datetime.now(UTC).isoformat()
        assert client.post("/v1/events", json=second).json()["counts"] == {"accepted": 1}

        as_of = {"as_of": AS_OF}
        # the queues, followed page by page
        tickets = _all_pages(client, "/v1/tickets", "tickets", **as_of, page_size=1)
        assert tickets.pop("_pages") == 3
        _same(tickets, cli_json("tickets", "--as-of", AS_OF, db=db))
        assert [t["ticket_id"] for t in tickets["tickets"]] == ["T-2", "T-3", "T-4"]
        filtered = _all_pages(
            client, "/v1/tickets", "tickets", **as_of, status="all", customer="C-1", sort="opened"
        )
        filtered.pop("_pages")
        cli = cli_json(
            "tickets", "--as-of", AS_OF, "--status", "all", "--customer", "C-1", "--sort", "opened",
            db=db,
        )  # fmt: skip
        _same(filtered, cli)
        assert [t["ticket_id"] for t in filtered["tickets"]] == ["T-1", "T-2"]
        # known_at: what the ledger knew before the second POST (no T-4)
        before = _get(client, "/v1/tickets", **as_of, known_at=known_between)
        before.pop("next_cursor")
        _same(before, cli_json("tickets", "--as-of", AS_OF, "--known-at", known_between, db=db))
        assert before["known_at"] is not None
        assert [t["ticket_id"] for t in before["tickets"]] == ["T-2", "T-3"]

        customers = _all_pages(client, "/v1/customers", "customers", **as_of, page_size=1)
        assert customers.pop("_pages") == 2
        _same(customers, cli_json("customers", "--as-of", AS_OF, db=db))

        board = _all_pages(client, "/v1/board", "timers", **as_of, page_size=2)
        board.pop("_pages")
        _same(board, cli_json("sla", "list", "--as-of", AS_OF, db=db))
        breached = _all_pages(client, "/v1/board", "timers", **as_of, breached="true", severity=1)
        breached.pop("_pages")
        cli = cli_json("sla", "list", "--as-of", AS_OF, "--breached", "--severity", "1", db=db)
        _same(breached, cli)
        # T-2 answered at T0+40m: its update is warned at T0+70m and due at T0+100m (R-SLA-7)
        warned = _all_pages(client, "/v1/board", "timers", **as_of, warned="true")
        warned.pop("_pages")
        _same(warned, cli_json("sla", "list", "--as-of", AS_OF, "--warned", db=db))
        assert [(t["ticket_id"], t["timer"], t["warn_at"]) for t in warned["timers"]] == [
            ("T-2", "update", "2026-03-02T10:10:00+00:00")
        ]

        # one ticket, one customer
        for path, args in (
            ("/v1/tickets/T-1", ("ticket", "show", "T-1")),
            ("/v1/tickets/T-1/escalations", ("escalations", "T-1")),
            ("/v1/tickets/T-1/rca", ("rca", "T-1")),
            ("/v1/tickets/T-3", ("ticket", "show", "T-3")),
        ):
            _same(_get(client, path, **as_of), cli_json(*args, "--as-of", AS_OF, db=db))
        assert _get(client, "/v1/tickets/T-1/escalations", **as_of)["steps"][0]["to_tier"] == (
            "platform_engineer"
        )
        customer = _get(client, "/v1/customers/C-2", **as_of)
        health = customer.pop("health")
        _same(customer, cli_json("customer", "show", "C-2", "--as-of", AS_OF, db=db))
        cli_health = cli_json("health", "C-2", "--as-of", AS_OF, db=db)
        _same({"as_of": customer["as_of"], "known_at": None, **health}, cli_health)

        # the whole ledger
        window = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-03T00:00:00Z"}
        metrics = _get(client, "/v1/metrics", **as_of, **window)
        span = ("--from", window["from"], "--to", window["to"])
        cli = cli_json("metrics", "--as-of", AS_OF, *span, db=db)
        _same(metrics, cli)
        assert metrics["tickets_opened"] == 4

        rejections = _all_pages(client, "/v1/rejections", "rejections")
        rejections.pop("_pages")
        _same(rejections["rejections"], cli_json("rejects", "list", db=db))
        assert [r["rule"] for r in rejections["rejections"]] == ["R-IN-1"]
        by_rule = _get(client, "/v1/rejections", rule="R-IN-1", subject="T-8")
        assert len(by_rule["rejections"]) == 1
        # as of an instant before the rejected input claims to have occurred: not yet
        early = _get(client, "/v1/rejections", known_at="2026-01-01T00:00:00Z")
        assert early["rejections"] == []

        status = _get(client, "/v1/status")
        assert status.pop("known_at") is None and status.pop("as_of")
        _same(status, cli_json("status", db=db))
        assert status["events"] == len(first) - 2 + 1


def _problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    found: dict[str, Any] = response.json()
    assert found["status"] == status
    assert found["type"].startswith("https://") and found["title"] and found["detail"]
    if field is not None:
        assert found["field"] == field, found
    return found


def test_errors_are_problem_details_and_store_nothing(db: str) -> None:
    first, _ = story()
    with serving(db, "--no-auth", "--max-body", "200000") as server, server.client() as client:
        assert client.post("/v1/events", json=first[:4]).status_code == 200

        _problem(client.get("/v1/tickets", params={"as_of": "yesterday"}), 400, "as_of")
        _problem(client.get("/v1/tickets", params={"as_of": "2026-03-02T10:30:00"}), 400, "as_of")
        no_month = {"known_at": "2026-13-01T00:00:00Z"}
        _problem(client.get("/v1/board", params=no_month), 400, "known_at")
        _problem(client.get("/v1/tickets", params={"status": "lost"}), 400, "status")
        _problem(client.get("/v1/tickets", params={"sort": "random"}), 400, "sort")
        _problem(client.get("/v1/tickets", params={"severity": "9"}), 400, "severity")
        _problem(client.get("/v1/tickets", params={"severity": "one"}), 422, "severity")
        _problem(client.get("/v1/tickets", params={"customer": "C-404"}), 400, "customer")
        _problem(client.get("/v1/customers", params={"health_below": "101"}), 400, "health_below")
        _problem(client.get("/v1/board", params={"at_risk": "-1"}), 422, "at_risk")
        _problem(client.get("/v1/board", params={"at_risk": str(10**20)}), 400, "at_risk")
        _problem(client.get("/v1/tickets", params={"cursor": "not-a-cursor"}), 400, "cursor")
        _problem(client.get("/v1/tickets", params={"page_size": "0"}), 422, "page_size")
        _problem(client.get("/v1/rejections", params={"rule": "IN-1"}), 400, "rule")
        _problem(client.get("/v1/rejections", params={"type": "ticket.exploded"}), 400, "type")
        window = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
        _problem(client.get("/v1/metrics", params=window), 400, "from")
        _problem(client.get("/v1/status", params={"as_of": "2026-03-01T00:00:00Z"}), 400, "as_of")
        # a cursor is for the question it continues
        page = _get(client, "/v1/customers", page_size=1)
        assert page["next_cursor"] is not None
        other = {"cursor": page["next_cursor"], "page_size": 1, "owner": "cs-kim"}
        _problem(client.get("/v1/customers", params=other), 400, "cursor")

        for path in ("/v1/tickets/T-404", "/v1/tickets/T-404/escalations", "/v1/tickets/T-404/rca"):
            assert "T-404" in _problem(client.get(path), 404)["detail"]
        _problem(client.get("/v1/customers/C-404"), 404)
        # T-1 exists, but not yet as of the day before
        early = client.get("/v1/tickets/T-1", params={"as_of": "2026-03-01T00:00:00Z"})
        assert "as of 2026-03-01T00:00:00+00:00" in _problem(early, 404)["detail"]
        _problem(client.get("/v1/nothing"), 404)

        events_before = cli_json("status", db=db)["events"]
        bad_bodies: list[tuple[bytes, str, int, str | None]] = [
            (b'{"not": "an array"}', "application/json", 400, "R-WIRE-1"),
            (b"[{]", "application/json", 400, "R-WIRE-1"),
            (b"[1, 2", "application/json", 400, "R-WIRE-1"),
            (b"\xff\xfe[]", "application/json", 400, "R-WIRE-1"),
            (b"[] []", "application/json", 400, "R-WIRE-1"),
            (b"a,b,c", "text/csv", 415, None),
            (b"[" + b" " * 300_000 + b"]", "application/json", 413, None),
        ]
        for body, media, status, rule in bad_bodies:
            found = _problem(
                client.post("/v1/events", content=body, headers={"content-type": media}), status
            )
            assert found.get("rule") == rule
        assert cli_json("status", db=db)["events"] == events_before
        assert cli_json("rejects", "list", db=db) == []
        assert client.post("/v1/events", json=[]).json() == {"outcomes": [], "counts": {}}


def test_health_readiness_and_openapi(db: str) -> None:
    with serving(db, "--no-auth") as server, server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
        spec = client.get("/openapi.json").json()
        paths = set(spec["paths"])
        assert {
            "/v1/events",
            "/v1/tickets",
            "/v1/tickets/{ticket_id}",
            "/v1/tickets/{ticket_id}/escalations",
            "/v1/tickets/{ticket_id}/rca",
            "/v1/board",
            "/v1/customers",
            "/v1/customers/{customer_id}",
            "/v1/metrics",
            "/v1/rejections",
            "/v1/status",
            "/healthz",
            "/readyz",
        } <= paths
        body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]
        items = body["application/json"]["schema"]["items"]
        assert items == {"$ref": "#/components/schemas/Envelope"}
        envelope = spec["components"]["schemas"]["Envelope"]
        # the wire contract's own schema: one branch per producer type
        assert len(envelope["oneOf"]) >= 20
        assert "TicketOpened" in spec["components"]["schemas"]
        for path, operations in spec["paths"].items():
            if path.startswith("/v1/") and "get" in operations:
                names = {p["name"] for p in operations["get"].get("parameters", [])}
                assert {"as_of", "known_at"} <= names, path


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="loopback"):
        Server(str(tmp_path / "ledger.db"), "--no-auth", "--host", "0.0.0.0")
    assert not (tmp_path / "ledger.db").exists()
