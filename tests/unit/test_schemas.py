"""The wire contract: what parses, what is rejected with which rule and field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import (
    DEFAULT_SCHEMA_DIR,
    ENVELOPE_MODELS,
    PRODUCER_TYPES,
    WireError,
    expected_json_schemas,
    parse_envelope,
)
from tests.support import Envelopes

EXAMPLE: dict[str, Any] = {
    "event_id": "6f1c2a9e-3b8d-4e0f-9a55-0c1d2e3f4a5b",
    "type": "ticket.opened",
    "schema_version": 1,
    "occurred_at": "2026-03-27T16:30:00+01:00",
    "source": "support-portal",
    "actor": {"id": "u-881", "role": "customer"},
    "subject": "T-1001",
    "data": {
        "customer_id": "C-42",
        "channel": "support_portal",
        "title": "Dubbing jobs fail",
        "description": "All dubbing jobs fail since 16:10",
        "severity": 1,
        "category": "platform_down",
    },
}


def rejected(raw: Any) -> WireError:
    with pytest.raises(WireError) as caught:
        parse_envelope(raw)
    return caught.value


def changed(path: str, value: Any) -> dict[str, Any]:
    """EXAMPLE with one field set (or removed, for ...)."""
    envelope = copy.deepcopy(EXAMPLE)
    *parents, last = path.split(".")
    target = envelope
    for name in parents:
        target = target[name]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return envelope


def test_the_contract_example_parses() -> None:
    envelope = parse_envelope(orjson.dumps(EXAMPLE))
    assert envelope.type == "ticket.opened" and envelope.data.severity == 1
    assert envelope.occurred_at.utcoffset().total_seconds() == 3600
    assert parse_envelope(EXAMPLE) == envelope  # a mapping behaves like its JSON


@pytest.mark.parametrize(
    ("path", "value", "rule", "field"),
    [
        ("occurred_at", "2026-03-27T16:30:00", "R-WIRE-2", "occurred_at"),
        ("mood", "happy", "R-WIRE-2", "mood"),
        ("data.mood", "happy", "R-WIRE-2", "data.mood"),
        ("type", "ticket.snoozed", "R-WIRE-3", "type"),
        ("schema_version", 2, "R-WIRE-3", "schema_version"),
        ("type", "sla.breached", "R-WIRE-4", "type"),
        ("event_id", "not-a-uuid", "R-WIRE-2", "event_id"),
        ("actor.role", "intern", "R-WIRE-2", "actor.role"),
        ("subject", "C-42", "R-WIRE-2", "subject"),
        ("data.severity", "1", "R-IN-3", "data.severity"),
        ("data.severity", True, "R-IN-3", "data.severity"),
        ("data.category", ..., "R-IN-3", "data.category"),
        ("data.channel", ..., "R-IN-1", "data.channel"),
        ("source", ..., "R-WIRE-2", "source"),
    ],
)
def test_bad_fields_are_named(path: str, value: Any, rule: str, field: str) -> None:
    error = rejected(orjson.dumps(changed(path, value)))
    assert (error.rule, error.field) == (rule, field)
    assert error.reason.startswith(field)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"42", b"\xff\xfe", b""])
def test_not_an_object_is_r_wire_1(raw: bytes) -> None:
    assert rejected(raw).rule == "R-WIRE-1"


def test_nested_rules() -> None:
    env = Envelopes()
    naive = env.make(
        "ticket.temporary_fix_applied",
        "T-1",
        {"description": "x", "expires_at": "2026-04-01T00:00:00", "owner": "p"},
    )
    assert (rejected(naive).rule, rejected(naive).field) == ("R-FIX-2", "data.expires_at")
    csat = env.make("customer.survey_recorded", "C-1", {"kind": "csat", "score": 6})
    assert rejected(csat).field == "data.score"
    arr = env.make("customer.renewed", "C-1", {"arr": 1000, "reason": "x"})
    assert rejected(arr).field == "data.arr"
    assert parse_envelope(
        env.make("customer.renewed", "C-1", {"arr": "1000.50", "reason": "x"})
    ).data.arr
    zone = env.customer("C-1", calendar={"timezone": "Mars/Olympus"})
    assert rejected(zone).field == "data.calendar.timezone"
    hours = env.customer("C-1", calendar={"timezone": "UTC", "hours": {"mon": ["17:00", "09:00"]}})
    assert rejected(hours).field == "data.calendar.hours.mon"
    escalation = env.make("ticket.escalated", "T-1", {"to_tier": "platform_engineer"})
    assert (rejected(escalation).rule, rejected(escalation).field) == ("R-ESC-1", "data.reason")
    duration = env.make(
        "sla_policy.change_proposed",
        "SLA",
        {
            "proposal_id": "P",
            "effective_at": "2026-04-01T00:00:00Z",
            "targets": {"2": {"first_response": {"duration": "P1M", "clock": "24x7"}}},
        },
    )
    assert rejected(duration).field == "data.targets.2.first_response.duration"


def test_system_types_parse_only_when_allowed() -> None:
    env = Envelopes()
    breach = env.make(
        "sla.breached",
        "T-1",
        {"timer": "first_response", "due_at": "2026-03-02T10:00:00+00:00", "policy_version": 1},
        role="system",
    )
    assert rejected(breach).rule == "R-WIRE-4"
    assert parse_envelope(breach, allow_system=True).data.policy_version == 1


def test_every_producer_type_has_a_model() -> None:
    assert set(ENVELOPE_MODELS) > PRODUCER_TYPES


def test_checked_in_json_schemas_match_the_models() -> None:
    expected = expected_json_schemas()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in Path(DEFAULT_SCHEMA_DIR).glob("*")}
    assert on_disk == expected, "schemas/json/ drifted from the models: run `ledger schemas export`"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_anything_is_an_envelope_or_a_wire_error(raw: bytes) -> None:
    try:
        parse_envelope(raw)
    except WireError as error:
        assert error.rule.startswith("R-") and error.reason


@given(
    st.sampled_from(
        ["event_id", "type", "occurred_at", "actor", "subject", "data", "schema_version", "source"]
    ),
    json_values,
)
def test_any_field_replaced_is_handled(field: str, value: Any) -> None:
    envelope = dict(EXAMPLE, **{field: value})
    try:
        parse_envelope(envelope)
    except WireError as error:
        assert error.field
