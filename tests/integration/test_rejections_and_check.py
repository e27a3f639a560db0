"""Rejected inputs by subject, wire type, time and rule, on both backends."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

from ledger.adapters.event_store import LedgerApp
from ledger.services.intake import Ingestor, Input
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
