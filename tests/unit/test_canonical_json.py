"""The hash chain's canonical JSON: the domain's standard-library writer and orjson's, which
the store installs for speed, write the same bytes, so no hash depends on which wrote it."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.adapters.store import ORJSON_CANONICAL, orjson_jcs
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
    for fmt in sorted(chain.CHAIN_FORMATS):
        commitments = chain.commitments_of("00" * 16, data, fmt=fmt)
        with_orjson = chain.digest(chain.body(meta, data, commitments, fmt=fmt))
        chain.use_canonical_json(chain.standard_dumps)
        chain.use_jcs(rfc8785.dumps)
        try:
            assert chain.commitments_of("00" * 16, data, fmt=fmt) == commitments
            assert chain.digest(chain.body(meta, data, commitments, fmt=fmt)) == with_orjson
        finally:
            chain.use_canonical_json(ORJSON_CANONICAL)
            chain.use_jcs(orjson_jcs)


# Chain format 2: RFC 8785 (JCS), written by the store with orjson where it writes the same
# bytes as the rfc8785 package, the reference ------------------------------------------------

# RFC 8785 appendix B: IEEE 754 bit patterns and the text the scheme writes for them.
RFC8785_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]

# RFC 8785 section 3.2.3: keys sort by their UTF-16 code units, not by code point.
RFC8785_SORTING = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\U0001f600": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
}


@pytest.mark.parametrize(("bits", "text"), RFC8785_NUMBERS)
def test_numbers_are_written_as_rfc8785_writes_them(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert rfc8785.dumps(value) == text.encode()
    assert orjson_jcs(chain.jcs_ready(value)) == text.encode()
    assert orjson_jcs(chain.jcs_ready([value])) == f"[{text}]".encode()
    assert chain.jcs_dumps(chain.jcs_ready({"n": value})) == f'{{"n":{text}}}'.encode()


def test_keys_sort_by_utf16_units() -> None:
    order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    written = orjson_jcs(RFC8785_SORTING)
    assert written == rfc8785.dumps(RFC8785_SORTING)
    assert [k for k in json.loads(written)] == order
    # orjson alone sorts by code point: the store must not take its order for these
    assert ORJSON_CANONICAL(RFC8785_SORTING) != written


@pytest.mark.parametrize(
    ("value", "ready"),
    [
        (2**53 - 1, 2**53 - 1),
        (-(2**53 - 1), -(2**53 - 1)),
        (2**53, "9007199254740992"),
        (-(2**63), "-9223372036854775808"),
        (math.nan, None),
        (-math.inf, None),
        ([{"n": 2**60}], [{"n": "1152921504606846976"}]),
    ],
)
def test_what_jcs_cannot_write_is_made_ready_first(value: Any, ready: Any) -> None:
    assert chain.jcs_ready(value) == ready
    assert orjson_jcs(chain.jcs_ready(value)) == rfc8785.dumps(ready)


@pytest.mark.parametrize("value", [2**53, -(2**53), math.nan, math.inf, "\ud800", {1: "a"}])
def test_what_jcs_cannot_write_is_refused_unprepared(value: Any) -> None:
    with pytest.raises(ValueError):
        rfc8785.dumps(value)
    if not isinstance(value, float):  # NaN is jcs_ready's to turn into null, before writing
        with pytest.raises(ValueError):
            orjson_jcs(value)


jcs_keys = st.text(alphabet=st.characters(codec="utf-8"), max_size=4) | st.sampled_from(
    sorted(RFC8785_SORTING)
)
jcs_values = st.recursive(
    json_leaves | st.sampled_from(FLOATS + STRINGS),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(jcs_keys, inner, max_size=6),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(jcs_values)
def test_the_store_writes_rfc8785s_bytes_for_any_json_value(value: Any) -> None:
    ready = chain.jcs_ready(value)
    assert orjson_jcs(ready) == rfc8785.dumps(ready)


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_the_store_writes_rfc8785s_bytes_for_any_float(value: float) -> None:
    assert orjson_jcs(chain.jcs_ready(value)) == rfc8785.dumps(value)
    assert orjson_jcs(chain.jcs_ready({"a": [value]})) == rfc8785.dumps({"a": [value]})
