"""The policy version in force, as spans of opening instants (what a query on the read
models' versions asks), agrees with ``version_in_force`` at every instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ledger.aggregates.policy import (
    DEFAULT_TARGETS,
    DEFAULT_VERSION,
    PolicyVersion,
    spans_in_force,
    version_in_force,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOURS = st.integers(0, 48).map(lambda h: T0 + timedelta(hours=h))


@given(st.lists(HOURS, max_size=6), st.lists(HOURS, min_size=1, max_size=20))
def test_spans_agree_with_version_in_force(
    effective: list[datetime], instants: list[datetime]
) -> None:
    versions = [DEFAULT_VERSION] + [
        PolicyVersion(n, at, DEFAULT_TARGETS) for n, at in enumerate(effective, start=2)
    ]
    spans = spans_in_force(versions)
    for instant in [*instants, T0 - timedelta(days=1)]:
        (found,) = [
            version
            for start, end, version in spans
            if (start is None or start <= instant) and (end is None or instant < end)
        ]
        assert found == version_in_force(versions, instant).version
