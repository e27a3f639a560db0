"""The tick: turns the passing of time into events, exactly once (R-SLA-5, R-SLA-7,
R-FIX-2, R-CS-3, R-EXC-2, R-RCA-5, R-PLAY-1, R-PLAY-4).

``due_events(rows, now)`` is pure: from the read-model rows as of ``now`` it lists every
``sla.breached``, ``sla.warning``, ``fix.temporary_expired``,
``customer.churn_risk_raised``, ``customer.exception_expired``, ``rca.action_overdue`` and
``play.overdue`` that has come due, each with an event id derived from what it is about
(uuid5), so that the same fact always gets the same id. ``tick`` writes those whose id
the ledger has not stored yet, through the aggregates, in one transaction; running it
twice writes nothing new, and two ticks racing collide on the event-id key and one of
them retries.

What each event is about, and when it occurred:

* ``sla.breached``: one per timer interval and breach instant; ``occurred_at`` is the
  due instant, or the severity change under R-SLA-4. A timer stopped in time (or
  re-targeted in time) has no breach, so none is written; a resolved ticket runs no
  timers, so its breaches stop.
* ``sla.warning``: one per timer interval whose warning threshold ran out while it ran
  (R-SLA-7: not stopped by then, not paused across it), breached since or not;
  ``occurred_at`` is ``warn_at`` (a pause covering it delays it, as the due instant).
* ``customer.exception_expired``: one per approved customer exception whose
  ``expires_at`` has passed (R-EXC-2); ``occurred_at`` is ``expires_at``.
* ``fix.temporary_expired``: one per temporary fix whose ``expires_at`` passed with no
  permanent fix since; ``occurred_at`` is ``expires_at``.
* ``rca.action_overdue``: one per preventive action and due date, when the action was
  neither completed nor cancelled before its due instant (the start of the day after its
  ``due_date``, UTC); ``occurred_at`` is that instant. Completed late, it was overdue all
  the same, so the tick writes it whenever it runs (``ledger.projections.actions``).
* ``customer.churn_risk_raised``: ``silent`` once per silence (``occurred_at`` = the last
  engagement signal + 30 days); ``low_health`` and ``sharp_drop`` once per calendar
  month (UTC) of ``now`` while they hold, so a customer at risk is raised again each
  month rather than once for ever.
* ``play.opened`` (R-PLAY-1): with each churn risk it writes, at the same instant, unless
  one of the customer's plays is not closed by then (the customer's aggregate decides, as
  the tick writes: ``Customer.open_play``); its id is derived from the churn risk's.
* ``play.overdue`` (R-PLAY-4): one per play not closed by its ``due_at``, at ``due_at``
  (a fact, like a breach: written whether or not the play was closed late since).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from eventsourcing.persistence import IntegrityError
from sqlalchemy import Engine

from ledger.adapters.event_store import LedgerApp
from ledger.adapters.store import BatchWrite
from ledger.aggregates.base import EventMeta
from ledger.aggregates.customer import Customer, Play
from ledger.aggregates.ticket import Ticket
from ledger.projections.actions import overdue_since
from ledger.projections.fold import Rows
from ledger.projections.health import SILENT_DAYS, health
from ledger.projections.sla import evaluate_record, warned_by
from ledger.projections.tickets import overdue_instant
from ledger.services.queries import answer, rows_as_of

NAMESPACE: Final = uuid.UUID("0f6b1c1e-7d38-5a3e-9b4c-6c6564676572")
ACTOR: Final = ("ledger", "system")
SOURCE: Final = "ledger-tick"
ATTEMPTS: Final = 3


@dataclass(frozen=True)
class Due:
    """An event the ledger owes the log."""

    subject: str
    type: str
    event_id: str
    occurred_at: datetime
    data: dict[str, Any]


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


def _at(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def breach_id(ticket_id: str, timer: str, breached_at: datetime) -> str:
    """The id of the ``sla.breached`` the tick writes for a timer's breach at
    ``breached_at``: one fact, one id, whoever derives it."""
    return _id(ticket_id, "sla.breached", timer, _at(breached_at))


def action_overdue_id(ticket_id: str, action_id: str, since: datetime) -> str:
    """The id of the ``rca.action_overdue`` the tick writes for an action overdue since
    ``since``."""
    return _id(ticket_id, "rca.action_overdue", action_id, _at(since))


def play_overdue_id(customer_id: str, play_id: str) -> str:
    """The id of the ``play.overdue`` the tick writes for a play (once per play)."""
    return _id(customer_id, "play.overdue", play_id)


def due_events(rows: Rows, now: datetime) -> list[Due]:
    """Everything that has come due by ``now``, from the rows as of ``now``."""
    due: list[Due] = []
    for record in rows["sla_timers"]:
        timer = evaluate_record(record, now)
        breached_at = timer["breached_at"]
        ticket_id = record["ticket_id"]
        if breached_at is not None:
            due.append(
                Due(
                    ticket_id,
                    "sla.breached",
                    breach_id(ticket_id, record["timer"], breached_at),
                    breached_at,
                    {
                        "timer": record["timer"],
                        "due_at": record["due_at"],
                        "policy_version": record["policy_version"],
                    },
                )
            )
        due.extend(_warning(record, now))
    for ticket in rows["tickets"]:
        expires_at = ticket["temporary_fix_expires_at"]
        if ticket["fix"] == "temporary" and expires_at is not None and expires_at <= now:
            ticket_id = ticket["ticket_id"]
            due.append(
                Due(
                    ticket_id,
                    "fix.temporary_expired",
                    _id(ticket_id, "fix.temporary_expired", _at(expires_at)),
                    expires_at,
                    {"expires_at": expires_at},
                )
            )
    for action in rows.get("rca_actions", []):
        since = overdue_since(action)
        if since is None or since > now:
            continue
        ticket_id = action["ticket_id"]
        due.append(
            Due(
                ticket_id,
                "rca.action_overdue",
                action_overdue_id(ticket_id, action["action_id"], since),
                since,
                {"action_id": action["action_id"], "due_at": since},
            )
        )
    for record in health(rows, now):
        cid = record["customer_id"]
        for flag in record["flags"]:
            if flag == "silent":
                at = record["last_engagement_at"] + timedelta(days=SILENT_DAYS)
                episode = _at(record["last_engagement_at"])
                reason = f"silent: no engagement since {episode}"
            else:
                at, episode = now, now.astimezone(UTC).strftime("%Y-%m")
                reason = (
                    f"low_health: health {record['score']} is below 50"
                    if flag == "low_health"
                    else f"sharp_drop: health fell {-record['trend']} points in 30 days"
                )
            due.append(
                Due(
                    cid,
                    "customer.churn_risk_raised",
                    _id(cid, "customer.churn_risk_raised", flag, episode),
                    at,
                    {"reason": reason, "health_score": record["score"]},
                )
            )
    for exception in rows.get("customer_exceptions", []):
        expires_at = exception["expires_at"]
        if exception["approved_at"] is not None and expires_at <= now:
            cid, eid = exception["customer_id"], exception["exception_id"]
            due.append(
                Due(
                    cid,
                    "customer.exception_expired",
                    _id(cid, "customer.exception_expired", eid),
                    expires_at,
                    {"exception_id": eid, "expires_at": expires_at},
                )
            )
    for play in rows.get("success_plays", []):
        if overdue(play["due_at"], play["closed_at"], now):
            due.append(_overdue(play["customer_id"], play["play_id"], play["due_at"]))
    return due


def overdue(due_at: datetime, closed_at: datetime | None, now: datetime) -> bool:
    """Whether a play is overdue by ``now``: its due instant passed and it was not closed
    by then (R-PLAY-4)."""
    return due_at <= now and (closed_at is None or closed_at > due_at)


def _overdue(customer_id: str, play_id: str, due_at: datetime) -> Due:
    return Due(
        customer_id,
        "play.overdue",
        play_overdue_id(customer_id, play_id),
        due_at,
        {"play_id": play_id},
    )


def _risk(reason: str) -> str:
    """The churn-risk flag a raise's reason starts with (``silent: ...``)."""
    return reason.partition(":")[0]


