"""The demo generator: deterministic, complete, in order per subject, and tagged truthfully."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from demo.quarter import DemoQuarter, DemoSpec, generate, generate_quarter, write_jsonl
from ledger.adapters.event_store import Aggregate
from ledger.aggregates.base import LedgerEvent
from ledger.aggregates.customer import Customer
from ledger.aggregates.rules import CATEGORY_SEVERITY, RuleViolation
from ledger.projections.registry import fold
from ledger.services.handlers import HANDLERS, command_meta
from ledger.services.tick import apply_due, due_events, not_written
from schemas import PRODUCER_TYPES, WireError, parse_envelope

QUARTER = generate_quarter()
LINES = QUARTER.lines
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
    """The envelopes meant to be accepted, the plays' answers among them, in arrival order."""
    arriving = QUARTER.in_arrival_order()
    return [json.loads(line.raw) for _, line in arriving if line.expect == "accept"]


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
    """Each line through the real parser and aggregate commands, in memory: no database;
    the tick runs when the quarter says (``ledger demo`` runs it so), through its own
    functions on the rows folded from the events so far."""
    context, surprises = _decided(QUARTER)
    assert surprises == Counter()
    # The answers to the plays name the plays those ticks opened (or they would be
    # surprises): the first play of three silent customers.
    named = {(e["subject"], e["data"]["play_id"]) for e in map(_json, QUARTER.plays)}
    assert len(named) == 2 and len(QUARTER.ticks) == 3
    plays = {
        (c.id, play.play_id): play
        for c in context.aggregates.values()
        if isinstance(c, Customer)
        for play in c.plays.values()
    }
    assert named <= plays.keys()
    closed = [plays[key] for key in sorted(named)]
    assert all(play.closed_at is not None and play.closed_at < play.due_at for play in closed)
    assert sorted(play.outcome or "" for play in closed) == ["no_action", "retained"]


def test_the_plays_story_outreach_before_and_after_a_complaint() -> None:
    """One owner reaches out before the customer files a Sev2 ticket, another after."""
    answers = [_json(line) for line in QUARTER.plays]
    first_outreach = {
        e["subject"]: e["occurred_at"] for e in answers if e["type"] == "play.outreach_logged"
    }
    complaints = {
        e["data"]["customer_id"]: e["occurred_at"]
        for e in map(_json, (line for line in LINES if line.expect == "accept"))
        if e["type"] == "ticket.opened" and e["subject"] in ("T-9001", "T-9002")
    }
    assert complaints.keys() == first_outreach.keys()
    order = sorted(_instant(first_outreach[c]) < _instant(complaints[c]) for c in first_outreach)
    assert order == [False, True]


def test_the_quarter_has_contract_values_that_move() -> None:
    """Every enterprise customer's ARR after onboarding; a renewal up, one down, an
    expansion mid-term and a churn."""
    accepted = _accepted()
    onboarded = {
        e["subject"]
        for e in accepted
        if e["type"] == "customer.onboarded" and e["data"]["tier"] == "enterprise"
    }
    arr: dict[str, list[float]] = {}
    for e in accepted:
        if e["type"] in ("customer.contract_changed", "customer.renewed"):
            arr.setdefault(e["subject"], []).append(float(e["data"]["arr"]))
    assert arr.keys() == onboarded
    moves = sorted(
        "up" if later[-1] > later[0] else "down" for later in arr.values() if len(later) > 1
    )
    assert moves == ["down", "up", "up"]
    assert sum(1 for e in accepted if e["type"] == "customer.churned") == 1


def test_write_jsonl_writes_each_line_as_is(tmp_path: Path) -> None:
    path = tmp_path / "demo.jsonl"
    write_jsonl(LINES, path)
    assert path.read_bytes().split(b"\n") == [line.raw for line in LINES] + [b""]


def _json(line: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(line.raw)
    return found


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


class _InMemory:
    """The ingest's batch context, without a store: aggregates as decided so far, the ids
    accepted and the lines that did not end as tagged."""

    def __init__(self) -> None:
        self.aggregates: dict[str, Aggregate] = {}
        self.accepted_ids: set[str] = set()
        self.surprises: Counter[str] = Counter()
        self.written: set[str] = set()  # by the tick

    def load(self, subject: str) -> Aggregate | None:
        return self.aggregates.get(subject)

    def tick(self, now: datetime) -> None:
        """The tick, on the rows folded from the events so far (all occurred by ``now``:
        every line that arrived by then, and no other, was decided)."""
        events: list[LedgerEvent] = [e for a in self.aggregates.values() for e in a.pending_events]
        due = not_written(due_events(fold(events), now), self.written)
        done, _ = apply_due(self.load, due, RECORDED_AT, now, self.aggregates)
        self.written.update(d.event_id for d in done)

    def decide(self, line: Any) -> None:
        """One line through the parser and its handler; a surprise if it ends otherwise."""
        try:
            envelope = parse_envelope(line.raw)
            event_id = str(envelope.event_id)
            if event_id in self.accepted_ids:
                outcome = "duplicate"
            else:
                aggregate = HANDLERS[envelope.type](
                    self, envelope, command_meta(envelope, RECORDED_AT)
                )
                self.aggregates[aggregate.id] = aggregate
                self.accepted_ids.add(event_id)
                outcome = "accept"
        except RuleViolation as error:
            outcome = "deferred" if error.waits_for else error.rule
        except WireError as error:
            outcome = error.rule
        if outcome != line.expect:
            self.surprises[f"{line.expect} -> {outcome}"] += 1


RECORDED_AT = datetime(2026, 4, 6, tzinfo=UTC)


def _decided(quarter: DemoQuarter) -> tuple[_InMemory, Counter[str]]:
    """Every line in arrival order, with the tick run at the quarter's instants."""
    context = _InMemory()
    ticks = list(quarter.ticks)
    for _, line in quarter.in_arrival_order():
        while ticks and line.arrival is not None and line.arrival > ticks[0]:
            context.tick(ticks.pop(0))
        context.decide(line)
    return context, context.surprises
