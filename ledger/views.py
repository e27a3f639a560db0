"""JSON-ready views of aggregates, trails and rejections, shared by the CLI and replay."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from ledger.aggregates.base import LedgerEvent, event_data
from ledger.aggregates.customer import Customer
from ledger.aggregates.ticket import Ticket
from ledger.store import Deferral, StoredRejection


def instant(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC with its offset (``2026-03-27T15:30:00+00:00``)."""
    return None if value is None else value.astimezone(UTC).isoformat()


def plain(value: Any) -> Any:
    """Make ``value`` JSON-ready: instants in UTC, dates ISO, decimals as strings."""
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    return value


def trail_entry(event: LedgerEvent) -> dict[str, Any]:
    """One event of a trail: what, when (both axes), who, from where, and its data."""
    return {
        "version": event.originator_version,
        "type": event.WIRE_TYPE,
        "event_id": event.event_id,
        "occurred_at": instant(event.occurred_at),
        "recorded_at": instant(event.recorded_at),
        "actor": {"id": event.actor_id, "role": event.actor_role},
        "source": event.source,
        "data": plain(event_data(event)),
    }


def trail(events: Iterable[LedgerEvent]) -> list[dict[str, Any]]:
    """The whole trail of a subject."""
    return [trail_entry(e) for e in events]


def ticket_state(ticket: Ticket) -> dict[str, Any]:
    """The ticket as it stands."""
    fix = ticket.temporary_fix
    return {
        "ticket_id": ticket.id,
        "customer_id": ticket.customer_id,
        "title": ticket.title,
        "description": ticket.description,
        "channel": ticket.channel,
        "severity": ticket.severity,
        "highest_severity": ticket.max_severity,
        "category": ticket.category,
        "status": ticket.status,
        "tier": ticket.tier_name,
        "assignee": ticket.assignee,
        "policy_version": ticket.policy_version,
        "opened_at": instant(ticket.opened_at),
        "first_response_at": instant(ticket.first_response_at),
        "resolved_at": instant(ticket.resolved_at),
        "resolution": ticket.resolution or None,
        "closed_at": instant(ticket.closed_at),
        "reopen_count": ticket.reopen_count,
        "temporary_fix": plain(fix) if fix is not None else None,
        "rca_required": ticket.needs_rca,
        "rca": {
            "root_cause": ticket.rca.root_cause or None,
            "root_cause_code": ticket.rca.root_cause_code or None,
            "impact": plain(ticket.rca.impact) or None,
            "preventive_actions": plain(list(ticket.rca.preventive_actions.values())),
            "owner": ticket.rca.owner or None,
            "timeline_entries": plain(ticket.rca.timeline),
            "published": ticket.rca.revision > 0,
            "revision": ticket.rca.revision,
            "published_at": instant(ticket.rca.published_at),
            "missing": ticket.rca.missing_parts(),
        },
        "version": ticket.version,
    }


def customer_state(customer: Customer) -> dict[str, Any]:
    """The customer as it stands."""
    return {
        "customer_id": customer.id,
        "name": customer.name,
        "tier": customer.tier,
        "status": customer.status,
        "arr": plain(customer.arr),
        "calendar": customer.calendar,
        "success_owner": customer.success_owner,
        "escalation_contact": customer.escalation_contact,
        "decision_maker": customer.decision_maker,
        "milestones": customer.milestones,
        "check_ins": plain(list(customer.check_ins.values())),
        "version": customer.version,
    }


def deferral_view(deferral: Deferral) -> dict[str, Any]:
    """A deferred input as listed: what it waits for, since when, the rule it would be
    rejected under, and the original envelope."""
    assert deferral.id is not None and deferral.received_at is not None
    return {
        "waits_for": deferral.waits_for,
        **rejection_view(StoredRejection(deferral.id, deferral.received_at, deferral.rejection)),
    }


def rejection_view(stored: StoredRejection) -> dict[str, Any]:
    """A rejection as listed: the original envelope when it was JSON, else its bytes."""
    r = stored.rejection
    view: dict[str, Any] = {
        "id": stored.id,
        "received_at": instant(stored.received_at),
        "rule": r.rule,
        "code": r.code or None,
        "field": r.field or None,
        "reason": r.reason,
        "event_id": r.event_id,
        "type": r.event_type,
        "subject": r.subject,
        "origin": r.origin,
    }
    if r.payload_is_json:
        view["envelope"] = orjson.loads(r.payload)
    else:
        view["raw"] = r.payload.decode("utf-8", "replace")
        view["raw_base64"] = base64.b64encode(r.payload).decode()
    return view
