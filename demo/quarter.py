"""A seeded quarter of enterprise support and customer-success operations, as JSON Lines.

``generate(DemoSpec())`` simulates one quarter (2026-01-05 to 2026-04-05, across the US
and EU daylight-saving changes) at a video-localisation vendor: enterprise customers
onboarded with their business calendars, a few hundred tickets from intake through
triage, escalation, fixes and RCA to closure, an SLA policy change approved by
leadership, check-ins, weekly usage, surveys, contract values (renewals at a higher and
a lower ARR, a mid-term expansion, a churn), and a sprinkling of bad input.

Beside the quarter's lines (``generate``), ``generate_quarter`` gives the instants the
ledger's tick runs at during the quarter and the success team's answers to the plays
those ticks open for silent customers (outreach, closings): they name plays by the ids
the ledger gives them, so they are accepted only by a ledger that ticked then (``ledger
demo`` does; ``DemoQuarter.in_arrival_order`` interleaves them with the quarter).

Every line says what the ledger is meant to make of it (``expect``): ``accept``,
``duplicate`` (an exact re-send) or the id of the rule it deliberately breaks. A
rejected event changes nothing, so each bad line sits where the valid story simply goes
on around it. Lines are in arrival order: by ``occurred_at``, except re-sends and late
deliveries, which arrive after they occurred.

Deterministic: one ``random.Random(seed)`` drives everything; no wall clock, no uuid4.
Standard library only, nothing else of ours.
"""

from __future__ import annotations

import json
import random
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

Json = dict[str, Any]
Actor = tuple[str, str]  # (id, role)

# Severities and their categories (R-SEV): the category implies the severity.
SEVERITY_CATEGORIES: Final[dict[int, tuple[str, ...]]] = {
    1: ("platform_down", "authentication_failure", "data_integrity_risk"),
    2: ("major_degradation", "partial_outage"),
    3: ("feature_issue",),
    4: ("how_to", "configuration"),
}
CATEGORY_SEVERITY: Final = {c: s for s, cats in SEVERITY_CATEGORIES.items() for c in cats}
ALL_CATEGORIES: Final = tuple(CATEGORY_SEVERITY)
SEVERITY_WEIGHTS: Final = (0.09, 0.19, 0.36, 0.36)

# Approved intake channels (R-IN-1) and the service each arrives through.
CHANNEL_SOURCES: Final = {
    "support_portal": "support-portal",
    "enterprise_email": "email-gateway",
    "contract_channel": "crm",
}
CHANNEL_WEIGHTS: Final = (0.6, 0.3, 0.1)
# Intake faults: (what the customer did, the rule it breaks).
INTAKE_FAULTS: Final = (
    ("chat", "R-IN-1"),
    ("unknown_category", "R-IN-3"),
    ("direct_message", "R-IN-1"),
    ("severity_without_reason", "R-SEV-1"),
    ("personal_email", "R-IN-1"),
)
BYPASS_SOURCES: Final = {
    "chat": "chat-bridge",
    "direct_message": "chat-bridge",
    "personal_email": "email-gateway",
}

TIERS: Final = ("support_engineer", "platform_engineer", "security_infra_lead", "leadership")
STAFF: Final[dict[str, tuple[str, ...]]] = {
    "support_engineer": ("se-ana", "se-bo", "se-kai", "se-mia"),
    "platform_engineer": ("pe-li", "pe-sam", "pe-noor"),
    "security_infra_lead": ("sec-omar",),
    "leadership": ("lead-maria", "lead-tom"),
}
SUCCESS_OWNERS: Final = ("cs-jo", "cs-kim", "cs-ravi", "cs-lena")
USAGE_PIPELINE: Final[Actor] = ("usage-pipeline", "customer_success")  # not system (R-IN-8)

# Deliberate faults and rare turns of the story: (every n-th eligible moment, at most).
QUOTAS: Final[dict[str, tuple[int, int]]] = {
    "intake": (28, 10),
    "filed_with_reason": (35, 6),
    "retriage": (20, 16),
    "blank_escalation": (26, 4),
    "skipped_tier": (25, 3),
    "late_delivery": (55, 12),
    "verbal_resolution": (50, 6),
    "reopen": (65, 3),
    "close_with_temporary_fix": (18, 3),
    "incomplete_rca": (26, 4),
    "close_before_rca": (11, 4),
}
QUARTER: Final = timedelta(days=91)  # ticket volumes are per quarter
LATE_SHARE: Final = 0.12  # first responses that miss their target; updates miss half as often


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: the seed, how many enterprise customers, and the quarter."""

    seed: int = 7
    customers: int = 24
    start: date = date(2026, 1, 5)
    days: int = 91


@dataclass(frozen=True)
class DemoLine:
    """One line of the stream and what the ledger is meant to make of it.

    ``expect`` is ``accept``, ``duplicate`` or the rule id the line deliberately breaks
    (``R-IN-1``, ``R-WIRE-1``, ...); ``arrival`` is when it reaches the ledger.
    """

    raw: bytes
    expect: str
    arrival: datetime | None = None


@dataclass(frozen=True)
class DemoQuarter:
    """The quarter's lines; the instants the ledger's tick runs at during the quarter
    (``ticks``, before the one at its end); and ``plays``, the success team's answers
    (outreach, closings) to the plays those ticks open, which need them."""

    lines: list[DemoLine]
    ticks: list[datetime]
    plays: list[DemoLine]

    def in_arrival_order(self) -> list[tuple[str, DemoLine]]:
        """Every line, each with its stream (``quarter`` or ``plays``), in arrival order
        (a quarter's line first at equal instants)."""
        tagged = [("quarter", line) for line in self.lines] + [("plays", p) for p in self.plays]
        order = {"quarter": 0, "plays": 1}
        return sorted(tagged, key=lambda t: (t[1].arrival or _NEVER, order[t[0]]))


def quarter_end(spec: DemoSpec) -> datetime:
    """The demo's "now": midnight UTC after the quarter's last day."""
    return datetime.combine(spec.start + timedelta(days=spec.days), time(0), tzinfo=UTC)


def generate(spec: DemoSpec = DemoSpec()) -> list[DemoLine]:
    """The quarter as JSON Lines, in arrival order."""
    return generate_quarter(spec).lines


def generate_quarter(spec: DemoSpec = DemoSpec()) -> DemoQuarter:
    """The quarter's lines, the tick's instants and the answers to its plays."""
    quarter = _Quarter(spec)
    _onboard_customers(quarter)
    _change_sla_policy(quarter)
    for customer in quarter.customers:
        _customer_success(quarter, customer)
    _account_changes(quarter)
    for number, plan in enumerate(_plan_tickets(quarter), start=1001):
        _TicketStory(quarter, plan, f"T-{number}").tell()
    _resend(quarter)
    _wire_faults(quarter)
    ticks, plays = _success_operations(quarter)
    _follow_through_and_product_loop(quarter)  # issue 20 (T-9001 and T-9002 included)
    _reviewed_exception(quarter)  # ids from a generator of its own
    _change_calendars(quarter)  # last: the story before it draws the same numbers
    return DemoQuarter(quarter.stream.lines(), ticks, plays.lines())


def write_jsonl(lines: Iterable[DemoLine], path: Path) -> None:
    """Write the lines, one per line (malformed ones exactly as they are)."""
    with path.open("wb") as out:
        for line in lines:
            out.write(line.raw + b"\n")


# Time ---------------------------------------------------------------------------------


_NEVER: Final = datetime.max.replace(tzinfo=UTC)


def _stamp(instant: datetime, zone: ZoneInfo | None = None) -> str:
    """RFC 3339 with offset: the customer's local offset, or +00:00."""
    return instant.astimezone(zone or UTC).isoformat(timespec="seconds")


def _seconds(amount: float) -> timedelta:
    """A span in whole seconds: stored instants read better that way."""
    return timedelta(seconds=round(amount))


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return _seconds(rng.uniform(low, high) * 60)


def _hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class _Calendar:
    """A customer's business calendar, enough to place events in business time."""

    zone: ZoneInfo
    week: tuple[tuple[int, int] | None, ...]  # opening minutes per weekday, Monday first
    holidays: frozenset[date]
    hours_per_business_day: float

    @property
    def business_day(self) -> timedelta:
        """One business day (P1D on the business clock)."""
        return timedelta(hours=self.hours_per_business_day)

    def local(self, day: date, minutes: float) -> datetime:
        """Local wall time on ``day`` as a UTC instant (whole seconds)."""
        wall = datetime.combine(day, time(0)) + _seconds(minutes * 60)
        return wall.replace(tzinfo=self.zone).astimezone(UTC)

    def opening(self, day: date) -> tuple[datetime, datetime] | None:
        """The local date's opening hours as UTC instants, or None when closed."""
        hours = self.week[day.weekday()]
        if hours is None or day in self.holidays:
            return None
        return self.local(day, hours[0]), self.local(day, hours[1])

    def business_day_from(self, day: date) -> date:
        """``day`` if open, else the next open local date."""
        while self.opening(day) is None:
            day += timedelta(days=1)
        return day

    def add(self, start: datetime, business: timedelta) -> datetime:
        """The instant ``business`` of business time after ``start``."""
        remaining = _seconds(business.total_seconds())
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        while True:
            interval = self.opening(day)
            day += timedelta(days=1)
            if interval is None or interval[1] <= start:
                continue
            begin = max(interval[0], start)
            if remaining <= interval[1] - begin:
                return begin + remaining
            remaining -= interval[1] - begin


@dataclass(frozen=True)
class _Target:
    """An SLA target as the generator aims at it: minutes on 24x7, or business days."""

    clock: str
    amount: float

    def due(self, start: datetime, calendar: _Calendar, fraction: float = 1.0) -> datetime:
        """When ``fraction`` of the target has passed since ``start``."""
        if self.clock == "24x7":
            return start + _seconds(self.amount * 60 * fraction)
        return calendar.add(start, calendar.business_day * (self.amount * fraction))


# Policy version 1 (event-contract.md), and the change proposed mid-quarter.
FIRST_RESPONSE: Final = {
    1: _Target("24x7", 60),
    2: _Target("24x7", 240),
    3: _Target("business", 1),
    4: _Target("business", 2),
}
UPDATE_EVERY: Final = {1: _Target("24x7", 60), 2: _Target("business", 1)}
PROPOSED_TARGETS: Final[Json] = {
    "2": {
        "first_response": {"duration": "PT2H", "clock": "24x7"},
        "update_every": {"duration": "P1D", "clock": "business"},
    }
}
PROPOSED_FIRST_RESPONSE: Final = {2: _Target("24x7", 120)}


# The stream ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    arrival: datetime
    order: float
    raw: bytes
    expect: str
    envelope: Json | None  # None for lines that are not an envelope


class _Stream:
    """Lines in story order; sorted into arrival order at the end."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.entries: list[_Entry] = []

    def event_id(self) -> str:
        """A fresh, seeded UUID."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(
        self,
        event_type: str,
        subject: str,
        at: datetime,
        data: Json,
        actor: Actor,
        source: str,
        *,
        zone: ZoneInfo | None = None,
        expect: str = "accept",
        arrival: datetime | None = None,
    ) -> Json:
        """Append one envelope (contract field order) and return it."""
        envelope: Json = {
            "event_id": self.event_id(),
            "type": event_type,
            "schema_version": 1,
            "occurred_at": _stamp(at, zone),
            "source": source,
            "actor": {"id": actor[0], "role": actor[1]},
            "subject": subject,
            "data": data,
        }
        self.add(_dumps(envelope), expect, arrival or at, envelope)
        return envelope

    def add(
        self,
        raw: bytes,
        expect: str,
        arrival: datetime,
        envelope: Json | None = None,
        order: float | None = None,
    ) -> None:
        """Append one line as it is."""
        position = float(len(self.entries)) if order is None else order
        self.entries.append(_Entry(arrival, position, raw, expect, envelope))

    def accepted(self, event_type: str | None = None) -> list[_Entry]:
        """Entries meant to be accepted, optionally of one type, in story order."""
        return [
            e
            for e in self.entries
            if e.expect == "accept"
            and e.envelope is not None
            and (event_type is None or e.envelope["type"] == event_type)
        ]

    def lines(self) -> list[DemoLine]:
        """Every line in arrival order (ties keep story order)."""
        ordered = sorted(self.entries, key=lambda e: (e.arrival, e.order))
        return [DemoLine(e.raw, e.expect, e.arrival) for e in ordered]


