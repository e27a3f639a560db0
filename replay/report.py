"""``ledger report T --out FILE.html``: one self-contained incident page (no network).

The page holds a headline block, an SVG timeline chart of the incident and the RCA, all
drawn from a replay of the log as of an instant (:func:`replay.history.replay_ticket`).
The web board embeds the same pieces: :func:`incident_chart_svg`, :func:`incident_headline`
and :func:`incident_headline_html`.

The chart's axis runs from the opening (or the earliest RCA entry) to the resolution; for
an incident still open as of the page's instant it runs to that instant, marked "now", and
the customer-update timer's running window (from the last update to its due instant) is
drawn on it. Whatever happened after the resolution (closing, late RCA entries) is drawn
compressed in a band on the right. Every entry of the RCA timeline is a mark carrying
``data-entry``, ``data-kind`` and ``data-at``, as the timeline table's rows do.

Each colour of the legend means one thing (``PALETTE``); every coloured element names its
meaning in ``data-meaning``, and each meaning has a shape and a text label too. Labels are
placed by a conservative estimate of their width (``text_width``), staggered into rows so
none overlaps another, and kept inside the viewBox.

Headline definitions (:func:`incident_headline`), every duration in whole seconds from the
opening (``opened_at``):

* time to first response: to the first public response (``first_response_at``); the
  first-response timer gives its due instant and state.
* impact: when the impact started and was detected (``incident.impact_started``,
  ``incident.detected``: their ``at``), and the time to detect between them.
* time to mitigation: to ``incident.mitigated`` (its ``at``) when recorded; otherwise to
  the first fix the ledger records, a ``ticket.temporary_fix_applied`` (a workaround) or
  a ``ticket.permanent_fix_applied``, whichever occurred first; when none of them was
  recorded the figure is "not recorded" (never guessed from the resolution). With the
  impact's start recorded, ``from_impact_seconds`` counts from there.
* time to resolution: to ``resolved_at`` (the latest resolution, after any reopening);
  while unresolved, how long it has been open as of the page's instant.
* breaches: the SLA timers in state ``breached`` as of the page's instant.
* time at each tier: the escalation timeline's ``seconds_at_previous_tier`` of each step,
  summed by the tier left, plus ``seconds_at_current_tier`` for the tier held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, Final

from ledger.aggregates.rules import TIERS
from ledger.aggregates.ticket import OPEN_STATUSES
from ledger.services.rca_report import html_sections

WIDTH: Final = 1100
LEFT: Final = 170  # the axis starts here; the gutter holds the level labels
RIGHT: Final = 20
PAD: Final = 6  # no label comes nearer the viewBox's edge than this
FONT: Final = 11
TITLE_FONT: Final = 12
ROW: Final = 15  # one row of staggered labels
GAP: Final = 8  # the least room between two labels on one row
AFTER: Final = 0.14  # the share of the axis for what came after the resolution

PALETTE: Final[dict[str, tuple[str, str]]] = {
    "severity": ("#7b3294", "severity"),
    "tier": ("#8c510a", "escalation tier"),
    "update": ("#1f77b4", "customer update"),
    "window": ("#9ecae1", "update window (last update to due)"),
    "breach": ("#d62728", "SLA breach"),
    "workaround": ("#ff7f0e", "temporary fix (workaround)"),
    "fix": ("#2ca02c", "permanent fix"),
    "resolved": ("#008b8b", "resolved / closed"),
    "reopened": ("#e377c2", "reopened"),
    "milestone": ("#bcbd22", "incident milestone (impact started, detected, mitigated)"),
    "other": ("#7f7f7f", "other activity"),
    "now": ("#000000", "now (the page's as of)"),
}
"""Meaning -> (colour, legend text): one colour per meaning, one meaning per colour."""

MEANING_OF: Final = {
    "opened": "severity",
    "triaged": "severity",
    "escalated": "tier",
    "de-escalated": "tier",
    "responded": "update",
    "update posted": "update",
    "SLA breached": "breach",
    "temporary fix": "workaround",
    "permanent fix": "fix",
    "resolved": "resolved",
    "closed": "resolved",
    "reopened": "reopened",
    "impact started": "milestone",
    "detected": "milestone",
    "mitigated": "milestone",
}
LANE_OF: Final = {
    "severity": "severity",
    "tier": "tier",
    "update": "updates",
    "breach": "breaches",
    "workaround": "fixes",
    "fix": "fixes",
    "resolved": "fixes",
    "reopened": "fixes",
    "milestone": "fixes",
    "other": "activity",
}
LANE_TITLES: Final = {
    "severity": "Severity",
    "tier": "Escalation tier",
    "updates": "Customer updates",
    "breaches": "SLA breaches",
    "fixes": "Milestones, fixes and resolution",
    "activity": "Other activity (assigned, notes, RCA entries)",
}
LABEL_OF: Final = {
    "temporary fix": "workaround",
    "permanent fix": "permanent fix",
    "resolved": "resolved",
    "closed": "closed",
    "reopened": "reopened",
    "impact started": "impact started",
    "detected": "detected",
    "mitigated": "mitigated",
}
STRUCTURE: Final = ("#ffffff", "#f6f7f9", "#dddddd", "#e3e3e3", "#333333", "#888888")
"""Colours of the chart's frame and text, none of them a meaning."""

