"""Operator metrics: ``GET /metrics`` in the Prometheus text format.

``instrument(app, database_url)`` gives a FastAPI application two things:

* a middleware that times every request into ``ledger_http_request_duration_seconds``
  (a histogram by ``method``, ``route`` (the route's template, ``/v1/tickets/{ticket_id}``,
  never the raw path; ``<unmatched>`` for a path no route took) and ``status``);
* ``GET /metrics``: that histogram and the ledger's own figures, computed when Prometheus
  scrapes by a collector on the application's own ``CollectorRegistry`` (never the
  process-wide one, so two applications in one process do not collide).

The ledger's figures come from a few aggregate queries over the live read-model tables,
the log's head and the stores' counts; none folds the log, and none writes. The read
models never read the clock: the "now" that SLA states are evaluated at is the wall
clock at scrape time, taken here, in the web layer.

=============================================================  ===============================
metric                                                         what
=============================================================  ===============================
``ledger_up``                                                  1 when the figures below could
                                                               be read (0: see the log)
``ledger_sla_timers{severity,state}``                          timer intervals by state now:
                                                               running, paused, breached, met,
                                                               measured (as ``sla list``)
``ledger_sla_at_risk{severity}``                               running timers due within
                                                               ``AT_RISK_MINUTES`` (60 min; as
                                                               ``sla list --at-risk 60``)
``ledger_sla_breaches_total{severity}``                        timer intervals breached by now
                                                               (as ``sla list --breached``):
                                                               only grows; ``increase()`` is
                                                               the new breaches
``ledger_sla_breaches_unwritten``                              breaches whose ``sla.breached``
                                                               the tick has not written yet
``ledger_sla_breach_write_delay_seconds``                      how long ago the oldest of them
                                                               breached (0: none): the tick's
                                                               staleness
``ledger_overdue_unwritten``                                   overdue plays and RCA actions
                                                               whose ``play.overdue`` /
                                                               ``rca.action_overdue`` the tick
                                                               has not written yet
``ledger_overdue_write_delay_seconds``                         how long ago the oldest of them
                                                               came due (0: none)
``ledger_success_plays{state}``                                success plays not closed, open
                                                               or overdue now (as ``plays``)
``ledger_rca_actions{state}``                                  RCA actions open (not done, not
                                                               cancelled), open or overdue now
                                                               (as ``actions``)
``ledger_ingested_events_total``                               events stored in the log
``ledger_rejections_total{rule}``                              rejected inputs kept, by rule
``ledger_deferred_inputs``                                     inputs waiting for a subject
``ledger_log_head``                                            the log's last notification id
``ledger_projection_position{projection}``                     last notification id applied
``ledger_projection_lag_events{projection}``                   head minus position
``ledger_projection_last_progress_timestamp_seconds{projection}``  when the last event the
                                                               projection applied was
                                                               recorded (its read models hold
                                                               everything recorded until then)
``ledger_projection_stale_seconds{projection}``                age of the oldest event it has
                                                               not applied (0: caught up): the
                                                               runner's staleness
``ledger_checkpoint_age_seconds``                              age of the newest signed audit
                                                               checkpoint (absent: none yet)
``ledger_checkpoint_uncovered_events``                         head minus what it covers
``ledger_http_request_duration_seconds{method,route,status}``  request latency
=============================================================  ===============================

Counts are stored totals (gauges that only grow, but for a rebuild of the read models),
so rates come from PromQL: ``rate(ledger_rejections_total[5m])``.

``operator_figures`` is also what ``ledger health-check`` judges the services' loops by.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, and_, case, func, inspect, literal, or_, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.adapters import tables
from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.projector import engine_for, positions
from ledger.adapters.settings import Database, resolve_database
from ledger.aggregates.base import LedgerEvent
from ledger.projections.registry import PROJECTIONS

log = logging.getLogger(__name__)

AT_RISK_MINUTES: Final = 60
"""A running timer due within this many minutes is at risk (``ledger_sla_at_risk``)."""
SEVERITIES: Final = (1, 2, 3, 4)
STATES: Final = ("running", "paused", "breached", "met", "measured")
"""The states ``evaluate_record`` gives a timer (``ledger.projections.sla``)."""
FOLLOW_UP_STATES: Final = ("open", "overdue")
"""The states of success plays and RCA actions not done yet (``ledger_success_plays``,
``ledger_rca_actions``)."""
CHECKPOINTS_TABLE: Final = "ledger_checkpoints"
UNMATCHED: Final = "<unmatched>"

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


# The figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """Where one projection stands against the log."""

    position: int
    lag: int
    last_progress: datetime | None  # recorded_at of the last event applied
    stale_seconds: float  # age of the oldest event not applied (0: caught up)


@dataclass(frozen=True)
class Figures:
    """What an operator watches, as of ``as_of``."""

    as_of: datetime
    timers: dict[tuple[int, str], int]  # (severity, state) -> timer intervals
    at_risk: dict[int, int]  # severity -> running timers due within AT_RISK_MINUTES
    unwritten: int  # breaches whose sla.breached the log does not hold yet
    breach_write_delay: float  # seconds since the oldest of them breached (0: none)
    events: int
    rejections: dict[str, int]  # rule -> rejected inputs kept
    deferred: int
    head: int
    projections: dict[str, Projection] = field(default_factory=dict)
    checkpoint_at: datetime | None = None
    checkpoint_covers: int = 0  # last notification id the newest checkpoint covers
    overdue_unwritten: int = 0  # play.overdue / rca.action_overdue the tick owes
    overdue_write_delay: float = 0.0  # seconds since the oldest of them came due (0: none)
    plays: dict[str, int] = field(default_factory=dict)  # open / overdue -> success plays
    actions: dict[str, int] = field(default_factory=dict)  # open / overdue -> RCA actions


def _state(c: Any, now: datetime) -> Any:
    """A timer's state at ``now`` as SQL, exactly as ``evaluate_record`` decides it: a
    stored breach counts from its instant; a running timer past its due instant is
    breached at it, whether or not the tick wrote the breach."""
    breached = case(
        (c.breached_at.is_not(None), c.breached_at <= now),
        else_=and_(
            c.due_at.is_not(None),
            c.stopped_at.is_(None),
            c.paused_since.is_(None),
            c.due_at < now,
        ),
    )
    return case(
        (breached, literal("breached")),
        (c.stopped_at.is_not(None), case((c.due_at.is_not(None), "met"), else_="measured")),
        (c.paused_since.is_not(None), literal("paused")),
        else_=literal("running"),
    )


def _timers(engine: Engine, now: datetime) -> tuple[dict[tuple[int, str], int], dict[int, int]]:
    """One pass over the live timers: counts by severity and state, and at risk."""
    c = tables.sla_timers.c
    state = _state(c, now).label("state")
    at_risk = and_(  # as ``sla_board(at_risk=...)``: running, due within the window
        _state(c, now) == "running",
        c.due_at.is_not(None),
        c.due_at <= now + timedelta(minutes=AT_RISK_MINUTES),
    )
    query = select(c.severity, state, func.count(), func.sum(case((at_risk, 1), else_=0))).group_by(
        c.severity, state
    )
    timers: dict[tuple[int, str], int] = {}
    risky: dict[int, int] = {}
    with engine.connect() as conn:
        for severity, name, count, risk in conn.execute(query):
            timers[(int(severity), str(name))] = int(count)
            risky[int(severity)] = risky.get(int(severity), 0) + int(risk or 0)
    return timers, risky


@dataclass(frozen=True)
class FollowUps:
    """Success plays and RCA actions at an instant: those not done by state, and when each
    overdue one the tick owes the log came due."""

    plays: dict[str, int]  # open / overdue, as ``ledger plays --open`` gives them
    actions: dict[str, int]  # open / overdue, as ``ledger actions`` gives them
    owed: list[datetime]  # unwritten play.overdue / rca.action_overdue, oldest first


def _due_state(due_at: datetime, now: datetime) -> str:
    return "overdue" if due_at <= now else "open"


def follow_ups(app: LedgerApp, engine: Engine, now: datetime) -> FollowUps:
    """One read of each table serves both: the plays and actions not done, as ``open``
    (not due yet) and ``overdue`` (past their due instant) at ``now`` (R-PLAY-4; an
    action's ``due_at`` is the day after its due date), and the ``play.overdue`` and
    ``rca.action_overdue`` the tick owes by ``now`` that the log does not hold (their ids
    as the tick derives them: ``ledger.services.tick``)."""
    from ledger.projections.actions import overdue_since
    from ledger.services.tick import action_overdue_id, overdue, play_overdue_id

    plays, actions = tables.success_plays.c, tables.rca_actions.c
    found = FollowUps({}, {}, [])
    owed: dict[str, datetime] = {}
    with engine.connect() as conn:
        if inspect(conn).has_table(tables.success_plays.name):
            query = select(plays.customer_id, plays.play_id, plays.due_at, plays.closed_at)
            undone_or_due = or_(plays.closed_at.is_(None), plays.due_at <= now)
            for customer, play, due_at, closed_at in conn.execute(query.where(undone_or_due)):
                if closed_at is None:
                    state = _due_state(due_at, now)
                    found.plays[state] = found.plays.get(state, 0) + 1
                if overdue(due_at, closed_at, now):
                    owed[play_overdue_id(customer, play)] = due_at
        if inspect(conn).has_table(tables.rca_actions.name):
            query = select(
                actions.ticket_id,
                actions.action_id,
                actions.status,
                actions.due_at,
                actions.completed_at,
                actions.cancelled_at,
            ).where(or_(actions.status == "open", actions.due_at <= now))
            for row in conn.execute(query).mappings():
                if row["status"] == "open":
                    state = _due_state(row["due_at"], now)
                    found.actions[state] = found.actions.get(state, 0) + 1
                since = overdue_since(dict(row)) if row["due_at"] <= now else None
                if since is not None and since <= now:
                    owed[action_overdue_id(row["ticket_id"], row["action_id"], since)] = since
    written = app.store.known_inputs(list(owed), []).accepted
    found.owed.extend(sorted(at for event_id, at in owed.items() if event_id not in written))
    return found


def unwritten_breaches(app: LedgerApp, engine: Engine, now: datetime) -> list[datetime]:
    """When each breach by ``now`` whose ``sla.breached`` the log does not hold happened,
    oldest first (the breached timers are read, then their breaches' ids looked up)."""
    from ledger.services.tick import breach_id

    c = tables.sla_timers.c
    query = select(c.ticket_id, c.timer, c.breached_at, c.due_at).where(
        _state(c, now) == "breached"
    )
    with engine.connect() as conn:
        breached = {
            breach_id(ticket, timer, stored or due): stored or due
            for ticket, timer, stored, due in conn.execute(query)
        }
    written = app.store.known_inputs(list(breached), []).accepted
    return sorted(at for event_id, at in breached.items() if event_id not in written)


def recorded_at(app: LedgerApp, after: int, *, inclusive: bool) -> datetime | None:
    """When the first event at (``inclusive``) or after notification id ``after`` was
    recorded (None: there is none)."""
    page = app.store.select_notifications(start=after, limit=1, inclusive_of_start=inclusive)
    if not page:
        return None
    event = app.mapper.to_domain_event(page[0])
    assert isinstance(event, LedgerEvent)
    return event.recorded_at


def _projections(app: LedgerApp, engine: Engine, head: int, now: datetime) -> dict[str, Projection]:
    found: dict[str, Projection] = {}
    instants: dict[tuple[int, bool], datetime | None] = {}  # runners mostly share positions

    def instant(position: int, inclusive: bool) -> datetime | None:
        if (position, inclusive) not in instants:
            instants[(position, inclusive)] = recorded_at(app, position, inclusive=inclusive)
        return instants[(position, inclusive)]

    found_at = (
        positions(engine)
        if inspect(engine).has_table(tables.tracking.name)
        else {p.name: 0 for p in PROJECTIONS}  # no runner has run yet
    )
    for name, position in sorted(found_at.items()):
        last = instant(position, True) if position > 0 else None
        oldest = instant(position, False) if position < head else None
        stale = 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)
        found[name] = Projection(position, head - position, last, stale)
    return found


def _checkpoint(engine: Engine) -> tuple[datetime, int] | None:
    """The newest checkpoint's signing instant and the last notification id it covers."""
    from replay.audit import checkpoints

    if not inspect(engine).has_table(CHECKPOINTS_TABLE):
        return None
    with engine.connect() as conn:
        statement = conn.execute(
            select(checkpoints.c.statement).order_by(checkpoints.c.seq.desc()).limit(1)
        ).scalar()
    if statement is None:
        return None
    document = json.loads(statement)
    created = datetime.fromisoformat(str(document["created_at"]).replace("Z", "+00:00"))
    return created, int(document["last_notification_id"])


def operator_figures(app: LedgerApp, engine: Engine, as_of: datetime) -> Figures:
    """Everything ``/metrics`` shows, from the live read models and the log, with SLA
    states evaluated at ``as_of``. Reads only; catches nothing up."""
    store = app.store
    head = store.max_notification_id() or 0
    timers: dict[tuple[int, str], int] = {}
    risky: dict[int, int] = {}
    unwritten: list[datetime] = []
    if inspect(engine).has_table(tables.sla_timers.name):  # (none before the first runner)
        timers, risky = _timers(engine, as_of)
        unwritten = unwritten_breaches(app, engine, as_of)
    checkpoint = _checkpoint(engine)
    later = follow_ups(app, engine, as_of)
    owed = later.owed
    return Figures(
        as_of=as_of,
        timers=timers,
        at_risk=risky,
        unwritten=len(unwritten),
        breach_write_delay=max((as_of - unwritten[0]).total_seconds(), 0) if unwritten else 0.0,
        events=store.event_count(),
        rejections=store.rejection_counts(),
        deferred=store.deferred_count(),
        head=head,
        projections=_projections(app, engine, head, as_of),
        checkpoint_at=None if checkpoint is None else checkpoint[0],
        checkpoint_covers=0 if checkpoint is None else checkpoint[1],
        overdue_unwritten=len(owed),
        overdue_write_delay=max((as_of - owed[0]).total_seconds(), 0) if owed else 0.0,
        plays=later.plays,
        actions=later.actions,
    )


def stale_seconds(app: LedgerApp, position: int, head: int, now: datetime) -> float:
    """Age at ``now`` of the oldest event after ``position`` (a loop's last notification
    id done): how long the loop has left work undone; 0 when it is at ``head``."""
    if position >= head:
        return 0.0
    oldest = recorded_at(app, position, inclusive=False)
    return 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)


