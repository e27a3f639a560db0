"""The hash chain's body: canonical, covering every fact, and redactable by commitment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ledger.aggregates.chain import (
    CHAIN_FORMAT,
    CHAIN_FORMATS,
    GENESIS,
    PERSONAL_FIELDS,
    REDACTED,
    body,
    commitments_of,
    digest,
    proof_of,
    record_hash,
    redacted,
)

SALT = "00112233445566778899aabbccddeeff"
META: dict[str, Any] = {
    "type": "customer.onboarded",
    "subject": "C-1",
    "version": 1,
    "recorded_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
    "event_id": "e-1",
    "occurred_at": datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))),
    "actor_id": "cs-jo",
    "actor_role": "customer_success",
    "source": "crm",
    "previous_hash": GENESIS,
}
DATA: dict[str, Any] = {
    "name": "Acme",
    "tier": "enterprise",
    "decision_maker": {"name": "Dana", "email": "dana@acme.example"},
    "escalation_contact": "ops@acme.example",
}


FORMATS = sorted(CHAIN_FORMATS)


def _hash(meta: dict[str, Any], data: dict[str, Any], fmt: int = CHAIN_FORMAT) -> str:
    return digest(body(meta, data, commitments_of(SALT, data, fmt=fmt), fmt=fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_instant_in_any_offset_hashes_the_same(fmt: int) -> None:
    moved = {**META, "occurred_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC)}
    assert _hash(META, DATA, fmt) == _hash(moved, DATA, fmt)


def test_the_formats_hash_the_same_event_differently() -> None:
    assert _hash(META, DATA, 1) != _hash(META, DATA, 2)


@pytest.mark.parametrize("fmt", [0, 3, "2", None, True])
def test_an_unknown_format_is_refused_by_name(fmt: Any) -> None:
    with pytest.raises(ValueError, match="chain format"):
        body(META, DATA, {}, fmt=fmt)
    with pytest.raises(ValueError, match="chain format"):
        digest({"format": fmt, "data": {}})


@pytest.mark.parametrize("field", sorted(META))
def test_every_envelope_fact_is_covered(field: str) -> None:
    changed = dict(META)
    value = META[field]
    changed[field] = (
        value + timedelta(seconds=1)
        if isinstance(value, datetime)
        else (value + 1 if isinstance(value, int) else f"{value}x")
    )
    assert _hash(changed, DATA) != _hash(META, DATA)


@pytest.mark.parametrize("field", sorted(DATA))
def test_every_data_field_is_covered_committed_or_not(field: str) -> None:
    changed = {**DATA, field: "something else"}
    assert _hash(META, changed) != _hash(META, DATA)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_redacted_record_still_gives_the_events_hash(fmt: int) -> None:
    full = _hash(META, DATA, fmt)
    redact = frozenset({"decision_maker", "escalation_contact", "name"})
    proof = proof_of(SALT, DATA, redact, fmt=fmt)
    shown = redacted(DATA, redact)
    meta = {k: v for k, v in META.items()}
    assert record_hash(meta, shown, proof, fmt=fmt) == full
    assert record_hash(meta, shown, proof, fmt=3 - fmt) != full  # the other format
    assert shown["decision_maker"] == REDACTED and shown["tier"] == "enterprise"
    assert SALT not in str(proof)  # only per-field salts of shown fields, never the event's
    assert set(proof["commitments"]) == redact and proof["salts"] == {}
    nothing_hidden = proof_of(SALT, DATA, frozenset(), fmt=fmt)
    assert record_hash(meta, redacted(DATA, frozenset()), nothing_hidden, fmt=fmt) == full


def test_a_field_salt_reveals_nothing_about_another_field() -> None:
    proof = proof_of(SALT, DATA, frozenset({"decision_maker"}), fmt=CHAIN_FORMAT)
    salts = set(proof["salts"].values())
    assert len(salts) == len(proof["salts"]) == 2
    assert all(s != SALT for s in salts)
    assert {"decision_maker", "escalation_contact", "name"} <= PERSONAL_FIELDS


def test_the_fast_transcoder_writes_the_librarys_bytes_and_reads_them_back() -> None:
    from decimal import Decimal

    from eventsourcing.persistence import (
        DatetimeAsISO,
        DecimalAsStr,
        JSONTranscoder,
        UUIDAsHex,
    )

    from ledger.adapters.event_store import DateAsISO, FastJSONTranscoder

    library, fast = JSONTranscoder(), FastJSONTranscoder()
    for transcoder in (library, fast):
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
            transcoder.register(transcoding)
    value = {
        "at": datetime(2026, 3, 1, 9, 30, 0, 1234, tzinfo=timezone(timedelta(hours=1))),
        "day": datetime(2026, 3, 1, tzinfo=UTC).date(),
        "arr": Decimal("120000.50"),
        "nested": [1, {"due": datetime(2026, 3, 2, tzinfo=UTC)}, None, True],
        "text": 'Grüße \u2028 \x1f "quoted" \\',
        7: "int key",
        "score": 0.1,
    }
    assert fast.encode(value) == library.encode(value)
    assert library.decode(fast.encode(value)) == fast.decode(library.encode(value))


def test_format_1_hashes_are_those_stored_before_format_2() -> None:
    """Format 1 is frozen: this body's hash was computed by the ledger before format 2
    existed (commit 22e6b73), so the events stored then keep verifying."""
    meta = {
        **{k: v for k, v in META.items() if k not in ("recorded_at", "occurred_at")},
        "recorded_at": "2026-03-01T09:00:00.000000+00:00",
        "occurred_at": "2026-03-01T09:00:00.000000+00:00",
    }
    data = {"name": "Acme", "tier": "enterprise", "health": 1e16, "ratio": 1.5e-7}
    data |= {"zero": -0.0, "big": 2**60}
    assert _hash(meta, data, 1) == (
        "25406fe9a94cef28977c4cd3cf5543df1aee3cbe937d4fd0f13748685c36ba86"
    )


def test_the_wire_contract_names_every_personal_field_of_the_chain() -> None:
    """``customer.data_erased`` lists erased fields by a closed list in the wire contract
    (schemas sits below the domain and cannot import it): the same fields."""
    from typing import get_args

    from schemas.system import PersonalField

    assert set(get_args(PersonalField)) == PERSONAL_FIELDS