MITIGATION_EVENTS: Final = {
    "ticket.temporary_fix_applied": "temporary fix (workaround)",
    "ticket.permanent_fix_applied": "permanent fix",
}
MITIGATION_DEFINITION: Final = (
    "incident.mitigated when recorded, else the first ticket.temporary_fix_applied or "
    "ticket.permanent_fix_applied, from the opening"
)

STYLE: Final = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;
color:#222;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top;font-size:13px}
.meta{color:#555;font-size:13px}
.incident-headline dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;
font-size:14px;margin:8px 0}.incident-headline dt{font-weight:600}.incident-headline dd{margin:0}
svg{max-width:100%;height:auto}
"""


# text extents -----------------------------------------------------------------------------

_NARROW: Final = frozenset(" .,:;'|!()[]{}ijlftr/-")
_WIDE: Final = frozenset("mwMW@%")


def text_width(text: str, size: float = FONT, bold: bool = False) -> float:
    """A conservative estimate of ``text``'s width in px (wider than DejaVu Sans, Arial or
    Helvetica set it): what placement and the tests use to keep labels apart and inside."""
    em = 0.0
    for char in text:
        if char in _NARROW:
            em += 0.42
        elif char in _WIDE:
            em += 1.0
        elif char.isupper():
            em += 0.8
        else:
            em += 0.66
    return em * size * (1.12 if bold else 1.0)


def _text(
    left: float,
    baseline: float,
    text: str,
    *,
    size: int = FONT,
    bold: bool = False,
    cls: str = "",
) -> str:
    """A start-anchored label at ``left`` (so its extent is ``left`` to ``left + width``)."""
    weight = ' font-weight="bold"' if bold else ""
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{left:.1f}" y="{baseline:.1f}" font-size="{size}"{weight}{klass} '
        f'fill="#333333">{escape(text)}</text>'
    )


def _clamped(x: float, width: float) -> float:
    """The left edge of a label ``width`` wide centred on ``x``, kept inside the viewBox."""
    return max(PAD, min(x - width / 2, WIDTH - PAD - width))


@dataclass
class _Rows:
    """Labels staggered into rows: each goes on the first row with room for it."""

    ends: list[float] = field(default_factory=list)

    def place(self, left: float, width: float) -> int:
        for row, end in enumerate(self.ends):
            if left >= end + GAP:
                self.ends[row] = left + width
                return row
        self.ends.append(left + width)
        return len(self.ends) - 1


# instants and durations ------------------------------------------------------------------


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _maybe(value: Any) -> datetime | None:
    return None if value is None else _instant(value)


def _iso(value: Any) -> str | None:
    return None if value is None else _instant(value).astimezone(UTC).isoformat()


def _hm(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%m-%d %H:%M")


def _seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


def duration_text(seconds: int | None) -> str:
    """``2d 3h``, ``1h 10m``, ``40m``, ``30s`` (None: ``-``)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


# the headline -----------------------------------------------------------------------------


def _is_open(view: dict[str, Any]) -> bool:
    return str(view["state"]["status"]) in OPEN_STATUSES


def _running_update(view: dict[str, Any]) -> dict[str, Any] | None:
    """The update timer's current window of an open incident (None: no cadence runs)."""
    if not _is_open(view):
        return None
    running = [
        t
        for t in view["timers"]
        if t["timer"] == "update" and t["stopped_at"] is None and t["due_at"] is not None
    ]
    return running[-1] if running else None


def _mitigation(view: dict[str, Any]) -> tuple[datetime, str] | None:
    mitigated = _maybe(view["state"].get("mitigated_at"))
    if mitigated is not None:
        return mitigated, "incident.mitigated"
    fixes = [
        (_instant(e["occurred_at"]), MITIGATION_EVENTS[e["type"]])
        for e in view["trail"]
        if e["type"] in MITIGATION_EVENTS
    ]
    return min(fixes, key=lambda fix: fix[0]) if fixes else None


