"""Repeat incidents (R-MET) group a customer's serious tickets: the answer is the one of
the plain definition (each later ticket against every earlier one, oldest first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.projections.metrics import REPEAT_WINDOW, repeat_incidents

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _by_definition(
    tickets: list[dict[str, Any]], from_: datetime | None, to: datetime
) -> list[dict[str, Any]]:
    serious = sorted(
        (t for t in tickets if t["max_severity"] <= 2 and t["opened_at"] <= to),
        key=lambda t: (t["opened_at"], t["ticket_id"]),
    )
    repeats = []
    for i, later in enumerate(serious):
        if from_ is not None and later["opened_at"] < from_:
            continue
        for earlier in serious[:i]:
            if earlier["customer_id"] != later["customer_id"]:
                continue
            same_category = (
                earlier["category"] == later["category"]
                and later["opened_at"] - earlier["opened_at"] <= REPEAT_WINDOW
            )
            code = later["root_cause_code"]
            same_cause = code is not None and code == earlier["root_cause_code"]
            if same_category or same_cause:
                repeats.append(
                    {
                        "ticket_id": later["ticket_id"],
                        "repeats": earlier["ticket_id"],
                        "customer_id": later["customer_id"],
                        "why": "same_root_cause" if same_cause else "same_category_30d",
                    }
                )
                break
    return repeats


TICKET = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["C-1", "C-2", "C-3"]),
        "category": st.sampled_from(["platform_down", "partial_outage"]),
        "max_severity": st.integers(1, 4),
        "root_cause_code": st.sampled_from([None, "db", "net"]),
        "opened_at": st.integers(0, 120).map(lambda d: T0 + timedelta(days=d)),
    }
)


@given(st.lists(TICKET, max_size=40), st.integers(0, 120), st.integers(0, 130))
def test_repeats_are_those_of_the_definition(
    drawn: list[dict[str, Any]], start: int, end: int
) -> None:
    tickets = [{**t, "ticket_id": f"T-{n}"} for n, t in enumerate(drawn)]
    from_, to = T0 + timedelta(days=start), T0 + timedelta(days=end)
    assert repeat_incidents(tickets, from_, to) == _by_definition(tickets, from_, to)
    assert repeat_incidents(tickets, None, to) == _by_definition(tickets, None, to)
