"""Success plays and revenue end to end on SQLite and PostgreSQL: the tick opens plays
once, producers work them, ``ledger plays`` and the metrics answer as of any instant as a
replay of the log does, and a rebuild equals the live read models.

The story (T0 = Monday 2026-03-02 09:00Z; health as ledger/projections/health.py):

* C-1 (cs-jo), onboarded T0-31d with an ARR of 100k, never engages again: silent from
  T0-1d. C-2 (cs-kim), onboarded then too with 50k, answers a survey at T0-2d.
* tick at T0: C-1's silence is a churn risk at T0-1d, which opens P-1-1 (due T0+6d).
* cs-jo calls at T0+1d; C-1 files a Sev2 ticket at T0+2d (its health: 15 + 10 + 25 x
  (1 - 4/24) + 0 = 45.8, low). tick at T0+3d: low_health for March, covered by P-1-1.
* P-1-1 closes retained at T0+4d; C-2 renews at 60k at T0+10d, answers again at T0+15d.
* tick at T0+30d (1 April): low_health for April opens P-1-2 (due T0+37d); tick at T0+40d:
  P-1-2 is overdue, at T0+37d.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.projector import Projector, read_models
from ledger.projections.metrics import metrics
from ledger.projections.registry import fold, visible
from ledger.services import answers
from ledger.services.intake import Ingestor, Input
from ledger.services.plays import PlayQuery, play_queue
from ledger.services.queries import log_events
from ledger.services.tick import tick
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

H = timedelta(hours=1)
D = timedelta(days=1)
RECORDED = datetime.fromisoformat("2026-06-01T00:00:00+00:00")


class Story:
    """The ledger, its clock (each step recorded an hour after the one before) and the
    envelopes."""

    def __init__(self, ledger: LedgerApp, engine: Engine) -> None:
        self.ledger, self.engine = ledger, engine
        self.clock = FixedClock(RECORDED)
        self.env = Envelopes()
        self.recorded: list[datetime] = []

    def step(self) -> None:
        self.clock.now += H
        self.recorded.append(self.clock.now)

    def send(self, *envelopes: dict[str, Any]) -> list[tuple[str, str | None]]:
        self.step()
        outcomes = Ingestor(self.ledger, clock=self.clock).ingest_batch(
            [Input(e, "test") for e in envelopes]
        )
        return [(o.status, o.rejection.rule if o.rejection else None) for o in outcomes]

    def tick(self, now: datetime) -> dict[str, int]:
        """What the tick wrote about customers and plays (T-1's SLA breaches aside)."""
        self.step()
        written = tick(self.ledger, self.engine, now, clock=self.clock).written
        return {kind: n for kind, n in written.items() if kind != "sla.breached"}

    def cs(self, kind: str, subject: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
        return self.env.make(kind, subject, data, role="customer_success", actor_id="cs-jo", at=at)

    def plays(self, at: datetime, known_at: datetime | None = None, **query: Any) -> list[Any]:
        found = answers.plays(self.ledger, self.engine, at, known_at, PlayQuery(**query))
        return [(p["play_id"], p["state"], p["outreach_count"], p["outcome"]) for p in found]


def _told(ledger: LedgerApp, engine: Engine) -> Story:
    story = Story(ledger, engine)
    env = story.env
    accepted = [("accepted", None)] * 4
    assert (
        story.send(
            env.customer("C-1", at=T0 - 31 * D, success_owner="cs-jo"),
            story.cs(
                "customer.contract_changed", "C-1", {"arr": "100000", "reason": "x"}, T0 - 31 * D
            ),
            env.customer("C-2", at=T0 - 31 * D, success_owner="cs-kim"),
            story.cs(
                "customer.contract_changed", "C-2", {"arr": "50000", "reason": "x"}, T0 - 31 * D
            ),
        )
        == accepted
    )
    assert story.send(_answered(story, T0 - 2 * D)) == [("accepted", None)]
    return story


def _answered(story: Story, at: datetime) -> dict[str, Any]:
    """C-2 answers a survey (it stays engaged: never silent)."""
    survey = {"kind": "nps", "score": 9}
    return story.env.make("customer.survey_recorded", "C-2", survey, role="customer", at=at)


def test_the_tick_opens_plays_once_and_producers_work_them(
    ledger: LedgerApp, engine: Engine
) -> None:
    story = _told(ledger, engine)
    env = story.env
    assert story.tick(T0) == {"customer.churn_risk_raised": 1, "play.opened": 1}
    assert story.tick(T0) == {}  # twice: nothing new
    ticked_at = story.clock.now
    assert story.plays(T0) == [("P-1-1", "open", 0, None)]
    opened = answers.plays(ledger, engine, T0, None, PlayQuery())[0]
    assert (opened["opened_at"], opened["due_at"], opened["owner"]) == (T0 - D, T0 + 6 * D, "cs-jo")
    assert opened["risk"] == "silent"
    assert story.plays(T0 - 2 * D) == []  # before it opened
    assert story.plays(T0, known_at=ticked_at - 2 * H) == []  # before the tick wrote it

    outreach = {"play_id": "P-1-1", "channel": "call", "note": "called the decision maker"}
    assert story.send(
        story.cs("play.outreach_logged", "C-1", outreach, T0 + D),
        story.cs("play.outreach_logged", "C-2", outreach, T0 + D),  # not C-2's play
        story.cs("play.outreach_logged", "C-1", {**outreach, "note": ""}, T0 + D),
        env.ticket("T-1", at=T0 + 2 * D, severity=2, category="partial_outage"),
    ) == [
        ("accepted", None),
        ("rejected", "R-STATE-3"),
        ("rejected", "R-PLAY-3"),
        ("accepted", None),
    ]
    assert story.tick(T0 + 3 * D) == {"customer.churn_risk_raised": 1}  # covered by P-1-1
    closing = {"play_id": "P-1-1", "outcome": "retained", "note": "training booked"}
    renewal = {"arr": "60000.00", "reason": "added a team"}
    assert story.send(
        story.cs("play.closed", "C-1", closing, T0 + 4 * D),
        story.cs("play.closed", "C-1", closing, T0 + 5 * D),  # closed already
        story.cs("customer.renewed", "C-2", renewal, T0 + 10 * D),
        _answered(story, T0 + 15 * D),
    ) == [("accepted", None), ("rejected", "R-STATE-2"), ("accepted", None), ("accepted", None)]
    assert story.plays(T0 + 1.5 * D) == [("P-1-1", "open", 1, None)]
    assert story.plays(T0 + 8 * D) == [("P-1-1", "closed", 1, "retained")]

    assert story.tick(T0 + 30 * D) == {"customer.churn_risk_raised": 1, "play.opened": 1}
    assert story.tick(T0 + 40 * D) == {"play.overdue": 1}
    assert story.tick(T0 + 40 * D) == {}
    overdue = [e for e in ledger.history("C-1") if e.WIRE_TYPE == "play.overdue"]
    assert [(e.occurred_at, getattr(e, "play_id", "")) for e in overdue] == [(T0 + 37 * D, "P-1-2")]
    assert story.plays(T0 + 40 * D) == [
        ("P-1-2", "overdue", 0, None),
        ("P-1-1", "closed", 1, "retained"),
    ]
    assert story.plays(T0 + 40 * D, overdue_only=True, owner="cs-jo") == [
        ("P-1-2", "overdue", 0, None)
    ]
    assert story.plays(T0 + 36 * D, overdue_only=True) == []  # due at T0+37d
    kept = ledger.store.rejections(subject="C-1")
    assert sorted(r.rejection.rule for r in kept) == ["R-PLAY-3", "R-STATE-2"]


def test_plays_and_revenue_as_of_any_instant_answer_as_the_replay_does(
    ledger: LedgerApp, engine: Engine
) -> None:
    story = _told(ledger, engine)
    # A usage report after the instant C-1's play will open at (T0-1d): the tick writes
    # the play behind the customer's latest event. (Error rate 1/40: 10 points, as with
    # no report: the health of the story stays as it is.)
    usage = {
        "period_start": "2026-02-23",
        "period_end": "2026-03-01",
        "active_users": 10,
        "videos_localized": 40,
        "error_count": 1,
    }
    reported = story.cs("customer.usage_reported", "C-1", usage, T0 - 12 * H)
    assert story.send(reported) == [("accepted", None)]
    story.tick(T0)
    call = {"play_id": "P-1-1", "channel": "call", "note": "called"}
    closing = {"play_id": "P-1-1", "outcome": "retained", "note": "fine"}
    story.send(
        story.cs("play.outreach_logged", "C-1", call, T0 + D),
        story.env.ticket("T-1", at=T0 + 2 * D, severity=2, category="partial_outage"),
    )
    story.tick(T0 + 3 * D)
    story.send(
        story.cs("play.closed", "C-1", closing, T0 + 4 * D),
        story.cs("customer.renewed", "C-2", {"arr": "60000", "reason": "x"}, T0 + 10 * D),
        _answered(story, T0 + 15 * D),
    )
    story.tick(T0 + 30 * D)
    story.tick(T0 + 40 * D)

    window = (T0 - 20 * D, T0 + 45 * D)
    figures = answers.metrics(ledger, engine, T0 + 45 * D, None, *window)
    assert figures["plays"] == {
        "opened": 2,
        "by_risk": {"silent": 1, "low_health": 1, "sharp_drop": 0},
        "closed": 1,
        "outcomes": {"retained": 1, "expanded": 0, "churned": 0, "no_action": 0},
        # P-1-1: opened T0-1d, called T0+1d; C-1's Sev2 at T0+2d came after the call.
        "time_to_first_outreach": {"count": 1, "median_hours": 48.0, "p90_hours": 48.0},
        "outreach_before_complaint": {"decided": 1, "outreach_first": 1, "pct": 100.0},
    }
    # Start 150k; C-2 renews 50k -> 60k: +10k; NRR 160 / 150 = 106.67 %, expansion 6.67 %.
    assert figures["revenue"] == {
        "customers_at_start": 2,
        "starting_arr": "150000.00",
        "expansion_arr": "10000.00",
        "contraction_arr": "0.00",
        "churned_arr": "0.00",
        "ending_arr": "160000.00",
        "gross_revenue_retention_pct": 100.0,
        "net_revenue_retention_pct": 106.7,
        "expansion_rate_pct": 6.7,
    }
    earlier = answers.metrics(ledger, engine, T0 + 5 * D, None, *window)["revenue"]
    assert (earlier["expansion_arr"], earlier["net_revenue_retention_pct"]) == ("0.00", 100.0)

    events = log_events(ledger)
    instants = [T0 - 2 * D, T0 - D, T0 - 18 * H, T0 - 12 * H, T0, T0 + D, T0 + 3 * D]
    instants += [T0 + 4 * D, T0 + 31 * D, T0 + 40 * D]
    for known_at in [None, *story.recorded]:
        for at in instants:
            replayed = fold(visible(events, at, known_at))
            got = answers.plays(ledger, engine, at, known_at, PlayQuery())
            assert got == play_queue(replayed, at), (at, known_at)
            asked = answers.metrics(ledger, engine, at, known_at, *window)
            replay = metrics(replayed, at, *window)
            assert asked["plays"] == replay["plays"], (at, known_at)
            assert asked["revenue"] == replay["revenue"], (at, known_at)

    live = _sorted(read_models(engine))
    assert len(live["success_plays"]) == 2
    Projector(ledger, engine).rebuild()
    assert _sorted(read_models(engine)) == live


def _sorted(board: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    def key(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(v) for v in row.values())

    return {name: sorted(rows, key=key) for name, rows in board.items()}