def _dumps(envelope: Json) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _Quotas:
    """Which eligible moments get a deliberate fault or a rare turn: every n-th, up to a cap.

    Counting (not drawing) keeps the bad input spread over the quarter and makes every
    kind appear for any seed that has enough eligible moments.
    """

    def __init__(self, plan: Mapping[str, tuple[int, int]]) -> None:
        self.plan = dict(plan)
        self.seen: Counter[str] = Counter()
        self.taken: Counter[str] = Counter()

    def take(self, kind: str) -> bool:
        """Count one eligible moment of ``kind``; True when it is the one to use."""
        every, cap = self.plan[kind]
        self.seen[kind] += 1
        if self.taken[kind] >= cap or self.seen[kind] % every:
            return False
        self.taken[kind] += 1
        return True


# Customers ----------------------------------------------------------------------------

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPENING_HOURS: Final[dict[str, tuple[dict[str, tuple[str, str]], float | None]]] = {
    "office": ({}, None),  # the default Mon-Fri 09:00-17:00, 8 hours
    "long": ({d: ("08:00", "18:00") for d in WEEKDAYS[:5]}, 10.0),
    "short_friday": (
        {**{d: ("09:00", "17:30") for d in WEEKDAYS[:4]}, "fri": ("09:00", "14:00")},
        7.5,
    ),
    "six_day": ({d: ("07:00", "19:00") for d in WEEKDAYS[:6]}, 12.0),
    "lunch_break": ({d: ("09:00", "18:00") for d in WEEKDAYS[:5]}, 8.0),
    "sun_thu": ({d: ("08:30", "17:00") for d in ("sun", "mon", "tue", "wed", "thu")}, 8.5),
}
# National holidays inside the quarter (2026), by time zone.
HOLIDAYS: Final[dict[str, tuple[str, ...]]] = {
    "Europe/Berlin": ("2026-04-03",),
    "America/New_York": ("2026-01-19", "2026-02-16"),
    "America/Los_Angeles": ("2026-01-19", "2026-02-16"),
    "America/Chicago": ("2026-01-19", "2026-02-16"),
    "Asia/Kolkata": ("2026-01-26", "2026-03-04"),
    "Asia/Tokyo": ("2026-01-12", "2026-02-11", "2026-02-23", "2026-03-20"),
    "Australia/Sydney": ("2026-01-26", "2026-04-03"),
    "Europe/London": ("2026-04-03",),
    "America/Sao_Paulo": ("2026-02-16", "2026-02-17", "2026-04-03"),
    "Asia/Singapore": ("2026-02-17", "2026-02-18", "2026-04-03"),
    "Europe/Oslo": ("2026-04-02", "2026-04-03"),
}
# (name, time zone, opening hours, with national holidays, decision maker)
PROFILES: Final = (
    ("Nordlicht Medien GmbH", "Europe/Berlin", "office", True, "Katrin Vogel"),
    ("Hudson Learning Inc.", "America/New_York", "office", True, "Marcus Reed"),
    ("Pacific Reel Studios", "America/Los_Angeles", "long", True, "Dana Whitfield"),
    ("Ganga EdTech Pvt Ltd", "Asia/Kolkata", "six_day", True, "Priya Raman"),
    ("Sakura Broadcasting K.K.", "Asia/Tokyo", "lunch_break", True, "Hiroshi Tanaka"),
    ("Harbour Bridge Training", "Australia/Sydney", "office", True, "Chloe Nguyen"),
    ("Thames Compliance Ltd", "Europe/London", "office", False, "Oliver Grant"),
    ("Paulista Varejo S.A.", "America/Sao_Paulo", "long", True, "João Ferreira"),
    ("Lumière Formation SAS", "Europe/Paris", "short_friday", False, "Élodie Martin"),
    ("Merlion Fintech Pte Ltd", "Asia/Singapore", "office", True, "Wei Ling Tan"),
    ("Prairie Health Systems", "America/Chicago", "office", True, "Sarah Olsen"),
    ("Carmel Secure Ltd", "Asia/Jerusalem", "sun_thu", False, "Noa Levi"),
    ("Rheinwerk Industrie AG", "Europe/Berlin", "short_friday", True, "Jürgen Schmitt"),
    ("Brooklyn Podcast Network", "America/New_York", "long", False, "Aaliyah Brooks"),
    ("Cascadia Outdoor Co.", "America/Los_Angeles", "office", False, "Ben Carter"),
    ("Deccan Insurance Ltd", "Asia/Kolkata", "office", True, "Arjun Mehta"),
    ("Osaka Game Works", "Asia/Tokyo", "office", False, "Yuki Sato"),
    ("Southern Cross Mining", "Australia/Sydney", "long", False, "Liam O'Connor"),
    ("Albion Retail Group", "Europe/London", "long", True, "Hannah Price"),
    ("Rio Verde Logística", "America/Sao_Paulo", "office", False, "Beatriz Costa"),
    ("Seine Luxe Maison", "Europe/Paris", "office", False, "Camille Durand"),
    ("Straits Shipping Co.", "Asia/Singapore", "six_day", False, "Rajesh Kumar"),
    ("Lakeshore University", "America/Chicago", "short_friday", True, "Emily Novak"),
    ("Fjord Energi AS", "Europe/Oslo", "office", True, "Ingrid Haugen"),
)


@dataclass
class _Customer:
    """A customer and what the story decided about its quarter."""

    id: str
    name: str
    tier: str
    calendar: _Calendar
    wire_calendar: Json
    domain: str
    decision_maker: str
    users: tuple[str, ...]
    owners: list[tuple[datetime, str]]  # (from, success owner), earliest first
    onboarded_at: datetime
    onboarded: bool = True  # False: a customer id nobody ever onboarded
    new_logo: bool = False
    declining: bool = False
    silent_from: datetime | None = None
    churned_at: datetime | None = None
    renewed_at: datetime | None = None
    owner_change_reasons: list[str] = field(default_factory=list)

    def owner_at(self, at: datetime) -> str:
        """The success owner at an instant."""
        return [owner for since, owner in self.owners if since <= at][-1]

    def active(self, at: datetime) -> bool:
        """Onboarded and not churned at ``at``."""
        return self.onboarded_at < at and (self.churned_at is None or at < self.churned_at)

    def engaged(self, at: datetime) -> bool:
        """Active and not gone silent: it answers surveys, meets, opens tickets."""
        return self.active(at) and (self.silent_from is None or at < self.silent_from)


