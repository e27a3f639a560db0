"""The hash chain's canonical JSON: the domain's standard-library writer and orjson's, which
the store installs for speed, write the same bytes, so no hash depends on which wrote it."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.adapters.store import ORJSON_CANONICAL
from ledger.aggregates import chain

FLOATS = [
    0.0,
    -0.0,
    0.1,
    100.0,
    1e-4,
    1e-5,
    -1.5e-5,
    1.2345678901234568e-05,
    1e-6,
    9.99e-7,
    1e-7,
    -2.5e-8,
    1e-300,
    5e-324,
    1e15,
    1e16,
    -1.5e16,
    1.2345678901234568e20,
    1e22,
    1.7976931348623157e308,
    math.nan,
    math.inf,
    -math.inf,
]
STRINGS = ["", "plain", 'é"\\/\b\f\n\r\t', "\x00\x1f\x7f\u2028\u2029\ud7ff\ue000\uffff", "😀"]

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def test_orjson_is_the_installed_writer_once_the_store_is_imported() -> None:
    assert chain.dumps({"b": 1, "a": [1.5e-7]}) == ORJSON_CANONICAL({"b": 1, "a": [1.5e-7]})
    assert chain._writer is ORJSON_CANONICAL


@pytest.mark.parametrize("value", [*FLOATS, *STRINGS, 2**64 - 1, -(2**63), True, None])
def test_the_same_bytes_for_each_edge(value: Any) -> None:
    assert chain.standard_dumps(value) == ORJSON_CANONICAL(value)
    assert chain.standard_dumps([value]) == ORJSON_CANONICAL([value])
    assert chain.standard_dumps({"k": value}) == ORJSON_CANONICAL({"k": value})


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_the_same_bytes_for_any_json_value(value: Any) -> None:
    assert chain.standard_dumps(value) == ORJSON_CANONICAL(value)


@settings(max_examples=500, deadline=None)
@given(st.floats())
def test_the_same_bytes_for_any_float(value: float) -> None:
    assert chain.standard_dumps(value) == ORJSON_CANONICAL(value)


@given(st.dictionaries(st.text(), st.integers(0, 9), max_size=8))
def test_keys_sorted_the_same_way(value: dict[str, int]) -> None:
    assert chain.standard_dumps(value) == ORJSON_CANONICAL(value)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, {1: "a"}, {"a"}, object()])
def test_what_orjson_refuses_the_standard_writer_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        ORJSON_CANONICAL(value)
    with pytest.raises(TypeError):
        chain.standard_dumps(value)


def test_a_lone_surrogate_is_refused_by_both() -> None:
    with pytest.raises(orjson.JSONEncodeError):
        ORJSON_CANONICAL("\ud800")
    with pytest.raises(UnicodeEncodeError):
        chain.standard_dumps("\ud800")


def test_the_hash_of_an_event_does_not_depend_on_the_writer() -> None:
    meta = {
        "type": "customer.health_scored",
        "subject": "C-1",
        "version": 3,
        "recorded_at": "2026-03-01T09:00:00.000000+00:00",
        "event_id": "e-1",
        "previous_hash": chain.GENESIS,
    }
    data = {"health_score": 1.5e-5, "name": "Acme", "notes": ["é", 1e-7, 2**40]}
    commitments = chain.commitments_of("00" * 16, data)
    with_orjson = chain.digest(chain.body(meta, data, commitments))
    chain.use_canonical_json(chain.standard_dumps)
    try:
        assert chain.commitments_of("00" * 16, data) == commitments
        assert chain.digest(chain.body(meta, data, commitments)) == with_orjson
    finally:
        chain.use_canonical_json(ORJSON_CANONICAL)
