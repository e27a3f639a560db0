"""Timer rows people can read: ``time_left``, ``overdue_by``, ``paused``, ``elapsed_seconds``
and the ``measured`` state of a timer with no target (``evaluate_record``).

Worked examples on the default policy (Sev1: first response 60 min, updates every 60
min, both 24x7; Sev3: first response one business day), and properties over random
histories (``tests.unit.test_sla_properties``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.aggregates.base import EventMeta, LedgerEvent
from ledger.aggregates.calendar import BusinessCalendar
from ledger.aggregates.policy import DEFAULT_TARGETS
from ledger.aggregates.ticket import Ticket
from ledger.projections import sla
from ledger.projections.metrics import compliance
from ledger.projections.sla import evaluate_record
from tests.unit.test_sla_properties import ACTIONS, OPENINGS, PROPERTY, Step, _history, _steps

CALENDAR = BusinessCalendar("Europe/Berlin")
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # a Monday
M = timedelta(minutes=1)
CATEGORY = {1: "platform_down", 2: "partial_outage", 3: "feature_issue"}


class Story:
    """A ticket driven by commands; its timers folded and evaluated as of any instant."""

    def __init__(self, opened_at: datetime = T0, severity: int = 1) -> None:
        self.n = 0
        self.ticket = Ticket.open(
            "T-1",
            self.meta(opened_at, "customer"),
            customer_tier="enterprise",
            policy_version=1,
            customer_id="C-1",
            channel="support_portal",
            title="t",
            description="d",
            severity=severity,
            category=CATEGORY[severity],
        )

    def meta(self, at: datetime, role: str = "support_engineer") -> EventMeta:
        self.n += 1
        return EventMeta(f"e{self.n}", at, "se-ana", role, "test", at)

    def respond(self, at: datetime) -> None:
        self.ticket.respond(self.meta(at), True, "on it")

    def status(self, at: datetime, status: str) -> None:
        self.ticket.change_status(self.meta(at), status)

    def triage(self, at: datetime, severity: int) -> None:
        self.ticket.triage(self.meta(at), severity, CATEGORY[severity], "re-assessed")

    def resolve(self, at: datetime) -> None:
        self.ticket.resolve(self.meta(at), "fixed")

    def records(self, as_of: datetime) -> list[dict[str, Any]]:
        timers = sla.initial(CALENDAR, {1: DEFAULT_TARGETS})
        for event in self.ticket.pending_events:
            assert isinstance(event, LedgerEvent)
            if event.occurred_at <= as_of:
                timers = sla.evolve(timers, event)
        return timers.records()

    def row(self, as_of: datetime, timer: str, index: int = -1) -> dict[str, Any]:
        """The ``index``-th interval of a kind, evaluated at ``as_of``."""
        rows = [evaluate_record(r, as_of) for r in self.records(as_of) if r["timer"] == timer]
        return rows[index]


def _clock(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["state"], row["time_left"], row["overdue_by"], row["paused"])


def test_a_running_timer_counts_down_then_is_overdue() -> None:
    story = Story()
    at_20 = story.row(T0 + 20 * M, "first_response")
    assert _clock(at_20) == ("running", 40 * 60, None, False)
    assert at_20["elapsed_seconds"] == 20 * 60
    assert _clock(story.row(T0 + 60 * M, "first_response")) == ("running", 0, None, False)
    at_75 = story.row(T0 + 75 * M, "first_response")
    assert _clock(at_75) == ("breached", None, 15 * 60, False)
    assert at_75["breached_at"] == T0 + 60 * M


def test_a_timer_breached_then_stopped_is_overdue_by_how_late_it_stopped() -> None:
    story = Story()
    story.respond(T0 + 80 * M)
    for as_of in (T0 + 80 * M, T0 + 5 * 60 * M):
        first = story.row(as_of, "first_response")
        assert _clock(first) == ("breached", None, 20 * 60, False)
        assert first["elapsed_seconds"] == 80 * 60


def test_a_breach_that_stands_after_a_re_target_is_overdue_since_the_breach() -> None:
    story = Story()
    story.triage(T0 + 90 * M, 2)  # Sev1's hour passed at T0+60m; Sev2's 4 hours run to T0+4h
    first = story.row(T0 + 100 * M, "first_response")
    assert (first["due_at"], first["breached_at"]) == (T0 + 240 * M, T0 + 60 * M)
    assert _clock(first) == ("breached", None, 40 * 60, False)


def test_a_met_timer_has_neither_time_left_nor_overdue() -> None:
    story = Story()
    story.respond(T0 + 30 * M)
    first = story.row(T0 + 90 * M, "first_response")
    assert _clock(first) == ("met", None, None, False)
    assert first["elapsed_seconds"] == 30 * 60


def test_a_paused_timer_keeps_the_time_it_had_left() -> None:
    story = Story()
    story.respond(T0 + 10 * M)  # update due T0+70m
    story.status(T0 + 40 * M, "waiting_on_customer")  # 30 minutes left
    story.status(T0 + 120 * M, "in_progress")  # due 30 minutes later, T0+150m
    for as_of in (T0 + 40 * M, T0 + 60 * M, T0 + 100 * M):
        update = story.row(as_of, "update")
        # due_at is the pause start plus the time left; counted from as_of it would be
        # -30 minutes at T0+100m while the clock stands still
        assert (update["due_at"], *_clock(update)) == (
            T0 + 70 * M,
            "paused",
            30 * 60,
            None,
            True,
        )
        assert update["paused_seconds"] == int((as_of - (T0 + 40 * M)).total_seconds())
    resumed = story.row(T0 + 130 * M, "update")
    assert (resumed["due_at"], *_clock(resumed)) == (T0 + 150 * M, "running", 20 * 60, None, False)
    assert resumed["paused_seconds"] == 80 * 60


def test_a_timer_breached_before_its_pause_is_paused_and_overdue() -> None:
    story = Story()
    story.respond(T0 + 10 * M)  # update due T0+70m
    story.status(T0 + 80 * M, "waiting_on_customer")
    update = story.row(T0 + 100 * M, "update")
    assert _clock(update) == ("breached", None, 30 * 60, True)
    assert update["breached_at"] == T0 + 70 * M


def test_time_left_on_a_business_clock_is_real_time_to_the_due_instant() -> None:
    friday = datetime(2026, 6, 5, 14, 0, tzinfo=UTC)  # 16:00 in Berlin: one business hour left
    story = Story(friday, severity=3)
    first = story.row(friday + 30 * M, "first_response")
    # one business day of 8 hours: 1 on Friday, 7 on Monday, due Monday 16:00 CEST
    assert first["due_at"] == datetime(2026, 6, 8, 14, 0, tzinfo=UTC)
    assert _clock(first) == ("running", (3 * 24 * 60 - 30) * 60, None, False)


def test_the_resolution_timer_runs_then_is_measured() -> None:
    story = Story()
    story.respond(T0 + 30 * M)
    story.resolve(T0 + 50 * M)
    running = story.row(T0 + 45 * M, "resolution")
    assert (running["due_at"], *_clock(running)) == (None, "running", None, None, False)
    assert running["elapsed_seconds"] == 45 * 60
    for as_of in (T0 + 50 * M, T0 + 10 * 60 * M):
        measured = story.row(as_of, "resolution")
        assert (measured["stopped_at"], *_clock(measured)) == (
            T0 + 50 * M,
            "measured",
            None,
            None,
            False,
        )
        assert measured["elapsed_seconds"] == 50 * 60
    assert story.row(T0 + 10 * 60 * M, "update")["state"] == "met"


def test_sla_compliance_counts_measured_timers_as_neither_met_nor_breached() -> None:
    story = Story()
    story.respond(T0 + 80 * M)  # first response breached
    story.resolve(T0 + 100 * M)  # the update interval met
    as_of = T0 + 10 * 60 * M
    records = story.records(as_of)
    assert sorted(evaluate_record(r, as_of)["state"] for r in records) == [
        "breached",
        "measured",
        "met",
    ]
    sev1 = compliance(records, None, as_of, as_of)[0]
    assert (sev1["met"], sev1["breached"], sev1["open"], sev1["compliance_pct"]) == (
        1,
        1,
        0,
        50.0,
    )


@PROPERTY
@given(st.sampled_from(OPENINGS), st.integers(1, 4), _steps(ACTIONS))
def test_every_row_says_how_it_stands(
    opened_at: datetime, severity: int, steps: list[Step]
) -> None:
    history = _history(opened_at, severity, steps)
    left_in_pause: dict[tuple[int, datetime, int], int] = {}
    for as_of in history.instants():
        records = history.fold(as_of).records()
        for seq, row in history.rows(as_of).items():
            state, due, stop = row["state"], row["due_at"], row["stopped_at"]
            pause = records[seq]["paused_since"]
            assert (state == "measured") == (due is None and stop is not None)
            assert (row["time_left"] is not None) == (
                state in ("running", "paused") and due is not None
            )
            assert (row["overdue_by"] is not None) == (state == "breached")
            assert row["paused"] == (pause is not None and stop is None)
            assert row["paused"] == (state == "paused") or state == "breached"
            if state == "running" and due is not None:
                assert due - as_of == timedelta(seconds=row["time_left"])
            if state == "breached":
                missed = min(due, row["breached_at"])
                assert (stop or as_of) - missed == timedelta(seconds=row["overdue_by"])
            end = stop or as_of
            assert end - row["started_at"] == timedelta(seconds=row["elapsed_seconds"])
            if state == "paused":
                # the time left stays put while the pause lasts (and the target with it)
                kept = left_in_pause.setdefault((seq, pause, row["severity"]), row["time_left"])
                assert row["time_left"] == kept