# The collector ------------------------------------------------------------------------


def _severities(found: Iterable[int]) -> list[int]:
    return sorted(set(SEVERITIES) | set(found))


def families(figures: Figures) -> Iterator[Metric]:
    """The figures as metric families (every severity and state, zeros included)."""
    now = figures.as_of
    severities = _severities(s for s, _ in figures.timers)
    timers = GaugeMetricFamily(
        "ledger_sla_timers",
        "SLA timer intervals by state at scrape time (as `ledger sla list`)",
        labels=["severity", "state"],
    )
    states = list(STATES) + sorted({s for _, s in figures.timers} - set(STATES))
    for severity in severities:
        for state in states:
            timers.add_metric([str(severity), state], figures.timers.get((severity, state), 0))
    yield timers
    at_risk = GaugeMetricFamily(
        "ledger_sla_at_risk",
        f"Running SLA timers due within {AT_RISK_MINUTES} minutes",
        labels=["severity"],
    )
    breaches = GaugeMetricFamily(
        "ledger_sla_breaches_total",
        "SLA timer intervals breached by now (as `ledger sla list --breached`); only grows",
        labels=["severity"],
    )
    for severity in severities:
        at_risk.add_metric([str(severity)], figures.at_risk.get(severity, 0))
        breaches.add_metric([str(severity)], figures.timers.get((severity, "breached"), 0))
    yield at_risk
    yield breaches
    yield GaugeMetricFamily(
        "ledger_sla_breaches_unwritten",
        "SLA breaches whose sla.breached event the tick has not written yet",
        value=figures.unwritten,
    )
    yield GaugeMetricFamily(
        "ledger_sla_breach_write_delay_seconds",
        "Seconds since the oldest breach the tick has not written happened (0: none)",
        value=figures.breach_write_delay,
    )
    yield GaugeMetricFamily(
        "ledger_overdue_unwritten",
        "Overdue success plays and RCA actions whose play.overdue or rca.action_overdue "
        "the tick has not written yet",
        value=figures.overdue_unwritten,
    )
    yield GaugeMetricFamily(
        "ledger_overdue_write_delay_seconds",
        "Seconds since the oldest of them came due (0: none)",
        value=figures.overdue_write_delay,
    )
    for name, what, counts in (
        ("ledger_success_plays", "Success plays not closed (as `ledger plays`)", figures.plays),
        ("ledger_rca_actions", "RCA actions not done (as `ledger actions`)", figures.actions),
    ):
        family = GaugeMetricFamily(name, f"{what}, open or overdue", labels=["state"])
        for state in FOLLOW_UP_STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family
    yield GaugeMetricFamily(
        "ledger_ingested_events_total", "Events stored in the log", value=figures.events
    )
    rejections = GaugeMetricFamily(
        "ledger_rejections_total", "Rejected inputs kept, by rule", labels=["rule"]
    )
    for rule, count in sorted(figures.rejections.items()):
        rejections.add_metric([rule], count)
    yield rejections
    yield GaugeMetricFamily(
        "ledger_deferred_inputs", "Inputs deferred, waiting for a subject", value=figures.deferred
    )
    yield GaugeMetricFamily("ledger_log_head", "The log's last notification id", value=figures.head)
    position = GaugeMetricFamily(
        "ledger_projection_position",
        "Last notification id each projection applied",
        labels=["projection"],
    )
    lag = GaugeMetricFamily(
        "ledger_projection_lag_events",
        "Events in the log a projection has not applied (log head minus its position)",
        labels=["projection"],
    )
    progress = GaugeMetricFamily(
        "ledger_projection_last_progress_timestamp_seconds",
        "When the last event a projection applied was recorded (Unix time)",
        labels=["projection"],
    )
    stale = GaugeMetricFamily(
        "ledger_projection_stale_seconds",
        "Age of the oldest event a projection has not applied (0: caught up)",
        labels=["projection"],
    )
    for name, projection in figures.projections.items():
        position.add_metric([name], projection.position)
        lag.add_metric([name], projection.lag)
        if projection.last_progress is not None:
            progress.add_metric([name], projection.last_progress.timestamp())
        stale.add_metric([name], projection.stale_seconds)
    yield from (position, lag, progress, stale)
    if figures.checkpoint_at is not None:
        yield GaugeMetricFamily(
            "ledger_checkpoint_age_seconds",
            "Age of the newest signed audit checkpoint",
            value=max((now - figures.checkpoint_at).total_seconds(), 0.0),
        )
        yield GaugeMetricFamily(
            "ledger_checkpoint_uncovered_events",
            "Events in the log the newest checkpoint does not cover",
            value=figures.head - figures.checkpoint_covers,
        )