class _Quarter:
    """The simulation's shared state: the stream, the customers, the policy."""

    def __init__(self, spec: DemoSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.stream = _Stream(self.rng)
        self.quotas = _Quotas(QUOTAS)
        self.start = datetime.combine(spec.start, time(0), UTC)
        self.end = self.start + timedelta(days=spec.days)
        self.customers: list[_Customer] = []  # enterprise
        self.out_of_scope: list[_Customer] = []  # self-serve, and one never onboarded
        self.policy_v2_from: datetime | None = None

    def day(self, offset: float) -> datetime:
        """The quarter's start plus ``offset`` days."""
        return self.start + _seconds(offset * 86400)

    def first_response_target(self, severity: int, opened_at: datetime) -> _Target:
        """The first-response target of the policy in force when the ticket opened."""
        if self.policy_v2_from is not None and opened_at >= self.policy_v2_from:
            return PROPOSED_FIRST_RESPONSE.get(severity, FIRST_RESPONSE[severity])
        return FIRST_RESPONSE[severity]


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = [w for w in "".join(c if c.isalnum() else " " for c in ascii_name).lower().split()]
    return "-".join(words[:2])


def _profile(number: int) -> tuple[str, str, str, bool, str]:
    if number <= len(PROFILES):
        return PROFILES[number - 1]
    name, zone, hours, holidays, person = PROFILES[(number - 1) % len(PROFILES)]
    return f"{name.split()[0]} Holdings {number}", zone, hours, holidays, person


def _make_customer(q: _Quarter, number: int, onboarded_at: datetime) -> _Customer:
    name, zone_name, hours_kind, with_holidays, person = _profile(number)
    hours, hours_per_day = OPENING_HOURS[hours_kind]
    holidays = HOLIDAYS.get(zone_name, ()) if with_holidays else ()
    wire: Json = {"timezone": zone_name}
    if hours:
        wire["hours"] = {day: list(span) for day, span in hours.items()}
    if holidays:
        wire["holidays"] = list(holidays)
    if hours_per_day is not None:
        wire["hours_per_business_day"] = hours_per_day
    week = tuple((_hhmm(hours[d][0]), _hhmm(hours[d][1])) if d in hours else None for d in WEEKDAYS)
    calendar = _Calendar(
        ZoneInfo(zone_name),
        week if hours else ((540, 1020),) * 5 + (None, None),
        frozenset(date.fromisoformat(d) for d in holidays),
        hours_per_day or 8.0,
    )
    users = tuple(f"u-{100 + 10 * number + k}" for k in range(3))
    owner = SUCCESS_OWNERS[number % len(SUCCESS_OWNERS)]
    return _Customer(
        id=f"C-{number:03d}",
        name=name,
        tier="enterprise",
        calendar=calendar,
        wire_calendar=wire,
        domain=_slug(name) + ".example",
        decision_maker=person,
        users=users,
        owners=[(q.start - timedelta(days=365), owner)],
        onboarded_at=onboarded_at,
    )


def _assign_roles(q: _Quarter) -> None:
    """Decide who is new, declining, silent, churning, renewing or changing hands."""
    rng, customers = q.rng, q.customers
    order = rng.sample(range(len(customers)), len(customers))
    for n, index in enumerate(order[:2]):
        onboarding_day = 16 + 26 * n
        if onboarding_day + 28 > q.spec.days:  # a new logo needs a month to tell its story
            continue
        new = customers[index]
        new.new_logo = True
        day = new.calendar.business_day_from(q.day(onboarding_day).date())
        new.onboarded_at = new.calendar.local(day, 10 * 60 + rng.randint(0, 90))
    for index in order[2:5]:
        customers[index].declining = True
    for index in order[5:8]:
        customers[index].silent_from = q.day(rng.uniform(28, 40))
    for index in order[2:3]:
        customers[index].churned_at = q.day(rng.uniform(80, 87))
    for index in order[8:9]:
        customers[index].renewed_at = q.day(rng.uniform(70, 84))
    reasons = ("territory rebalancing after two new hires", "cs-kim moves to the APAC team")
    for index, reason in zip(order[9:11], reasons, strict=False):
        new_owner = rng.choice([o for o in SUCCESS_OWNERS if o != customers[index].owners[0][1]])
        customers[index].owners.append((q.day(rng.uniform(30, 55)), new_owner))
        customers[index].owner_change_reasons.append(reason)


def _onboard_customers(q: _Quarter) -> None:
    """Onboard the enterprise customers (one with a bad first try) and two self-serve ones."""
    for number in range(1, q.spec.customers + 1):
        crm_sync = q.start + timedelta(minutes=30 + 3 * number)
        q.customers.append(_make_customer(q, number, crm_sync))
    _assign_roles(q)
    established = [c for c in q.customers if not c.new_logo]
    careless = q.rng.choice(established) if established else None
    for customer in sorted(q.customers, key=lambda c: c.onboarded_at):
        if customer is careless:
            _onboard(q, customer, blank_email=True, expect="R-CS-1")
            customer.onboarded_at += _minutes(q.rng, 40, 150)
        _onboard(q, customer)
    _onboard_self_serve(q)


def _onboarded_data(customer: _Customer, *, blank_email: bool) -> Json:
    first, _, last = customer.decision_maker.partition(" ")
    local_part = _slug(f"{first} {last}").replace("-", ".")
    email = "" if blank_email else f"{local_part}@{customer.domain}"
    return {
        "name": customer.name,
        "tier": customer.tier,
        "calendar": customer.wire_calendar,
        "success_owner": customer.owner_at(customer.onboarded_at),
        "escalation_contact": f"support-escalations@{customer.domain}",
        "decision_maker": {"name": customer.decision_maker, "email": email},
    }


def _onboard(
    q: _Quarter,
    customer: _Customer,
    *,
    blank_email: bool = False,
    expect: str = "accept",
) -> None:
    q.stream.emit(
        "customer.onboarded",
        customer.id,
        customer.onboarded_at,
        _onboarded_data(customer, blank_email=blank_email),
        (customer.owner_at(customer.onboarded_at), "customer_success"),
        "crm",
        expect=expect,
    )


def _outsider(q: _Quarter, number: int, name: str, tier: str, *, onboarded: bool) -> _Customer:
    """A customer enterprise support does not cover: self-serve, or never onboarded."""
    return _Customer(
        id=f"C-{number:03d}",
        name=name,
        tier=tier,
        calendar=_Calendar(ZoneInfo("UTC"), ((540, 1020),) * 5 + (None, None), frozenset(), 8.0),
        wire_calendar={"timezone": "UTC"},
        domain=_slug(name) + ".example",
        decision_maker="Sam Rivera",
        users=(f"u-{900 + number % 100}",),
        owners=[(q.start, "cs-digital")],
        onboarded_at=q.start + timedelta(hours=1, minutes=number % 60),
        onboarded=onboarded,
    )


def _onboard_self_serve(q: _Quarter) -> None:
    """Two self-serve customers, and one id nobody onboarded: targets for R-IN-2."""
    first = q.spec.customers + 1
    for number, name in enumerate(("Pixel Pals Studio", "Indie Vlog Works"), start=first):
        customer = _outsider(q, number, name, "self_serve", onboarded=True)
        _onboard(q, customer)
        q.out_of_scope.append(customer)
    q.out_of_scope.append(
        _outsider(q, first + 2, "Unknown Prospect", "enterprise", onboarded=False)
    )


# The SLA policy -----------------------------------------------------------------------


def _change_sla_policy(q: _Quarter) -> None:
    """Customer success proposes a faster Sev2 first response; leadership approves it.

    Two approvals come first from people who may not give one (R-SLA-6).
    """
    proposed_at = q.day(38 + 15 / 24)
    if proposed_at + timedelta(days=8) >= q.end:
        return
    effective = datetime.combine((proposed_at + timedelta(days=7)).date(), time(0), UTC)
    proposer: Actor = ("cs-jo", "customer_success")
    data = {"proposal_id": "P-1", "targets": PROPOSED_TARGETS, "effective_at": _stamp(effective)}
    q.stream.emit("sla_policy.change_proposed", "SLA", proposed_at, data, proposer, "crm")
    approved_at = proposed_at + timedelta(hours=19, minutes=12)
    approvals: tuple[tuple[timedelta, Actor, str, str], ...] = (
        (timedelta(minutes=47), proposer, "crm", "R-SLA-6"),  # approves their own proposal
        (timedelta(hours=3), ("se-bo", "support_engineer"), "support-portal", "R-SLA-6"),
        (approved_at - proposed_at, ("lead-maria", "leadership"), "crm", "accept"),
    )
    for delay, approver, source, expect in approvals:
        q.stream.emit(
            "sla_policy.change_approved",
            "SLA",
            proposed_at + delay,
            {"proposal_id": "P-1"},
            approver,
            source,
            expect=expect,
        )
    q.policy_v2_from = max(effective, approved_at)


# Business calendars (R-CAL) -------------------------------------------------------------


def _change_calendars(q: _Quarter) -> None:
    """Two calendar changes, approved by leadership (R-CAL-1):

    * a company holiday added mid-quarter for the customer of the first Sev3/Sev4 ticket
      opened from mid-quarter on whose first response spans a business day after its
      opening (any ticket's, in a quarter too short for one): approved while that
      ticket's timer runs, effective at the start of that day, so the running timer counts
      its time before the change on the old calendar and after it on the new one;
    * next year's national holidays for the first enterprise customer, proposed near the
      quarter's end and effective from 1 January 2027 (local), after the quarter; its
      proposer approves it first (rejected, R-CAL-1), then a leader.
    """
    _holiday_mid_quarter(q)
    _next_years_holidays(q)


def _wire_calendar(customer: _Customer, holidays: Iterable[date]) -> Json:
    """The customer's calendar with more holidays (the whole calendar, as a change sends it)."""
    old = customer.wire_calendar.get("holidays", [])
    return {
        **customer.wire_calendar,
        "holidays": sorted({*old, *(d.isoformat() for d in holidays)}),
    }


def _holiday_mid_quarter(q: _Quarter) -> None:
    by_id = {c.id: c for c in q.customers}
    answered: dict[str, datetime] = {}
    for entry in q.stream.accepted("ticket.responded"):
        envelope = _envelope(entry)
        if envelope["data"]["public"] and envelope["actor"]["role"] != "customer":
            answered.setdefault(
                envelope["subject"], datetime.fromisoformat(envelope["occurred_at"])
            )
    middle = q.day(q.spec.days / 2)
    openings = q.stream.accepted("ticket.opened")
    later = [e for e in openings if datetime.fromisoformat(_envelope(e)["occurred_at"]) >= middle]
    for entry in later + openings:  # from mid-quarter on, if any ticket there will do
        envelope = _envelope(entry)
        customer = by_id.get(envelope["data"]["customer_id"])
        response = answered.get(envelope["subject"])
        if customer is None or response is None or envelope["data"]["severity"] < 3:
            continue
        opened = datetime.fromisoformat(envelope["occurred_at"]).astimezone(UTC)
        calendar = customer.calendar
        day = opened.astimezone(calendar.zone).date() + timedelta(days=1)
        while calendar.local(day, 0) < response and calendar.opening(day) is None:
            day += timedelta(days=1)
        starts = calendar.local(day, 0)
        if starts >= response or starts < opened + timedelta(hours=2):
            continue
        owner: Actor = (customer.owner_at(opened), "customer_success")
        data = {
            "proposal_id": f"CAL-{customer.id}-{day.isoformat()}",
            "calendar": _wire_calendar(customer, [day]),
            "effective_at": _stamp(starts, calendar.zone),
        }
        proposed = opened + timedelta(minutes=20)
        zone = calendar.zone
        q.stream.emit(
            "customer.calendar_change_proposed",
            customer.id,
            proposed,
            data,
            owner,
            "crm",
            zone=zone,
        )
        approval = {"proposal_id": data["proposal_id"]}
        lead: Actor = ("lead-tom", "leadership")
        q.stream.emit(
            "customer.calendar_change_approved",
            customer.id,
            opened + timedelta(hours=1),
            approval,
            lead,
            "crm",
            zone=zone,
        )
        return


def _next_years_holidays(q: _Quarter) -> None:
    customer = q.customers[0]
    proposed = q.end - timedelta(days=4, hours=-10)
    if proposed <= max(customer.onboarded_at, q.start):
        return
    holidays = [  # New Year, Good Friday, Easter Monday, Christmas
        date(2027, 1, 1),
        date(2027, 3, 26),
        date(2027, 3, 29),
        date(2027, 12, 24),
        date(2027, 12, 25),
        date(2027, 12, 26),
    ]
    zone = customer.calendar.zone
    data = {
        "proposal_id": f"CAL-{customer.id}-2027",
        "calendar": _wire_calendar(customer, holidays),
        "effective_at": _stamp(datetime(2027, 1, 1, tzinfo=zone), zone),
    }
    owner: Actor = (customer.owner_at(proposed), "customer_success")
    q.stream.emit(
        "customer.calendar_change_proposed", customer.id, proposed, data, owner, "crm", zone=zone
    )
    approval = {"proposal_id": data["proposal_id"]}
    q.stream.emit(
        "customer.calendar_change_approved",
        customer.id,
        proposed + timedelta(minutes=30),
        approval,
        owner,
        "crm",
        zone=zone,
        expect="R-CAL-1",
    )
    lead: Actor = ("lead-maria", "leadership")
    q.stream.emit(
        "customer.calendar_change_approved",
        customer.id,
        proposed + timedelta(hours=20),
        approval,
        lead,
        "crm",
        zone=zone,
    )


# A reviewed exception (R-EXC) ------------------------------------------------------------

EXCEPTION_TARGETS: Final[Json] = {
    "1": {
        "first_response": {"duration": "PT1H", "clock": "24x7"},
        "update_every": {"duration": "PT2H", "clock": "24x7", "warn_after": "PT90M"},
    }
}
EXCEPTION_REASON: Final = (
    "Their incident desk asked for Sev1 updates every two hours during the exam season "
    "(hourly updates flood their exam boards); agreed at the QBR, reviewed by leadership"
)


def _reviewed_exception(q: _Quarter) -> None:
    """One customer gets Sev1 updates every 2 hours for most of the quarter: its success
    owner requests the exception, tries to approve it too (R-EXC-1), and leadership
    approves it; it expires before the quarter ends, so the tick writes its expiry.

    Its events take their ids from a generator of their own, so that the rest of the
    quarter is the same with or without them."""
    requested_at = q.day(9 + 14 / 24)
    expires = datetime.combine(q.day(70).date(), time(0), UTC)
    chosen = [
        c
        for c in q.customers
        if not c.new_logo
        and c.churned_at is None
        and c.silent_from is None
        and c.active(requested_at)
    ]
    if not chosen or expires + timedelta(days=1) >= q.end:
        return
    customer = chosen[0]
    rng = random.Random(f"{q.spec.seed}:reviewed-exception")
    owner: Actor = (customer.owner_at(requested_at), "customer_success")
    data = {
        "exception_id": "EXC-1",
        "kind": "sla_targets",
        "targets": EXCEPTION_TARGETS,
        "reason": EXCEPTION_REASON,
        "effective_at": _stamp(datetime.combine(q.day(10).date(), time(0), UTC)),
        "expires_at": _stamp(expires),
    }
    steps: tuple[tuple[str, datetime, Json, Actor, str], ...] = (
        ("customer.exception_requested", requested_at, data, owner, "accept"),
        (  # the requester approving their own request
            "customer.exception_approved",
            requested_at + timedelta(minutes=12),
            {"exception_id": "EXC-1"},
            owner,
            "R-EXC-1",
        ),
        (
            "customer.exception_approved",
            requested_at + timedelta(hours=17, minutes=40),
            {"exception_id": "EXC-1"},
            ("lead-tom", "leadership"),
            "accept",
        ),
    )
    for event_type, at, payload, actor, expect in steps:
        envelope: Json = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": event_type,
            "schema_version": 1,
            "occurred_at": _stamp(at),
            "source": "crm",
            "actor": {"id": actor[0], "role": actor[1]},
            "subject": customer.id,
            "data": payload,
        }
        q.stream.add(_dumps(envelope), expect, at, envelope)


# Customer success ---------------------------------------------------------------------

MILESTONES_NEW: Final = (
    (2, "kickoff_completed"),
    (8, "sso_configured"),
    (13, "first_video_localized"),
    (27, "team_rollout_completed"),
)
MILESTONES_EXISTING: Final = (
    "api_integration_live",
    "glossary_approved",
    "second_business_unit_onboarded",
    "executive_business_review_held",
)
CHECK_IN_NOTES: Final = (
    "Reviewed localisation volume and open tickets; customer wants Japanese voice beta.",
    "Walked through the new glossary workflow; agreed to train two more reviewers.",
    "Discussed render delays; shared the RCA and the preventive actions.",
    "Usage on track; next step is the API integration for their LMS.",
    "Agreed on renewal timeline and success criteria for next quarter.",
)


def _customer_success(q: _Quarter, customer: _Customer) -> None:
    """Milestones, monthly check-ins, weekly usage and the quarterly NPS of one customer."""
    _milestones(q, customer)
    _check_ins(q, customer)
    _usage_reports(q, customer)
    nps_at = customer.calendar.local(
        customer.calendar.business_day_from(q.day(q.rng.uniform(55, 85)).date()),
        q.rng.uniform(9, 16) * 60,
    )
    if customer.engaged(nps_at) and nps_at < q.end:
        low, high = (1, 6) if customer.declining else (6, 10)
        _customer_says(
            q,
            customer,
            "customer.survey_recorded",
            nps_at,
            {"kind": "nps", "score": q.rng.randint(low, high)},
        )


def _cs_event(q: _Quarter, customer: _Customer, event_type: str, at: datetime, data: Json) -> None:
    """An event by the customer's success owner, through the CRM."""
    if at < q.end and customer.active(at):
        q.stream.emit(
            event_type, customer.id, at, data, (customer.owner_at(at), "customer_success"), "crm"
        )


def _customer_says(
    q: _Quarter,
    customer: _Customer,
    event_type: str,
    at: datetime,
    data: Json,
    *,
    user: str | None = None,
) -> None:
    """An event the customer produced itself (a survey answer), in its local offset."""
    actor = (user or q.rng.choice(customer.users), "customer")
    q.stream.emit(event_type, customer.id, at, data, actor, "crm", zone=customer.calendar.zone)


def _milestones(q: _Quarter, customer: _Customer) -> None:
    if customer.new_logo:
        steps = [(customer.onboarded_at + timedelta(days=d), m) for d, m in MILESTONES_NEW]
    else:
        names = q.rng.sample(MILESTONES_EXISTING, q.rng.randint(1, 2))
        steps = sorted((q.day(q.rng.uniform(5, 75)), m) for m in names)
    for at, milestone in steps:
        at += _minutes(q.rng, 0, 8 * 60)
        if customer.engaged(at):
            _cs_event(q, customer, "customer.milestone_reached", at, {"milestone": milestone})


