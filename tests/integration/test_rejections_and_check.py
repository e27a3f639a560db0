"""Rejected inputs by subject, wire type, time and rule; and the check (a dry run of
ingest), which decides exactly as an ingest would and stores nothing; on both backends."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from ledger.adapters.event_store import LedgerApp
from ledger.services.intake import (
    Ingestor,
    Input,
    NoJsonObject,
    Outcome,
    json_objects_required,
)
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

M = timedelta(minutes=1)


def _inputs(label: str, *payloads: Any) -> list[Input]:
    return [Input(p, f"{label}:{n}") for n, p in enumerate(payloads, 1)]


def _rules(found: list[Any]) -> list[tuple[str, str | None, str | None]]:
    return [(r.rejection.rule, r.rejection.subject, r.rejection.event_type) for r in found]


def test_rejections_are_found_by_subject_type_time_and_rule(
    ledger: LedgerApp, clock: FixedClock
) -> None:
    env = Envelopes()
    first = clock.now  # 2026-06-01T00:00:00Z
    ingestor = Ingestor(ledger, clock=clock)
    ingestor.ingest_batch(
        _inputs(
            "a",
            env.customer("C-1", at=T0 - timedelta(days=1)),
            env.ticket("T-1", at=T0),
            env.make("ticket.escalated", "T-1", {"to_tier": "leadership", "reason": "x"}),
            env.ticket("T-2", channel="chat"),
            b"nope",
        )
    )
    second = first + timedelta(hours=1, microseconds=500_000)
    clock.now = second
    ingestor.ingest_batch(
        _inputs(
            "b",
            env.make("ticket.resolved", "T-1", {"resolution": "  "}),
            env.make("ticket.escalated", "T-1", {"to_tier": "security_infra_lead", "reason": "y"}),
        )
    )
    store = ledger.store
    esc = ("R-ESC-1", "T-1", "ticket.escalated")
    fix = ("R-FIX-1", "T-1", "ticket.resolved")
    assert _rules(store.rejections()) == [
        esc,
        ("R-IN-1", "T-2", "ticket.opened"),
        ("R-WIRE-1", None, None),
        fix,
        esc,
    ]
    assert _rules(store.rejections(subject="T-1")) == [esc, fix, esc]
    assert _rules(store.rejections(subject="T-1", event_type="ticket.escalated")) == [esc, esc]
    assert _rules(store.rejections(event_type="ticket.opened")) == [
        ("R-IN-1", "T-2", "ticket.opened")
    ]
    assert _rules(store.rejections(since=second)) == [fix, esc]
    assert _rules(store.rejections(since=second - timedelta(milliseconds=250))) == [fix, esc]
    assert store.rejections(since=second + timedelta(microseconds=1)) == []
    in_berlin = second.astimezone(timezone(timedelta(hours=2)))
    assert _rules(store.rejections(since=in_berlin, subject="T-1")) == [fix, esc]
    assert len(store.rejections(since=first)) == 5
    assert _rules(store.rejections(rule="R-ESC-1", since=second)) == [esc]
    assert _rules(store.rejections(subject="T-1", limit=1)) == [esc]
    assert store.rejections(subject="T-1")[0].received_at == first
    assert store.rejections(subject="T-9") == []
    assert store.rejected_types() == {"ticket.escalated", "ticket.opened", "ticket.resolved"}


def _stored(ledger: LedgerApp) -> dict[str, Any]:
    """Everything an ingest could have written, counted and listed."""
    store = ledger.store
    return {
        "events": store.event_count(),
        "head": store.max_notification_id(),
        "rejections": store.rejection_counts(),
        "rejected_ids": [r.id for r in store.rejections()],
        "deferred": [(d.id, d.subject, d.waits_for, d.rejection.rule) for d in store.deferred()],
    }


def _words(outcomes: list[Outcome]) -> list[str]:
    words = []
    for o in outcomes:
        word = o.status if o.rejection is None or o.status != "rejected" else o.rejection.rule
        words.append(("released " if o.released else "") + ("again " if o.repeat else "") + word)
    return words


def test_a_check_decides_like_an_ingest_and_stores_nothing(
    ledger: LedgerApp, clock: FixedClock
) -> None:
    env = Envelopes()
    customer, ticket, junk = (
        env.customer("C-1", at=T0 - timedelta(days=1)),
        env.ticket("T-1"),
        b"junk",
    )
    before = Ingestor(ledger, clock=clock).ingest_batch(
        _inputs("before", customer, ticket, junk, env.ticket("T-5", customer_id="C-3"))
    )
    assert _words(before) == ["accepted", "accepted", "R-WIRE-1", "deferred"]
    stream = _inputs(
        "stream",
        ticket,  # 1: stored before: a duplicate
        env.ticket("T-2"),
        junk,  # 3: rejected before
        env.make("ticket.responded", "T-2", {"public": True, "message": "on it"}),  # on batch 1
        env.ticket("T-3", customer_id="C-2"),  # 5: waits for C-2
        env.make("ticket.escalated", "T-2", {"to_tier": "leadership", "reason": "skip"}),
        env.customer("C-2"),  # 7: releases T-3, deferred by this stream
        env.make("ticket.responded", "T-3", {"public": True, "message": "hello"}),
        env.customer("C-3"),  # 9: releases T-5, stored before
        b"[1, 2]",
        b"[1, 2]",  # 11: rejected earlier in this stream
    )
    expected = {
        "inputs": 11,
        "accepted": 5,
        "duplicates": 1,
        "deferred": 1,
        "rejected": 2,
        "already_rejected": 2,
        "rejected_by_rule": {"R-ESC-1": 1, "R-WIRE-1": 1},
        "released": {"accepted": 2, "rejected": 0, "rejected_by_rule": {}},
    }
    stored = _stored(ledger)
    checked: list[Outcome] = []
    check = Ingestor(ledger, clock=clock, check=True)
    assert check.checking
    report = check.ingest(stream, batch_size=2, on_batch=checked.extend)
    assert report.as_dict() == expected
    assert _stored(ledger) == stored  # nothing written, nothing released
    # With no aggregate cached between batches, every batch reads what the ones before
    # it would have stored from the check's own rows.
    uncached = Ingestor(ledger, clock=clock, check=True, cache_size=0)
    assert uncached.ingest(stream, batch_size=2).as_dict() == expected
    assert _stored(ledger) == stored

    ingested: list[Outcome] = []
    real = Ingestor(ledger, clock=clock).ingest(stream, batch_size=2, on_batch=ingested.extend)
    assert real.as_dict() == expected
    assert _words(checked) == _words(ingested)
    assert [o.origin for o in checked] == [o.origin for o in ingested]
    after = _stored(ledger)
    assert after["events"] == stored["events"] + 7  # five accepted, two released
    assert after["deferred"] == []


def test_input_without_a_json_object_is_refused_before_any_is_handed_on() -> None:
    handed: list[Input] = []
    lines = _inputs("x.csv", b"a,b,c", b"1,2,3", b"[1]", b'"text"', b"\xff\xfe")
    with pytest.raises(NoJsonObject) as refused:
        handed.extend(json_objects_required(lines))
    assert handed == [] and refused.value.inputs == 5
    mixed = _inputs("mixed.jsonl", b"a,b,c", b'{"event_id": 1}', b"garbage")
    assert list(json_objects_required(mixed)) == mixed
    assert list(json_objects_required([])) == []
    assert list(json_objects_required(_inputs("api", {"type": "x"}))) == _inputs(
        "api", {"type": "x"}
    )
