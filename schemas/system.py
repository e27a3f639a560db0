"""Payloads of the events the ledger writes itself; producers may not send them."""

from __future__ import annotations

from typing import Literal

from schemas.base import Data, Instant


class SlaBreachedData(Data):
    """sla.breached"""

    timer: Literal["first_response", "update", "resolution"]
    due_at: Instant
    policy_version: int


class FixTemporaryExpiredData(Data):
    """fix.temporary_expired"""

    expires_at: Instant
    owner: str


class CustomerChurnRiskRaisedData(Data):
    """customer.churn_risk_raised"""

    reason: str
    health_score: float | None = None
