"""SLA policy versions: which one applies to a ticket opened at a given instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.aggregates.base import EventMeta
from ledger.aggregates.policy import (
    DEFAULT_TARGETS,
    DEFAULT_VERSION,
    PolicyVersion,
    SlaPolicy,
    merge_targets,
    version_in_force,
)
from ledger.aggregates.rules import RuleViolation, same_actor_key

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def test_version_one_applies_from_the_beginning() -> None:
    assert version_in_force([DEFAULT_VERSION], datetime(1999, 1, 1, tzinfo=UTC)).version == 1


def test_latest_effective_version_applies() -> None:
    versions = [
        DEFAULT_VERSION,
        PolicyVersion(2, FEB, DEFAULT_TARGETS),
        PolicyVersion(3, MAR, DEFAULT_TARGETS),
    ]
    assert version_in_force(versions, JAN).version == 1
    assert version_in_force(versions, FEB).version == 2  # at its effective instant
    assert version_in_force(versions, MAR).version == 3


def test_a_later_approval_with_an_earlier_effective_time_wins_from_then() -> None:
    versions = [
        DEFAULT_VERSION,
        PolicyVersion(2, MAR, DEFAULT_TARGETS),
        PolicyVersion(3, FEB, DEFAULT_TARGETS),
    ]
    assert version_in_force(versions, datetime(2026, 2, 15, tzinfo=UTC)).version == 3
    assert version_in_force(versions, MAR).version == 2


def test_a_severity_left_out_keeps_its_targets() -> None:
    change = {"2": {"first_response": {"duration": "PT2H", "clock": "24x7"}}}
    merged = merge_targets(DEFAULT_TARGETS, change)
    assert merged["2"] == {
        "first_response": {"duration": "PT2H", "clock": "24x7"},
        "update_every": None,
    }
    assert merged["1"] == DEFAULT_TARGETS["1"]
    assert DEFAULT_TARGETS["2"]["first_response"]["duration"] == "PT4H"  # not mutated


# R-SLA-6: the proposer may not approve, however their id is written -------------------

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
CHANGE = {"2": {"first_response": {"duration": "PT2H", "clock": "24x7"}}}


def _meta(n: int, actor_id: str, role: str) -> EventMeta:
    return EventMeta(f"e{n}", AT, actor_id, role, "test", AT)


def _proposed_by(actor_id: str) -> SlaPolicy:
    return SlaPolicy.propose_first(_meta(1, actor_id, "leadership"), "P-1", CHANGE, AT)


@pytest.mark.parametrize(
    ("proposer", "approver"),
    [
        ("alice", "alice"),
        ("Alice", " alice"),
        ("alice", "ALICE\t"),
        ("\uff21lice", "alice"),  # a fullwidth A is an A under NFKC
        ("Stra\u00dfe", "STRASSE"),  # casefold: sharp s is ss
        ("Cafe\u0301", "caf\u00e9"),  # NFD and NFC accents
    ],
)
def test_the_proposer_cannot_approve_under_another_spelling(proposer: str, approver: str) -> None:
    policy = _proposed_by(proposer)
    with pytest.raises(RuleViolation) as raised:
        policy.approve(_meta(2, approver, "leadership"), "P-1")
    assert (raised.value.rule, raised.value.field) == ("R-SLA-6", "actor.id")
    assert policy.versions == [DEFAULT_VERSION]


def test_another_leader_approves() -> None:
    policy = _proposed_by("alice")
    policy.approve(_meta(2, "bob", "leadership"), "P-1")
    assert [v.version for v in policy.versions] == [1, 2]


@pytest.mark.parametrize(
    ("actor_id", "key"),
    [
        ("Alice", "alice"),
        (" alice ", "alice"),
        ("\uff21LICE", "alice"),
        ("lead-maria", "lead-maria"),
    ],
)
def test_actor_keys(actor_id: str, key: str) -> None:
    assert same_actor_key(actor_id) == key
