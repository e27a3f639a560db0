"""A seeded quarter of enterprise support and customer-success operations, as JSON Lines.

Deterministic: the same :class:`DemoSpec` always gives the same bytes (``random.Random``
seeded, no wall clock, no ``uuid4``). Each line says what it is meant to become
(``expect``): ``accept``, ``duplicate``, or the rule id it deliberately breaks, so the
demo can check the ledger against its own story.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/London",
    "America/Sao_Paulo",
    "Europe/Paris",
    "Asia/Singapore",
)
HOLIDAYS = {  # a few real public holidays inside the quarter
    "Europe/Berlin": ["2026-04-03"],
    "America/New_York": ["2026-01-19", "2026-02-16"],
    "America/Los_Angeles": ["2026-01-19"],
    "Asia/Kolkata": ["2026-01-26", "2026-03-04"],
    "Asia/Tokyo": ["2026-02-11", "2026-03-20"],
    "Australia/Sydney": ["2026-01-26"],
    "Europe/London": ["2026-04-03"],
    "America/Sao_Paulo": ["2026-02-16", "2026-02-17"],
}
CATEGORIES = {
    1: ("platform_down", "authentication_failure", "data_integrity_risk"),
    2: ("major_degradation", "partial_outage"),
    3: ("feature_issue",),
    4: ("how_to", "configuration"),
}
CHANNEL_SOURCE = {
    "support_portal": "support-portal",
    "enterprise_email": "email-gateway",
    "contract_channel": "crm",
}
TIERS = ("support_engineer", "platform_engineer", "security_infra_lead", "leadership")
TIER_ACTOR = {
    "support_engineer": "se-ana",
    "platform_engineer": "pe-li",
    "security_infra_lead": "sec-omar",
    "leadership": "lead-maria",
}
ROOT_CAUSES = ("CERT-EXPIRY", "DB-FAILOVER", "QUEUE-BACKLOG", "DEPLOY-REGRESSION", "DNS")
FIRST_RESPONSE_MINUTES = {1: (5, 80), 2: (20, 300), 3: (60, 900), 4: (120, 2400)}
RESOLUTION_HOURS = {1: (2, 12), 2: (8, 72), 3: (24, 200), 4: (12, 120)}


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: the seed, how many enterprise customers, and the quarter."""

    seed: int = 7
    customers: int = 24
    start: date = date(2026, 1, 5)
    days: int = 91


@dataclass(frozen=True)
class DemoLine:
    """One JSON line and what the ledger is meant to make of it."""

    raw: bytes
    expect: str


@dataclass(order=True)
class _Entry:
    arrival: datetime
    seq: int
    envelope: Any = field(compare=False)
    expect: str = field(compare=False)


@dataclass
class _Customer:
    id: str
    zone: ZoneInfo
    declining: bool = False
    silent_after: datetime | None = None


