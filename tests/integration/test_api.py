"""The Python API services use instead of files or Kafka."""

from __future__ import annotations

from ledger.adapters.settings import Database
from ledger.api import Ledger
from tests.support import Envelopes


def test_submit_and_read_back(database: Database) -> None:
    url = (
        database.sqlite_path
        if database.kind == "sqlite"
        else (
            f"postgresql+psycopg://{database.user}@{database.host}:{database.port}/"
            f"{database.dbname}?schema={database.schema}"
        )
    )
    env = Envelopes()
    customer, ticket = env.customer("C-1"), env.ticket("T-1")
    with Ledger.open(url) as ledger:
        outcomes = ledger.submit([customer, ticket, ticket, b"nonsense"])
        assert [o.status for o in outcomes] == ["accepted", "accepted", "duplicate", "rejected"]
        view = ledger.ticket("T-1")
        assert view is not None and view["trail"][0]["event_id"] == ticket["event_id"]
        assert ledger.ticket("C-1") is None
        assert ledger.customer("C-1") is not None
        assert [r.rejection.rule for r in ledger.rejections()] == ["R-WIRE-1"]
