"""docs/chain-format.md's worked examples: exactly what the ledger's code computes, and what
the independent verifier, written from the document, computes too."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chain_vectors import BEGIN, END, ORIGIN, render, vectors
from verifier import verify_export as independent

DOC = Path(__file__).resolve().parents[2] / "docs" / "chain-format.md"


def test_the_document_holds_the_examples_the_code_computes() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == render(), "regenerate: python -m tests.chain_vectors"


@pytest.fixture(scope="module")
def v() -> dict[str, Any]:
    return vectors()


@pytest.mark.parametrize("fmt", [1, 2])
def test_the_verifier_recomputes_the_event_hash(v: dict[str, Any], fmt: int) -> None:
    record = json.loads(json.dumps(v[f"f{fmt}_record"]))  # as read back from a file
    assert independent.event_hash(record, fmt) == v[f"f{fmt}_hash"]
    assert independent.event_hash(record, 3 - fmt) != v[f"f{fmt}_hash"]
    salt = v["name_field_salt"]
    assert independent.commitment(salt, "Ana Müller", fmt) == v[f"f{fmt}_name_commitment"]


def test_the_verifier_recomputes_a_redacted_records_hash(v: dict[str, Any]) -> None:
    record = json.loads(json.dumps(v["redacted_record"]))
    assert record["data"]["name"] == "[redacted]"
    assert independent.event_hash(record, 2) == v["f2_hash"]


def test_the_verifier_recomputes_leaves_root_and_inclusion(v: dict[str, Any]) -> None:
    places = [(1, "C-1", 1), (2, "C-2", 1), (3, "C-1", 2)]
    hashes = [json.loads(x)[3] for x in v["leaves"]]
    leaves = [independent.leaf_bytes(*p, h) for p, h in zip(places, hashes, strict=True)]
    assert leaves == v["leaves"]
    hashed = [independent.leaf_hash(x) for x in leaves]
    assert [h.hex() for h in hashed] == v["leaf_hashes"]
    root = bytes.fromhex(v["root"])
    assert independent.node_hash(independent.node_hash(hashed[0], hashed[1]), hashed[2]) == root
    proof = [bytes.fromhex(h) for h in v["inclusion_2"]]
    assert independent.verify_inclusion(hashed[2], 2, 3, proof, root)
    assert not independent.verify_inclusion(hashed[1], 2, 3, proof, root)
    assert not independent.verify_inclusion(hashed[2], 2, 4, proof, root)


def test_the_verifier_checks_the_note_and_the_statement(v: dict[str, Any]) -> None:
    key = independent.VerifierKey.parse(v["log_key"])
    note = independent.Note.parse(v["note"])
    assert note.signed_by(key)
    origin, size, root, extensions = independent.parse_checkpoint(note.text)
    assert (origin, size, root.hex(), extensions) == (ORIGIN, 3, v["root"], [])
    forged = independent.Note.parse(v["note"].replace("\n3\n", "\n4\n", 1))
    assert not forged.signed_by(key)
    assert independent.signed_hex(
        key.public, v["statement_signature"], independent.format1(v["statement"])
    )
    assert independent.format1(v["statement"]) == v["statement_bytes"]


@pytest.mark.parametrize(
    "text",
    [
        "ledger.example/log+11639dd5+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",  # hash
        "ledger.example/log+11639dd4+AgOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",  # type
        "ledger.example/log+11639dd4",
        "+11639dd4+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    ],
)
def test_a_wrong_verifier_key_is_refused(text: str) -> None:
    with pytest.raises(independent.Malformed):
        independent.VerifierKey.parse(text)


def test_a_verifier_key_names_its_key() -> None:
    key = independent.VerifierKey.parse(vectors()["log_key"])
    raw = base64.b64decode(vectors()["log_key"].split("+", 2)[2])
    assert independent.raw_public(key.public) == raw[1:] and key.name == ORIGIN


# The verifier's own RFC 8785 writer against the rfc8785 package ---------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53 - 1), 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=4) | st.sampled_from(["\ufb33", "\U0001f600"]), inner)
    ),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(json_values)
def test_the_verifiers_jcs_is_rfc8785(value: Any) -> None:
    assert independent.jcs(value) == rfc8785.dumps(value)


@settings(max_examples=1000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_the_verifiers_numbers_are_rfc8785s(value: float) -> None:
    assert independent.es_number(value).encode() == rfc8785.dumps(value)


@settings(max_examples=500, deadline=None)
@given(json_values | st.floats())
def test_the_verifiers_format_1_is_the_ledgers(value: Any) -> None:
    from ledger.aggregates import chain

    assert independent.format1(value) == chain.standard_dumps(value)
