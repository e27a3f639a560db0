"""Building envelopes for tests: valid by default, with any field overridable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday

CUSTOMER_DATA: dict[str, Any] = {
    "name": "Acme Dubbing GmbH",
    "tier": "enterprise",
    "calendar": {"timezone": "Europe/Berlin"},
    "success_owner": "cs-jo",
    "escalation_contact": "ops@acme.example",
    "decision_maker": {"name": "Dana Decider", "email": "dana@acme.example"},
}

TICKET_DATA: dict[str, Any] = {
    "customer_id": "C-1",
    "channel": "support_portal",
    "title": "Dubbing jobs fail",
    "description": "All dubbing jobs fail since 16:10",
    "severity": 1,
    "category": "platform_down",
}

ROLES = {"customer": "u-1", "support_engineer": "se-ana", "leadership": "lead-maria"}


class Envelopes:
    """A factory of envelopes whose clock moves forward a minute per envelope."""

    def __init__(self, start: datetime = T0, seed: int = 1) -> None:
        self.now = start
        self._ids = uuid.UUID(int=seed).int

    def event_id(self) -> str:
        """A fresh, deterministic event id."""
        self._ids += 1
        return str(uuid.UUID(int=self._ids, version=4))

    def make(
        self,
        type_: str,
        subject: str,
        data: dict[str, Any] | None = None,
        *,
        role: str = "support_engineer",
        actor_id: str | None = None,
        at: datetime | None = None,
        step: timedelta = timedelta(minutes=1),
        **overrides: Any,
    ) -> dict[str, Any]:
        """One envelope; ``at`` pins occurred_at, else the factory clock advances by ``step``."""
        if at is None:
            self.now += step
            at = self.now
        envelope = {
            "event_id": self.event_id(),
            "type": type_,
            "schema_version": 1,
            "occurred_at": at.isoformat(),
            "source": "test-suite",
            "actor": {"id": actor_id or ROLES.get(role, f"x-{role}"), "role": role},
            "subject": subject,
            "data": data if data is not None else {},
        }
        envelope.update(overrides)
        return envelope

    def customer(
        self, subject: str = "C-1", *, at: datetime | None = None, **data: Any
    ) -> dict[str, Any]:
        """customer.onboarded, enterprise by default."""
        return self.make(
            "customer.onboarded", subject, {**CUSTOMER_DATA, **data}, role="customer_success", at=at
        )

    def ticket(
        self, subject: str = "T-1", *, at: datetime | None = None, **data: Any
    ) -> dict[str, Any]:
        """ticket.opened, Sev1 platform_down for C-1 by default."""
        return self.make("ticket.opened", subject, {**TICKET_DATA, **data}, role="customer", at=at)

    def rca(self, subject: str = "T-1") -> list[dict[str, Any]]:
        """The four parts of a publishable RCA, then rca.published."""
        return [
            self.make(
                "rca.root_cause_identified",
                subject,
                {"root_cause": "expired certificate", "root_cause_code": "CERT-EXPIRY"},
            ),
            self.make(
                "rca.impact_assessed",
                subject,
                {"impact": "all jobs failed", "customers_affected": 3, "duration_minutes": 95},
            ),
            self.make(
                "rca.preventive_action_added",
                subject,
                {
                    "action_id": "PA-1",
                    "description": "alert on expiry",
                    "owner": "pe-li",
                    "due_date": "2026-04-01",
                },
            ),
            self.make("rca.owner_assigned", subject, {"owner": "pe-li"}),
            self.make("rca.published", subject, {}),
        ]
