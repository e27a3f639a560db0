"""Reviewed customer exceptions (R-EXC-1, R-EXC-2): what intake accepts and refuses, through
the real parser and handlers, in memory (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.adapters.event_store import Aggregate
from ledger.aggregates.customer import Customer
from ledger.aggregates.rules import RuleViolation
from ledger.services.handlers import HANDLERS, command_meta
from schemas import WireError, parse_envelope
from tests.support import T0, Envelopes

DAY = timedelta(days=1)
TARGETS = {"1": {"first_response": {"duration": "PT2H", "clock": "24x7"}}}


class Ledger:
    """The ingest's batch context in memory: each envelope parsed and decided in turn."""

    def __init__(self) -> None:
        self.aggregates: dict[str, Aggregate] = {}

    def load(self, subject: str) -> Aggregate | None:
        return self.aggregates.get(subject)

    def send(self, raw: dict[str, Any]) -> None:
        envelope = parse_envelope(raw)
        aggregate = HANDLERS[envelope.type](self, envelope, command_meta(envelope, T0))
        self.aggregates[str(aggregate.id)] = aggregate

    def refused(self, raw: dict[str, Any]) -> tuple[str, str]:
        with pytest.raises((RuleViolation, WireError)) as caught:
            self.send(raw)
        error = caught.value
        return error.rule, error.field


def request(env: Envelopes, at: datetime = T0, **data: Any) -> dict[str, Any]:
    payload = {
        "exception_id": "EXC-1",
        "kind": "sla_targets",
        "targets": TARGETS,
        "reason": "launch week: faster Sev1 answers agreed at the QBR",
        "effective_at": (T0 + DAY).isoformat(),
        "expires_at": (T0 + 30 * DAY).isoformat(),
        **data,
    }
    return env.make(
        "customer.exception_requested",
        "C-1",
        payload,
        role="customer_success",
        actor_id="cs-jo",
        at=at,
    )


def approval(
    env: Envelopes, at: datetime, role: str = "leadership", actor_id: str = "lead-maria"
) -> dict[str, Any]:
    return env.make(
        "customer.exception_approved",
        "C-1",
        {"exception_id": "EXC-1"},
        role=role,
        actor_id=actor_id,
        at=at,
    )


@pytest.fixture
def env() -> Envelopes:
    return Envelopes()


@pytest.fixture
def ledger(env: Envelopes) -> Ledger:
    ledger = Ledger()
    ledger.send(env.customer("C-1", at=T0 - DAY))
    return ledger


def test_leadership_other_than_the_requester_approves_from_max_effective_and_approval(
    ledger: Ledger, env: Envelopes
) -> None:
    ledger.send(request(env))
    ledger.send(approval(env, T0 + 2 * DAY))  # after effective_at: effective from now
    customer = ledger.aggregates["C-1"]
    assert isinstance(customer, Customer)
    exception = customer.exceptions["EXC-1"]
    assert exception.approved_by == "lead-maria"
    assert exception.effective_from == T0 + 2 * DAY
    # stored in the contract's form: update_every null is "no cadence", as in a policy
    assert exception.targets == {"1": {**TARGETS["1"], "update_every": None}}
    assert ledger.refused(approval(env, T0 + 3 * DAY, actor_id="lead-tom")) == (
        "R-STATE-3",
        "data.exception_id",
    )


def test_approved_early_it_applies_from_effective_at(ledger: Ledger, env: Envelopes) -> None:
    ledger.send(request(env))
    ledger.send(approval(env, T0 + timedelta(hours=2)))
    customer = ledger.aggregates["C-1"]
    assert isinstance(customer, Customer)
    assert customer.exceptions["EXC-1"].effective_from == T0 + DAY


@pytest.mark.parametrize(
    ("role", "actor_id", "field"),
    [
        ("customer_success", "cs-kim", "actor.role"),
        ("support_engineer", "se-ana", "actor.role"),
        ("leadership", "cs-jo", "actor.id"),  # the requester, now with a leadership role
        ("leadership", " CS-JO ", "actor.id"),  # compared as R-SLA-6 compares ids
    ],
)
def test_only_leadership_other_than_the_requester_approves(
    ledger: Ledger, env: Envelopes, role: str, actor_id: str, field: str
) -> None:
    ledger.send(request(env))
    assert ledger.refused(approval(env, T0 + DAY, role, actor_id)) == ("R-EXC-1", field)


