"""Erasure (R-ERASE-1) through the services, on both backends: a runner that kept the
customer's histories and folds before the erasure writes no erased value afterwards, its
read models and their versions equal a rebuild's, and the log and checkpoints verify."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from ledger.adapters import tables
from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, read_models
from ledger.aggregates.chain import CONTACT_FIELDS, PERSONAL_FIELDS
from ledger.aggregates.customer import Customer
from ledger.aggregates.erasure import ERASED
from ledger.services.erasure import ErasureError, erase_customer
from ledger.services.intake import Ingestor, Input
from replay.checkpoint import take_checkpoint
from replay.keys import signing_key
from replay.verify import verify
from schemas import PRODUCER_TYPES, SYSTEM_TYPES
from schemas.system import PersonalField
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

NOW = T0 + timedelta(days=3)
VALUES = ("Orla Vantongeren", "orla@erasmus.example", "Quillfeather renders fail", "Erasmus Quill")


def _ingest(ledger: LedgerApp) -> None:
    env = Envelopes()
    e = env.make
    lines = [
        env.customer(
            "C-1",
            name="Erasmus Quill",
            decision_maker={"name": "Orla Vantongeren", "email": "orla@erasmus.example"},
        ),
        env.ticket("T-1", title="Quillfeather renders fail"),
        e("ticket.assigned", "T-1", {"assignee": "se-bo"}),
        e(
            "customer.owner_changed",
            "C-1",
            {"success_owner": "cs-al", "reason": "Orla Vantongeren asked"},
        ),
    ]
    outcomes = Ingestor(ledger, clock=FixedClock(NOW)).ingest_batch(
        [Input(line, "t") for line in lines]
    )
    assert not [o.rejection for o in outcomes if o.rejection]


def _versions(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            name: sorted(map(repr, conn.execute(select(table)).all()))
            for name, table in tables.VERSIONS.items()
        }


def _values_in(rows: Any) -> list[str]:
    return [v for v in VALUES if v in repr(rows)]


def test_erasure_keeps_hashes_and_a_warm_runner_refolds_the_erased_log(
    ledger: LedgerApp, engine: Engine
) -> None:
    _ingest(ledger)
    key = signing_key(create=True)
    take_checkpoint(ledger, engine, key, NOW)
    runner = Projector(ledger, engine)
    runner.catch_up()  # its histories and folds now hold the values
    assert _values_in(read_models(engine)) and _values_in(_versions(engine))

    contacts = erase_customer(
        ledger, engine, "C-1", reason="contacts", actor="dpo", now=NOW, fields=CONTACT_FIELDS
    )
    assert contacts.fields == ["decision_maker", "escalation_contact"] and contacts.events == 1
    report = erase_customer(ledger, engine, "C-1", reason="Art. 17", actor="dpo", now=NOW)
    assert report.erased_before == ["decision_maker", "escalation_contact"]
    assert report.events == 4 and report.subjects == 2
    runner.catch_up()

    assert _values_in(read_models(engine)) == [] and _values_in(_versions(engine)) == []
    live, live_versions = read_models(engine), _versions(engine)
    Projector(ledger, engine).rebuild()
    assert read_models(engine) == live and _versions(engine) == live_versions

    result = verify(ledger, engine, key.public_key())
    assert result.ok, result.findings
    events = ledger.history("C-1") + ledger.history("T-1")
    assert _values_in([vars(e) for e in events]) == []
    assert all(e.salt == "" for e in events if not isinstance(e, Customer.DataErased))
    onboarded = events[0]
    assert isinstance(onboarded, Customer.Onboarded)
    assert onboarded.decision_maker == {"name": ERASED, "email": ERASED}
    erasures = [e for e in events if isinstance(e, Customer.DataErased)]
    assert [(e.actor_id, e.fields) for e in erasures] == [
        ("dpo", ["decision_maker", "escalation_contact"]),
        (
            "dpo",
            [
                "assignee",
                "description",
                "name",
                "reason",
                "success_owner",
                "title",
            ],
        ),
    ]
    assert ledger.find("C-1").erased_fields >= {"decision_maker", "title"}  # type: ignore[union-attr]

    nothing = erase_customer(ledger, engine, "C-1", reason="again", actor="dpo", now=NOW)
    assert not nothing.changed and "title" in nothing.erased_before
    with pytest.raises(ErasureError, match="no customer T-1"):
        erase_customer(ledger, engine, "T-1", reason="x", actor="dpo", now=NOW)
    with pytest.raises(ErasureError, match="reason is blank"):
        erase_customer(ledger, engine, "C-1", reason="  ", actor="dpo", now=NOW)


def test_the_wire_contract_names_the_chain_formats_personal_fields() -> None:
    assert set(PersonalField.__args__) == PERSONAL_FIELDS  # type: ignore[attr-defined]
    assert {"customer.data_erased", "audit.export_recorded"} <= SYSTEM_TYPES
    assert not {"customer.data_erased", "audit.export_recorded"} & PRODUCER_TYPES
