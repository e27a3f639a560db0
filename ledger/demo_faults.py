"""The demo's sprinkling of bad input: each line tagged with the rule it is meant to break.

A rejected event changes nothing, so faults are placed where the story stays valid
around them (an attempt to close too early, an escalation with no reason...).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.demo import _Quarter

SECOND = timedelta(seconds=1)


def _entries(q: _Quarter, type_: str) -> list[Any]:
    return [
        e
        for e in q.entries
        if isinstance(e.envelope, dict) and e.envelope["type"] == type_ and e.expect == "accept"
    ]


def _at(envelope: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(envelope["occurred_at"])


def _subjects(q: _Quarter, type_: str) -> set[str]:
    return {e.envelope["subject"] for e in _entries(q, type_)}


def _on(
    q: _Quarter,
    base: dict[str, Any],
    type_: str,
    data: dict[str, Any],
    delay: timedelta,
    expect: str,
    *,
    role: str = "support_engineer",
) -> None:
    at = _at(base) + delay
    q.emit(
        type_,
        base["subject"],
        at,
        data,
        actor="se-ana",
        role=role,
        source="support-portal",
        expect=expect,
    )


def add_faults(q: _Quarter) -> None:
    """Append every kind of bad input at least once."""
    rng = q.rng
    opened = _entries(q, "ticket.opened")
    picks = rng.sample(opened, 6)
    _on(
        q,
        picks[0].envelope,
        "ticket.escalated",
        {"to_tier": "platform_engineer", "reason": " "},
        SECOND,
        "R-ESC-1",
    )
    _on(
        q,
        picks[1].envelope,
        "ticket.escalated",
        {"to_tier": "security_infra_lead", "reason": "the customer insists"},
        SECOND,
        "R-ESC-1",
    )
    for resolved in rng.sample(_entries(q, "ticket.resolved"), 2):
        _on(q, resolved.envelope, "ticket.resolved", {"resolution": ""}, SECOND, "R-FIX-1")
    temporary = _subjects(q, "ticket.temporary_fix_applied")
    permanent = _subjects(q, "ticket.permanent_fix_applied")
    live_fix = [
        e for e in _entries(q, "ticket.resolved") if e.envelope["subject"] in temporary - permanent
    ]
    for resolved in live_fix[:2]:
        _on(q, resolved.envelope, "ticket.closed", {}, 2 * SECOND, "R-FIX-2")
    analysed = [
        e
        for e in _entries(q, "rca.root_cause_identified")
        if e.envelope["subject"] not in temporary
    ]
    for root_cause in analysed[:2]:
        _on(q, root_cause.envelope, "ticket.closed", {}, SECOND, "R-RCA-1")
    for root_cause in analysed[2:4]:
        _on(q, root_cause.envelope, "rca.published", {}, 2 * SECOND, "R-RCA-2", role="leadership")
    for update in rng.sample(_entries(q, "ticket.update_posted"), 2):
        base = update.envelope
        late = q.emit(
            "ticket.update_posted",
            base["subject"],
            _at(base) - timedelta(hours=2),
            {"message": "late update"},
            actor="se-ana",
            role="support_engineer",
            source="support-portal",
            expect="R-IN-5",
            arrival=_at(base) + SECOND,
        )
        assert late["data"]
    _intake_faults(q, picks[2:])
    _wire_faults(q, picks[5].envelope)
    for entry in rng.sample([e for e in q.entries if e.expect == "accept"], 25):
        q.add(entry.envelope, "duplicate", entry.arrival + q.minutes(5, 300))


def _intake_faults(q: _Quarter, picks: list[Any]) -> None:
    customers = [c.id for c in q.customers]
    bad_tickets: list[tuple[dict[str, Any], str]] = [
        ({"channel": "chat"}, "R-IN-1"),
        ({"channel": "direct_message"}, "R-IN-1"),
        ({"channel": "personal_email"}, "R-IN-1"),
        ({"customer_id": "C-S01"}, "R-IN-2"),
        ({"customer_id": "C-999"}, "R-IN-2"),
        ({"category": "billing", "severity": 3}, "R-IN-3"),
        ({"category": "platform_down", "severity": 3}, "R-SEV-1"),
    ]
    for n, (change, rule) in enumerate(bad_tickets):
        at = _at(picks[n % len(picks)].envelope) + 3 * SECOND
        data = {
            "customer_id": q.rng.choice(customers),
            "channel": "support_portal",
            "title": "urgent!!",
            "description": "please call me",
            "severity": 2,
            "category": "partial_outage",
            **change,
        }
        q.emit(
            "ticket.opened",
            f"T-{9001 + n}",
            at,
            data,
            actor="u-777",
            role="customer",
            source="support-portal",
            expect=rule,
        )
    q.emit(
        "customer.onboarded",
        "C-X01",
        q.start + timedelta(days=9),
        {
            "name": "Nobody Decides Inc",
            "tier": "enterprise",
            "calendar": {"timezone": "UTC"},
            "success_owner": "cs-jo",
            "escalation_contact": "ops@nobody.example",
            "decision_maker": {"name": "Unknown", "email": ""},
        },
        actor="cs-jo",
        role="customer_success",
        source="crm",
        expect="R-CS-1",
    )


def _wire_faults(q: _Quarter, base: dict[str, Any]) -> None:
    at = _at(base) + 4 * SECOND
    truncated = json.dumps({**base, "event_id": q.event_id()}).encode()
    q.add(truncated[: len(truncated) // 2], "R-WIRE-1", at)
    q.add(b"ticket T-1001 is urgent, call me", "R-WIRE-1", at)
    naive = {
        **base,
        "event_id": q.event_id(),
        "type": "ticket.assigned",
        "occurred_at": at.replace(tzinfo=None).isoformat(),
        "data": {"assignee": "se-bo"},
    }
    q.add(naive, "R-WIRE-2", at)
    unknown = {
        **base,
        "event_id": q.event_id(),
        "type": "ticket.snoozed",
        "occurred_at": at.isoformat(),
        "data": {},
    }
    q.add(unknown, "R-WIRE-3", at)