def test_unknown_exception_and_reused_id(ledger: Ledger, env: Envelopes) -> None:
    assert ledger.refused(approval(env, T0)) == ("R-STATE-3", "data.exception_id")
    ledger.send(request(env))
    assert ledger.refused(request(env, at=T0 + DAY)) == ("R-STATE-3", "data.exception_id")


@pytest.mark.parametrize(
    ("data", "rule", "field"),
    [
        ({"reason": "  "}, "R-EXC-1", "data.reason"),
        ({"exception_id": " "}, "R-EXC-1", "data.exception_id"),
        ({"expires_at": (T0 + DAY).isoformat()}, "R-EXC-2", "data.expires_at"),  # = effective
        ({"expires_at": T0.isoformat()}, "R-EXC-2", "data.expires_at"),  # before effective
        ({"expires_at": (T0 + 368 * DAY).isoformat()}, "R-EXC-2", "data.expires_at"),
        (  # effective and expired before the request
            {
                "effective_at": (T0 - 10 * DAY).isoformat(),
                "expires_at": (T0 - DAY).isoformat(),
            },
            "R-EXC-2",
            "data.expires_at",
        ),
        ({"expires_at": "2026-04-01T00:00:00"}, "R-EXC-2", "data.expires_at"),  # naive
        ({"kind": "channels"}, "R-WIRE-2", "data.kind"),
        ({"targets": {}}, "R-WIRE-2", "data.targets"),
        ({"reason": None}, "R-EXC-1", "data.reason"),
    ],
)
def test_a_request_needs_a_reason_and_a_span_of_at_most_366_days(
    ledger: Ledger, env: Envelopes, data: dict[str, Any], rule: str, field: str
) -> None:
    assert ledger.refused(request(env, **data)) == (rule, field)


def test_exactly_366_days_is_allowed(ledger: Ledger, env: Envelopes) -> None:
    ledger.send(request(env, expires_at=(T0 + 367 * DAY).isoformat()))  # effective T0 + 1d


def test_an_approval_at_or_after_expiry_is_refused(ledger: Ledger, env: Envelopes) -> None:
    ledger.send(request(env))
    assert ledger.refused(approval(env, T0 + 30 * DAY)) == ("R-EXC-2", "data.exception_id")


def test_the_ledger_alone_writes_the_expiry(ledger: Ledger, env: Envelopes) -> None:
    expired = env.make(
        "customer.exception_expired",
        "C-1",
        {"exception_id": "EXC-1", "expires_at": (T0 + 30 * DAY).isoformat()},
        role="customer_success",
        at=T0,
    )
    assert ledger.refused(expired) == ("R-WIRE-4", "type")
    warning = env.make(
        "sla.warning",
        "T-1",
        {
            "timer": "update",
            "warn_at": T0.isoformat(),
            "due_at": T0.isoformat(),
            "policy_version": 1,
        },
        at=T0,
    )
    assert ledger.refused(warning) == ("R-WIRE-4", "type")


def test_requests_keep_their_order_with_the_customers_other_events(
    ledger: Ledger, env: Envelopes
) -> None:
    ledger.send(request(env, at=T0 + DAY))
    early = approval(env, T0)  # before the request it approves: out of order (R-IN-5)
    assert ledger.refused(early) == ("R-IN-5", "occurred_at")


def test_the_stored_targets_are_the_contract_form(ledger: Ledger, env: Envelopes) -> None:
    targets = {
        "1": {
            "first_response": {"duration": "PT2H", "clock": "24x7"},
            "update_every": {"duration": "PT2H", "clock": "24x7", "warn_after": "PT90M"},
        },
        "3": {"first_response": {"duration": "P1D", "clock": "business"}, "update_every": None},
    }
    ledger.send(request(env, targets=targets))
    customer = ledger.aggregates["C-1"]
    assert isinstance(customer, Customer)
    stored = customer.exceptions["EXC-1"].targets
    assert stored == targets  # no "warn_after": null added where none was given
    assert customer.exceptions["EXC-1"].expires_at == (T0 + 30 * DAY).astimezone(UTC)
