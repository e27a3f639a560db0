"""Intake that never stalls: poison inputs, idempotent rejections, conflicts, the clock
bound and inputs that wait for their subject (R-IN-4, R-IN-6, R-IN-7), on both backends."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import DataError

from ledger.adapters.event_store import LedgerApp
from ledger.projections.registry import fold
from ledger.services import handlers
from ledger.services.intake import Ingestor, Input, Outcome
from ledger.services.queries import log_events
from tests.conftest import FixedClock
from tests.support import T0, Envelopes


def kinds(outcomes: list[Outcome]) -> list[str]:
    """Each outcome as one word: accepted, duplicate, deferred, the rule, or again:<rule>."""
    words = []
    for o in outcomes:
        if o.status == "rejected":
            assert o.rejection is not None
            words.append(f"again:{o.rejection.rule}" if o.repeat else o.rejection.rule)
        else:
            words.append(o.status)
    return words


@pytest.fixture
def env() -> Envelopes:
    return Envelopes()


@pytest.fixture
def ingestor(ledger: LedgerApp, clock: FixedClock) -> Ingestor:
    return Ingestor(ledger, clock=clock)


def batch(ingestor: Ingestor, *payloads: Any) -> list[Outcome]:
    return ingestor.ingest_batch([Input(p, f"test:{n}") for n, p in enumerate(payloads, 1)])


# Poison inputs -------------------------------------------------------------------------


def test_hostile_inputs_in_every_batch_are_kept_and_the_rest_stored(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes
) -> None:
    """Instants that overflow UTC, integers past 64 bits, a tombstone and plain garbage,
    in the middle of each batch: each is a kept rejection naming its field."""
    good = [env.customer("C-1")] + [env.ticket(f"T-{n}") for n in range(1, 13)]
    hostile: list[Any] = [
        {**env.ticket("T-90"), "occurred_at": "0001-01-01T00:00:00+14:00"},
        {**env.ticket("T-91"), "occurred_at": "9999-12-31T23:59:59-12:00"},
        env.make(
            "customer.usage_reported",
            "C-1",
            {
                "period_start": "2026-02-01",
                "period_end": "2026-02-28",
                "active_users": 2**63,
                "videos_localized": 1,
                "error_count": 0,
            },
        ),
        b'{"event_id": 18446744073709551616000}',
        None,  # a Kafka tombstone
        b"\xff\xfe not even text",
    ]
    inputs = []
    for n, item in enumerate(good):  # a hostile input in the middle of every batch of 4
        inputs.append(Input(item, f"good:{n}"))
        if n % 2 == 1 and hostile:
            inputs.append(Input(hostile.pop(0), f"bad:{n}"))
    report = ingestor.ingest(inputs, batch_size=4)
    assert (report.accepted, report.rejected) == (len(good), 6)
    assert ledger.store.event_count() == len(good)
    kept = ledger.store.rejections()
    assert [r.rejection.origin.split(":")[0] for r in kept] == ["bad"] * 6
    fields = [r.rejection.field for r in kept]
    assert fields[:3] == ["occurred_at", "occurred_at", "data.active_users"]
    assert all(r.rejection.reason for r in kept)


def test_an_input_that_breaks_deciding_is_isolated_and_the_batch_goes_on(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect met by one input (no rule: an exception) rejects that input alone, as
    R-FAULT-1 with the error and its origin, and stores every other input."""
    handle = handlers.HANDLERS["ticket.assigned"]

    def fragile(ctx: Any, envelope: Any, meta: Any) -> Any:
        if envelope.data.assignee == "poison":
            raise OverflowError("date value out of range")
        return handle(ctx, envelope, meta)

    monkeypatch.setitem(handlers.HANDLERS, "ticket.assigned", fragile)
    outcomes = batch(
        ingestor,
        env.customer("C-1"),
        env.ticket("T-1"),
        env.make("ticket.assigned", "T-1", {"assignee": "se-ana"}),
        env.make("ticket.assigned", "T-1", {"assignee": "poison"}),
        env.make("ticket.assigned", "T-1", {"assignee": "se-bo"}),
    )
    assert kinds(outcomes) == ["accepted"] * 3 + ["R-FAULT-1", "accepted"]
    fault = outcomes[3].rejection
    assert fault is not None and fault.origin == "test:4"
    assert "OverflowError: date value out of range" in fault.reason
    assert ledger.store.event_count() == 4
    assert [r.rejection.rule for r in ledger.store.rejections()] == ["R-FAULT-1"]