def _check_ins(q: _Quarter, customer: _Customer) -> None:
    """Roughly monthly check-ins; most happen, some are missed (R-CS-4)."""
    calendar, rng = customer.calendar, q.rng
    first_due = customer.onboarded_at + timedelta(days=rng.uniform(8, 20))
    for month in range(4):
        day = calendar.business_day_from((first_due + timedelta(days=30 * month)).date())
        due = calendar.local(day, rng.choice((10, 11, 14, 15)) * 60)
        scheduled = max(due - timedelta(days=rng.uniform(6, 10)), customer.onboarded_at)
        scheduled += _minutes(rng, 1, 60)
        check_in_id = f"CI-{customer.id[2:]}-{month + 1}"
        data = {"check_in_id": check_in_id, "due_at": _stamp(due, calendar.zone)}
        _cs_event(q, customer, "customer.check_in_scheduled", scheduled, data)
        if customer.engaged(due) and rng.random() > 0.15:
            held = due + _minutes(rng, 30, 90)
            notes = {"check_in_id": check_in_id, "notes": rng.choice(CHECK_IN_NOTES)}
            _cs_event(q, customer, "customer.check_in_completed", held, notes)


def _usage_reports(q: _Quarter, customer: _Customer) -> None:
    """Weekly usage from the pipeline: growing, or declining for a few customers."""
    rng = q.rng
    users = rng.randint(40, 900)
    errors = rng.randint(0, 12)
    week_start = q.spec.start
    while True:
        reported_at = datetime.combine(week_start + timedelta(days=7), time(3), UTC)
        reported_at += _minutes(rng, 0, 50)
        if reported_at >= q.end:
            return
        fading = customer.declining or (
            customer.silent_from is not None and reported_at > customer.silent_from
        )
        growth = rng.uniform(0.84, 0.95) if fading else rng.uniform(0.98, 1.05)
        users = max(3, round(users * growth))
        errors = max(0, errors + (rng.randint(2, 9) if customer.declining else rng.randint(-4, 4)))
        if customer.active(datetime.combine(week_start, time(0), UTC)):
            data = {
                "period_start": week_start.isoformat(),
                "period_end": (week_start + timedelta(days=6)).isoformat(),
                "active_users": users,
                "videos_localized": round(users * rng.uniform(0.4, 2.6)),
                "error_count": errors,
            }
            q.stream.emit(
                "customer.usage_reported",
                customer.id,
                reported_at,
                data,
                USAGE_PIPELINE,
                "usage-pipeline",
            )
        week_start += timedelta(days=7)


def _account_changes(q: _Quarter) -> None:
    """Owner changes, the renewal and the churn."""
    for customer in q.customers:
        for (since, owner), reason in zip(
            customer.owners[1:], customer.owner_change_reasons, strict=True
        ):
            data = {"success_owner": owner, "reason": reason}
            _cs_event(q, customer, "customer.owner_changed", since, data)
        if customer.renewed_at is not None:
            data = {"arr": "184000.00", "reason": "Renewed for two years, adding three teams"}
            _cs_event(q, customer, "customer.renewed", customer.renewed_at, data)
        if customer.churned_at is not None and customer.churned_at < q.end:
            data = {
                "arr": "64500.00",
                "reason": "Moved localisation in-house after repeated render delays",
            }
            # Not through _cs_event: the customer is no longer active at its own churn.
            q.stream.emit(
                "customer.churned",
                customer.id,
                customer.churned_at,
                data,
                (customer.owner_at(customer.churned_at), "customer_success"),
                "crm",
            )


# Tickets: the plan --------------------------------------------------------------------


@dataclass(frozen=True)
class _TicketPlan:
    """A ticket to be told: who, when, how severe; a shared cause for platform incidents."""

    customer: _Customer
    opened_at: datetime
    severity: int
    category: str
    root_cause_code: str | None = None


# Platform incidents that hit several customers at once, as offsets from the quarter's
# start; with the default start they land on the nights the US and EU clocks change.
INCIDENTS: Final = (
    (timedelta(days=24, hours=14, minutes=5), "authentication_failure", "IDP-CERT-ROTATION"),
    (timedelta(days=62, hours=6, minutes=40), "platform_down", "DB-FAILOVER"),
    (timedelta(days=83, minutes=35), "data_integrity_risk", "STORAGE-REPLICATION-LAG"),
)


def _plan_tickets(q: _Quarter) -> list[_TicketPlan]:
    """Every ticket of the quarter, in the order they open."""
    plans: list[_TicketPlan] = []
    for index, customer in enumerate(q.customers):
        plans += _customer_tickets(q, customer, ALL_CATEGORIES[index % len(ALL_CATEGORIES)])
    plans += _incident_tickets(q)
    for customer in q.out_of_scope:
        plans.append(_TicketPlan(customer, q.day(q.rng.uniform(10, 80)), 4, "how_to"))
    return sorted(plans, key=lambda p: p.opened_at)


def _customer_tickets(q: _Quarter, customer: _Customer, first_category: str) -> list[_TicketPlan]:
    rng = q.rng
    window_start = customer.onboarded_at + timedelta(hours=2)
    window_end = min(t for t in (q.end, customer.silent_from, customer.churned_at) if t)
    if window_end <= window_start:
        return []
    share = (window_end - window_start) / QUARTER
    plans = []
    for k in range(max(1, round(rng.randint(14, 22) * share))):
        if k == 0:
            category = first_category
        else:
            severity = rng.choices((1, 2, 3, 4), SEVERITY_WEIGHTS)[0]
            category = rng.choice(SEVERITY_CATEGORIES[severity])
        severity = CATEGORY_SEVERITY[category]
        opened_at = _opening_instant(q, customer, severity, window_start, window_end)
        plans.append(_TicketPlan(customer, opened_at, severity, category))
    return plans


def _opening_instant(
    q: _Quarter, customer: _Customer, severity: int, start: datetime, end: datetime
) -> datetime:
    """Sev1 any time; others mostly in the customer's business hours."""
    rng = q.rng
    anytime = start + _seconds(rng.uniform(0, (end - start).total_seconds()))
    if severity == 1 or rng.random() < 0.15:
        return anytime
    day = customer.calendar.business_day_from(anytime.date())
    opening = customer.calendar.opening(day)
    assert opening is not None
    opens, closes = opening
    instant = opens + _seconds(rng.uniform(0, (closes - opens).total_seconds() - 1800))
    return instant if start <= instant < end else anytime


def _incident_tickets(q: _Quarter) -> list[_TicketPlan]:
    plans = []
    for offset, category, code in INCIDENTS:
        began = q.start + offset
        hit = [c for c in q.customers if c.engaged(began)]
        if began >= q.end - timedelta(days=1) or len(hit) < 3:
            continue
        for customer in q.rng.sample(hit, min(q.rng.randint(3, 4), len(hit))):
            opened_at = began + _minutes(q.rng, 3, 30)
            plans.append(_TicketPlan(customer, opened_at, 1, category, code))
    return plans


# Tickets: the story -------------------------------------------------------------------

TITLES: Final[dict[str, tuple[str, ...]]] = {
    "platform_down": (
        "Dubbing jobs fail for every project",
        "Editor does not load at all",
        "API returns 503 for every request",
    ),
    "authentication_failure": (
        "SSO login fails with a SAML error",
        "All users locked out after password reset",
        "API tokens rejected since this morning",
    ),
    "data_integrity_risk": (
        "Subtitles attached to the wrong videos",
        "Exported captions miss segments",
        "Glossary entries overwritten",
    ),
    "major_degradation": (
        "Rendering takes hours instead of minutes",
        "Voice cloning quality dropped sharply",
        "Uploads stall at 90%",
    ),
    "partial_outage": (
        "Exports to YouTube fail",
        "Lip-sync unavailable in EU region",
        "Webhook deliveries delayed by hours",
    ),
    "feature_issue": (
        "Speaker labels wrong in transcript",
        "Glossary import ignores a column",
        "Preview player loses sync after seeking",
    ),
    "how_to": (
        "How do we add a reviewer role?",
        "How to bulk-download subtitles?",
        "How to set up one glossary per project?",
    ),
    "configuration": (
        "Configure SCIM provisioning",
        "Change default target languages",
        "Set up the webhook signing secret",
    ),
}
RESOLUTIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        "Failed over to the standby cluster; all jobs re-queued and verified with the customer.",
        "Rolled back the faulty release; logins and jobs verified working.",
    ),
    2: (
        "Scaled the render pool and drained the backlog; throughput back to normal.",
        "Deployed the fix for the export connector; customer confirmed exports succeed.",
    ),
    3: (
        "Fixed in release 2026.3; customer verified on their project.",
        "Workaround documented and bug fix shipped; customer confirmed.",
    ),
    4: (
        "Sent step-by-step instructions and a link to the runbook; customer confirmed.",
        "Configuration changed together with the customer's admin on a screen share.",
    ),
}
UPDATES: Final[dict[int, tuple[str, ...]]] = {
    0: ("We are still looking into this and will update you as soon as we know more.",),
    1: (
        "Still investigating with platform engineering; next update within 60 minutes.",
        "Mitigation in progress: moving traffic to the standby cluster.",
        "Error rates are dropping; we keep monitoring and update within the hour.",
    ),
    2: (
        "Engineering reproduced the problem and is testing a fix.",
        "Fix is in review; we plan to deploy in your morning.",
        "Partial fix deployed; some jobs are still slower than normal.",
    ),
}
ESCALATION_REASONS: Final = {
    "platform_engineer": "Needs platform engineering: service metrics point at the render cluster",
    "security_infra_lead": "Possible security impact: authentication and storage are involved",
    "leadership": "Customer-wide impact beyond two hours; executive communication needed",
}
# Root causes by code: what happened, and preventive actions that fit it.
CAUSES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "DB-FAILOVER": (
        "Primary database failover stalled behind a migration lock",
        (
            "Check migration locks before failover (runbook step)",
            "Alert when a failover takes longer than two minutes",
        ),
    ),
    "DEPLOY-REGRESSION": (
        "A release changed the health check and every node was drained",
        (
            "Add a canary stage for load-balancer health-check changes",
            "Block releases that change health checks without review",
        ),
    ),
    "DNS-MISCONFIG": (
        "An expired DNS delegation made the API unresolvable in two regions",
        ("Monitor DNS delegation expiry", "Move API records to managed DNS"),
    ),
    "IDP-CERT-ROTATION": (
        "The SAML signing certificate rotated without a metadata refresh",
        (
            "Automate IdP metadata refresh after certificate rotation",
            "Notify enterprise admins 14 days before a rotation",
        ),
    ),
    "SESSION-STORE-EVICTION": (
        "The session store evicted live sessions under memory load",
        ("Size the session store for peak plus 50%", "Alert on session evictions"),
    ),
    "STORAGE-REPLICATION-LAG": (
        "Replication lag served stale subtitle files after failover",
        (
            "Alert when replication lag exceeds 60 seconds",
            "Read subtitles from the primary during failover",
        ),
    ),
    "SUBTITLE-ENCODING": (
        "The exporter double-encoded UTF-8 for right-to-left languages",
        ("Add right-to-left fixtures to the exporter tests", "Validate encodings before export"),
    ),
    "QUEUE-BACKLOG": (
        "The render queue backed up when the autoscaler hit its limit",
        (
            "Raise the autoscaler limit and alert at 80% of it",
            "Shed low-priority renders when the queue grows",
        ),
    ),
    "TRANSCODER-OOM": (
        "Transcoder workers ran out of memory on 4K sources",
        ("Load-test 4K transcodes before each release", "Route 4K sources to large-memory workers"),
    ),
    "CDN-REGION": (
        "One CDN region served stale HLS manifests",
        (
            "Purge manifests on publish in every region",
            "Add a synthetic playback check per CDN region",
        ),
    ),
    "WEBHOOK-RETRY-STORM": (
        "Webhook retries saturated the delivery workers",
        (
            "Cap webhook retries per customer with exponential backoff",
            "Separate webhook workers from render workers",
        ),
    ),
}
ROOT_CAUSE_CODES: Final[dict[str, tuple[str, ...]]] = {
    "platform_down": ("DB-FAILOVER", "DEPLOY-REGRESSION", "DNS-MISCONFIG"),
    "authentication_failure": ("IDP-CERT-ROTATION", "SESSION-STORE-EVICTION"),
    "data_integrity_risk": ("STORAGE-REPLICATION-LAG", "SUBTITLE-ENCODING"),
    "major_degradation": ("QUEUE-BACKLOG", "TRANSCODER-OOM", "DEPLOY-REGRESSION"),
    "partial_outage": ("CDN-REGION", "DEPLOY-REGRESSION", "WEBHOOK-RETRY-STORM"),
}
GENERIC_ACTIONS: Final = (
    "Add the failure mode to the incident runbook",
    "Add a synthetic check for the affected workflow",
)


class _QuarterOver(Exception):
    """The story reached the end of the quarter: the rest has not happened yet."""