def _warning(record: dict[str, Any], now: datetime) -> list[Due]:
    """The interval's ``sla.warning`` once its threshold ran out while it ran (R-SLA-7)."""
    if not warned_by(record, now):
        return []
    ticket_id, warn_at = record["ticket_id"], record["warn_at"]
    return [
        Due(
            ticket_id,
            "sla.warning",
            _id(ticket_id, "sla.warning", record["seq"], _at(warn_at)),
            warn_at,
            {
                "timer": record["timer"],
                "warn_at": warn_at,
                "due_at": record["warn_due_at"],
                "policy_version": record["policy_version"],
            },
        )
    ]


@dataclass
class TickReport:
    """What a tick found due and what it wrote."""

    now: datetime
    due: int = 0
    written: dict[str, int] = field(default_factory=dict)
    events: list[Due] = field(default_factory=list)
    already_written: int = 0  # of the ``due``: written by an earlier tick

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "now": self.now,
            "due": self.due,
            "already_written": self.already_written,
            "written": self.written,
            "events": [
                {
                    "subject": d.subject,
                    "type": d.type,
                    "event_id": d.event_id,
                    "occurred_at": d.occurred_at,
                }
                for d in self.events
            ],
        }


def apply_due(
    load: Callable[[str], Any],
    todo: list[Due],
    recorded_at: datetime,
    now: datetime,
    aggregates: dict[str, Any] | None = None,
) -> tuple[list[Due], list[tuple[str, str, int, str | None]]]:
    """Record ``todo`` on the aggregates (``load(subject)`` gives one; each is loaded once,
    into ``aggregates``): what was written, the plays each churn risk opens and the plays
    already overdue among them included, and the event keys (id, subject, version) of
    everything written. The store is the caller's (``tick``; the demo's tests run this on
    aggregates in memory)."""
    aggregates = {} if aggregates is None else aggregates
    written: list[Due] = []
    keys: list[tuple[str, str, int, str | None]] = []

    def wrote(item: Due, aggregate: Any) -> None:
        written.append(item)
        keys.append((item.event_id, item.subject, aggregate.version, None))

    for item in todo:
        aggregate = aggregates.get(item.subject) or load(item.subject)
        meta = EventMeta(item.event_id, item.occurred_at, *ACTOR, SOURCE, recorded_at)
        aggregates[item.subject] = aggregate
        if item.type == "sla.breached":
            assert isinstance(aggregate, Ticket)
            aggregate.record_breach(meta, **item.data)
        elif item.type == "sla.warning":
            assert isinstance(aggregate, Ticket)
            aggregate.record_warning(meta, **item.data)
        elif item.type == "customer.exception_expired":
            assert isinstance(aggregate, Customer)
            found = aggregate.exceptions.get(item.data["exception_id"])
            if found is None or found.expired or found.approved_at is None:
                continue
            aggregate.record_exception_expired(meta, item.data["exception_id"])
        elif item.type == "fix.temporary_expired":
            assert isinstance(aggregate, Ticket)
            fix = aggregate.temporary_fix
            if fix is None or fix.expired or fix.expires_at != item.data["expires_at"]:
                continue
            aggregate.record_temporary_fix_expired(meta)
        elif item.type == "play.overdue":
            assert isinstance(aggregate, Customer)
            aggregate.record_play_overdue(meta, item.data["play_id"])
        elif item.type == "rca.action_overdue":
            assert isinstance(aggregate, Ticket)
            action = aggregate.rca.preventive_actions.get(item.data["action_id"])
            if action is None or overdue_instant(action["due_date"]) != item.data["due_at"]:
                continue  # restated since the rows were read: the next tick decides
            aggregate.record_action_overdue(meta, **item.data)
        else:
            assert isinstance(aggregate, Customer)
            aggregate.raise_churn_risk(meta, **item.data)
            wrote(item, aggregate)
            play = _open_play(aggregate, item, recorded_at)
            if play is None:
                continue
            opened = Due(
                item.subject,
                "play.opened",
                _id(item.event_id, "play.opened"),
                item.occurred_at,
                {"play_id": play.play_id},
            )
            wrote(opened, aggregate)
            if overdue(play.due_at, None, now):
                late = _overdue(item.subject, play.play_id, play.due_at)
                aggregate.record_play_overdue(
                    EventMeta(late.event_id, late.occurred_at, *ACTOR, SOURCE, recorded_at),
                    play.play_id,
                )
                wrote(late, aggregate)
            continue
        wrote(item, aggregate)
    return written, keys