def incident_headline(view: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a replayed ticket as of its ``as_of``, JSON-ready (instants
    as ISO 8601 in UTC, durations in whole seconds; definitions in the module docstring)."""
    state, as_of = view["state"], _instant(view["as_of"])
    opened = _instant(state["opened_at"])
    timers = view["timers"]

    first = next((t for t in timers if t["timer"] == "first_response"), None)
    responded = _maybe(state["first_response_at"])
    first_response = {
        "recorded": responded is not None,
        "at": _iso(responded),
        "seconds": None if responded is None else _seconds(opened, responded),
        "due_at": None if first is None else _iso(first["due_at"]),
        "state": None if first is None else first["state"],
    }

    impact_started = _maybe(state.get("impact_started_at"))
    detected = _maybe(state.get("detected_at"))
    impact = {
        "started_at": _iso(impact_started),
        "detected_at": _iso(detected),
        "time_to_detect_seconds": None
        if impact_started is None or detected is None or detected < impact_started
        else _seconds(impact_started, detected),
    }

    fix = _mitigation(view)
    mitigation: dict[str, Any] = {
        "recorded": fix is not None,
        "at": None if fix is None else _iso(fix[0]),
        "seconds": None if fix is None else _seconds(opened, fix[0]),
        "from_impact_seconds": None
        if fix is None or impact_started is None or fix[0] < impact_started
        else _seconds(impact_started, fix[0]),
        "by": None if fix is None else fix[1],
        "definition": MITIGATION_DEFINITION,
    }

    resolved = _maybe(state["resolved_at"])
    resolution = {
        "recorded": resolved is not None,
        "at": _iso(resolved),
        "seconds": None if resolved is None else _seconds(opened, resolved),
        "open_for_seconds": _seconds(opened, as_of) if resolved is None else None,
        "reopen_count": int(state.get("reopen_count") or 0),
    }

    breaches = [
        {
            "timer": t["timer"],
            "seq": t["seq"],
            "severity": t["severity"],
            "due_at": _iso(t["due_at"]),
            "breached_at": _iso(t["breached_at"]),
            "stopped_at": _iso(t["stopped_at"]),
            "overdue_by": t["overdue_by"],
        }
        for t in timers
        if t["state"] == "breached"
    ]

    escalation = view["escalation"]
    at_tier: dict[str, int] = {}
    for step in escalation["steps"]:
        tier = str(step["from_tier"])
        at_tier[tier] = at_tier.get(tier, 0) + int(step["seconds_at_previous_tier"])
    current = str(escalation["current_tier"])
    at_tier[current] = at_tier.get(current, 0) + int(escalation["seconds_at_current_tier"])
    order = {tier: n for n, tier in enumerate(TIERS)}
    tiers = [
        {"tier": tier, "seconds": seconds, "current": tier == current}
        for tier, seconds in sorted(at_tier.items(), key=lambda item: order.get(item[0], 99))
    ]

    window = _running_update(view)
    update_window = (
        None
        if window is None
        else {
            "seq": window["seq"],
            "started_at": _iso(window["started_at"]),
            "due_at": _iso(window["due_at"]),
            "state": window["state"],
            "paused": window["paused"],
            "time_left": window["time_left"],
            "overdue_by": window["overdue_by"],
        }
    )
    customer = view.get("customer") or {"customer_id": state["customer_id"], "name": None}
    return {
        "ticket_id": view["ticket_id"],
        "title": state["title"],
        "as_of": _iso(as_of),
        "customer": {"customer_id": customer["customer_id"], "name": customer["name"]},
        "status": {
            "status": state["status"],
            "open": _is_open(view),
            "severity": state["severity"],
            "highest_severity": state["max_severity"],
            "tier": state["tier"],
            "assignee": state["assignee"],
        },
        "opened_at": _iso(opened),
        "impact": impact,
        "first_response": first_response,
        "mitigation": mitigation,
        "resolution": resolution,
        "breaches": {"count": len(breaches), "timers": breaches},
        "tiers": tiers,
        "update_window": update_window,
    }


def incident_headline_html(view: dict[str, Any]) -> str:
    """The headline figures as an HTML fragment (a ``<section>`` with a ``<dl>``); each
    ``<dd>`` names its figure in ``data-key`` and carries ``data-seconds``/``data-at``."""
    h = incident_headline(view)
    e = escape
    customer = h["customer"]
    name = customer["name"] or "(name not recorded)"
    status = h["status"]

    def figure(key: str, label: str, value: str, seconds: Any = None, at: Any = None) -> str:
        attrs = f' data-key="{key}"'
        if seconds is not None:
            attrs += f' data-seconds="{seconds}"'
        if at is not None:
            attrs += f' data-at="{e(str(at))}"'
        return f"<dt>{e(label)}</dt><dd{attrs}>{value}</dd>"

    def elapsed(part: dict[str, Any], missing: str) -> str:
        if not part["recorded"]:
            return e(missing)
        at = _hm(_instant(part["at"]))
        return f"{e(duration_text(part['seconds']))} <small>(at {e(at)} UTC)</small>"

    first = h["first_response"]
    first_text = elapsed(first, "no public response yet")
    if first["state"]:
        first_text += f" <small>target {e(str(first['state']))}</small>"
    mitigation = h["mitigation"]
    if mitigation["recorded"]:
        mitigation_text = elapsed(mitigation, "") + f" <small>by {e(mitigation['by'])}</small>"
        if mitigation["from_impact_seconds"] is not None:
            since = duration_text(mitigation["from_impact_seconds"])
            mitigation_text += f" <small>({e(since)} from the impact's start)</small>"
    else:
        mitigation_text = (
            "not recorded <small>(no incident.mitigated and no temporary or permanent fix "
            "in the ledger)</small>"
        )
    impact = h["impact"]
    if impact["started_at"] is None and impact["detected_at"] is None:
        impact_text = (
            "not recorded <small>(no incident.impact_started or incident.detected)</small>"
        )
    else:
        parts = []
        if impact["started_at"] is not None:
            parts.append(f"started {e(_hm(_instant(impact['started_at'])))} UTC")
        if impact["detected_at"] is not None:
            parts.append(f"detected {e(_hm(_instant(impact['detected_at'])))} UTC")
        impact_text = ", ".join(parts)
        if impact["time_to_detect_seconds"] is not None:
            detect = duration_text(impact["time_to_detect_seconds"])
            impact_text += f" <small>(time to detect {e(detect)})</small>"
    resolution = h["resolution"]
    if resolution["recorded"]:
        resolution_text = elapsed(resolution, "")
    else:
        resolution_text = (
            f"not resolved <small>(open {e(duration_text(resolution['open_for_seconds']))})</small>"
        )
    if resolution["reopen_count"]:
        resolution_text += f" <small>reopened {resolution['reopen_count']}x</small>"
    breaches = h["breaches"]
    breach_text = (
        ", ".join(
            f'<span class="breach" data-timer="{e(b["timer"])}" data-seq="{b["seq"]}" '
            f'data-due="{e(b["due_at"])}">'
            f"{e(b['timer'].replace('_', ' '))} "
            f"(Sev{b['severity']}, due {e(_hm(_instant(b['due_at'])))} UTC)</span>"
            for b in breaches["timers"]
        )
        or "none"
    )
    tiers_text = ", ".join(
        f'<span class="tier" data-tier="{e(t["tier"])}" data-seconds="{t["seconds"]}">'
        f"{e(t['tier'].replace('_', ' '))} {e(duration_text(t['seconds']))}"
        + (" (now)" if t["current"] else "")
        + "</span>"
        for t in h["tiers"]
    )
    window = h["update_window"]
    status_text = (
        f"{e(status['status'].replace('_', ' '))}, Sev{status['severity']} "
        f"(highest Sev{status['highest_severity']}), tier {e(status['tier'].replace('_', ' '))}"
    )
    rows = [
        figure("customer", "Customer", f"{e(name)} <small>({e(customer['customer_id'])})</small>"),
        figure("status", "Status", status_text),
        figure(
            "impact",
            "Impact",
            impact_text,
            impact["time_to_detect_seconds"],
            impact["started_at"],
        ),
        figure(
            "first_response", "Time to first response", first_text, first["seconds"], first["at"]
        ),
        figure(
            "mitigation",
            "Time to mitigation",
            mitigation_text,
            mitigation["seconds"],
            mitigation["at"],
        ),
        figure(
            "resolution",
            "Time to resolution",
            resolution_text,
            resolution["seconds"],
            resolution["at"],
        ),
        figure("breaches", "SLA breaches", f"{breaches['count']}: {breach_text}"),
        figure("tiers", "Time at each tier", tiers_text),
    ]
    if window is not None:
        due = _hm(_instant(window["due_at"]))
        if window["state"] == "breached":
            text = f"overdue since {due} UTC ({duration_text(window['overdue_by'])})"
        elif window["paused"]:
            text = f"paused, waiting on the customer ({duration_text(window['time_left'])} left)"
        else:
            text = f"due {due} UTC (in {duration_text(window['time_left'])})"
        rows.append(figure("update_window", "Next customer update", e(text), at=window["due_at"]))
    return (
        f'<section class="incident-headline" data-ticket="{e(h["ticket_id"])}">'
        f"<h2>Headline as of {e(_hm(_instant(h['as_of'])))} UTC</h2>"
        f"<dl>{''.join(rows)}</dl></section>\n"
    )


# the page ---------------------------------------------------------------------------------


def render_report(view: dict[str, Any]) -> str:
    """The incident page for a replayed ticket (:func:`replay.history.replay_ticket`)."""
    as_of = _instant(view["as_of"])
    rca = view["rca"]
    e = escape
    head = view["chain_head"]
    known = f", known at {e(str(view['known_at']))}" if view["known_at"] else ""
    name = (view.get("customer") or {}).get("name")
    customer = f"{e(name)} ({e(str(rca['customer_id']))})" if name else e(str(rca["customer_id"]))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Incident report {e(view['ticket_id'])}</title><style>{STYLE}</style></head>"
        f"<body>\n<h1>Incident {e(view['ticket_id'])}: {e(rca['title'])}</h1>\n"
        f'<p class="meta">Customer {customer} · replayed from the ledger\'s log '
        f"as of {e(str(view['as_of']))}{known} · chain head v{head['version']} "
        f"<code>{e(head['event_hash'])}</code></p>\n"
        f"{incident_headline_html(view)}"
        "<h2>Timeline</h2>\n"
        f"{incident_chart_svg(view, as_of)}\n"
        f"{html_sections(rca, as_of)}</body></html>\n"
    )


# the chart --------------------------------------------------------------------------------


class _Scale:
    """Time to x: the axis (start to end) gets most of the width; what came after the end
    (closing, late RCA entries) is drawn compressed in a band on the right."""

    def __init__(self, start: datetime, end: datetime, last: datetime) -> None:
        span = max(end - start, timedelta(minutes=30))
        self.start = min(start, end - span) - span * 0.02
        self.end = end
        self.last = last
        self.later = last > end
        width = WIDTH - LEFT - RIGHT
        self.main = width * (1 - AFTER) if self.later else width
        self.band = width - self.main
        self.seconds = (self.end - self.start).total_seconds()

    @property
    def right(self) -> float:
        """The x of the axis end."""
        return LEFT + self.main

    def x(self, at: datetime) -> float:
        if at <= self.end or not self.later:
            fraction = max(0.0, min(1.0, (at - self.start).total_seconds() / self.seconds))
            return round(LEFT + fraction * self.main, 1)
        beyond = (at - self.end).total_seconds() / (self.last - self.end).total_seconds()
        return round(self.right + self.band * (0.15 + 0.8 * min(1.0, beyond)), 1)

    def ticks(self) -> list[datetime]:
        """Round instants across the axis, as many as their labels leave room for."""
        room = self.main / (text_width("00-00 00:00") + 2 * GAP)
        steps = [60 * m for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)]
        steps += [86400 * d for d in (7, 14, 28)]
        step = next((s for s in steps if self.seconds / s <= room), steps[-1])
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        first = int((self.start - epoch).total_seconds() // step + 1) * step
        ticks = []
        at = epoch + timedelta(seconds=first)
        while at <= self.end:
            ticks.append(at)
            at += timedelta(seconds=step)
        return ticks


def _colour(meaning: str) -> str:
    return PALETTE[meaning][0]


@dataclass
class _Lane:
    name: str
    top: float  # the band's top (the title sits above it)
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height


def _level_y(lane: _Lane, level: int, levels: int) -> float:
    return round(lane.top + 10 + (lane.height - 20) * level / (levels - 1), 1)


def _chart_id(view: dict[str, Any]) -> str:
    return "incident-chart-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(view["ticket_id"]))


def incident_chart_svg(view: dict[str, Any], as_of: datetime) -> str:
    """The incident's timeline chart as one self-contained SVG (no external references),
    for a ticket replayed as of ``as_of`` (:func:`replay.history.replay_ticket`).

    The axis ends at the resolution, or at ``as_of`` (marked "now") while the incident is
    open, where the running customer-update window is drawn too. ``<title>``/``<desc>``
    describe it; marks carry text labels and shapes as well as colours.
    """
    state, rca = view["state"], view["rca"]
    opened = _instant(state["opened_at"])
    entries = [(_instant(x["at"]), x) for x in rca["timeline"]]
    open_now = _is_open(view)
    resolved = _maybe(state["resolved_at"])
    end = as_of if open_now or resolved is None else min(resolved, as_of)
    start = min([opened, *(at for at, _ in entries)])
    last = max([end, *(min(at, as_of) for at, _ in entries)])
    scale = _Scale(start, end, last)

    body: list[str] = []
    y = 40.0  # the top row holds the "now" / end label
    lanes: dict[str, _Lane] = {}

    def lane(name: str, height: float) -> _Lane:
        nonlocal y
        body.append(_text(PAD + 2, y + TITLE_FONT, LANE_TITLES[name], size=TITLE_FONT, bold=True))
        top = y + TITLE_FONT + 6
        lanes[name] = _Lane(name, top, height)
        body.append(
            f'<rect class="lane" data-lane="{name}" x="{LEFT}" y="{top}" '
            f'width="{WIDTH - LEFT - RIGHT}" height="{height}" fill="#f6f7f9" stroke="#dddddd"/>'
        )
        y = top + height + 10
        return lanes[name]

    # lanes whose marks are labelled: their labels first, to know how many rows they take
    labels = _labels(view, scale, entries)
    lane("severity", 76)
    lane("tier", 76)
    for name in ("updates", "breaches", "fixes"):
        rows = max((row for _, row, _, _ in labels.get(name, [])), default=-1) + 1
        lane(name, 26 + rows * ROW + (4 if rows else 0))
    lane("activity", 26)
    bottom = y - 10

    parts = [*body]
    parts += _axis(scale, bottom, open_now, as_of)
    parts += _severity(view, scale, lanes["severity"], end)
    parts += _tiers(view, scale, lanes["tier"], end)
    parts += _windows(view, scale, lanes["updates"], end, as_of)
    parts += _fix_bands(view, scale, lanes["fixes"], end)
    marks_by_lane = _marks(view, scale, lanes, entries)
    for name in lanes:
        parts += marks_by_lane.get(name, [])
    for name, placed in labels.items():
        band = lanes[name]
        for left, row, text, meaning in placed:
            baseline = band.top + 26 + row * ROW + FONT - 2
            parts.append(
                f'<g class="label" data-meaning="{meaning}">' + _text(left, baseline, text) + "</g>"
            )
    used = [m for m in PALETTE if f'data-meaning="{m}"' in "".join(parts)]
    legend, height = _legend(used, bottom + 44)
    parts += legend
    chart_id = _chart_id(view)
    title, desc = _description(view, as_of, end, open_now, used)
    head = (
        f'<svg id="{chart_id}" class="incident-chart" xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-family="sans-serif" '
        f'data-axis-start="{_iso(scale.start)}" data-axis-end="{_iso(end)}" '
        f'data-as-of="{_iso(as_of)}" data-open="{str(open_now).lower()}">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>'
    )
    return head + "".join(parts) + "</svg>"


def _description(
    view: dict[str, Any], as_of: datetime, end: datetime, open_now: bool, used: list[str]
) -> tuple[str, str]:
    h = incident_headline(view)
    status = h["status"]
    who = h["customer"]["name"] or h["customer"]["customer_id"]
    title = f"Incident {view['ticket_id']} timeline for {who}, as of {_hm(as_of)} UTC"
    axis = (
        f"The time axis runs to now ({_hm(as_of)} UTC); the incident is still {status['status']}."
        if open_now
        else f"The time axis runs to the resolution at {_hm(end)} UTC."
    )
    window = h["update_window"]
    update = ""
    if window is not None:
        due = _hm(_instant(window["due_at"]))
        update = (
            f" The customer update due {due} UTC is overdue."
            if window["state"] == "breached"
            else f" The next customer update is due {due} UTC."
        )
    colours = "; ".join(f"{PALETTE[m][1]}: {PALETTE[m][0]}" for m in used)
    desc = (
        f"{axis} Lanes: severity, escalation tier, customer updates, SLA breaches, incident "
        f"milestones, fixes and resolution, other activity. Currently "
        f"Sev{status['severity']} at tier {status['tier'].replace('_', ' ')}; "
        f"{h['breaches']['count']} SLA breaches.{update} "
        f"Colours: {colours}."
    )
    return title, desc


def _axis(scale: _Scale, bottom: float, open_now: bool, as_of: datetime) -> list[str]:
    parts = []
    label_y = bottom + 16
    taken = 0.0
    for at in scale.ticks():
        x = scale.x(at)
        text = _hm(at)
        width = text_width(text)
        left = _clamped(x, width)
        parts.append(f'<line x1="{x}" y1="40" x2="{x}" y2="{bottom}" stroke="#e3e3e3"/>')
        if left >= taken + GAP:  # a label that would touch the one before is left out
            parts.append(_text(left, label_y, text, cls="tick"))
            taken = left + width
    unit = "time (UTC)"
    parts.append(_text(PAD + 2, label_y, unit))
    end_x = scale.right
    if open_now:
        text = f"now {_hm(as_of)} UTC"
        meaning = "now"
        extra = ' stroke-width="2"'
    else:
        text = f"resolved {_hm(scale.end)} UTC (axis end)"
        meaning = "resolved"
        extra = ' stroke-dasharray="5 3"'
    width = text_width(text, bold=True)
    left = max(LEFT, min(end_x - width, WIDTH - PAD - width))
    parts.append(
        f'<g class="{"now" if open_now else "axis-end"}" data-meaning="{meaning}" '
        f'data-at="{_iso(as_of if open_now else scale.end)}">'
        f'<line x1="{end_x}" y1="24" x2="{end_x}" y2="{bottom}" '
        f'stroke="{_colour(meaning)}"{extra}/>' + _text(left, 18, text, bold=True) + "</g>"
    )
    if scale.later:
        text = "after resolution (compressed)"
        width = text_width(text)
        parts.append(
            f'<line x1="{end_x}" y1="40" x2="{end_x}" y2="{bottom}" stroke="#888888" '
            'stroke-dasharray="2 4"/>'
            f'<rect x="{end_x}" y="40" width="{scale.band}" height="{bottom - 40}" '
            'fill="#888888" opacity="0.08"/>'
            + _text(WIDTH - PAD - width, label_y + ROW, text, cls="after")
        )
    return parts


def _steps(points: list[tuple[datetime, float]], end: datetime, scale: _Scale, meaning: str) -> str:
    """A step line through ``points`` (each holds until the next), drawn on to ``end``."""
    if not points:
        return ""
    (first_at, first_y), rest = points[0], points[1:]
    path = f"M{scale.x(first_at)} {first_y} "
    path += "".join(f"H{scale.x(at)} V{y} " for at, y in rest)
    path += f"H{scale.x(end)}"
    return (
        f'<path class="steps" data-meaning="{meaning}" d="{path}" fill="none" '
        f'stroke="{_colour(meaning)}" stroke-width="2.5"/>'
    )


def _gutter(lane: _Lane, level: int, levels: int, text: str) -> str:
    width = text_width(text)
    return _text(LEFT - 8 - width, _level_y(lane, level, levels) + 4, text)


def _severity(view: dict[str, Any], scale: _Scale, lane: _Lane, end: datetime) -> list[str]:
    points = [
        (_instant(t["occurred_at"]), _level_y(lane, int(t["data"]["severity"]) - 1, 4))
        for t in view["trail"]
        if t["type"] in ("ticket.opened", "ticket.triaged")
    ]
    points.sort(key=lambda point: point[0])
    labels = [_gutter(lane, s - 1, 4, f"Sev{s}") for s in range(1, 5)]
    return [*labels, _steps(points, end, scale, "severity")]


def _tiers(view: dict[str, Any], scale: _Scale, lane: _Lane, end: datetime) -> list[str]:
    opened = _instant(view["state"]["opened_at"])
    points = [(opened, _level_y(lane, 0, len(TIERS)))]
    points += [
        (_instant(s["at"]), _level_y(lane, TIERS.index(s["to_tier"]), len(TIERS)))
        for s in view["escalation"]["steps"]
    ]
    labels = [_gutter(lane, n, len(TIERS), t.replace("_", " ")) for n, t in enumerate(TIERS)]
    return [*labels, _steps(points, end, scale, "tier")]


def _windows(
    view: dict[str, Any], scale: _Scale, lane: _Lane, end: datetime, as_of: datetime
) -> list[str]:
    """Each update-cadence window, from its start (the last update) to its due instant; the
    part after a missed due instant is a breach. The running one is marked ``running``."""
    running = _running_update(view)
    y = lane.top + 20
    parts = []
    for timer in view["timers"]:
        if timer["timer"] != "update" or not timer["due_at"]:
            continue
        start, due = _instant(timer["started_at"]), _instant(timer["due_at"])
        stopped = _maybe(timer["stopped_at"])
        if start > as_of:
            continue
        until = min(due, stopped or end, end)
        is_running = running is not None and timer["seq"] == running["seq"]
        klass = "update-window running" if is_running else "update-window"
        x1, x2 = scale.x(start), scale.x(until)
        parts.append(
            f'<g class="{klass}" data-meaning="window" data-start="{_iso(start)}" '
            f'data-due="{_iso(due)}" data-state="{timer["state"]}">'
            f'<rect x="{x1}" y="{y - 3}" width="{max(1.0, x2 - x1):.1f}" height="6" '
            f'fill="{_colour("window")}"'
            + (' stroke="#333333" stroke-width="1"' if is_running else "")
            + f"/><title>update window {_hm(start)} to {_hm(due)} UTC ({timer['state']})</title>"
            "</g>"
        )
        if timer["state"] == "breached" and timer["breached_at"] is not None:
            missed = _instant(timer["breached_at"])
            over = min(stopped or end, end)
            parts.append(
                f'<g class="overdue" data-meaning="breach" data-due="{_iso(due)}">'
                f'<rect x="{scale.x(missed)}" y="{y - 2}" '
                f'width="{max(1.0, scale.x(over) - scale.x(missed)):.1f}" height="4" '
                f'fill="{_colour("breach")}"/><title>update overdue from {_hm(missed)} UTC'
                "</title></g>"
            )
    return parts


def _fix_bands(view: dict[str, Any], scale: _Scale, lane: _Lane, end: datetime) -> list[str]:
    """A temporary fix, from when it was applied to when it expires, the permanent fix
    replaces it or the axis ends."""
    permanent = [
        _instant(t["occurred_at"])
        for t in view["trail"]
        if t["type"] == "ticket.permanent_fix_applied"
    ]
    parts = []
    for entry in view["trail"]:
        if entry["type"] != "ticket.temporary_fix_applied":
            continue
        start = _instant(entry["occurred_at"])
        expires = _instant(entry["data"]["expires_at"])
        until = min([expires, end, *(p for p in permanent if p > start)])
        x1, x2 = scale.x(start), scale.x(max(until, start))
        parts.append(
            f'<rect class="fix-band" data-meaning="workaround" x="{x1}" y="{lane.top + 16}" '
            f'width="{max(2.0, x2 - x1):.1f}" height="8" fill="{_colour("workaround")}" '
            f'opacity="0.45"><title>temporary fix until {escape(_hm(expires))} UTC</title></rect>'
        )
    return parts


def _shape(meaning: str, kind: str, x: float, y: float) -> str:
    colour = _colour(meaning)
    if meaning == "breach":
        return (
            f'<path d="M{x - 6} {y - 6} L{x + 6} {y + 6} M{x - 6} {y + 6} L{x + 6} {y - 6}" '
            f'stroke="{colour}" stroke-width="3"/>'
        )
    if meaning == "fix":
        return f'<path d="M{x} {y - 7} L{x + 7} {y} L{x} {y + 7} L{x - 7} {y} Z" fill="{colour}"/>'
    if meaning == "resolved":
        fill = "#ffffff" if kind == "closed" else colour
        return (
            f'<rect x="{x - 5}" y="{y - 5}" width="10" height="10" fill="{fill}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
    if meaning == "workaround":
        return f'<path d="M{x - 6} {y + 5} L{x + 6} {y + 5} L{x} {y - 6} Z" fill="{colour}"/>'
    if meaning == "tier":
        tip = y + 6 if kind == "de-escalated" else y - 6
        base = y - 5 if kind == "de-escalated" else y + 5
        return f'<path d="M{x - 6} {base} L{x + 6} {base} L{x} {tip} Z" fill="{colour}"/>'
    if meaning == "milestone":  # a flag on a pole
        return (
            f'<path d="M{x} {y + 7} V{y - 7} L{x + 8} {y - 4} L{x} {y - 1}" '
            f'fill="{colour}" stroke="{colour}" stroke-width="2"/>'
        )
    if meaning == "reopened":
        return (
            f'<circle cx="{x}" cy="{y}" r="5" fill="#ffffff" stroke="{colour}" stroke-width="3"/>'
        )
    radius = 3.5 if meaning == "other" else 5
    return f'<circle cx="{x}" cy="{y}" r="{radius}" fill="{colour}" stroke="#ffffff"/>'


def _marks(
    view: dict[str, Any],
    scale: _Scale,
    lanes: dict[str, _Lane],
    entries: list[tuple[datetime, dict[str, Any]]],
) -> dict[str, list[str]]:
    """Every RCA timeline entry as a mark in its lane."""
    severity_at = sorted(
        (_instant(t["occurred_at"]), int(t["data"]["severity"]))
        for t in view["trail"]
        if t["type"] in ("ticket.opened", "ticket.triaged")
    )
    steps = [(_instant(s["at"]), str(s["to_tier"])) for s in view["escalation"]["steps"]]
    out: dict[str, list[str]] = {}
    for n, (at, entry) in enumerate(entries):
        kind = str(entry["kind"])
        meaning = MEANING_OF.get(kind, "other")
        name = LANE_OF[meaning]
        lane = lanes[name]
        y: float = lane.top + 10 if name != "activity" else lane.top + 13
        if name == "severity":
            level = next((s for t, s in reversed(severity_at) if t <= at), 4)
            y = _level_y(lane, level - 1, 4)
        elif name == "tier":
            to_tier = next((tier for t, tier in steps if t == at), TIERS[0])
            y = _level_y(lane, TIERS.index(to_tier), len(TIERS))
        x = scale.x(at)
        utc = at.astimezone(UTC).isoformat()
        tip = f"{utc} {kind}: {entry['text']}"
        out.setdefault(name, []).append(
            f'<g class="mark" data-entry="{n}" data-kind="{escape(kind)}" data-at="{escape(utc)}" '
            f'data-meaning="{meaning}">{_shape(meaning, kind, x, y)}'
            f"<title>{escape(tip)}</title></g>"
        )
    return out


def _breach_label(entry: dict[str, Any], view: dict[str, Any], at: datetime) -> str:
    timer = next(
        (
            t["timer"]
            for t in view["timers"]
            if t["breached_at"] is not None and _instant(t["breached_at"]) == at
        ),
        str(entry["text"]).split(" ", 1)[0],
    )
    return f"{str(timer).replace('_', ' ')} breached"


def _labels(
    view: dict[str, Any], scale: _Scale, entries: list[tuple[datetime, dict[str, Any]]]
) -> dict[str, list[tuple[float, int, str, str]]]:
    """Text labels of the labelled lanes: (left, row, text, meaning), staggered by lane."""
    wanted: dict[str, list[tuple[float, str, str]]] = {}
    for at, entry in entries:
        kind = str(entry["kind"])
        meaning = MEANING_OF.get(kind, "other")
        if kind == "SLA breached":
            wanted.setdefault("breaches", []).append(
                (scale.x(at), _breach_label(entry, view, at), meaning)
            )
        elif kind in LABEL_OF:
            wanted.setdefault("fixes", []).append((scale.x(at), LABEL_OF[kind], meaning))
    running = _running_update(view)
    if running is not None:
        due = _instant(running["due_at"])
        if running["state"] == "breached":
            text = f"update overdue since {_hm(due)} UTC"
        elif running["paused"]:
            text = "update clock paused (waiting on customer)"
        else:
            text = f"next update due {_hm(due)} UTC"
        x = scale.x(min(due, scale.end))
        wanted["updates"] = [(x, text, "window")]
    placed: dict[str, list[tuple[float, int, str, str]]] = {}
    for name, items in wanted.items():
        rows = _Rows()
        for x, text, meaning in sorted(items, key=lambda item: item[0]):
            width = text_width(text)
            left = _clamped(x, width)
            placed.setdefault(name, []).append((left, rows.place(left, width), text, meaning))
    return placed


def _legend(meanings: list[str], top: float) -> tuple[list[str], float]:
    """A swatch and its text for each meaning drawn, wrapped into rows; returns the parts
    and the chart's height."""
    parts = [_text(PAD + 2, top + FONT, "Legend:", bold=True)]
    x = PAD + 2 + text_width("Legend:", bold=True) + GAP
    row = 0
    for meaning in meanings:
        colour, text = PALETTE[meaning]
        width = 14 + text_width(text)
        if x + width > WIDTH - PAD:
            row += 1
            x = PAD + 2 + text_width("Legend:", bold=True) + GAP
        y = top + row * (ROW + 3)
        parts.append(
            f'<g class="legend-item" data-meaning="{meaning}">'
            f'<rect x="{x:.1f}" y="{y + 2}" width="10" height="10" fill="{colour}"/>'
            + _text(x + 14, y + FONT, text)
            + "</g>"
        )
        x += width + 2 * GAP
    return parts, top + (row + 1) * (ROW + 3) + 8