def test_a_write_that_fails_for_one_input_is_split_until_that_input_is_alone(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses a row (not a rule, not an outage): the batch is halved until
    the input at fault is found; the rest is stored, the culprit kept as R-FAULT-1."""
    insert = ledger.recorder.insert_events

    def refusing(stored: Any, **kwargs: Any) -> Any:
        if any(b"poison" in event.state for event in stored):
            raise DataError("value refused by the database")
        return insert(stored, **kwargs)

    monkeypatch.setattr(ledger.recorder, "insert_events", refusing)
    lines = [env.customer("C-1"), env.ticket("T-1")]
    lines += [env.make("ticket.assigned", "T-1", {"assignee": f"se-{n}"}) for n in range(10)]
    lines.insert(7, env.make("ticket.assigned", "T-1", {"assignee": "poison"}))
    report = ingestor.ingest([Input(line, f"f.jsonl:{n}") for n, line in enumerate(lines, 1)])
    assert (report.accepted, report.rejected) == (12, 1)
    (kept,) = ledger.store.rejections()
    assert (kept.rejection.rule, kept.rejection.origin) == ("R-FAULT-1", "f.jsonl:8")
    assert "DataError" in kept.rejection.reason


# Idempotency -----------------------------------------------------------------------------


def test_a_rejected_input_sent_again_is_acknowledged_not_stored_twice(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes
) -> None:
    customer = env.customer("C-1")
    bad_channel = env.ticket("T-2", channel="chat")
    garbage = b"not json at all"
    first = batch(ingestor, customer, bad_channel, garbage)
    assert kinds(first) == ["accepted", "R-IN-1", "R-WIRE-1"]
    again = batch(ingestor, customer, bad_channel, garbage, garbage)
    assert kinds(again) == ["duplicate", "again:R-IN-1", "again:R-WIRE-1", "again:R-WIRE-1"]
    # The same content as other bytes (spacing, key order) is the same input.
    respelt = json.dumps(dict(reversed(list(bad_channel.items()))), indent=1).encode()
    assert kinds(batch(ingestor, respelt)) == ["again:R-IN-1"]
    # A corrected re-send (changed content) is decided anew.
    corrected = {**bad_channel, "data": {**bad_channel["data"], "channel": "support_portal"}}
    assert kinds(batch(ingestor, corrected)) == ["accepted"]
    assert len(ledger.store.rejections()) == 2


def test_an_event_id_reused_for_other_content_is_a_conflict(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes
) -> None:
    customer = env.customer("C-1")
    ticket = env.ticket("T-1")
    assert kinds(batch(ingestor, customer, ticket)) == ["accepted", "accepted"]
    same_content = json.dumps(ticket, separators=(",", ":"), sort_keys=True)
    other = {**ticket, "data": {**ticket["data"], "title": "Something else"}}
    outcomes = batch(ingestor, same_content, other)
    assert kinds(outcomes) == ["duplicate", "R-ID-1"]
    assert outcomes[1].rejection is not None and outcomes[1].rejection.field == "event_id"
    assert ledger.store.event_count() == 2


def test_rerunning_a_file_stores_no_rejection_twice(
    ledger: LedgerApp, clock: FixedClock, env: Envelopes
) -> None:
    lines: list[Any] = [env.customer("C-1"), env.ticket("T-1")]
    lines += [env.ticket(f"T-{n}", channel="chat") for n in range(2, 7)]
    lines += [b"{", env.make("ticket.closed", "T-1", {})]
    inputs = [Input(line, f"f:{n}") for n, line in enumerate(lines, 1)]
    first = Ingestor(ledger, clock=clock).ingest(inputs, batch_size=3)
    second = Ingestor(ledger, clock=clock).ingest(inputs, batch_size=2)
    assert (first.accepted, first.rejected) == (2, 7)
    assert (second.duplicates, second.already_rejected, second.rejected) == (2, 7, 0)
    assert len(ledger.store.rejections()) == 7


# The clock bound (R-IN-7) --------------------------------------------------------------------


def test_an_event_from_the_future_is_rejected_not_allowed_to_freeze_its_subject(
    ledger: LedgerApp, env: Envelopes
) -> None:
    clock = FixedClock(T0 + timedelta(hours=1))
    ingestor = Ingestor(ledger, clock=clock)
    far = env.make("ticket.assigned", "T-1", {"assignee": "x"}, at=T0 + timedelta(days=3650))
    near = env.make(
        "ticket.assigned", "T-1", {"assignee": "y"}, at=clock.now + timedelta(minutes=4)
    )
    outcomes = batch(ingestor, env.customer("C-1"), env.ticket("T-1"), far, near)
    assert kinds(outcomes) == ["accepted", "accepted", "R-IN-7", "accepted"]
    assert outcomes[2].rejection is not None and outcomes[2].rejection.field == "occurred_at"
    later = env.make(
        "ticket.assigned", "T-1", {"assignee": "z"}, at=clock.now + timedelta(minutes=4)
    )
    assert kinds(batch(ingestor, later)) == ["accepted"]  # the subject is not frozen


def test_the_skew_is_configurable(
    ledger: LedgerApp, env: Envelopes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_MAX_SKEW_SECONDS", "3600")
    clock = FixedClock(T0)
    ahead = env.customer("C-1", at=T0 + timedelta(minutes=50))
    assert kinds(batch(Ingestor(ledger, clock=clock), ahead)) == ["accepted"]


# Waiting for a subject (R-IN-6) ----------------------------------------------------------------


def test_a_ticket_before_its_customer_waits_then_is_accepted_in_order(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes
) -> None:
    onboarding = env.customer("C-7", at=T0)
    opened = env.ticket("T-1", customer_id="C-7")
    assigned = env.make("ticket.assigned", "T-1", {"assignee": "se-ana"})
    responded = env.make("ticket.responded", "T-1", {"public": True, "message": "on it"})
    first = batch(ingestor, opened, assigned)
    assert kinds(first) == ["deferred", "deferred"]
    assert [o.waits_for for o in first] == ["C-7", "C-7"]
    assert ledger.store.deferred_count() == 2
    assert kinds(batch(ingestor, opened)) == ["deferred"]  # sent again: not kept twice
    assert ledger.store.deferred_count() == 2
    outcomes = batch(ingestor, onboarding, responded)
    assert kinds(outcomes) == ["accepted", "accepted", "accepted", "accepted"]
    assert [o.released for o in outcomes] == [False, False, True, True]
    assert ledger.store.deferred_count() == 0
    types = [e.__class__.__name__ for e in ledger.history("T-1")]
    assert types == ["Opened", "Assigned", "Responded"]


def test_inputs_before_their_ticket_wait_and_the_opening_overtakes_them(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes
) -> None:
    """Two producers of one ticket on different partitions: its later events arrive
    first; they wait, and the opening goes ahead of them."""
    opened = env.ticket("T-1")
    assigned = env.make("ticket.assigned", "T-1", {"assignee": "se-ana"})
    assert kinds(batch(ingestor, env.customer("C-1"), assigned)) == ["accepted", "deferred"]
    outcomes = batch(ingestor, opened)
    assert kinds(outcomes) == ["accepted", "accepted"]
    assert outcomes[1].released and outcomes[1].event_id == assigned["event_id"]


def test_a_waiting_input_is_rejected_when_its_grace_period_passes(
    ledger: LedgerApp, clock: FixedClock, env: Envelopes
) -> None:
    ingestor = Ingestor(ledger, clock=clock, defer_grace=timedelta(minutes=15))
    orphan = env.ticket("T-1", customer_id="C-404")
    assert kinds(batch(ingestor, orphan)) == ["deferred"]
    clock.now += timedelta(minutes=14)
    assert ingestor.release_deferred() == []
    clock.now += timedelta(minutes=2)
    (expired,) = ingestor.release_deferred()
    assert expired.released and expired.rejection is not None
    assert (expired.rejection.rule, expired.rejection.field) == ("R-IN-2", "data.customer_id")
    assert "expired" in expired.rejection.reason
    assert ledger.store.deferred_count() == 0
    assert [r.rejection.rule for r in ledger.store.rejections()] == ["R-IN-2"]
    assert kinds(batch(ingestor, orphan)) == ["again:R-IN-2"]


def test_an_operator_expires_waiting_inputs(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes
) -> None:
    batch(ingestor, env.ticket("T-1", customer_id="C-404"), env.make("ticket.closed", "T-9", {}))
    outcomes = ingestor.expire_deferred(subject="T-9")
    assert [o.rejection.rule for o in outcomes if o.rejection] == ["R-STATE-1"]
    assert [d.subject for d in ledger.store.deferred()] == ["T-1"]
    assert [o.rejection.rule for o in ingestor.expire_deferred() if o.rejection] == ["R-IN-2"]
    assert ledger.store.deferred_count() == 0


def test_an_approval_stored_after_its_tickets_still_applies_to_them(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes
) -> None:
    """Across partitions a policy approval can reach the ledger after tickets opened under
    it: the read models use the version in force at the opening by the policy's history."""
    targets = {"3": {"first_response": {"duration": "PT8H", "clock": "business"}}}
    effective = T0 + timedelta(days=1)
    proposal = env.make(
        "sla_policy.change_proposed",
        "SLA",
        {"proposal_id": "P-1", "targets": targets, "effective_at": effective.isoformat()},
        role="customer_success",
        at=T0,
    )
    approval = env.make(
        "sla_policy.change_approved", "SLA", {"proposal_id": "P-1"}, role="leadership", at=T0
    )
    before = env.ticket("T-1", severity=3, category="feature_issue", at=T0 + timedelta(hours=2))
    after = env.ticket("T-2", severity=3, category="feature_issue", at=effective)
    outcomes = batch(ingestor, env.customer("C-1", at=T0), before, after, proposal, approval)
    assert kinds(outcomes) == ["accepted"] * 5
    assert ledger.repository.get("T-2").policy_version == 1  # what intake knew then
    rows = fold(log_events(ledger))
    assert {r["ticket_id"]: r["policy_version"] for r in rows["tickets"]} == {"T-1": 1, "T-2": 2}
    timers = {(r["ticket_id"], r["timer"]): r for r in rows["sla_timers"]}
    assert timers[("T-2", "first_response")]["policy_version"] == 2
    as_known_before = fold(e for e in log_events(ledger) if e.event_id != approval["event_id"])
    assert {r["ticket_id"]: r["policy_version"] for r in as_known_before["tickets"]} == {
        "T-1": 1,
        "T-2": 1,
    }


def test_one_event_id_waiting_twice_with_other_content_is_decided_once(
    ledger: LedgerApp, ingestor: Ingestor, env: Envelopes
) -> None:
    """Two inputs waiting under one event id (the second with other content): when the
    subject arrives the first is accepted and the second is the conflict, not a crash."""
    opened = env.ticket("T-1", customer_id="C-7")
    other = {**opened, "data": {**opened["data"], "title": "another title"}}
    assert kinds(batch(ingestor, opened, other)) == ["deferred", "deferred"]
    outcomes = batch(ingestor, env.customer("C-7"))
    assert kinds(outcomes) == ["accepted", "accepted", "R-ID-1"]
    assert all(o.released for o in outcomes[1:])
    assert ledger.store.event_count() == 2 and ledger.store.deferred_count() == 0
