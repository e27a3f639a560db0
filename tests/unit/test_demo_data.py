"""The demo generator: deterministic, complete, and in order per subject."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

from ledger.aggregates.rules import CATEGORY_SEVERITY
from ledger.demo import DemoSpec, generate
from schemas import PRODUCER_TYPES

LINES = generate()


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    assert [line.raw for line in generate()] == [line.raw for line in LINES]
    assert [line.raw for line in generate(DemoSpec(seed=8))] != [line.raw for line in LINES]


def test_every_kind_of_bad_input_appears() -> None:
    expected = {line.expect for line in LINES}
    for kind in (
        "duplicate",
        "R-IN-1",
        "R-IN-2",
        "R-IN-3",
        "R-IN-5",
        "R-SEV-1",
        "R-ESC-1",
        "R-FIX-1",
        "R-FIX-2",
        "R-RCA-1",
        "R-RCA-2",
        "R-CS-1",
        "R-SLA-6",
        "R-WIRE-1",
        "R-WIRE-2",
        "R-WIRE-3",
    ):
        assert kind in expected, kind
    bad = sum(1 for line in LINES if line.expect != "accept")
    assert 0 < bad < len(LINES) * 0.05


def test_the_story_covers_the_contract() -> None:
    accepted = [json.loads(line.raw) for line in LINES if line.expect == "accept"]
    assert {e["type"] for e in accepted} == PRODUCER_TYPES
    opened = [e["data"] for e in accepted if e["type"] == "ticket.opened"]
    assert {d["category"] for d in opened} == set(CATEGORY_SEVERITY)
    assert {d["severity"] for d in opened} == {1, 2, 3, 4}
    onboarded = [e for e in accepted if e["type"] == "customer.onboarded"]
    enterprise = [e for e in onboarded if e["data"]["tier"] == "enterprise"]
    assert len(enterprise) >= 20
    assert len({e["data"]["calendar"]["timezone"] for e in enterprise}) >= 5


def test_per_subject_time_never_goes_backwards() -> None:
    latest: dict[str, datetime] = defaultdict(lambda: datetime.min.replace(tzinfo=None))
    for line in LINES:
        if line.expect != "accept":
            continue
        envelope = json.loads(line.raw)
        at = datetime.fromisoformat(envelope["occurred_at"])
        previous = latest.get(envelope["subject"])
        assert previous is None or at >= previous, envelope
        latest[envelope["subject"]] = at
