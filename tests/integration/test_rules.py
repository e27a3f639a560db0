"""Every rule the core enforces: an accepted and a rejected case, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.adapters.event_store import LedgerApp
from ledger.services.intake import Ingestor, Input, Outcome
from tests.support import T0, Envelopes


def run(ledger: LedgerApp, *envelopes: dict[str, Any]) -> list[Outcome]:
    """Ingest the envelopes as one batch."""
    return Ingestor(ledger).ingest_batch([Input(e, f"test:{i}") for i, e in enumerate(envelopes)])


def statuses(outcomes: list[Outcome]) -> list[str]:
    return [
        o.rejection.rule if o.status == "rejected" and o.rejection else o.status for o in outcomes
    ]


@pytest.fixture
def env() -> Envelopes:
    return Envelopes()


@pytest.fixture
def onboarded(ledger: LedgerApp, env: Envelopes) -> LedgerApp:
    """A ledger with enterprise customer C-1, self-serve C-2, and Sev1 ticket T-1 open."""
    outcomes = run(
        ledger, env.customer("C-1"), env.customer("C-2", tier="self_serve"), env.ticket("T-1")
    )
    assert statuses(outcomes) == ["accepted"] * 3
    return ledger


def test_r_in_1_only_approved_channels(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.ticket("T-2", channel="enterprise_email"),
        env.ticket("T-3", channel="direct_message"),
    )
    assert statuses(outcomes) == ["accepted", "R-IN-1"]
    assert outcomes[1].rejection and outcomes[1].rejection.field == "data.channel"


def test_r_in_2_enterprise_customers_only(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.ticket("T-2", customer_id="C-2"),
        env.ticket("T-3", customer_id="C-404"),
        env.ticket("T-4", customer_id="C-1"),
    )
    # C-404 was never onboarded: it may be on its way (R-IN-6), so that ticket waits.
    assert statuses(outcomes) == ["R-IN-2", "deferred", "accepted"]
    assert outcomes[1].waits_for == "C-404" and outcomes[1].rejection
    assert outcomes[1].rejection.rule == "R-IN-2"


def test_r_in_3_severity_and_category_at_intake(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.ticket("T-2", severity=5, category="platform_down"),
        env.ticket("T-3", severity=3, category="cosmic_rays"),
        env.ticket("T-4", severity=4, category="how_to"),
    )
    assert statuses(outcomes) == ["R-IN-3", "R-IN-3", "accepted"]


def test_r_in_4_event_id_is_idempotency_key(onboarded: LedgerApp, env: Envelopes) -> None:
    triage = env.make("ticket.assigned", "T-1", {"assignee": "se-ana"})
    assert statuses(run(onboarded, triage, triage)) == ["accepted", "duplicate"]
    assert statuses(run(onboarded, triage)) == ["duplicate"]
    ticket = onboarded.repository.get("T-1")
    assert ticket.version == 2  # stored once


def test_r_in_5_out_of_order_is_rejected_and_kept(onboarded: LedgerApp, env: Envelopes) -> None:
    late = env.make(
        "ticket.assigned", "T-1", {"assignee": "se-ana"}, at=env.now - timedelta(hours=1)
    )
    same_instant = env.make("ticket.assigned", "T-1", {"assignee": "se-bo"}, at=env.now)
    outcomes = run(onboarded, late, same_instant)
    assert statuses(outcomes) == ["R-IN-5", "accepted"]
    rejection = outcomes[0].rejection
    assert rejection is not None and rejection.code == "out_of_order"
    assert "out_of_order" in rejection.reason
    kept = onboarded.store.rejections(rule="R-IN-5")
    assert [r.rejection.event_id for r in kept] == [late["event_id"]]


def test_r_sev_1_category_implies_severity(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.ticket("T-2", severity=2, category="platform_down"),
        env.ticket("T-3", severity=2, category="platform_down", reason="only one region down"),
        env.make(
            "ticket.triaged", "T-3", {"severity": 3, "category": "platform_down", "reason": ""}
        ),
    )
    assert statuses(outcomes) == ["R-SEV-1", "accepted", "R-SEV-1"]


def test_r_sev_2_every_severity_change_has_a_reason(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.make(
            "ticket.triaged",
            "T-1",
            {"severity": 1, "category": "data_integrity_risk", "reason": ""},
        ),
        env.make(
            "ticket.triaged", "T-1", {"severity": 3, "category": "feature_issue", "reason": " "}
        ),
        env.make(
            "ticket.triaged",
            "T-1",
            {
                "severity": 3,
                "category": "feature_issue",
                "reason": "workaround found, impact is minor",
            },
        ),
    )
    assert statuses(outcomes) == ["accepted", "R-SEV-2", "accepted"]
    ticket = onboarded.repository.get("T-1")
    assert (ticket.severity, ticket.max_severity) == (3, 1)


def test_r_sev_3_rca_follows_highest_severity(onboarded: LedgerApp, env: Envelopes) -> None:
    downgrade = env.make(
        "ticket.triaged",
        "T-1",
        {"severity": 4, "category": "how_to", "reason": "it was a question after all"},
    )
    resolve = env.make("ticket.resolved", "T-1", {"resolution": "explained the setting"})
    close = env.make("ticket.closed", "T-1", {})
    assert statuses(run(onboarded, downgrade, resolve, close)) == [
        "accepted",
        "accepted",
        "R-RCA-1",
    ]
    assert (
        statuses(run(onboarded, *env.rca("T-1"), env.make("ticket.closed", "T-1", {})))
        == ["accepted"] * 6
    )


def test_r_esc_1_one_tier_up_with_reason(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.make("ticket.escalated", "T-1", {"to_tier": "platform_engineer", "reason": ""}),
        env.make(
            "ticket.escalated",
            "T-1",
            {"to_tier": "security_infra_lead", "reason": "suspected breach"},
        ),
        env.make(
            "ticket.escalated",
            "T-1",
            {"to_tier": "platform_engineer", "reason": "needs a platform fix"},
        ),
        env.make("ticket.deescalated", "T-1", {"to_tier": "support_engineer", "reason": ""}),
        env.make(
            "ticket.deescalated", "T-1", {"to_tier": "support_engineer", "reason": "fix deployed"}
        ),
    )
    assert statuses(outcomes) == ["R-ESC-1", "R-ESC-1", "accepted", "R-ESC-1", "accepted"]


def test_r_esc_2_escalation_is_attributed(onboarded: LedgerApp, env: Envelopes) -> None:
    escalation = env.make(
        "ticket.escalated",
        "T-1",
        {"to_tier": "platform_engineer", "reason": "needs a platform fix", "escalated_to": "pe-li"},
    )
    assert statuses(run(onboarded, escalation)) == ["accepted"]
    stored = list(onboarded.events.get("T-1"))[-1]
    assert (stored.actor_id, stored.from_tier, stored.to_tier, stored.reason) == (
        "se-ana",
        "support_engineer",
        "platform_engineer",
        "needs a platform fix",
    )
    assert stored.occurred_at.isoformat() == escalation["occurred_at"]
    missing_reason = env.make("ticket.escalated", "T-1", {"to_tier": "security_infra_lead"})
    assert statuses(run(onboarded, missing_reason)) == ["R-ESC-1"]


def test_r_fix_1_no_verbal_only_resolutions(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.make("ticket.resolved", "T-1", {"resolution": "  "}),
        env.make("ticket.resolved", "T-1", {}),
        env.make("ticket.resolved", "T-1", {"resolution": "rotated the certificate"}),
    )
    assert statuses(outcomes) == ["R-FIX-1", "R-FIX-1", "accepted"]


def test_r_fix_2_temporary_fix_blocks_closing(onboarded: LedgerApp, env: Envelopes) -> None:
    expires = (env.now + timedelta(days=7)).isoformat()
    outcomes = run(
        onboarded,
        env.make(
            "ticket.temporary_fix_applied",
            "T-1",
            {"description": "restart nightly", "expires_at": env.now.isoformat(), "owner": "pe-li"},
        ),
        env.make(
            "ticket.temporary_fix_applied",
            "T-1",
            {"description": "restart nightly", "expires_at": expires, "owner": ""},
        ),
        env.make(
            "ticket.temporary_fix_applied",
            "T-1",
            {"description": "restart nightly", "expires_at": expires, "owner": "pe-li"},
        ),
        env.make("ticket.resolved", "T-1", {"resolution": "workaround in place"}),
        *env.rca("T-1"),
        env.make("ticket.closed", "T-1", {}),
        env.make("ticket.permanent_fix_applied", "T-1", {"description": "auto-renewal"}),
        env.make("ticket.closed", "T-1", {}),
    )
    assert statuses(outcomes) == (
        ["R-FIX-2", "R-FIX-2", "accepted", "accepted"]
        + ["accepted"] * 5
        + ["R-FIX-2", "accepted", "accepted"]
    )


def test_r_rca_1_sev1_needs_published_rca(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.make("ticket.resolved", "T-1", {"resolution": "rotated the certificate"}),
        env.make("ticket.closed", "T-1", {}),
    )
    assert statuses(outcomes) == ["accepted", "R-RCA-1"]
    # A Sev4 ticket closes without one.
    outcomes = run(
        onboarded,
        env.ticket("T-9", severity=4, category="how_to"),
        env.make("ticket.resolved", "T-9", {"resolution": "sent the docs link"}),
        env.make("ticket.closed", "T-9", {}),
    )
    assert statuses(outcomes) == ["accepted"] * 3


def test_r_rca_2_publish_only_when_complete(onboarded: LedgerApp, env: Envelopes) -> None:
    parts = env.rca("T-1")
    early = env.make("rca.published", "T-1", {})
    outcomes = run(onboarded, parts[0], parts[1], early, *parts[2:])
    assert statuses(outcomes) == [
        "accepted",
        "accepted",
        "R-RCA-2",
        "accepted",
        "accepted",
        "accepted",
    ]
    assert "preventive action" in (outcomes[2].rejection.reason if outcomes[2].rejection else "")
    no_owner = env.make(
        "rca.preventive_action_added",
        "T-1",
        {"action_id": "PA-2", "description": "x", "owner": "", "due_date": "2026-05-01"},
    )
    future = env.make(
        "rca.timeline_entry_added",
        "T-1",
        {"at": (env.now + timedelta(days=1)).isoformat(), "entry": "later"},
    )
    assert statuses(run(onboarded, no_owner, future)) == ["R-RCA-2", "R-RCA-2"]


def test_r_cs_1_onboarding_needs_owner_and_contacts(ledger: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        ledger,
        env.customer("C-1", success_owner=""),
        env.customer("C-2", decision_maker={"name": "Dana", "email": " "}),
        env.customer("C-3", escalation_contact="   "),
        env.customer("C-4"),
        env.make(
            "customer.owner_changed",
            "C-4",
            {"success_owner": "", "reason": "left"},
            role="customer_success",
        ),
        env.make(
            "customer.owner_changed",
            "C-4",
            {"success_owner": "cs-kim", "reason": "rebalancing"},
            role="customer_success",
        ),
    )
    assert statuses(outcomes) == ["R-CS-1", "R-CS-1", "R-CS-1", "accepted", "R-CS-1", "accepted"]


def test_r_sla_6_leadership_approval_not_by_proposer(ledger: LedgerApp, env: Envelopes) -> None:
    targets = {
        "2": {
            "first_response": {"duration": "PT2H", "clock": "24x7"},
            "update_every": {"duration": "P1D", "clock": "business"},
        }
    }
    effective = (env.now + timedelta(days=1)).isoformat()
    proposal = env.make(
        "sla_policy.change_proposed",
        "SLA",
        {"proposal_id": "P-1", "targets": targets, "effective_at": effective},
        role="leadership",
        actor_id="lead-maria",
    )
    outcomes = run(
        ledger,
        proposal,
        env.make(
            "sla_policy.change_approved",
            "SLA",
            {"proposal_id": "P-1"},
            role="support_engineer",
            actor_id="se-ana",
        ),
        env.make(
            "sla_policy.change_approved",
            "SLA",
            {"proposal_id": "P-1"},
            role="leadership",
            actor_id="lead-maria",
        ),
        env.make(
            "sla_policy.change_approved",
            "SLA",
            {"proposal_id": "P-1"},
            role="leadership",
            actor_id="lead-omar",
        ),
    )
    assert statuses(outcomes) == ["accepted", "R-SLA-6", "R-SLA-6", "accepted"]
    policy = ledger.repository.get("SLA")
    assert [v.version for v in policy.versions] == [1, 2]
    assert policy.versions[1].targets["2"]["first_response"]["duration"] == "PT2H"
    assert policy.versions[1].targets["1"]["first_response"]["duration"] == "PT1H"


def test_policy_version_recorded_on_tickets(ledger: LedgerApp, env: Envelopes) -> None:
    targets = {"3": {"first_response": {"duration": "PT8H", "clock": "business"}}}
    effective = env.now + timedelta(days=2)
    run(
        ledger,
        env.customer("C-1"),
        env.make(
            "sla_policy.change_proposed",
            "SLA",
            {"proposal_id": "P-1", "targets": targets, "effective_at": effective.isoformat()},
            role="support_engineer",
        ),
        env.make("sla_policy.change_approved", "SLA", {"proposal_id": "P-1"}, role="leadership"),
        env.ticket("T-1", severity=3, category="feature_issue"),
        env.ticket("T-2", severity=3, category="feature_issue", at=effective),
    )
    assert ledger.repository.get("T-1").policy_version == 1
    assert ledger.repository.get("T-2").policy_version == 2


def test_lifecycle_rules(onboarded: LedgerApp, env: Envelopes) -> None:
    outcomes = run(
        onboarded,
        env.make("ticket.assigned", "T-404", {"assignee": "se-ana"}),
        env.ticket("T-1"),
        env.make("ticket.reopened", "T-1", {"reason": "still broken"}),
        env.make("ticket.closed", "T-1", {}),
    )
    # T-404 may be opened later (R-IN-6): its input waits; T-1 exists already.
    assert statuses(outcomes) == ["deferred", "R-STATE-1", "R-STATE-2", "R-STATE-2"]


def test_every_event_keeps_its_envelope_facts(onboarded: LedgerApp, clock: Any) -> None:
    env = Envelopes(start=T0 + timedelta(days=1), seed=99)
    envelope = env.make(
        "ticket.update_posted",
        "T-1",
        {"message": "working on it"},
        role="platform_engineer",
        actor_id="pe-li",
        source="paging",
    )
    Ingestor(onboarded, clock=clock).ingest_batch([Input(envelope, "api")])
    stored = list(onboarded.events.get("T-1"))[-1]
    assert stored.event_id == envelope["event_id"]
    assert stored.occurred_at.isoformat() == envelope["occurred_at"]
    assert (stored.actor_id, stored.actor_role, stored.source) == (
        "pe-li",
        "platform_engineer",
        "paging",
    )
    assert stored.recorded_at == clock.now
