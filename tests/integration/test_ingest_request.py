"""An HTTP request's batch is one transaction whose first half is written while its second
half is decided (``Ingestor.ingest_request``).

What a producer relies on: the overlap changes no outcome and stores exactly what one
batch at a time stores, and a request is all or nothing: a write that fails part-way
keeps nothing of the overlap, and the batch is then stored once, whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from demo.quarter import DemoSpec, generate
from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.projector import engine_for
from ledger.adapters.settings import Database, resolve_database
from ledger.services.intake import OVERLAP_MIN, Ingestor, Input, Outcome
from replay.keys import signing_key
from replay.verify import verify
from tests.conftest import FixedClock
from tests.support import Envelopes


def _answer(outcomes: list[Outcome]) -> list[tuple[Any, ...]]:
    return [
        (
            o.status,
            o.event_id,
            o.subject,
            o.rejection.rule if o.rejection else None,
            o.rejection.field if o.rejection else None,
            o.released,
        )
        for o in outcomes
    ]


def _content(state: bytes) -> str:
    """An event's stored state but its random salt and the hashes that follow from it."""
    fields = json.loads(state)
    for name in ("salt", "event_hash", "previous_hash"):
        fields.pop(name)
    return json.dumps(fields, sort_keys=True)


def _stored(database: Database) -> dict[str, list[Any]]:
    """Everything intake keeps, in order, as rows."""
    engine = engine_for(database)
    try:
        with engine.connect() as conn:
            return {
                # (within a batch the log holds each subject's new events together, so
                # two halves order subjects differently: each subject's history is the same)
                "events": sorted(
                    (r[0], r[1], _content(bytes(r[2])))
                    for r in conn.execute(
                        text(
                            "SELECT originator_id, originator_version, state FROM "
                            + ("ledger_events" if database.kind == "postgres" else "stored_events")
                        )
                    )
                ),
                "keys": sorted(
                    tuple(r)
                    for r in conn.execute(
                        text(
                            "SELECT event_id, subject, version, fingerprint FROM ledger_event_keys"
                        )
                    )
                ),
                "rejections": [
                    tuple(r)
                    for r in conn.execute(
                        text(
                            "SELECT rule, field, event_id, subject FROM ledger_rejections "
                            "ORDER BY id"
                        )
                    )
                ],
                "deferred": [
                    tuple(r)
                    for r in conn.execute(
                        text("SELECT waits_for, event_id, subject FROM ledger_deferred ORDER BY id")
                    )
                ],
            }
    finally:
        engine.dispose()


def test_requests_answer_and_store_what_one_batch_at_a_time_does(
    database: Database, tmp_path: Path
) -> None:
    """The demo quarter (duplicates, rejections, deferred inputs released later) sent as
    requests of 300 lines: every answer, event, key, rejection and waiting input equals
    the one-batch-at-a-time ingest's, byte for byte (one recording clock for both)."""
    lines = [
        Input(line.raw, f"http:{n}")
        for n, line in enumerate(generate(DemoSpec(seed=3, customers=6)))
    ]
    size = 300
    assert size >= OVERLAP_MIN  # so that the requests do overlap
    reference_db = resolve_database(str(tmp_path / "reference.db"))
    reference = open_app(reference_db)
    tested = open_app(database)
    try:
        by_batch = Ingestor(reference, clock=FixedClock())
        by_request = Ingestor(tested, clock=FixedClock())
        for start in range(0, len(lines), size):
            chunk = lines[start : start + size]
            assert _answer(by_request.ingest_request(chunk)) == _answer(
                by_batch.ingest_batch(chunk)
            )
    finally:
        reference.close()
        tested.close()
    expected, got = _stored(reference_db), _stored(database)
    tested = open_app(database)
    try:
        engine = engine_for(database)
        assert verify(tested, engine, signing_key(create=True).public_key()).ok
        engine.dispose()
    finally:
        tested.close()
    assert len(got["events"]) > 1000 and got["rejections"] and got["keys"]
    assert got == expected


def test_a_write_failing_part_way_keeps_nothing_of_the_overlap(ledger: LedgerApp) -> None:
    """The second half's write fails after the first half went into the transaction:
    the transaction rolls back, and the whole batch is then stored once (not the first
    half twice, which a committed first half would have made a duplicate)."""
    env = Envelopes()
    envelopes: list[dict[str, Any]] = [env.customer("C-1")]
    for n in range(OVERLAP_MIN + 20):
        envelopes.append(env.ticket(f"T-{n}"))
    recorder: Any = ledger.recorder
    original = recorder.insert_parts
    failures: list[int] = []

    def failing(parts: Any) -> None:
        def second_fails() -> Any:
            for n, part in enumerate(parts):
                if n == 1:
                    failures.append(n)
                    raise RuntimeError("a value the database refuses")
                yield part

        original(second_fails())

    recorder.insert_parts = failing
    outcomes = Ingestor(ledger).ingest_request(
        [Input(e, f"http:{n}") for n, e in enumerate(envelopes)]
    )
    assert failures == [1]
    assert [o.status for o in outcomes] == ["accepted"] * len(envelopes)
    assert ledger.store.event_count() == len(envelopes)
    assert [e.originator_version for e in ledger.history("T-0")] == [1]