class LedgerCollector(Collector):
    """The ledger's figures, read from its database each time Prometheus scrapes.

    The database is opened on the first scrape (the API may start before the ledger
    exists) and kept; a scrape that cannot read it reports ``ledger_up 0`` and logs why.
    """

    def __init__(self, database: Database, clock: Clock = wall_clock) -> None:
        self.database = database
        self.clock = clock
        self._app: LedgerApp | None = None
        self._engine: Engine | None = None
        self._lock = threading.Lock()  # one scrape at a time reads the database

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            try:
                if self._app is None:
                    self._app = open_app(self.database, create=False)
                if self._engine is None:
                    self._engine = engine_for(self.database)
                figures = operator_figures(self._app, self._engine, self.clock())
            except Exception as error:  # a scrape reports the outage, not a 500
                log.warning("metrics: cannot read the ledger's figures: %s", error)
                self.close()
                return [GaugeMetricFamily("ledger_up", _UP_HELP, value=0)]
            return [GaugeMetricFamily("ledger_up", _UP_HELP, value=1), *families(figures)]

    def close(self) -> None:
        """Let go of the database (opened again on the next scrape)."""
        if self._app is not None:
            self._app.close()
        if self._engine is not None:
            self._engine.dispose()
        self._app, self._engine = None, None


_UP_HELP = "1 when the ledger's figures could be read from its database"


# HTTP ---------------------------------------------------------------------------------


class RequestTimer:
    """ASGI middleware: each HTTP request's duration, by method, route template, status."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the application raises
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            self.histogram.labels(
                scope.get("method", ""), str(template or UNMATCHED), str(status)
            ).observe(time.perf_counter() - started)


def instrument(app: FastAPI, database_url: str, *, clock: Clock = wall_clock) -> None:
    """Time every request of ``app`` and serve ``GET /metrics`` from its own registry,
    with the ledger's figures read from ``database_url`` at each scrape (``clock``: the
    "now" SLA states are evaluated at; the wall clock)."""
    registry = CollectorRegistry(auto_describe=False)
    histogram = Histogram(
        "ledger_http_request_duration_seconds",
        "HTTP request duration by method, route template and status",
        ["method", "route", "status"],
        registry=registry,
    )
    collector = LedgerCollector(resolve_database(database_url), clock)
    registry.register(collector)
    app.add_middleware(RequestTimer, histogram=histogram)
    app.state.metrics_registry = registry

    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        include_in_schema=False,
        summary="Operator metrics (Prometheus text format)",
    )
    app.router.on_shutdown.append(collector.close)
