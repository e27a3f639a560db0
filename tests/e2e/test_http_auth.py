"""Tokens on the HTTP API, on SQLite and on PostgreSQL: every refusal.

A producer (``portal``: source test-suite; roles customer, support_engineer and
customer_success; ticket.opened and customer.onboarded only), a reader of every customer
and a reader of C-1 only, made with ``ledger producers add`` and ``ledger readers add``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from ledger.adapters.settings import Database
from tests.e2e.http_support import cli_json, db_url, serving
from tests.support import T0, TICKET_DATA, Envelopes

PROBLEM = "application/problem+json"
READS = (
    "/v1/tickets",
    "/v1/tickets/T-1",
    "/v1/tickets/T-1/escalations",
    "/v1/tickets/T-1/rca",
    "/v1/board",
    "/v1/customers",
    "/v1/customers/C-1",
    "/v1/plays",
    "/v1/metrics",
    "/v1/rejections",
    "/v1/status",
)


def _refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_tokens_and_scopes(database: Database) -> None:
    db = db_url(database)
    portal = cli_json(
        "producers", "add", "portal", "--source", "test-suite",
        "--role", "customer", "--role", "support_engineer", "--role", "customer_success",
        "--type", "ticket.opened", "--type", "customer.onboarded", db=db,
    )["token"]  # fmt: skip
    everyone = cli_json("readers", "add", "everyone", db=db)["token"]
    c1_only = cli_json("readers", "add", "c1-only", "--customer", "C-1", db=db)["token"]
    revoked = cli_json("readers", "add", "gone", db=db)["token"]
    cli_json("readers", "revoke", "gone", db=db)

    env = Envelopes()
    envelopes = [
        env.customer("C-1", at=T0 - timedelta(days=1)),
        env.customer("C-2", at=T0 - timedelta(days=1)),
        env.ticket("T-1", at=T0),
        env.ticket("T-2", at=T0, customer_id="C-2"),
    ]
    out_of_scope = [
        # R-AUTH-1: a source not granted; R-AUTH-2: a role not granted
        env.make("ticket.opened", "T-3", TICKET_DATA, role="customer", at=T0, source="billing"),
        env.make("ticket.opened", "T-4", TICKET_DATA, role="leadership", at=T0),
        env.make("ticket.assigned", "T-1", {"assignee": "se-bo"}, at=T0),  # R-AUTH-3: a type
    ]
    with serving(db) as server, server.client() as anonymous:
        # no token needed for the process and the contract
        for path in ("/healthz", "/readyz", "/openapi.json"):
            assert anonymous.get(path).status_code == 200, path
        # POST: no token, a bad one, a revoked one, a reader's: refused, nothing stored
        _refused(anonymous.post("/v1/events", json=envelopes), 401)
        with server.client("not-a-token") as bad, server.client(revoked) as gone:
            _refused(bad.post("/v1/events", json=envelopes), 401)
            _refused(gone.post("/v1/events", json=envelopes), 401)
            _refused(
                anonymous.post(
                    "/v1/events", json=envelopes, headers={"Authorization": "Basic eDp5"}
                ),
                401,
            )
            for path in READS:
                _refused(anonymous.get(path), 401)
                _refused(bad.get(path), 401)
                _refused(gone.get(path), 401)
        with server.client(everyone) as reader:
            _refused(reader.post("/v1/events", json=envelopes), 403)
            assert reader.get("/v1/status").json()["events"] == 0

        with server.client(portal) as producer:
            answer = producer.post("/v1/events", json=envelopes + out_of_scope).json()
            statuses = [o["status"] for o in answer["outcomes"]]
            assert statuses == ["accepted"] * 4 + ["rejected"] * 3, answer
            rules = [(o["rule"], o["field"]) for o in answer["outcomes"][4:]]
            assert [rule for rule, _ in rules] == ["R-AUTH-1", "R-AUTH-2", "R-AUTH-3"], rules
            assert all(field for _, field in rules), rules
            for path in READS:  # a producer may not read
                _refused(producer.get(path), 403)

        with server.client(everyone) as reader:
            every_ticket = reader.get("/v1/tickets", params={"status": "all"}).json()
            assert {t["ticket_id"] for t in every_ticket["tickets"]} == {"T-1", "T-2"}
            assert reader.get("/v1/tickets/T-2").status_code == 200
            trail = reader.get("/v1/tickets/T-1").json()["trail"]
            assert trail[0]["producer"] == "portal"
            assert len(reader.get("/v1/rejections").json()["rejections"]) == 3
            for path in READS:
                assert reader.get(path).status_code == 200, path

        with server.client(c1_only) as scoped:
            # lists: only C-1's
            tickets = scoped.get("/v1/tickets", params={"status": "all"}).json()["tickets"]
            assert [t["ticket_id"] for t in tickets] == ["T-1"]
            customers = scoped.get("/v1/customers").json()["customers"]
            assert [c["customer_id"] for c in customers] == ["C-1"]
            timers = scoped.get("/v1/board").json()["timers"]
            assert timers and {t["customer_id"] for t in timers} == {"C-1"}
            rejected: list[dict[str, Any]] = scoped.get("/v1/rejections").json()["rejections"]
            assert {r["subject"] for r in rejected} == {"T-1"}  # T-3, T-4 were never stored
            # another customer's: as if it did not exist
            for path in (
                "/v1/tickets/T-2",
                "/v1/tickets/T-2/escalations",
                "/v1/tickets/T-2/rca",
                "/v1/customers/C-2",
            ):
                _refused(scoped.get(path), 404)
            _refused(scoped.get("/v1/tickets", params={"customer": "C-2"}), 400)
            # its own: answered
            for path in ("/v1/tickets/T-1", "/v1/tickets/T-1/escalations", "/v1/customers/C-1"):
                assert scoped.get(path).status_code == 200, path
            # questions over every customer
            _refused(scoped.get("/v1/metrics"), 403)
            _refused(scoped.get("/v1/status"), 403)

        with server.client(everyone) as reader:
            assert reader.get("/v1/status").json()["events"] == 4
