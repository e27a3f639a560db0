"""The demo generator: deterministic, complete, in order per subject, and tagged truthfully."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from demo.quarter import DemoLine, DemoSpec, generate, write_jsonl
from ledger.adapters.event_store import Aggregate
from ledger.aggregates.rules import CATEGORY_SEVERITY, RuleViolation
from ledger.services.handlers import HANDLERS, command_meta
from schemas import PRODUCER_TYPES, WireError, parse_envelope

LINES = generate()
ENVELOPE_KEYS = [
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "source",
    "actor",
    "subject",
    "data",
]
BAD_KINDS = (
    "duplicate",
    "deferred",
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
    "R-RCA-4",
    "R-INC-1",
    "R-CS-1",
    "R-CS-5",
    "R-SLA-6",
    "R-CAL-1",
    "R-EXC-1",
    "R-WIRE-1",
    "R-WIRE-2",
    "R-WIRE-3",
)


def _accepted() -> list[dict[str, Any]]:
    return [json.loads(line.raw) for line in LINES if line.expect == "accept"]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    assert [(line.raw, line.expect) for line in generate()] == [
        (line.raw, line.expect) for line in LINES
    ]
    assert [line.raw for line in generate(DemoSpec(seed=8))] != [line.raw for line in LINES]


def test_size_and_share_of_bad_input() -> None:
    assert 6_000 <= len(LINES) <= 15_000
    bad = sum(1 for line in LINES if line.expect != "accept")
    assert 0.015 < bad / len(LINES) < 0.04


def test_every_kind_of_bad_input_appears() -> None:
    expected = Counter(line.expect for line in LINES)
    for kind in BAD_KINDS:
        assert expected[kind] >= 1, kind
    assert set(expected) == {"accept", *BAD_KINDS}


def test_lines_are_single_compact_lines() -> None:
    for line in LINES:
        assert b"\n" not in line.raw
        if line.expect in ("accept", "duplicate"):
            assert json.loads(line.raw) is not None
            assert b'", "' not in line.raw and b'": ' not in line.raw  # compact separators


def test_accepted_lines_are_envelopes() -> None:
    for envelope in _accepted():
        assert list(envelope) == ENVELOPE_KEYS
        assert envelope["schema_version"] == 1
        assert datetime.fromisoformat(envelope["occurred_at"]).tzinfo is not None
        assert set(envelope["actor"]) == {"id", "role"}


def test_the_story_covers_the_contract() -> None:
    accepted = _accepted()
    assert {e["type"] for e in accepted} == PRODUCER_TYPES
    opened = [e["data"] for e in accepted if e["type"] == "ticket.opened"]
    assert {d["category"] for d in opened} == set(CATEGORY_SEVERITY)
    assert {d["severity"] for d in opened} == {1, 2, 3, 4}
    assert {d["channel"] for d in opened} <= {
        "support_portal",
        "enterprise_email",
        "contract_channel",
    }
    filed_otherwise = [d for d in opened if CATEGORY_SEVERITY[d["category"]] != d["severity"]]
    assert filed_otherwise and all(d.get("reason") for d in filed_otherwise)


def test_enough_enterprise_customers_in_several_time_zones() -> None:
    onboarded = [e["data"] for e in _accepted() if e["type"] == "customer.onboarded"]
    enterprise = [d for d in onboarded if d["tier"] == "enterprise"]
    assert len(enterprise) >= 20
    assert len({d["calendar"]["timezone"] for d in enterprise}) >= 8
    assert any("hours" in d["calendar"] for d in enterprise)
    assert any(d["calendar"].get("holidays") for d in enterprise)
    assert sum(1 for d in onboarded if d["tier"] == "self_serve") == 2


def test_per_subject_time_never_goes_backwards() -> None:
    latest: dict[str, datetime] = {}
    for envelope in _accepted():
        at = datetime.fromisoformat(envelope["occurred_at"])
        previous = latest.get(envelope["subject"])
        assert previous is None or at >= previous, envelope
        latest[envelope["subject"]] = at


def test_customers_speak_in_their_local_offset() -> None:
    accepted = _accepted()
    zones = {
        e["subject"]: ZoneInfo(e["data"]["calendar"]["timezone"])
        for e in accepted
        if e["type"] == "customer.onboarded"
    }
    customer_of = {
        e["subject"]: e["data"]["customer_id"] for e in accepted if e["type"] == "ticket.opened"
    }
    spoken = [e for e in accepted if e["actor"]["role"] == "customer"]
    assert spoken
    for envelope in spoken:
        at = datetime.fromisoformat(envelope["occurred_at"])
        zone = zones[customer_of.get(envelope["subject"], envelope["subject"])]
        assert at.utcoffset() == at.astimezone(zone).utcoffset(), envelope


def test_every_line_ends_as_tagged_by_the_contract_and_the_domain() -> None:
    """Each line through the real parser and aggregate commands, in memory: no database."""
    assert _surprises(LINES) == Counter()


def test_write_jsonl_writes_each_line_as_is(tmp_path: Path) -> None:
    path = tmp_path / "demo.jsonl"
    write_jsonl(LINES, path)
    assert path.read_bytes().split(b"\n") == [line.raw for line in LINES] + [b""]


class _InMemory:
    """The ingest's batch context, without a store: aggregates as decided so far."""

    def __init__(self) -> None:
        self.aggregates: dict[str, Aggregate] = {}

    def load(self, subject: str) -> Aggregate | None:
        return self.aggregates.get(subject)


def _surprises(lines: list[DemoLine]) -> Counter[str]:
    context, accepted_ids = _InMemory(), set()
    recorded_at = datetime(2026, 4, 6, tzinfo=UTC)
    surprises: Counter[str] = Counter()
    for line in lines:
        try:
            envelope = parse_envelope(line.raw)
            event_id = str(envelope.event_id)
            if event_id in accepted_ids:
                outcome = "duplicate"
            else:
                aggregate = HANDLERS[envelope.type](
                    context, envelope, command_meta(envelope, recorded_at)
                )
                context.aggregates[aggregate.id] = aggregate
                accepted_ids.add(event_id)
                outcome = "accept"
        except RuleViolation as error:
            outcome = "deferred" if error.waits_for else error.rule
        except WireError as error:
            outcome = error.rule
        if outcome != line.expect:
            surprises[f"{line.expect} -> {outcome}"] += 1
    return surprises