def _open_play(customer: Customer, risk: Due, recorded_at: datetime) -> Play | None:
    """The play a churn risk opens (R-PLAY-1), or None when one covers its instant."""
    meta = EventMeta(
        _id(risk.event_id, "play.opened"), risk.occurred_at, *ACTOR, SOURCE, recorded_at
    )
    reason = risk.data["reason"]
    return customer.open_play(
        meta, risk=_risk(reason), reason=reason, churn_risk_event_id=risk.event_id
    )


def not_written(candidates: list[Due], stored: Collection[str]) -> list[Due]:
    """The candidates whose ids are not ``stored``, in the order they are written: by
    subject, then as they occurred (a customer's earliest churn risk opens its play)."""
    return sorted(
        (d for d in candidates if d.event_id not in stored),
        key=lambda d: (d.subject, d.occurred_at, d.type, d.event_id),
    )


def _write(app: LedgerApp, todo: list[Due], recorded_at: datetime, now: datetime) -> list[Due]:
    aggregates: dict[str, Any] = {}
    written, keys = apply_due(app.repository.get, todo, recorded_at, now, aggregates)
    batch = BatchWrite(received_at=recorded_at, event_keys=keys)
    app.store_events(aggregates.values(), batch=batch)
    return written


def tick(
    app: LedgerApp,
    engine: Engine,
    now: datetime,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> TickReport:
    """Write what has come due by ``now`` and is not in the log yet."""
    for attempt in range(1, ATTEMPTS + 1):
        rows = rows_as_of(app, engine, now)  # a subject that cannot be evaluated is left out:
        candidates = answer(rows, lambda r: due_events(r, now), "tick")  # logged, not fatal
        stored = app.store.known_inputs([d.event_id for d in candidates], []).accepted
        todo = not_written(candidates, stored)
        try:
            written = _write(app, todo, clock(), now) if todo else []
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
            continue
        already = len(candidates) - len(todo)
        report = TickReport(now, due=len(candidates), events=written, already_written=already)
        for d in written:
            report.written[d.type] = report.written.get(d.type, 0) + 1
        return report
    raise AssertionError("unreachable")
