"""``GET /v1/plays`` on a live server: the answer of ``ledger plays --json``, paged, and a
reader scoped to customers sees only theirs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from ledger.adapters.settings import Database
from tests.e2e.http_support import cli_json, db_url, serving
from tests.e2e.test_cli import write_jsonl
from tests.support import T0, Envelopes

D = timedelta(days=1)
AS_OF = "2026-03-02T12:00:00+00:00"


def test_plays_over_http(tmp_path: Path, database: Database) -> None:
    db = db_url(database)
    env = Envelopes()
    silent = [  # both silent by T0: C-1 since T0-1d, C-2 since T0-5d
        env.customer("C-1", at=T0 - 31 * D, success_owner="cs-jo"),
        env.customer("C-2", at=T0 - 35 * D, success_owner="cs-kim"),
    ]
    cli_json("ingest", str(write_jsonl(tmp_path / "in.jsonl", silent)), db=db)
    assert cli_json("tick", "--now", T0.isoformat(), db=db)["written"]["play.opened"] == 2
    everyone = cli_json("readers", "add", "everyone", db=db)["token"]
    c1_only = cli_json("readers", "add", "c1-only", "--customer", "C-1", db=db)["token"]
    expected = cli_json("plays", "--as-of", AS_OF, db=db)
    assert [p["play_id"] for p in expected["plays"]] == ["P-2-1", "P-1-1"]  # sooner due first

    with serving(db) as server:
        with server.client(everyone) as reader:
            answer = reader.get("/v1/plays", params={"as_of": AS_OF}).json()
            assert answer == {**expected, "next_cursor": None}
            paged = {"as_of": AS_OF, "page_size": 1}
            first = reader.get("/v1/plays", params=paged).json()
            assert [p["play_id"] for p in first["plays"]] == ["P-2-1"]
            rest = reader.get("/v1/plays", params={**paged, "cursor": first["next_cursor"]}).json()
            assert [p["play_id"] for p in rest["plays"]] == ["P-1-1"]
            owned = reader.get("/v1/plays", params={"as_of": AS_OF, "owner": "cs-kim"})
            assert [p["customer_id"] for p in owned.json()["plays"]] == ["C-2"]
            unknown = reader.get("/v1/plays", params={"customer": "C-404"})
            _problem(unknown.status_code, unknown.json(), 400, "customer")
        with server.client(c1_only) as scoped:
            theirs = scoped.get("/v1/plays", params={"as_of": AS_OF}).json()["plays"]
            assert [p["play_id"] for p in theirs] == ["P-1-1"]
            other = scoped.get("/v1/plays", params={"customer": "C-2"})
            _problem(other.status_code, other.json(), 400, "customer")  # as if it did not exist


def _problem(status: int, body: dict[str, Any], expected: int, field: str) -> None:
    assert (status, body["status"], body["field"]) == (expected, expected, field), body
