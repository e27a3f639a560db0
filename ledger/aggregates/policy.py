"""The SLA policy (subject ``SLA``): versions of per-severity targets, changed only
with leadership approval (R-SLA-6).

Version 1 is in force from the start and is not an event. A proposal names new
targets for some severities and an ``effective_at``; an approval by an actor with role
``leadership`` who is not the proposer makes it the next version. A version takes
effect at ``max(effective_at, approval time)``: nothing is approved retroactively.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ledger.aggregates.base import (
    EventMeta,
    LedgerAggregate,
    LedgerCreated,
    LedgerEvent,
    domain_event,
)
from ledger.aggregates.rules import check_in_order, is_blank, require, require_review

POLICY_ID: Final = "SLA"

Targets = dict[str, dict[str, Any]]
"""Severity (``"1"``..``"4"``) to ``{"first_response": TARGET, "update_every": TARGET|None}``;
a TARGET is ``{"duration", "clock"}`` with an optional ``"warn_after"`` (R-SLA-7)."""

DEFAULT_TARGETS: Final[Targets] = {
    "1": {
        "first_response": {"duration": "PT1H", "clock": "24x7"},
        "update_every": {"duration": "PT1H", "clock": "24x7", "warn_after": "PT30M"},
    },
    "2": {
        "first_response": {"duration": "PT4H", "clock": "24x7"},
        "update_every": {"duration": "P1D", "clock": "business"},
    },
    "3": {"first_response": {"duration": "P1D", "clock": "business"}, "update_every": None},
    "4": {"first_response": {"duration": "P2D", "clock": "business"}, "update_every": None},
}


@dataclass(frozen=True)
class PolicyVersion:
    """One approved version of the targets and the instant from which it applies."""

    version: int
    effective_from: datetime | None  # None: from the beginning of time (version 1)
    targets: Targets


DEFAULT_VERSION: Final = PolicyVersion(1, None, DEFAULT_TARGETS)


@dataclass
class Proposal:
    """A proposed change, waiting for leadership approval."""

    proposal_id: str
    targets: Targets
    effective_at: datetime
    proposed_by: str
    approved_version: int | None = None


def merge_targets(current: Targets, changes: Targets) -> Targets:
    """The targets after a change: a severity left out keeps its current targets."""
    merged = {severity: dict(targets) for severity, targets in current.items()}
    for severity, targets in changes.items():
        merged[severity] = {
            "first_response": targets["first_response"],
            "update_every": targets.get("update_every"),
        }
    return merged


def version_in_force(versions: list[PolicyVersion], instant: datetime) -> PolicyVersion:
    """The version that applies to a ticket opened at ``instant``."""
    applicable = [v for v in versions if v.effective_from is None or v.effective_from <= instant]
    return max(
        applicable, key=lambda v: (v.effective_from is not None, v.effective_from, v.version)
    )


def spans_in_force(
    versions: list[PolicyVersion],
) -> list[tuple[datetime | None, datetime | None, int]]:
    """``version_in_force`` as spans of opening instants: ``(start, end, version)``, the
    version applying to tickets opened in ``[start, end)`` (None: unbounded), in order.
    The version in force changes only where some version takes effect; before the
    first such instant, the latest version that applies from the beginning of time."""
    starts = sorted({v.effective_from for v in versions if v.effective_from is not None})
    unbounded = [v for v in versions if v.effective_from is None]
    bounds: list[datetime | None] = [None, *starts] if unbounded else list(starts)
    spans = []
    for i, start in enumerate(bounds):
        end = bounds[i + 1] if i + 1 < len(bounds) else None
        if start is None:
            chosen = max(unbounded, key=lambda v: v.version)
        else:
            chosen = version_in_force(versions, start)
        spans.append((start, end, chosen.version))
    return spans


class PolicyTargets(dict[int, Targets]):
    """Targets by version, and which version applies to a ticket opened at an instant.

    The read side asks the policy's history, not the version a ``ticket.opened``
    recorded at intake: across Kafka partitions an approval can be stored after tickets
    opened under it, and the version in force at the opening (as the ledger knows the
    policy at the query's ``known_at``) does not depend on that order (R-SLA-6, R-IN-6).
    """

    def __init__(self, versions: Iterable[PolicyVersion]) -> None:
        self.versions = list(versions)
        super().__init__((v.version, v.targets) for v in self.versions)

    def version_at(self, instant: datetime) -> int:
        """The version in force for a ticket opened at ``instant``."""
        return version_in_force(self.versions, instant).version


class SlaPolicy(LedgerAggregate):
    """The single SLA policy aggregate; created by its first proposal."""

    @domain_event
    class Event(LedgerEvent):
        """Base of the policy's events."""

    @domain_event
    class ChangeProposedFirst(Event, LedgerCreated):
        """The first proposal ever, which also creates the aggregate."""

        WIRE_TYPE = "sla_policy.change_proposed"
        proposal_id: str
        targets: Targets
        effective_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate._add_proposal(self)

    @domain_event
    class ChangeProposed(Event):
        """A proposal to change the targets of some severities."""

        WIRE_TYPE = "sla_policy.change_proposed"
        proposal_id: str
        targets: Targets
        effective_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate._add_proposal(self)

    @domain_event
    class ChangeApproved(Event):
        """Leadership approved a proposal: it becomes the next version."""

        WIRE_TYPE = "sla_policy.change_approved"
        proposal_id: str
        version: int
        effective_from: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate._approve(self)

    def __init__(self) -> None:
        self.proposals: dict[str, Proposal] = {}
        self.versions: list[PolicyVersion] = [DEFAULT_VERSION]
        self.last_occurred_at: datetime | None = None

    # Commands -------------------------------------------------------------------------

    @classmethod
    def propose_first(
        cls, meta: EventMeta, proposal_id: str, targets: Targets, effective_at: datetime
    ) -> SlaPolicy:
        """Create the policy aggregate with its first proposal."""
        _check_proposal(proposal_id)
        return cls._create(
            cls.ChangeProposedFirst,
            id=POLICY_ID,
            proposal_id=proposal_id,
            targets=targets,
            effective_at=effective_at,
            **meta.event_kwargs(),
        )

    def propose(
        self, meta: EventMeta, proposal_id: str, targets: Targets, effective_at: datetime
    ) -> None:
        """Propose new targets; anyone may propose (R-SLA-6)."""
        self._check_in_order(meta)
        _check_proposal(proposal_id)
        require(
            proposal_id not in self.proposals,
            "R-STATE-3",
            f"proposal {proposal_id!r} exists already; use a new proposal_id",
            field="data.proposal_id",
        )
        self.trigger_event(
            self.ChangeProposed,
            proposal_id=proposal_id,
            targets=targets,
            effective_at=effective_at,
            **meta.event_kwargs(),
        )

    def approve(self, meta: EventMeta, proposal_id: str) -> None:
        """Approve a proposal: only leadership, and never the proposer (R-SLA-6)."""
        self._check_in_order(meta)
        proposal = self.proposals.get(proposal_id)
        require(
            proposal is not None,
            "R-STATE-3",
            f"no proposal {proposal_id!r} to approve",
            field="data.proposal_id",
        )
        assert proposal is not None
        require(
            proposal.approved_version is None,
            "R-STATE-3",
            f"proposal {proposal_id!r} was approved already as version {proposal.approved_version}",
            field="data.proposal_id",
        )
        require_review(
            meta.actor_role,
            meta.actor_id,
            proposal.proposed_by,
            "R-SLA-6",
            changes="SLA changes",
            change="SLA change",
        )
        self.trigger_event(
            self.ChangeApproved,
            proposal_id=proposal_id,
            version=self.versions[-1].version + 1,
            effective_from=max(proposal.effective_at, meta.occurred_at),
            **meta.event_kwargs(),
        )

    # Queries --------------------------------------------------------------------------

    def in_force(self, instant: datetime) -> PolicyVersion:
        """The policy version that applies to a ticket opened at ``instant``."""
        return version_in_force(self.versions, instant)

    # Evolution ------------------------------------------------------------------------

    def _check_in_order(self, meta: EventMeta) -> None:
        check_in_order(self.id, self.last_occurred_at, meta.occurred_at)

    def _add_proposal(
        self, event: SlaPolicy.ChangeProposed | SlaPolicy.ChangeProposedFirst
    ) -> None:
        self.last_occurred_at = event.occurred_at
        self.proposals[event.proposal_id] = Proposal(
            event.proposal_id, event.targets, event.effective_at, proposed_by=event.actor_id
        )

    def _approve(self, event: SlaPolicy.ChangeApproved) -> None:
        self.last_occurred_at = event.occurred_at
        proposal = self.proposals[event.proposal_id]
        proposal.approved_version = event.version
        targets = merge_targets(self.versions[-1].targets, proposal.targets)
        self.versions.append(PolicyVersion(event.version, event.effective_from, targets))


def _check_proposal(proposal_id: str) -> None:
    require(
        not is_blank(proposal_id),
        "R-SLA-6",
        "a policy change needs a non-blank proposal_id",
        field="data.proposal_id",
    )
