"""SLA policy versions: which one applies to a ticket opened at a given instant."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.aggregates.policy import (
    DEFAULT_TARGETS,
    DEFAULT_VERSION,
    PolicyVersion,
    merge_targets,
    version_in_force,
)

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