class _Quarter:
    """The simulation: it appends entries in story order, then sorts by arrival."""

    def __init__(self, spec: DemoSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.start = datetime.combine(spec.start, time(0), UTC)
        self.end = self.start + timedelta(days=spec.days)
        self.entries: list[_Entry] = []
        self.seq = 0
        self.next_ticket = 1001
        self.customers: list[_Customer] = []

    # Output -----------------------------------------------------------------------------

    def event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(
        self,
        type_: str,
        subject: str,
        at: datetime,
        data: dict[str, Any],
        *,
        actor: str,
        role: str,
        source: str,
        zone: ZoneInfo | None = None,
        expect: str = "accept",
        arrival: datetime | None = None,
    ) -> dict[str, Any]:
        envelope = {
            "event_id": self.event_id(),
            "type": type_,
            "schema_version": 1,
            "occurred_at": at.astimezone(zone or UTC).isoformat(),
            "source": source,
            "actor": {"id": actor, "role": role},
            "subject": subject,
            "data": data,
        }
        self.add(envelope, expect, arrival or at)
        return envelope

    def add(self, envelope: Any, expect: str, arrival: datetime) -> None:
        self.seq += 1
        self.entries.append(_Entry(arrival, self.seq, envelope, expect))

    def lines(self) -> list[DemoLine]:
        result = []
        for entry in sorted(self.entries):
            raw = (
                entry.envelope
                if isinstance(entry.envelope, bytes)
                else json.dumps(entry.envelope, separators=(",", ":")).encode()
            )
            result.append(DemoLine(raw, entry.expect))
        return result

    # Helpers --------------------------------------------------------------------------

    def minutes(self, low: float, high: float) -> timedelta:
        """A random span, in whole seconds (stored instants read better that way)."""
        return timedelta(seconds=round(self.rng.uniform(low, high) * 60))

    def local(self, day: date, hour: float, zone: ZoneInfo) -> datetime:
        naive = datetime.combine(day, time(0)) + timedelta(seconds=round(hour * 3600))
        return naive.replace(tzinfo=zone).astimezone(UTC)

    def day(self, n: int) -> date:
        return self.spec.start + timedelta(days=n)


def _customers(q: _Quarter) -> None:
    """Onboard the enterprise customers (and two self-serve ones) before the quarter."""
    names = (
        "Acme",
        "Globex",
        "Initech",
        "Umbrella",
        "Hooli",
        "Vandelay",
        "Stark",
        "Wayne",
        "Tyrell",
        "Cyberdyne",
        "Soylent",
        "Wonka",
        "Gringotts",
        "Monarch",
        "Oscorp",
    )
    for n in range(q.spec.customers):
        zone_name = ZONES[n % len(ZONES)]
        zone = ZoneInfo(zone_name)
        customer = _Customer(f"C-{n + 1:03d}", zone, declining=n % 7 == 3)
        if n % 9 == 5:
            customer.silent_after = q.start + timedelta(days=q.rng.randint(15, 30))
        calendar: dict[str, Any] = {"timezone": zone_name, "holidays": HOLIDAYS.get(zone_name, [])}
        if n % 5 == 2:
            calendar["hours"] = {d: ["08:00", "18:00"] for d in ("mon", "tue", "wed", "thu")}
            calendar["hours"]["fri"] = ["08:00", "14:00"]
        if n % 6 == 4:
            calendar["hours_per_business_day"] = 7.5
        at = q.start - timedelta(days=3) + timedelta(minutes=10 * n)
        q.emit(
            "customer.onboarded",
            customer.id,
            at,
            {
                "name": f"{names[n % len(names)]} {n + 1}",
                "tier": "enterprise",
                "calendar": calendar,
                "success_owner": f"cs-{'jo' if n % 2 else 'kim'}",
                "escalation_contact": f"ops@c{n + 1}.example",
                "decision_maker": {"name": f"Decider {n + 1}", "email": f"vp@c{n + 1}.example"},
            },
            actor="cs-jo",
            role="customer_success",
            source="crm",
            zone=zone,
        )
        q.customers.append(customer)
    for n in (1, 2):
        q.emit(
            "customer.onboarded",
            f"C-S{n:02d}",
            q.start - timedelta(days=2),
            {
                "name": f"Self Serve {n}",
                "tier": "self_serve",
                "calendar": {"timezone": "UTC"},
                "success_owner": "cs-pool",
                "escalation_contact": "help@selfserve.example",
                "decision_maker": {"name": "Owner", "email": f"owner{n}@selfserve.example"},
            },
            actor="cs-jo",
            role="customer_success",
            source="crm",
        )


def _success(q: _Quarter, c: _Customer) -> None:
    """Check-ins, milestones, weekly usage, surveys for one customer."""

    def engaged(at: datetime) -> bool:
        return c.silent_after is None or at < c.silent_after

    for k, milestone in enumerate(("sso_configured", "first_video_localized", "team_rollout")):
        at = q.start + timedelta(days=3 + 9 * k) + q.minutes(8 * 60, 40 * 60)
        if engaged(at):
            q.emit(
                "customer.milestone_reached",
                c.id,
                at,
                {"milestone": milestone},
                actor="cs-jo",
                role="customer_success",
                source="crm",
                zone=c.zone,
            )
    for month in range(3):
        scheduled = q.start + timedelta(days=30 * month + 1, hours=10)
        due = scheduled + timedelta(days=14)
        check_in = f"CI-{c.id}-{month + 1}"
        q.emit(
            "customer.check_in_scheduled",
            c.id,
            scheduled,
            {"check_in_id": check_in, "due_at": due.astimezone(c.zone).isoformat()},
            actor="cs-jo",
            role="customer_success",
            source="crm",
            zone=c.zone,
        )
        if engaged(due) and q.rng.random() < 0.85:
            q.emit(
                "customer.check_in_completed",
                c.id,
                due + q.minutes(-120, 600),
                {"check_in_id": check_in, "notes": "quarterly goals reviewed"},
                actor="cs-jo",
                role="customer_success",
                source="crm",
                zone=c.zone,
            )
    users = q.rng.randint(40, 400)
    for week in range(q.spec.days // 7):
        users = max(1, int(users * (0.9 if c.declining else q.rng.uniform(0.97, 1.06))))
        period_start = q.spec.start + timedelta(days=7 * week)
        q.emit(
            "customer.usage_reported",
            c.id,
            q.local(period_start + timedelta(days=7), 6, c.zone),
            {
                "period_start": period_start.isoformat(),
                "period_end": (period_start + timedelta(days=6)).isoformat(),
                "active_users": users,
                "videos_localized": users * q.rng.randint(1, 5),
                "error_count": q.rng.randint(0, 40 if c.declining else 8),
            },
            actor="usage-bot",
            role="system",
            source="usage-pipeline",
            zone=c.zone,
        )
    nps_at = q.start + timedelta(days=q.rng.randint(50, 80), hours=14)
    if engaged(nps_at):
        q.emit(
            "customer.survey_recorded",
            c.id,
            nps_at,
            {"kind": "nps", "score": q.rng.randint(2 if c.declining else 6, 10)},
            actor="survey-bot",
            role="system",
            source="crm",
            zone=c.zone,
        )


def _ticket(q: _Quarter, c: _Customer, opened_at: datetime, severity: int) -> None:
    """One ticket's story, cut off at the end of the quarter."""
    ticket_id = f"T-{q.next_ticket}"
    q.next_ticket += 1
    story = _TicketStory(q, c, ticket_id, opened_at, severity)
    story.tell()


class _TicketStory:
    def __init__(
        self, q: _Quarter, c: _Customer, ticket_id: str, at: datetime, severity: int
    ) -> None:
        self.q, self.c, self.id, self.at = q, c, ticket_id, at
        self.severity = severity
        self.highest = severity
        self.tier = 0
        self.temporary_fix = False
        self.channel = q.rng.choice(tuple(CHANNEL_SOURCE))

    def emit(
        self,
        type_: str,
        data: dict[str, Any],
        *,
        actor: str | None = None,
        role: str = "support_engineer",
        expect: str = "accept",
        arrival: datetime | None = None,
    ) -> dict[str, Any]:
        if self.at >= self.q.end:
            raise _QuarterOver
        return self.q.emit(
            type_,
            self.id,
            self.at,
            data,
            actor=actor or TIER_ACTOR[role],
            role=role,
            source=CHANNEL_SOURCE[self.channel] if role == "customer" else "support-portal",
            zone=self.c.zone,
            expect=expect,
            arrival=arrival,
        )

    def later(self, low: float, high: float) -> None:
        self.at += self.q.minutes(low, high)

    def tell(self) -> None:
        try:
            self._open()
            self._work()
            self._resolve_and_close()
        except _QuarterOver:
            pass

    def _open(self) -> None:
        rng = self.q.rng
        category = rng.choice(CATEGORIES[self.severity])
        data: dict[str, Any] = {
            "customer_id": self.c.id,
            "channel": self.channel,
            "title": f"{category.replace('_', ' ')} on {self.id}",
            "description": "reported by the customer",
            "severity": self.severity,
            "category": category,
        }
        if rng.random() < 0.04 and self.severity > 1:
            self.severity = data["severity"] = self.severity - 1
            self.highest = self.severity
            data["reason"] = "contractual priority for a launch week"
        self.emit("ticket.opened", data, actor=f"u-{rng.randint(100, 999)}", role="customer")
        self.later(1, 15)
        self.emit("ticket.assigned", {"assignee": "se-ana"})
        low, high = FIRST_RESPONSE_MINUTES[self.severity]
        self.later(low, high)
        self.emit("ticket.responded", {"public": True, "message": "We are on it."})
        self.emit("ticket.status_changed", {"status": "in_progress"})

    def _work(self) -> None:
        rng = self.q.rng
        if rng.random() < 0.1:
            self._retriage()
        if self.severity <= 2:
            for tier in range(1, 4):
                if rng.random() > (0.7 if tier == 1 else 0.3):
                    break
                self.later(10, 90)
                self.emit(
                    "ticket.escalated",
                    {
                        "to_tier": TIERS[tier],
                        "reason": f"needs {TIERS[tier]} expertise",
                        "escalated_to": TIER_ACTOR[TIERS[tier]],
                    },
                    role=TIERS[self.tier],
                )
                self.tier = tier
        updates = {1: (3, 10, 45, 75), 2: (1, 4, 900, 1700)}.get(self.severity)
        if updates:
            for _ in range(rng.randint(updates[0], updates[1])):
                self.later(updates[2], updates[3])
                self.emit("ticket.update_posted", {"message": "Mitigation in progress."})
        if rng.random() < 0.1:
            self.later(10, 60)
            self.emit("ticket.status_changed", {"status": "waiting_on_customer"})
            self.later(60, 600)
            self.emit(
                "ticket.responded",
                {"public": True, "message": "Logs attached."},
                actor="u-200",
                role="customer",
            )
            self.emit("ticket.status_changed", {"status": "in_progress"})
        if self.severity <= 2 and rng.random() < 0.5:
            self.later(20, 120)
            expires = self.at + timedelta(days=rng.randint(3, 14))
            self.emit(
                "ticket.temporary_fix_applied",
                {
                    "description": "traffic routed to the standby cluster",
                    "expires_at": expires.isoformat(),
                    "owner": "pe-li",
                },
                role="platform_engineer",
            )
            self.temporary_fix = True

    def _retriage(self) -> None:
        new = (
            self.severity + 1
            if self.severity < 4 and self.q.rng.random() < 0.5
            else max(1, self.severity - 1)
        )
        if new == self.severity:
            return
        self.later(5, 60)
        self.emit(
            "ticket.triaged",
            {
                "severity": new,
                "category": self.q.rng.choice(CATEGORIES[new]),
                "reason": "impact re-assessed with the customer",
            },
        )
        self.severity = new
        self.highest = min(self.highest, new)

    def _resolve_and_close(self) -> None:
        rng = self.q.rng
        low, high = RESOLUTION_HOURS[self.severity]
        self.later(low * 60, high * 60)
        if self.tier > 0 and rng.random() < 0.5:
            self.emit(
                "ticket.deescalated",
                {"to_tier": "support_engineer", "reason": "fix identified, back to support"},
                role=TIERS[self.tier],
            )
            self.tier = 0
        self.emit("ticket.resolved", {"resolution": "Root cause fixed and verified."})
        if rng.random() < 0.04:
            self.later(600, 2800)
            self.emit(
                "ticket.reopened",
                {"reason": "the problem came back"},
                role="customer",
                actor="u-300",
            )
            self.later(120, 1200)
            self.emit("ticket.resolved", {"resolution": "Second fix deployed and verified."})
        if rng.random() < 0.5:
            self.later(60, 600)
            self.q.emit(
                "customer.survey_recorded",
                self.c.id,
                self.at,
                {"kind": "csat", "score": rng.choice((2, 3, 4, 4, 5, 5)), "ticket_id": self.id},
                actor="survey-bot",
                role="system",
                source="crm",
                zone=self.c.zone,
            )
        if self.temporary_fix:
            if rng.random() < 0.25:
                return  # left to expire: a permanent temporary fix in the making
            self.later(600, 4000)
            self.emit(
                "ticket.permanent_fix_applied",
                {"description": "patched and deployed"},
                role="platform_engineer",
            )
        if self.highest <= 2:
            self._rca()
        if rng.random() < 0.85:
            self.later(60, 2000)
            self.emit("ticket.closed", {})

    def _rca(self) -> None:
        rng = self.q.rng
        code = rng.choice(ROOT_CAUSES)
        self.later(120, 1500)
        self.emit(
            "rca.root_cause_identified",
            {"root_cause": f"{code.lower()} on the rendering cluster", "root_cause_code": code},
            role="platform_engineer",
        )
        self.later(10, 120)
        self.emit(
            "rca.impact_assessed",
            {
                "impact": "localization jobs delayed",
                "customers_affected": rng.randint(1, 30),
                "duration_minutes": rng.randint(20, 600),
            },
            role="platform_engineer",
        )
        for n in range(rng.randint(1, 2)):
            self.later(5, 60)
            due = (self.at + timedelta(days=rng.randint(7, 30))).date().isoformat()
            self.emit(
                "rca.preventive_action_added",
                {
                    "action_id": f"PA-{n + 1}",
                    "description": "add an alert and a runbook step",
                    "owner": "pe-li",
                    "due_date": due,
                },
                role="platform_engineer",
            )
        if rng.random() < 0.5:
            self.later(5, 30)
            self.emit(
                "rca.timeline_entry_added",
                {
                    "at": (self.at - timedelta(hours=2)).isoformat(),
                    "entry": "monitoring showed queue growth",
                },
                role="platform_engineer",
            )
        self.later(5, 60)
        self.emit("rca.owner_assigned", {"owner": "pe-li"}, role="platform_engineer")
        self.later(60, 600)
        self.emit("rca.published", {}, role="leadership")


class _QuarterOver(Exception):
    """A story reached the end of the quarter: the rest has not happened yet."""


def _tickets(q: _Quarter) -> None:
    weights = (1, 2, 3.5, 3.5)
    for c in q.customers:
        for _ in range(q.rng.randint(10, 18)):
            severity = q.rng.choices((1, 2, 3, 4), weights)[0]
            day = q.day(q.rng.randrange(q.spec.days - 1))
            hour = q.rng.uniform(0, 24) if severity == 1 else q.rng.uniform(7.5, 18)
            _ticket(q, c, q.local(day, hour, c.zone), severity)


def _policy_change(q: _Quarter) -> None:
    proposed = q.start + timedelta(days=40, hours=10)
    targets = {
        "2": {
            "first_response": {"duration": "PT2H", "clock": "24x7"},
            "update_every": {"duration": "P1D", "clock": "business"},
        }
    }
    q.emit(
        "sla_policy.change_proposed",
        "SLA",
        proposed,
        {
            "proposal_id": "P-1",
            "targets": targets,
            "effective_at": (proposed + timedelta(days=7)).isoformat(),
        },
        actor="cs-jo",
        role="customer_success",
        source="crm",
    )
    q.emit(
        "sla_policy.change_approved",
        "SLA",
        proposed + timedelta(hours=2),
        {"proposal_id": "P-1"},
        actor="cs-jo",
        role="customer_success",
        source="crm",
        expect="R-SLA-6",
    )
    q.emit(
        "sla_policy.change_approved",
        "SLA",
        proposed + timedelta(days=1),
        {"proposal_id": "P-1"},
        actor="lead-maria",
        role="leadership",
        source="crm",
    )


def _account_changes(q: _Quarter) -> None:
    for k, c in enumerate(q.customers[:2]):
        q.emit(
            "customer.owner_changed",
            c.id,
            q.start + timedelta(days=20 + k, hours=9),
            {"success_owner": "cs-lee", "reason": "territory rebalancing"},
            actor="cs-jo",
            role="customer_success",
            source="crm",
            zone=c.zone,
        )
    renew, churn = q.customers[2], q.customers[3]
    q.emit(
        "customer.renewed",
        renew.id,
        q.end - timedelta(days=10),
        {"arr": "120000.00", "reason": "expanded to two more teams"},
        actor="cs-jo",
        role="customer_success",
        source="crm",
        zone=renew.zone,
    )
    q.emit(
        "customer.churned",
        churn.id,
        q.end - timedelta(days=5),
        {"arr": "48000.00", "reason": "moved localization in-house"},
        actor="cs-jo",
        role="customer_success",
        source="crm",
        zone=churn.zone,
    )


def generate(spec: DemoSpec = DemoSpec()) -> list[DemoLine]:
    """The quarter as JSON Lines, in arrival order."""
    q = _Quarter(spec)
    _customers(q)
    for c in q.customers:
        _success(q, c)
    _tickets(q)
    _policy_change(q)
    _account_changes(q)
    from ledger.demo_faults import add_faults

    add_faults(q)
    return q.lines()


def write_jsonl(lines: Iterable[DemoLine], path: Path) -> None:
    """Write the lines (malformed ones as they are), one per line."""
    with path.open("wb") as f:
        for line in lines:
            f.write(line.raw + b"\n")
