"""Signed Kafka records (issue 18): ``consume --require-signed`` on a real broker (tansu).

Every record carries ``ledger-producer`` and ``ledger-signature`` (hex HMAC-SHA256 of
its value) when a producer emits it; the consumer rejects and keeps unsigned records
(R-AUTH-4) and forged ones (R-AUTH-5: unknown or revoked producer, wrong key, a value
changed after signing), and attributes signed ones to their producer, whose scope it
checks (R-AUTH-1..3).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from consumers.emit import emit, signed_by
from consumers.ingest import ConsumerSettings, IngestConsumer
from consumers.kafka import producer
from ledger.adapters.event_store import LedgerApp
from ledger.services.principals import (
    PRODUCER_HEADER,
    SIGNATURE_HEADER,
    add_producer,
    revoke,
    verify_records,
)
from ledger.services.queries import log_events, trail
from tests.kafka_support import FAST_GROUPS, broker, new_topic
from tests.support import Envelopes

pytestmark = [pytest.mark.kafka]


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    yield from broker()


def _consume(ledger: LedgerApp, engine: Engine, bootstrap: str, topic: str, total: int) -> None:
    """Run a --require-signed consumer until it has decided ``total`` records."""
    settings = ConsumerSettings(
        bootstrap, topic=topic, group=f"g-{uuid.uuid4().hex[:8]}", timing=FAST_GROUPS
    )
    member = IngestConsumer(ledger, settings, verifier=partial(verify_records, engine))
    stop, done = threading.Event(), threading.Condition()

    def batch(_: Any, totals: dict[str, Any]) -> None:
        with done:
            if totals["inputs"] >= total:
                stop.set()
            done.notify_all()

    thread = threading.Thread(target=member.run, args=(stop,), kwargs={"on_batch": batch})
    thread.start()
    with done:
        finished = done.wait_for(stop.is_set, timeout=120)
    stop.set()
    thread.join(timeout=30)
    assert finished, f"consumed {member.report.inputs} of {total}"


def test_unsigned_and_forged_records_are_rejected_and_kept_signed_ones_attributed(
    ledger: LedgerApp, engine: Engine, bootstrap: str
) -> None:
    env = Envelopes()
    token = add_producer(engine, "crm", sources=["test-suite"], roles=["*"], types=["*"])
    gone = add_producer(engine, "old-crm", sources=["test-suite"], roles=["*"], types=["*"])
    revoke(engine, "producer", "old-crm")
    narrow = add_producer(
        engine, "tickets-only", sources=["*"], roles=["*"], types=["ticket.opened"]
    )

    def line(envelope: dict[str, Any]) -> bytes:
        return orjson.dumps(envelope)

    onboarded = line(env.customer("C-1"))
    unsigned = line(env.ticket("T-1"))
    wrong_key = line(env.ticket("T-2"))
    unknown = line(env.ticket("T-3"))
    revoked = line(env.ticket("T-4"))
    changed = line(env.ticket("T-5"))
    out_of_scope = line(env.make("ticket.assigned", "T-9", {"assignee": "se-bo"}))
    signed = line(env.ticket("T-6"))

    def signs_other_bytes(value: bytes) -> list[tuple[str, bytes]]:
        return signed_by("crm", token)(value + b" ")  # the value changed after signing

    topic = new_topic(bootstrap, 1, "signed")
    kafka = producer(bootstrap, "test")
    try:
        emit(kafka, topic, [onboarded], signed_by("crm", token))
        emit(kafka, topic, [unsigned])
        emit(kafka, topic, [wrong_key], signed_by("crm", token + "x"))
        emit(kafka, topic, [unknown], signed_by("ghost", token))
        emit(kafka, topic, [revoked], signed_by("old-crm", gone))
        emit(kafka, topic, [changed], signs_other_bytes)
        emit(kafka, topic, [out_of_scope], signed_by("tickets-only", narrow))
        emit(kafka, topic, [signed], signed_by("crm", token))
    finally:
        kafka.close()

    _consume(ledger, engine, bootstrap, topic, total=8)

    kept = {r.rejection.subject: r.rejection for r in ledger.store.rejections()}
    assert {s: r.rule for s, r in kept.items()} == {
        "T-1": "R-AUTH-4",
        "T-2": "R-AUTH-5",
        "T-3": "R-AUTH-5",
        "T-4": "R-AUTH-5",
        "T-5": "R-AUTH-5",
        "T-9": "R-AUTH-3",
    }
    assert "no ledger-producer and no ledger-signature header" in kept["T-1"].reason
    assert "does not match" in kept["T-2"].reason and "does not match" in kept["T-5"].reason
    assert "'ghost' is no producer" in kept["T-3"].reason
    assert "'old-crm' is no producer" in kept["T-4"].reason
    assert kept["T-1"].payload == unsigned  # kept byte for byte
    assert kept["T-9"].origin.endswith("[producer tickets-only]")
    assert [(e.originator_id, e.producer) for e in log_events(ledger)] == [
        ("C-1", "crm"),
        ("T-6", "crm"),
    ]
    assert [e["producer"] for e in trail(log_events(ledger))] == ["crm", "crm"]


def test_the_headers_are_the_producer_and_a_hex_hmac_of_the_value() -> None:
    import hashlib
    import hmac

    from ledger.services.principals import signing_key

    value = b'{"a": 1}'
    headers = dict(signed_by("crm", "tok")(value))
    assert headers[PRODUCER_HEADER] == b"crm"
    key = bytes.fromhex(signing_key("tok"))
    assert headers[SIGNATURE_HEADER] == hmac.new(key, value, hashlib.sha256).hexdigest().encode()
