"""Rule ids, the constants they are about, and the rejection a broken rule raises.

The ids are those of `domain-rules.md` (R-IN, R-SEV, R-SLA, R-ESC, R-FIX, R-RCA, R-INC,
R-CS, R-PLAY, R-REV, R-CAL, R-EXC). Three families are ours, for what the rules imply but do not
number:

* ``R-STATE-1`` the subject must exist before anything happens to it, and exists once;
* ``R-STATE-2`` the action does not fit the subject's current status (closing an open
  ticket, anything on a closed ticket, reopening a ticket that is not resolved);
* ``R-STATE-3`` a reference inside the subject does not resolve (an unknown check-in or
  proposal, a check-in completed twice).

The wire contract's own ids (``R-WIRE-1..4``) live in the ``schemas`` package.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Final

APPROVED_CHANNELS: Final = ("support_portal", "enterprise_email", "contract_channel")

SEVERITY_NAMES: Final = {1: "Critical", 2: "High", 3: "Medium", 4: "Low"}

CATEGORY_SEVERITY: Final = {
    "platform_down": 1,
    "authentication_failure": 1,
    "data_integrity_risk": 1,
    "major_degradation": 2,
    "partial_outage": 2,
    "feature_issue": 3,
    "how_to": 4,
    "configuration": 4,
}

# Escalation tiers, lowest first; a ticket starts at tier 1.
TIERS: Final = ("support_engineer", "platform_engineer", "security_infra_lead", "leadership")

# Severities whose tickets owe an RCA before closing (R-RCA-1).
RCA_SEVERITIES: Final = (1, 2)

SYSTEM_ACTOR_ID: Final = "ledger"


class RuleViolation(Exception):
    """A command broke a rule: the event is rejected (and kept) with these facts.

    ``rule`` is the rule id (``R-ESC-1``), ``reason`` one sentence the producer can act
    on, ``field`` the wire field at fault when there is one (``data.reason``) and
    ``code`` a stable machine-readable word for the few rules that name one
    (``out_of_order`` for R-IN-5).
    """

    def __init__(
        self, rule: str, reason: str, *, field: str = "", code: str = "", waits_for: str = ""
    ) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason
        self.field = field
        self.code = code
        # The subject whose arrival could change the answer (R-IN-6): a command on a
        # subject not stored yet, a ticket for a customer not onboarded yet.
        self.waits_for = waits_for


def require(
    condition: bool, rule: str, reason: str, *, field: str = "", code: str = "", waits_for: str = ""
) -> None:
    """Raise :class:`RuleViolation` unless ``condition`` holds."""
    if not condition:
        raise RuleViolation(rule, reason, field=field, code=code, waits_for=waits_for)


def same_actor_key(actor_id: str) -> str:
    """An actor id as the four-eyes rules compare them (R-SLA-6, R-CAL-1, R-EXC-1,
    R-RCA-4): Unicode NFKC, case-folded, stripped, so ``Alice``, `` alice`` and its
    fullwidth form are one person."""
    return unicodedata.normalize("NFKC", actor_id).casefold().strip()


def require_review(
    role: str,
    approver: str,
    proposer: str,
    rule: str,
    *,
    changes: str,
    change: str,
    proposer_is: str = "proposer",
    review: str = "approval",
) -> None:
    """A change approved by leadership and by someone other than who asked for it (the
    four-eyes rules: R-SLA-6 for SLA policy, R-CAL-1 for calendars, R-EXC-1 for customer
    exceptions): ``role`` and ``approver`` are the approving actor's, ``proposer`` who
    proposed (or requested) it; ``changes`` and ``change`` name what is approved in the
    reasons (``"SLA changes"``, ``"SLA change"``), ``review`` what leadership gives."""
    require(
        role == "leadership",
        rule,
        f"no {changes} without leadership {review}: the approver's role is {role!r}, "
        "it must be 'leadership'",
        field="actor.role",
    )
    verb = "approve" if review == "approval" else review
    require(
        same_actor_key(approver) != same_actor_key(proposer),
        rule,
        f"the {proposer_is} {approver!r} cannot approve their own {change}; another "
        f"leadership member must {verb} it",
        field="actor.id",
    )


def is_blank(text: str | None) -> bool:
    """True for None, the empty string and whitespace only: no written content."""
    return text is None or not text.strip()


def tier_number(tier: str) -> int:
    """1 for ``support_engineer`` up to 4 for ``leadership``."""
    return TIERS.index(tier) + 1


def check_in_order(subject: str, latest: datetime | None, occurred_at: datetime) -> None:
    """R-IN-5: per subject, ``occurred_at`` never goes backwards (equal is fine)."""
    if latest is not None and occurred_at < latest:
        raise RuleViolation(
            "R-IN-5",
            f"out_of_order: occurred_at {_utc(occurred_at)} is before "
            f"{_utc(latest)}, when the latest event of {subject} occurred; "
            "send the events of one subject in the order they happened",
            field="occurred_at",
            code="out_of_order",
        )


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat()