class _TicketStory:
    """One ticket from intake to closure, cut off where the quarter ends.

    It keeps the little state the ledger's rules look at (status, tier, live temporary
    fix, RCA parts) and asserts it before every line meant to be accepted.
    """

    def __init__(self, q: _Quarter, plan: _TicketPlan, ticket_id: str) -> None:
        self.q, self.rng, self.plan, self.id = q, q.rng, plan, ticket_id
        self.customer = plan.customer
        self.calendar = plan.customer.calendar
        self.at = plan.opened_at
        self.opened_at = self.resolved_at = plan.opened_at
        self.severity = self.highest = plan.severity
        self.category = plan.category
        self.channel = q.rng.choices(tuple(CHANNEL_SOURCES), CHANNEL_WEIGHTS)[0]
        self.user = q.rng.choice(plan.customer.users)
        self.people = {tier: q.rng.choice(STAFF[tier]) for tier in TIERS}
        self.tier = 0
        self.status = "new"
        self.temporary_fix: tuple[datetime, datetime] | None = None  # (applied, expires)
        self.keep_temporary_fix = False
        self.rca_parts: set[str] = set()
        self.rca_published = False
        self.late = False
        self.last_public = plan.opened_at  # last public staff communication (R-SLA-3)

    # Emitting -------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        data: Json,
        actor: Actor,
        *,
        source: str | None = None,
        expect: str = "accept",
        at: datetime | None = None,
        arrival: datetime | None = None,
    ) -> None:
        """One ticket event; the customer's own events carry its local offset."""
        at = at or self.at
        if (arrival or at) >= self.q.end:
            raise _QuarterOver
        by_customer = actor[1] == "customer"
        default_source = CHANNEL_SOURCES[self.channel] if by_customer else "support-portal"
        zone = self.calendar.zone if by_customer else None
        self.q.stream.emit(
            event_type,
            self.id,
            at,
            data,
            actor,
            source or default_source,
            zone=zone,
            expect=expect,
            arrival=arrival,
        )
        public = event_type == "ticket.update_posted" or data.get("public") is True
        if expect == "accept" and public and not by_customer:
            self.last_public = at

    def staff(self, tier: str = "support_engineer") -> Actor:
        """This ticket's person at a tier."""
        return self.people[tier], tier

    def engineer(self) -> Actor:
        """Who works the ticket now: the highest engineering tier it reached (not leadership)."""
        return self.staff(TIERS[min(self.tier, 2)])

    def customer_actor(self) -> Actor:
        """The customer's user who reported the ticket."""
        return self.user, "customer"

    def later(self, low_minutes: float, high_minutes: float) -> None:
        """Let some time pass."""
        self.at += _minutes(self.rng, low_minutes, high_minutes)

    def move_to(self, instant: datetime) -> None:
        """Jump forward to ``instant`` (never back)."""
        self.at = max(self.at, instant)

    def take(self, kind: str) -> bool:
        """Whether this eligible moment gets the rare turn or fault ``kind``."""
        return self.q.quotas.take(kind)

    # The story ------------------------------------------------------------------------

    def tell(self) -> None:
        """Everything that happens to the ticket within the quarter."""
        try:
            if not self.open():
                return
            self.first_contact()
            if self.take("retriage"):
                self.retriage()
            self.escalate_as_needed()
            self.work()
            self.resolve()
            self.after_resolution()
            self.follow_up()
        except _QuarterOver:
            pass

    # Intake ---------------------------------------------------------------------------

    def open(self) -> bool:
        """ticket.opened; a bad first try is refiled by support. False: out of scope (R-IN-2)."""
        reporter, source = self.reporter()
        data = self.opened_data(by_customer=reporter[1] == "customer")
        if not (self.customer.onboarded and self.customer.tier == "enterprise"):
            # A customer never onboarded may be on its way: the ticket waits (R-IN-6).
            expect = "R-IN-2" if self.customer.onboarded else "deferred"
            self.emit("ticket.opened", data, reporter, source=source, expect=expect)
            return False
        if reporter[1] == "customer" and self.take("intake"):
            self.bad_intake(data)
            reporter, source = self.staff(), "support-portal"
            data = {
                **data,
                "channel": "support_portal",
                "description": f"{data['description']} Refiled by support.",
            }
        self.emit("ticket.opened", data, reporter, source=source)
        self.status, self.opened_at = "open", self.at
        return True

    def opened_data(self, *, by_customer: bool) -> Json:
        """The ticket as filed; a few are filed at another severity, with a reason (R-SEV-1)."""
        title = self.rng.choice(TITLES[self.category])
        if by_customer:
            local = self.at.astimezone(self.calendar.zone).strftime("%H:%M")
            said = f"Started around {local} our time; about {self.rng.randint(2, 400)} users hit."
        else:
            said = f"Filed by support for {self.customer.name}; monitoring and the customer agree."
        data: Json = {
            "customer_id": self.customer.id,
            "channel": self.channel,
            "title": title,
            "description": f"{title}. {said}",
            "severity": self.severity,
            "category": self.category,
        }
        eligible = self.severity < 4 and self.plan.root_cause_code is None
        if eligible and self.customer.onboarded and self.take("filed_with_reason"):
            self.category = data["category"] = self.rng.choice(
                SEVERITY_CATEGORIES[self.severity + 1]
            )
            data["reason"] = FILED_REASONS[self.severity]
        return data

    def reporter(self) -> tuple[Actor, str]:
        """Who files it: mostly the customer; on-call support for alerts and on request."""
        if self.severity == 1 and self.rng.random() < 0.35:
            return self.staff(), "paging"
        if self.rng.random() < 0.08:
            return self.staff(), "support-portal"
        return self.customer_actor(), CHANNEL_SOURCES[self.channel]

    def bad_intake(self, data: Json) -> None:
        """The customer's first try breaks an intake rule (R-IN-1, R-IN-3, R-SEV-1)."""
        kind, rule = INTAKE_FAULTS[(self.q.quotas.taken["intake"] - 1) % len(INTAKE_FAULTS)]
        bad = dict(data)
        source = CHANNEL_SOURCES[self.channel]
        if kind in BYPASS_SOURCES:
            bad["channel"], source = kind, BYPASS_SOURCES[kind]
        elif kind == "unknown_category":
            bad["category"] = self.rng.choice(("billing", "urgent", "bug"))
        else:
            bad.pop("reason", None)
            bad["category"] = self.rng.choice(
                [c for c in ALL_CATEGORIES if CATEGORY_SEVERITY[c] != data["severity"]]
            )
        self.emit("ticket.opened", bad, self.customer_actor(), source=source, expect=rule)
        self.later(8, 45)

    # First contact, triage, escalation ------------------------------------------------

    def first_contact(self) -> None:
        """Assignment, perhaps a note or more detail, then the first public response (R-SLA-2)."""
        target = self.q.first_response_target(self.severity, self.opened_at)
        self.late = self.rng.random() < LATE_SHARE
        fraction = self.rng.uniform(1.1, 1.8) if self.late else self.rng.uniform(0.1, 0.9)
        first_response_at = target.due(self.opened_at, self.calendar, fraction)
        waited = (first_response_at - self.at).total_seconds()
        self.move_to(self.at + _seconds(waited * self.rng.uniform(0.05, 0.5)))
        self.emit("ticket.assigned", {"assignee": self.people["support_engineer"]}, self.staff())
        if self.rng.random() < 0.2:
            self.move_to(self.at + _seconds(waited * self.rng.uniform(0.05, 0.3)))
            self.emit(
                "ticket.responded",
                {"public": True, "message": CUSTOMER_DETAIL},
                self.customer_actor(),
            )
        if self.rng.random() < 0.3:
            self.emit("ticket.responded", {"public": False, "message": INTERNAL_NOTE}, self.staff())
        self.move_to(first_response_at)
        self.emit(
            "ticket.responded", {"public": True, "message": FIRST_RESPONSE_TEXT}, self.staff()
        )
        self.later(0, 5)
        self.emit("ticket.status_changed", {"status": "in_progress"}, self.staff())
        self.status = "in_progress"

    def retriage(self) -> None:
        """One severity up or down, with a reason (R-SEV-1, R-SEV-2)."""
        up = self.severity == 4 or (self.severity > 1 and self.rng.random() < 0.5)
        severity = self.severity - 1 if up else self.severity + 1
        category = self.category
        if self.rng.random() < 0.7:
            category = self.rng.choice(SEVERITY_CATEGORIES[severity])
        self.later(10, 180)
        data = {
            "severity": severity,
            "category": category,
            "reason": UPGRADE_REASON if up else DOWNGRADE_REASON,
        }
        self.emit("ticket.triaged", data, self.staff())
        self.severity, self.category = severity, category
        self.highest = min(self.highest, severity)

    def escalate_as_needed(self) -> None:
        """Up the tiers, one at a time, as the impact demands."""
        chances = ESCALATION_CHANCES[self.severity]
        if self.category in SECURITY_CATEGORIES:
            chances = (0.95, 0.8, 0.2)
        for chance in chances:
            if self.rng.random() >= chance:
                return
            self.later(5, 25 if self.severity == 1 else 240)
            self.escalate()

    def escalate(self) -> None:
        """Exactly one tier up, documented (R-ESC-1); sometimes a bad attempt comes first."""
        current, target = TIERS[self.tier], TIERS[self.tier + 1]
        escalator = self.staff(current)
        data = {
            "to_tier": target,
            "reason": ESCALATION_REASONS[target],
            "escalated_to": self.people[target],
        }
        if self.take("blank_escalation"):
            blank = {**data, "reason": self.rng.choice(("", "  "))}
            self.emit("ticket.escalated", blank, escalator, source="paging", expect="R-ESC-1")
            self.later(3, 20)
        elif self.tier == 0 and self.take("skipped_tier"):
            skipped = {
                "to_tier": TIERS[2],
                "reason": SKIP_REASON,
                "escalated_to": self.people[TIERS[2]],
            }
            self.emit("ticket.escalated", skipped, escalator, source="paging", expect="R-ESC-1")
            self.later(3, 20)
        self.emit("ticket.escalated", data, escalator, source="paging")
        self.tier += 1

    # Work -----------------------------------------------------------------------------

    def work(self) -> None:
        """Until the fix: updates at the cadence, and for many Sev1/2 a workaround first."""
        low, high = TIME_TO_FIX_HOURS[self.severity]
        fixed_at = self.at + _minutes(self.rng, low * 60, high * 60)
        if self.severity <= 2 and self.rng.random() < 0.55:
            remaining = (fixed_at - self.at).total_seconds()
            self.keep_posted(self.at + _seconds(remaining * self.rng.uniform(0.3, 0.8)))
            self.apply_temporary_fix()
        self.keep_posted(fixed_at)

    def keep_posted(self, until: datetime) -> None:
        """Sev1/2 updates at the cadence, sometimes late (R-SLA-3); Sev3/4 talk as needed."""
        cadence = UPDATE_EVERY.get(self.severity)
        if cadence is None:
            self.converse(until)
            return
        while True:
            late = self.rng.random() < LATE_SHARE / 2
            fraction = self.rng.uniform(1.05, 1.5) if late else self.rng.uniform(0.55, 0.97)
            next_update = max(cadence.due(self.last_public, self.calendar, fraction), self.at)
            if next_update >= until:
                break
            if self.rng.random() < 0.6:
                self.work_note(next_update)
            self.move_to(next_update)
            if self.severity == 2 and self.rng.random() < 0.12:
                self.ask_customer()
            else:
                self.post_update()
        self.move_to(until)

    def work_note(self, before: datetime) -> None:
        """An internal note by whoever works the ticket now (public: false, no SLA effect)."""
        self.move_to(
            self.at + _seconds((before - self.at).total_seconds() * self.rng.uniform(0.2, 0.8))
        )
        note = self.rng.choice(WORK_NOTES)
        self.emit("ticket.responded", {"public": False, "message": note}, self.engineer())

    def converse(self, until: datetime) -> None:
        """Questions to the customer and the odd update, in the customer's business time."""
        for _ in range(self.rng.randint(1, 3)):
            gap = self.calendar.business_day * self.rng.uniform(0.2, 1.2)
            next_at = self.calendar.add(self.at, gap)
            if next_at >= until:
                break
            if self.rng.random() < 0.3:
                self.work_note(next_at)
            self.move_to(next_at)
            if self.rng.random() < 0.75:
                self.ask_customer()
            else:
                self.post_update()
        self.move_to(until)

    def post_update(self) -> None:
        """A status update; now and then an older customer e-mail turns up late (R-IN-5)."""
        message = self.rng.choice(UPDATES.get(self.severity, UPDATES[0]))
        self.emit("ticket.update_posted", {"message": message}, self.staff())
        if self.take("late_delivery"):
            self.late_delivery()

    def late_delivery(self) -> None:
        """A customer e-mail the gateway delivers after newer events of the ticket (R-IN-5)."""
        back = min(self.rng.uniform(10, 90), (self.at - self.opened_at).total_seconds() / 120)
        sent_at = self.at - _seconds(max(back, 1.0) * 60)
        self.emit(
            "ticket.responded",
            {"public": True, "message": CHASER},
            self.customer_actor(),
            source="email-gateway",
            expect="R-IN-5",
            at=sent_at,
            arrival=self.at + _minutes(self.rng, 1, 6),
        )

    def ask_customer(self) -> None:
        """Ask for details and wait: the update cadence pauses meanwhile (R-SLA-3)."""
        self.emit("ticket.responded", {"public": True, "message": QUESTION}, self.staff())
        self.emit("ticket.status_changed", {"status": "waiting_on_customer"}, self.staff())
        self.status = "waiting_on_customer"
        wait = self.calendar.business_day * self.rng.uniform(0.05, 1.5)
        self.move_to(self.calendar.add(self.at, wait))
        self.emit("ticket.responded", {"public": True, "message": ANSWER}, self.customer_actor())
        self.later(2, 40)
        self.emit("ticket.status_changed", {"status": "in_progress"}, self.staff())
        self.status = "in_progress"

    def apply_temporary_fix(self) -> None:
        """A workaround with an expiry and a follow-up owner (R-FIX-2)."""
        self.keep_temporary_fix = self.rng.random() < 0.25
        days = self.rng.uniform(2, 9) if self.keep_temporary_fix else self.rng.uniform(4, 21)
        expires = self.at + _seconds(days * 86400)
        fixer = self.staff("platform_engineer")
        data = {
            "description": self.rng.choice(WORKAROUNDS),
            "expires_at": _stamp(expires),
            "owner": fixer[0],
        }
        self.emit("ticket.temporary_fix_applied", data, fixer)
        self.temporary_fix = (self.at, expires)

    # Resolution -----------------------------------------------------------------------

    def resolve(self, *, first: bool = True) -> None:
        """Resolved in writing (R-FIX-1), after stepping down from an escalation."""
        if first and self.tier > 0 and self.rng.random() < 0.6:
            to_tier = self.rng.randrange(self.tier)
            reason = f"Mitigated; follow-up stays with the {TIERS[to_tier].replace('_', ' ')}"
            self.emit(
                "ticket.deescalated",
                {"to_tier": TIERS[to_tier], "reason": reason},
                self.staff(TIERS[self.tier]),
            )
            self.tier = to_tier
            self.later(2, 30)
        if first and self.take("verbal_resolution"):
            self.emit(
                "ticket.resolved",
                {"resolution": self.rng.choice(("", " "))},
                self.staff(),
                expect="R-FIX-1",
            )
            self.later(5, 40)
        assert self.status in ("open", "in_progress", "waiting_on_customer"), self.id
        resolution = self.rng.choice(RESOLUTIONS[self.severity])
        self.emit("ticket.resolved", {"resolution": resolution}, self.staff())
        self.status = "resolved"
        if first:
            self.resolved_at = self.at

    def after_resolution(self) -> None:
        """A CSAT answer, and for two or three tickets the problem comes back."""
        self.csat()
        comes_back = self.at + timedelta(days=12)
        if (
            self.temporary_fix is None
            and comes_back < self.q.end
            and self.customer.engaged(comes_back)
            and self.take("reopen")
        ):
            self.reopen()

    def csat(self) -> None:
        """Half the customers answer the satisfaction survey; a late first response costs."""
        answered_at = self.at + _minutes(self.rng, 60, 2 * 24 * 60)
        if self.rng.random() < 0.5 or answered_at >= self.q.end:
            return
        if not self.customer.engaged(answered_at):
            return
        low, high = (1, 3) if self.late else (3, 5)
        data = {"kind": "csat", "score": self.rng.randint(low, high), "ticket_id": self.id}
        _customer_says(
            self.q, self.customer, "customer.survey_recorded", answered_at, data, user=self.user
        )

    def reopen(self) -> None:
        """The customer reopens; support picks it up and resolves it again."""
        self.later(24 * 60, 5 * 24 * 60)
        self.emit("ticket.reopened", {"reason": REOPEN_REASON}, self.customer_actor())
        self.status = "open"
        self.later(15, 180)
        self.emit("ticket.responded", {"public": True, "message": REOPEN_RESPONSE}, self.staff())
        self.emit("ticket.status_changed", {"status": "in_progress"}, self.staff())
        self.status = "in_progress"
        low, high = TIME_TO_FIX_HOURS[self.severity]
        self.keep_posted(self.at + _minutes(self.rng, low * 30, high * 30))
        self.resolve(first=False)

    # Follow-up and closure ------------------------------------------------------------

    def follow_up(self) -> None:
        """RCA when owed (R-RCA-1), the permanent fix for a workaround (R-FIX-2), closure."""
        if self.highest <= 2:
            self.rca()
        if self.temporary_fix is not None:
            if self.take("close_with_temporary_fix"):
                self.later(30, 600)
                self.emit("ticket.closed", {}, self.staff(), expect="R-FIX-2")
            if self.keep_temporary_fix:
                return  # the workaround outlives its expiry; the ledger flags it
            self.permanent_fix()
        if self.rng.random() < 0.9:
            self.close()

    def rca(self) -> None:
        """Root cause, impact, preventive actions, owner; then publication (R-RCA-2)."""
        code = self.plan.root_cause_code or self.rng.choice(
            ROOT_CAUSE_CODES.get(self.category, ROOT_CAUSE_CODES["major_degradation"])
        )
        author = self.staff(
            "security_infra_lead" if self.category in SECURITY_CATEGORIES else "platform_engineer"
        )
        self.later(120, 2 * 24 * 60)
        self.rca_step(
            "rca.root_cause_identified",
            {"root_cause": CAUSES[code][0], "root_cause_code": code},
            author,
        )
        self.later(10, 360)
        self.rca_step("rca.impact_assessed", self.impact(), author)
        if self.take("incomplete_rca"):
            self.later(5, 60)
            self.emit("rca.published", {}, author, expect="R-RCA-2")
        self.preventive_actions(code, author)
        if self.rng.random() < 0.5:
            entry = {"at": _stamp(self.opened_at - _minutes(self.rng, 2, 40)), "entry": ALERT_ENTRY}
            self.rca_step("rca.timeline_entry_added", entry, author)
        self.later(5, 120)
        self.rca_step("rca.owner_assigned", {"owner": author[0]}, self.staff("leadership"))
        if self.temporary_fix is None and self.take("close_before_rca"):
            self.later(10, 120)
            self.emit("ticket.closed", {}, self.staff(), expect="R-RCA-1")
        self.later(60, 2 * 24 * 60)
        assert self.rca_parts >= RCA_PARTS, (self.id, self.rca_parts)
        self.emit("rca.published", {}, author)
        self.rca_published = True

    def rca_step(self, event_type: str, data: Json, actor: Actor) -> None:
        """One part of the RCA."""
        self.emit(event_type, data, actor)
        self.rca_parts.add(event_type)

    def impact(self) -> Json:
        """The impact assessment: how long, and how many customers for platform incidents."""
        minutes = int((self.resolved_at - self.opened_at).total_seconds() // 60)
        affected = 1 if self.plan.root_cause_code is None else self.rng.randint(6, 40)
        what = self.category.replace("_", " ")
        return {
            "impact": f"{what} for {minutes} minutes; localisation jobs failed or were delayed",
            "customers_affected": affected,
            "duration_minutes": minutes,
        }

    def preventive_actions(self, code: str, author: Actor) -> None:
        """One to three preventive actions that fit the cause, each with owner and due date."""
        fitting = CAUSES[code][1] + GENERIC_ACTIONS
        actions = self.rng.sample(fitting, self.rng.randint(1, 3))
        for number, action in enumerate(actions, start=1):
            self.later(5, 90)
            due = (self.at + timedelta(days=self.rng.randint(14, 45))).date()
            data = {
                "action_id": f"PA-{number}",
                "description": action,
                "owner": self.rng.choice(STAFF["platform_engineer"]),
                "due_date": due.isoformat(),
            }
            self.rca_step("rca.preventive_action_added", data, author)

    def permanent_fix(self) -> None:
        """The real fix, usually before the workaround expires, sometimes after."""
        assert self.temporary_fix is not None
        applied, expires = self.temporary_fix
        planned = applied + _seconds(
            (expires - applied).total_seconds() * self.rng.uniform(0.3, 1.3)
        )
        self.move_to(max(planned, self.at + _minutes(self.rng, 30, 600)))
        self.emit(
            "ticket.permanent_fix_applied",
            {"description": PERMANENT_FIX},
            self.staff("platform_engineer"),
        )
        self.temporary_fix = None

    def close(self) -> None:
        """Closed for good: resolved, no live workaround, RCA published when owed."""
        assert self.status == "resolved" and self.temporary_fix is None, self.id
        assert self.highest > 2 or self.rca_published, self.id
        self.later(60, 3 * 24 * 60)
        self.emit("ticket.closed", {}, self.staff())
        self.status = "closed"


SECURITY_CATEGORIES: Final = ("authentication_failure", "data_integrity_risk")
ESCALATION_CHANCES: Final[dict[int, tuple[float, ...]]] = {
    1: (0.9, 0.3, 0.2),
    2: (0.55, 0.12, 0.05),
    3: (0.06,),
    4: (),
}
TIME_TO_FIX_HOURS: Final = {1: (2.0, 16.0), 2: (12.0, 110.0), 3: (24.0, 260.0), 4: (3.0, 140.0)}
RCA_PARTS: Final = frozenset(
    {
        "rca.root_cause_identified",
        "rca.impact_assessed",
        "rca.preventive_action_added",
        "rca.owner_assigned",
    }
)
FILED_REASONS: Final = {
    1: "Hits the customer's live broadcast tonight; the contract lists it as critical",
    2: "Blocks a product launch on Friday; contractual priority agreed with the account team",
    3: "Blocks onboarding of 40 new editors this week",
}
UPGRADE_REASON: Final = "Impact re-assessed with the customer: more teams are blocked than reported"
DOWNGRADE_REASON: Final = "Workaround in place and only one project affected; impact is lower"
SKIP_REASON: Final = "The customer's CTO asked for the security lead directly"
FIRST_RESPONSE_TEXT: Final = "Thanks for reporting this. We are investigating and will update you."
CUSTOMER_DETAIL: Final = "Adding detail: it happens for every project created this week."
INTERNAL_NOTE: Final = "Checked the dashboards and recent deploys for the customer's region."
QUESTION: Final = "Could you send a project ID and the time of a failed job?"
ANSWER: Final = "Project PRJ-2231, failed at 10:42 our time. Screenshot attached."
CHASER: Final = "Any news? Our editors are waiting."
REOPEN_REASON: Final = "The problem is back since this morning's batch"
REOPEN_RESPONSE: Final = "Sorry it came back; we are on it again."
ALERT_ENTRY: Final = "Monitoring alerted on the error rate before the customer reported it"
PERMANENT_FIX: Final = "Root cause fixed in the platform and deployed to every region"
WORK_NOTES: Final = (
    "Reproduced on staging with the customer's project settings.",
    "Collected job IDs and logs; attached to the engineering ticket.",
    "Checked recent deploys and config changes for the customer's region.",
    "Watching error rates after the last change; trending down.",
    "Paired with the on-call engineer to narrow down the failing component.",
)
WORKAROUNDS: Final = (
    "Routed the customer's jobs to the standby render cluster",
    "Raised the queue limit by hand and pinned the customer to a dedicated pool",
    "Disabled the faulty export connector and enabled the legacy path",
)


# Re-sends and wire faults ---------------------------------------------------------------

NOT_JSON: Final = (
    b"Subject: URGENT render farm down?? pls call me back +49 30 1234 5678",
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
)
UNKNOWN_TYPES: Final = (  # (subject prefix, a type the contract does not have)
    ("T-", "ticket.snoozed"),
    ("T-", "ticket.merged"),
    ("C-", "customer.upsell_flagged"),
)


def _envelope(entry: _Entry) -> Json:
    assert entry.envelope is not None
    return entry.envelope


def _resend(q: _Quarter) -> None:
    """Exact re-sends (R-IN-4): a week of usage exported twice, and retries after timeouts."""
    rng, stream = q.rng, q.stream
    reports = stream.accepted("customer.usage_reported")
    weeks = sorted({_envelope(e)["data"]["period_start"] for e in reports})
    if len(weeks) > 1:
        week = rng.choice(weeks[:-1])
        rerun = [e for e in reports if _envelope(e)["data"]["period_start"] == week]
        again = max(e.arrival for e in rerun) + _minutes(rng, 120, 540)
        for n, entry in enumerate(rerun):
            stream.add(entry.raw, "duplicate", again + timedelta(seconds=n))
    retried = [e for e in stream.accepted() if _envelope(e)["subject"].startswith("T-")]
    for entry in rng.sample(retried, min(len(retried), len(stream.entries) // 100)):
        arrival = entry.arrival + _minutes(rng, 0.5, 20)
        if arrival < q.end:
            stream.add(entry.raw, "duplicate", arrival)


def _wire_faults(q: _Quarter) -> None:
    """Lines that fail the wire contract (R-WIRE-1..3); the valid story never needs them."""
    rng, stream = q.rng, q.stream
    ticket_events = [e for e in stream.accepted() if _envelope(e)["subject"].startswith("T-")]
    for entry in rng.sample(ticket_events, min(3, len(ticket_events))):
        # The producer's first attempt was cut off mid-line; its retry is the valid line.
        stream.add(
            entry.raw[: len(entry.raw) // 2], "R-WIRE-1", entry.arrival, None, entry.order - 0.5
        )
    for text in NOT_JSON:
        stream.add(text, "R-WIRE-1", q.day(rng.uniform(3, q.spec.days - 3)))
    updates = stream.accepted("ticket.update_posted")
    for entry in rng.sample(updates, min(3, len(updates))):
        wall = datetime.fromisoformat(_envelope(entry)["occurred_at"]).replace(tzinfo=None)
        naive = {**_envelope(entry), "event_id": stream.event_id(), "occurred_at": wall.isoformat()}
        stream.add(_dumps(naive), "R-WIRE-2", entry.arrival + _minutes(rng, 1, 3))
    for prefix, event_type in UNKNOWN_TYPES:
        bases = [e for e in stream.accepted() if _envelope(e)["subject"][:2] == prefix]
        if not bases:
            continue
        base = rng.choice(bases)
        arrival = base.arrival + _minutes(rng, 1, 30)
        data = {"until": _stamp(arrival + timedelta(days=3))}
        if event_type != "ticket.snoozed":
            data = {"note": "not a type of the contract"}
        unknown = {
            **_envelope(base),
            "event_id": stream.event_id(),
            "type": event_type,
            "occurred_at": _stamp(arrival),
            "data": data,
        }
        stream.add(_dumps(unknown), "R-WIRE-3", arrival)


# Success operations (issue 20): contract values and success plays ---------------------

PLAY_DUE: Final = timedelta(days=7)  # the ledger's (ledger.aggregates.customer.PLAY_DUE)
SILENT: Final = timedelta(days=30)  # a customer silent this long is a churn risk (R-CS-3)
ENGAGEMENT: Final = frozenset(
    {
        "customer.onboarded",
        "customer.check_in_completed",
        "customer.survey_recorded",
        "customer.milestone_reached",
    }
)
"""What ends a silence (ledger.projections.health: check-ins, surveys, milestones,
onboarding)."""
TICK_AFTER: Final = timedelta(hours=6)
"""How long after a silence turns into a churn risk the demo's tick runs."""


def _success_operations(q: _Quarter) -> tuple[list[datetime], _Stream]:
    """Every customer's contract value, and the plays of up to three silent customers.

    Called once, after the rest of the quarter (its draws come after every other)."""
    _contracts(q)
    return _success_plays(q)


def _contracts(q: _Quarter) -> None:
    """Each enterprise customer's ARR right after onboarding (``customer.contract_changed``);
    the renewal (184k) comes from 160k, the churn takes 64.5k; one steady customer renews
    lower, another expands mid-term."""
    arr: dict[str, int] = {}
    for customer in q.customers:
        if not customer.onboarded:
            continue
        if customer.churned_at is not None:
            arr[customer.id] = 64_500
        elif customer.renewed_at is not None:
            arr[customer.id] = 160_000
        else:
            arr[customer.id] = q.rng.randrange(72, 481) * 500
        reason = (
            "Contract signed at onboarding"
            if customer.new_logo
            else "Annual contract in force when the ledger started (CRM import)"
        )
        at = customer.onboarded_at + timedelta(minutes=5)
        _cs_event(q, customer, "customer.contract_changed", at, _arr(arr[customer.id], reason))
    steady = [
        c
        for c in q.customers
        if c.onboarded
        and not (c.new_logo or c.declining or c.silent_from or c.churned_at or c.renewed_at)
    ]
    if steady:
        lower = steady[0]
        reason = "Renewed for one year; two teams moved to a regional vendor"
        data = _arr(arr[lower.id] - 18_000, reason)
        _cs_event(q, lower, "customer.renewed", q.day(62.4), data)
    if len(steady) > 1:
        grown = steady[1]
        data = _arr(arr[grown.id] + 30_000, "Added Japanese and Korean voice dubbing")
        _cs_event(q, grown, "customer.contract_changed", q.day(45.6), data)


def _arr(amount: int, reason: str) -> Json:
    return {"arr": f"{amount}.00", "reason": reason}


def _success_plays(q: _Quarter) -> tuple[list[datetime], _Stream]:
    """The plays the ledger opens for silent customers, and what their owners do.

    A silent customer turns into a churn risk 30 days after its last engagement; the
    demo's tick runs 6 hours later and opens the customer's first play (``P-<id>-1``),
    or finds it open already (opened by an earlier tick for low health). Of the first
    three such customers (by when they fell silent), the owner of the first reaches out,
    the customer files a Sev2 ticket a day later, and the play closes retained; the
    second customer files a Sev2 ticket first and the outreach follows; the third play
    sees no action and is overdue."""
    found = []
    for customer in q.customers:
        if customer.silent_from is None or not customer.onboarded:
            continue
        silent_since = _last_engagement(q, customer)
        if silent_since is None:
            continue
        raised = silent_since + SILENT
        if raised + TICK_AFTER + timedelta(days=8) < q.end:
            found.append((raised, customer))
    found.sort(key=lambda f: (f[0], f[1].id))
    plays = _Stream(q.rng)
    ticks = []
    for number, (raised, customer) in enumerate(found[:3]):
        tick = raised + TICK_AFTER
        ticks.append(tick)

        def act(event_type: str, at: datetime, data: Json, c: _Customer = customer) -> None:
            actor = (c.owner_at(at), "customer_success")
            play = {"play_id": f"P-{c.id[2:]}-1", **data}  # its first play (see above)
            plays.emit(event_type, c.id, at, play, actor, "crm")

        if number == 0:
            act("play.outreach_logged", tick + timedelta(days=1), CALL)
            _serious_ticket(q, customer, tick + timedelta(days=2), 9001)
            act("play.closed", tick + timedelta(days=4), RETAINED)
        elif number == 1:
            _serious_ticket(q, customer, tick + timedelta(days=1), 9002)
            act("play.outreach_logged", tick + timedelta(days=1, hours=5), MAIL)
            act("play.closed", tick + timedelta(days=5), NO_ACTION)
    return sorted(ticks), plays


CALL: Final[Json] = {
    "channel": "call",
    "note": "Called the decision maker: usage dipped during a reorganisation; agreed a "
    "training session for the new team",
}
MAIL: Final[Json] = {
    "channel": "email",
    "note": "Wrote after their Sev2 report: shared the status page and offered a review call",
}
RETAINED: Final[Json] = {
    "outcome": "retained",
    "note": "Training held; the new team is active again",
}
NO_ACTION: Final[Json] = {
    "outcome": "no_action",
    "note": "The silence was a holiday freeze; usage is back",
}


def _last_engagement(q: _Quarter, customer: _Customer) -> datetime | None:
    """The customer's last engagement before it fell silent, as the ledger's health sees
    it: the latest engagement signal by ``silent_from``, moved on while another comes
    within the silence and the tick after it."""
    signals = sorted(
        datetime.fromisoformat(_envelope(e)["occurred_at"]).astimezone(UTC)
        for e in q.stream.accepted()
        if _envelope(e)["subject"] == customer.id and _envelope(e)["type"] in ENGAGEMENT
    )
    assert customer.silent_from is not None
    before = [at for at in signals if at <= customer.silent_from]
    if not before:
        return None
    last = before[-1]
    while True:
        within = [at for at in signals if last < at <= last + SILENT + TICK_AFTER]
        if not within:
            return last
        last = within[-1]


def _serious_ticket(q: _Quarter, customer: _Customer, at: datetime, number: int) -> None:
    """A Sev2 partial outage the customer reports (the complaint a play tries to come
    before), told as every ticket is."""
    plan = _TicketPlan(customer, at, 2, "partial_outage")
    _TicketStory(q, plan, f"T-{number}").tell()


# Issue 20: incident milestones, the RCAs' follow-through and the product loop ----------
#
# Told after the rest of the quarter, with a random generator of its own, so the story
# above is drawn exactly as before: product areas are added to the tickets' openings (and
# to some triages and root causes), Sev1/Sev2 tickets get their milestones, preventive
# actions are completed, verified, cancelled or left to run overdue, RCAs link runbooks
# (all but one repeated root cause), and customers give feedback.

AREA_OF_TITLE: Final = {
    "Dubbing jobs fail for every project": "dubbing",
    "Editor does not load at all": "editor",
    "API returns 503 for every request": "api",
    "SSO login fails with a SAML error": "sso",
    "All users locked out after password reset": "sso",
    "API tokens rejected since this morning": "api",
    "Subtitles attached to the wrong videos": "subtitles",
    "Exported captions miss segments": "exports",
    "Glossary entries overwritten": "glossary",
    "Rendering takes hours instead of minutes": "rendering",
    "Voice cloning quality dropped sharply": "voice-cloning",
    "Uploads stall at 90%": "uploads",
    "Exports to YouTube fail": "exports",
    "Lip-sync unavailable in EU region": "lip-sync",
    "Webhook deliveries delayed by hours": "webhooks",
    "Speaker labels wrong in transcript": "transcripts",
    "Glossary import ignores a column": "glossary",
    "Preview player loses sync after seeking": "player",
    "How do we add a reviewer role?": "admin",
    "How to bulk-download subtitles?": "subtitles",
    "How to set up one glossary per project?": "glossary",
    "Configure SCIM provisioning": "admin",
    "Change default target languages": "dubbing",
    "Set up the webhook signing secret": "webhooks",
}
AREA_OF_CAUSE: Final = {  # where an RCA places the cause (DEPLOY-REGRESSION: anywhere)
    "DB-FAILOVER": "database",
    "DNS-MISCONFIG": "api",
    "IDP-CERT-ROTATION": "sso",
    "SESSION-STORE-EVICTION": "sso",
    "STORAGE-REPLICATION-LAG": "storage",
    "SUBTITLE-ENCODING": "exports",
    "QUEUE-BACKLOG": "rendering",
    "TRANSCODER-OOM": "rendering",
    "CDN-REGION": "player",
    "WEBHOOK-RETRY-STORM": "webhooks",
}
UNRUNBOOKED: Final = "SESSION-STORE-EVICTION"
"""The repeated root cause whose RCAs link no runbook (``ledger insights`` flags it); with
fewer than two incidents of it, the repeated cause with the fewest incidents."""
FEEDBACK: Final[dict[str, tuple[str, ...]]] = {
    "bug": (
        "Jobs fail again after the last release; we retried three times.",
        "The export drops the last subtitle segment on long videos.",
        "Timestamps shift by a second after editing a segment.",
    ),
    "ux": (
        "Reviewers cannot find where to approve a translation.",
        "Too many clicks to download all languages of one video.",
        "The status of a job is unclear while it waits in the queue.",
    ),
    "feature_request": (
        "We need an audit log of who changed the glossary.",
        "Please let us schedule exports to our CDN.",
        "A per-project default voice would save our editors time.",
    ),
}
CANCEL_REASONS: Final = (
    "Superseded by the platform migration planned for next quarter",
    "Covered by the action of another RCA; tracking it there",
)
COMPLETION_NOTES: Final = (
    "Done and rolled out to every region",
    "Merged and deployed; alert tested in staging",
)
VERIFY_NOTE: Final = "Checked in production against the original failure"
DETECTION_NOTES: Final = {
    "impact_started": "Error rate rose on the dashboards from this minute",
    "detected": "Monitoring alert fired and paged on-call",
    "mitigated": "Traffic back to normal error rates",
}
VERIFIERS: Final[tuple[Actor, ...]] = (
    ("lead-maria", "leadership"),
    ("lead-tom", "leadership"),
    ("sec-omar", "security_infra_lead"),
)


@dataclass
class _Told:
    """What the quarter told of one ticket: its accepted entries and a few of them."""

    entries: list[tuple[int, _Entry]] = field(default_factory=list)  # (index, entry)

    def first(self, event_type: str, **data: Any) -> tuple[int, _Entry] | None:
        for index, entry in self.entries:
            envelope = _envelope(entry)
            if envelope["type"] == event_type and all(
                envelope["data"].get(k) == v for k, v in data.items()
            ):
                return index, entry
        return None

    def all(self, event_type: str) -> list[tuple[int, _Entry]]:
        return [(i, e) for i, e in self.entries if _envelope(e)["type"] == event_type]

    def last_at(self) -> datetime:
        return max(_occurred(e) for _, e in self.entries)


def _occurred(entry: _Entry) -> datetime:
    return datetime.fromisoformat(_envelope(entry)["occurred_at"])


class _Loop:
    """Issue 20's part of the story, drawn from its own generator."""

    def __init__(self, q: _Quarter) -> None:
        self.q = q
        self.rng = random.Random(q.spec.seed * 1000 + 20)
        self.placed: dict[float, int] = {}  # lines placed right after an entry, by its order
        self.told: dict[str, _Told] = {}
        # indices of the entries by their raw line, for rewrite's exact re-sends; the
        # stream only appends, so the entries after ``indexed`` are added when asked
        self.by_raw: dict[bytes, list[int]] = {}
        self.indexed = 0
        for index, entry in enumerate(q.stream.entries):
            envelope = entry.envelope
            if entry.expect == "accept" and envelope is not None:
                subject = envelope["subject"]
                self.told.setdefault(subject, _Told()).entries.append((index, entry))

    def emit(
        self,
        event_type: str,
        subject: str,
        at: datetime,
        data: Json,
        actor: Actor,
        *,
        after: _Entry | None = None,
        zone: ZoneInfo | None = None,
        expect: str = "accept",
        source: str = "support-portal",
    ) -> None:
        """One line: right after the entry ``after`` (at its instant), or at ``at``."""
        envelope: Json = {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "type": event_type,
            "schema_version": 1,
            "occurred_at": _stamp(at, zone),
            "source": source,
            "actor": {"id": actor[0], "role": actor[1]},
            "subject": subject,
            "data": data,
        }
        stream = self.q.stream
        if after is not None:  # between it and the line told after it (orders are whole)
            placed = self.placed.get(after.order, 0) + 1
            self.placed[after.order] = placed
            order = after.order + placed / 1000
            stream.add(_dumps(envelope), expect, after.arrival, envelope, order)
        else:
            stream.add(_dumps(envelope), expect, at, envelope)

    def rewrite(self, index: int, data: Json) -> None:
        """Give an accepted line more data; its exact re-sends change with it."""
        stream = self.q.stream
        entry = stream.entries[index]
        envelope = {**_envelope(entry), "data": {**_envelope(entry)["data"], **data}}
        raw = _dumps(envelope)
        for n in range(self.indexed, len(stream.entries)):
            self.by_raw.setdefault(stream.entries[n].raw, []).append(n)
        self.indexed = len(stream.entries)
        same = self.by_raw.pop(entry.raw, [])
        for n in same:
            stream.entries[n] = replace(stream.entries[n], raw=raw, envelope=envelope)
        self.by_raw.setdefault(raw, []).extend(same)

    def tickets(self) -> list[tuple[str, _Told]]:
        return [
            (s, t) for s, t in self.told.items() if s.startswith("T-") and t.first("ticket.opened")
        ]


def _follow_through_and_product_loop(q: _Quarter) -> None:
    """Issue 20: milestones, product areas, follow-through, knowledge links, feedback."""
    loop = _Loop(q)
    _product_areas(loop)
    _milestones_of_incidents(loop)
    _follow_through(loop)
    _feedback(loop)


def _product_areas(loop: _Loop) -> None:
    """Most tickets name their product area at opening; some triages move it, and RCAs
    place the cause in an area of its own."""
    for _, told in loop.tickets():
        opened = told.first("ticket.opened")
        assert opened is not None
        area = AREA_OF_TITLE.get(_envelope(opened[1])["data"]["title"])
        if area is not None and loop.rng.random() < 0.85:
            loop.rewrite(opened[0], {"product_area": area})
        for index, _ in told.all("ticket.triaged")[:1]:
            if loop.rng.random() < 0.5:
                others = sorted(set(AREA_OF_TITLE.values()) - {area})
                loop.rewrite(index, {"product_area": loop.rng.choice(others)})
        for index, entry in told.all("rca.root_cause_identified"):
            cause = AREA_OF_CAUSE.get(_envelope(entry)["data"]["root_cause_code"])
            if cause is not None:
                loop.rewrite(index, {"product_area": cause})


def _milestones_of_incidents(loop: _Loop) -> None:
    """Sev1/Sev2 tickets: when the impact started and was detected (recorded with the
    first response), and when it was mitigated (recorded with the resolution)."""
    bad_done = False
    for ticket_id, told in loop.tickets():
        opened = told.first("ticket.opened")
        assert opened is not None
        data = _envelope(opened[1])["data"]
        responded = next(
            (
                e
                for _, e in told.all("ticket.responded")
                if _envelope(e)["data"]["public"] and _envelope(e)["actor"]["role"] != "customer"
            ),
            None,
        )
        resolved = told.first("ticket.resolved")
        if data["severity"] > 2 or responded is None or resolved is None:
            continue
        opened_at = _occurred(opened[1])
        staff = (_envelope(responded)["actor"]["id"], _envelope(responded)["actor"]["role"])
        impact = opened_at - _minutes(loop.rng, 5, 45)
        detected = impact + (opened_at - impact) * loop.rng.uniform(0.2, 0.95)
        at = _occurred(responded)
        for name, when in (("impact_started", impact), ("detected", detected)):
            note = DETECTION_NOTES[name]
            data_ = {"at": _stamp(when), "note": note}
            loop.emit(f"incident.{name}", ticket_id, at, data_, staff, after=responded)
        fixes = [_occurred(e) for _, e in told.all("ticket.temporary_fix_applied")]
        resolved_at = _occurred(resolved[1])
        mitigated = min([*fixes, resolved_at - _minutes(loop.rng, 0, 30)])
        mitigated = max(mitigated, detected)
        if not bad_done:  # a mitigation before the impact began: refused (R-INC-1)
            early = {"at": _stamp(impact - _minutes(loop.rng, 5, 20)), "note": "first guess"}
            loop.emit(
                "incident.mitigated",
                ticket_id,
                resolved_at,
                early,
                staff,
                after=resolved[1],
                expect="R-INC-1",
            )
            bad_done = True
        mitigated_data = {"at": _stamp(mitigated), "note": DETECTION_NOTES["mitigated"]}
        loop.emit(
            "incident.mitigated", ticket_id, resolved_at, mitigated_data, staff, after=resolved[1]
        )


def _follow_through(loop: _Loop) -> None:
    """After each RCA: its actions done on time, late, verified, cancelled or left open;
    runbooks, FAQs and playbooks linked (none for one repeated root cause)."""
    q, rng = loop.q, loop.rng
    codes: dict[str, list[str]] = {}  # root cause code -> its tickets
    published: dict[str, datetime] = {}
    for ticket_id, told in loop.tickets():
        causes = told.all("rca.root_cause_identified")
        if causes:
            code = _envelope(causes[-1][1])["data"]["root_cause_code"]
            codes.setdefault(code, []).append(ticket_id)
        first = told.first("rca.published")
        if first is not None:
            published[ticket_id] = _occurred(first[1])
    repeated = sorted((c for c, ts in codes.items() if len(ts) >= 2), key=lambda c: len(codes[c]))
    bare = UNRUNBOOKED if UNRUNBOOKED in repeated else (repeated[0] if repeated else None)
    runbook_for: dict[str, str] = {}  # each repeated cause's runbook: its first RCA published
    for code in repeated:
        firsts = sorted((published[t], t) for t in codes[code] if t in published)
        if code != bare and firsts:
            runbook_for[firsts[0][1]] = code
    bad_verification = False
    for ticket_id, told in loop.tickets():
        if not told.first("rca.published"):
            continue
        last = told.last_at() + _minutes(rng, 10, 120)
        planned: list[tuple[datetime, str, Json, Actor, str]] = []
        for _, entry in told.all("rca.preventive_action_added"):
            action = _envelope(entry)["data"]
            owner: Actor = (action["owner"], "platform_engineer")
            due = datetime.combine(date.fromisoformat(action["due_date"]), time(12), UTC)
            added = max(_occurred(entry), last)
            fate = rng.random()
            ref = {"action_id": action["action_id"]}
            if fate < 0.68:  # done, mostly on time
                done = added + (due - added) * rng.uniform(0.2, 0.9)
                if rng.random() < 0.25:
                    done = due + timedelta(days=rng.uniform(1, 10))
                note = {**ref, "note": rng.choice(COMPLETION_NOTES)}
                planned.append((done, "rca.preventive_action_completed", note, owner, "accept"))
                if rng.random() < 0.5:
                    checked = done + timedelta(days=rng.uniform(0.5, 5))
                    verifier = rng.choice(VERIFIERS)
                    if not bad_verification:  # the completer checks their own work (R-RCA-4)
                        planned.append(
                            (done, "rca.preventive_action_verified", ref, owner, "R-RCA-4")
                        )
                        bad_verification = True
                    verified = {**ref, "note": VERIFY_NOTE}
                    planned.append(
                        (checked, "rca.preventive_action_verified", verified, verifier, "accept")
                    )
            elif fate < 0.78:
                cancelled_at = added + (due - added) * rng.uniform(0.1, 0.6)
                reason = {**ref, "reason": rng.choice(CANCEL_REASONS)}
                planned.append(
                    (cancelled_at, "rca.preventive_action_cancelled", reason, owner, "accept")
                )
        author = _envelope(told.all("rca.published")[0][1])["actor"]
        author_actor: Actor = (author["id"], author["role"])
        code = runbook_for.get(ticket_id)
        linked_at = last + _minutes(rng, 30, 48 * 60)
        if code is not None:
            link = {
                "kind": "runbook",
                "ref": f"https://runbooks.example.com/{code.lower()}",
                "title": f"Runbook: {CAUSES[code][0]}",
            }
            planned.append((linked_at, "rca.knowledge_linked", link, author_actor, "accept"))
        elif rng.random() < 0.3:
            kind = rng.choice(("faq", "playbook"))
            link = {
                "kind": kind,
                "ref": f"KB-{rng.randint(100, 999)}",
                "title": f"{kind.upper() if kind == 'faq' else 'Playbook'}: {told_title(told)}",
            }
            planned.append((linked_at, "rca.knowledge_linked", link, author_actor, "accept"))
        moment = last
        for when, event_type, data, actor, expect in sorted(planned, key=lambda p: p[0]):
            moment = max(moment, when)
            if moment >= q.end:
                break
            loop.emit(event_type, ticket_id, moment, data, actor, expect=expect)


def told_title(told: _Told) -> str:
    """The ticket's title, as opened."""
    opened = told.first("ticket.opened")
    assert opened is not None
    return str(_envelope(opened[1])["data"]["title"])


def _feedback(loop: _Loop) -> None:
    """Customers tell us about the product with their weekly usage: bugs, usability and
    feature requests, by product area, sometimes about a ticket of theirs."""
    q, rng = loop.q, loop.rng
    areas_of: dict[str, list[tuple[datetime, str, str | None]]] = {}
    for ticket_id, told in loop.tickets():
        opened = told.first("ticket.opened")
        assert opened is not None
        envelope = _envelope(q.stream.entries[opened[0]])
        area = envelope["data"].get("product_area")
        customer_id = envelope["data"]["customer_id"]
        areas_of.setdefault(customer_id, []).append((_occurred(opened[1]), ticket_id, area))
    every_area = sorted(set(AREA_OF_TITLE.values()))
    blank_done = False
    for customer in q.customers[::2]:
        reports = [
            (i, e)
            for i, e in loop.told.get(customer.id, _Told()).all("customer.usage_reported")
            if customer.engaged(_occurred(e))
        ]
        if not reports:
            continue
        for number, (_, anchor) in enumerate(rng.sample(reports, min(len(reports), 3)), start=1):
            at = _occurred(anchor)
            theirs = [t for t in areas_of.get(customer.id, []) if t[0] <= at and t[2]]
            kind = rng.choice(tuple(FEEDBACK))
            data: Json = {"feedback_id": f"FB-{number}", "kind": kind}
            if theirs and rng.random() < 0.7:
                _, ticket_id, area = rng.choice(theirs)
                data["product_area"] = area
                if rng.random() < 0.5:
                    data["ticket_id"] = ticket_id
            else:
                data["product_area"] = rng.choice(every_area)
            data["text"] = rng.choice(FEEDBACK[kind])
            user: Actor = (rng.choice(customer.users), "customer")
            zone = customer.calendar.zone
            if not blank_done:  # feedback without the customer's words (R-CS-5)
                blank = {**data, "feedback_id": "FB-0", "text": " "}
                loop.emit(
                    "customer.feedback_recorded",
                    customer.id,
                    at,
                    blank,
                    user,
                    after=anchor,
                    zone=zone,
                    expect="R-CS-5",
                    source="crm",
                )
                blank_done = True
            loop.emit(
                "customer.feedback_recorded",
                customer.id,
                at,
                data,
                user,
                after=anchor,
                zone=zone,
                source="crm",
            )
