"""NUL characters: PostgreSQL text columns refuse them, so the contract does too (R-WIRE-2)."""

from __future__ import annotations

import pytest

from schemas import WireError, parse_envelope
from tests.support import Envelopes


@pytest.mark.parametrize(
    ("where", "field"),
    [("subject", "subject"), ("title", "data.title"), ("actor", "actor.id")],
)
def test_a_nul_anywhere_is_refused_naming_the_field(where: str, field: str) -> None:
    env = Envelopes()
    envelope = env.ticket("T-1")
    if where == "subject":
        envelope["subject"] = "T-1\x00"
    elif where == "title":
        envelope["data"]["title"] = "down\x00"
    else:
        envelope["actor"]["id"] = "u\x001"
    with pytest.raises(WireError) as raised:
        parse_envelope(envelope)
    assert (raised.value.rule, raised.value.field) == ("R-WIRE-2", field)


def test_an_escaped_backslash_before_u0000_is_just_text() -> None:
    envelope = Envelopes().ticket("T-1", title="path C:\\u0000")
    assert parse_envelope(envelope).data.title == "path C:\\u0000"
