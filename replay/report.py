"""``ledger report T --out FILE.html``: one self-contained incident page (no network).

The page holds the RCA and an SVG timeline chart of the incident, drawn from a replay
of the log as of an instant: severity over time, the escalation tier over time,
customer updates against the update cadence, breaches, fixes and resolution. Every
entry of the RCA timeline is drawn as a mark carrying ``data-entry``, ``data-kind`` and
``data-at``, and listed in the timeline table with the same attributes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, Final

from ledger.aggregates.rules import TIERS
from ledger.services.rca_report import html_sections

WIDTH: Final = 1100
LEFT: Final = 170
RIGHT: Final = 30
LANES: Final = (
    ("severity", "Severity", 110),
    ("tier", "Escalation tier", 110),
    ("updates", "Customer updates", 70),
    ("outcome", "Breaches, fixes", 70),
    ("activity", "Other activity", 50),
)
LANE_OF: Final = {
    "opened": "severity",
    "triaged": "severity",
    "escalated": "tier",
    "de-escalated": "tier",
    "responded": "updates",
    "update posted": "updates",
    "SLA breached": "outcome",
    "temporary fix": "outcome",
    "permanent fix": "outcome",
    "resolved": "outcome",
    "reopened": "outcome",
    "closed": "outcome",
}
COLOUR: Final = {
    "SLA breached": "#d62728",
    "temporary fix": "#ff9f1c",
    "permanent fix": "#2ca02c",
    "resolved": "#2ca02c",
    "closed": "#555555",
    "reopened": "#9467bd",
    "escalated": "#d62728",
    "de-escalated": "#1f77b4",
    "responded": "#1f77b4",
    "update posted": "#1f77b4",
}
STYLE: Final = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;
color:#222;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top;font-size:13px}
.meta{color:#555;font-size:13px}.legend span{display:inline-block;margin-right:16px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:5px}
svg text{font-size:11px;fill:#333}
"""


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class _Scale:
    """Time to x: the incident (opened to resolved) gets most of the width; what came after
    (closing, late RCA work) is drawn compressed in a band on the right."""

    AFTER: Final = 0.14  # share of the width for what came after the incident

    def __init__(self, start: datetime, incident_end: datetime, last: datetime) -> None:
        span = max(incident_end - start, timedelta(minutes=30))
        self.start = start - span * 0.02
        self.end = start + span * 1.03
        self.last = max(last, self.end)
        self.later = self.last > self.end + span * 0.1
        share = 1 - self.AFTER if self.later else 1.0
        self.main = (WIDTH - LEFT - RIGHT) * share
        self.seconds = (self.end - self.start).total_seconds()

    def x(self, at: datetime) -> float:
        if at <= self.end or not self.later:
            fraction = max(0.0, min(1.0, (at - self.start).total_seconds() / self.seconds))
            return round(LEFT + fraction * self.main, 1)
        beyond = (at - self.end).total_seconds() / (self.last - self.end).total_seconds()
        band = (WIDTH - LEFT - RIGHT) - self.main
        return round(LEFT + self.main + band * (0.1 + 0.85 * min(1.0, beyond)), 1)

    def ticks(self) -> list[datetime]:
        """Instants to label: six across the incident, and the last one after it."""
        ticks = [self.start + (self.end - self.start) * (n / 5) for n in range(6)]
        return [*ticks, self.last] if self.later else ticks


def render_report(view: dict[str, Any]) -> str:
    """The incident page for a replayed ticket (:func:`replay.history.replay_ticket`)."""
    as_of = _instant(view["as_of"])
    rca, state = view["rca"], view["state"]
    opened = _instant(state["opened_at"])
    instants = [_instant(e["at"]) for e in rca["timeline"]]
    instants += [
        _instant(t["due_at"])
        for t in view["timers"]
        if t["due_at"] and _instant(t["due_at"]) <= as_of
    ]
    resolved = state["resolved_at"]
    last = min(max(instants, default=opened), as_of)
    incident_end = _instant(resolved) if resolved else last
    first = min([opened, *instants])
    scale = _Scale(first, incident_end, last)
    e = escape
    head = view["chain_head"]
    known = f", known at {e(view['known_at'])}" if view["known_at"] else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Incident report {e(view['ticket_id'])}</title><style>{STYLE}</style></head>"
        f"<body>\n<h1>Incident {e(view['ticket_id'])}: {e(rca['title'])}</h1>\n"
        f'<p class="meta">Customer {e(str(rca["customer_id"]))} · replayed from the ledger\'s log '
        f"as of {e(view['as_of'])}{known} · chain head v{head['version']} "
        f"<code>{e(head['event_hash'])}</code></p>\n"
        "<h2>Timeline</h2>\n"
        f"{_legend()}{_chart(view, scale)}\n"
        f"{html_sections(rca, as_of)}</body></html>\n"
    )


def _legend() -> str:
    items = [
        ("customer update", "#1f77b4"),
        ("update due (cadence)", "#999999"),
        ("SLA breached", "#d62728"),
        ("temporary fix", "#ff9f1c"),
        ("permanent fix / resolved", "#2ca02c"),
    ]
    spans = "".join(f'<span><i style="background:{c}"></i>{escape(n)}</span>' for n, c in items)
    return f'<p class="legend">{spans}</p>\n'


def _chart(view: dict[str, Any], scale: _Scale) -> str:
    tops: dict[str, tuple[int, int]] = {}
    y = 10
    for name, _, height in LANES:
        tops[name] = (y, height)
        y += height + 12
    height_total = y + 30
    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height_total}" viewBox="0 0 {WIDTH} {height_total}" role="img" '
        'aria-label="incident timeline">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height_total}" fill="#ffffff"/>',
    ]
    for name, label, height in LANES:
        top, _ = tops[name]
        parts.append(
            f'<rect x="{LEFT}" y="{top}" width="{WIDTH - LEFT - RIGHT}" height="{height}" '
            'fill="#f6f7f9" stroke="#dddddd"/>'
            f'<text x="8" y="{top + height / 2 + 4}" font-weight="bold">{escape(label)}</text>'
        )
    parts += _axis(scale, y)
    parts += _severity(view, scale, tops["severity"])
    parts += _tiers(view, scale, tops["tier"])
    parts += _cadence(view, scale, tops["updates"])
    parts += _fix_bands(view, scale, tops["outcome"])
    parts += _entries(view, scale, tops)
    parts.append("</svg>")
    return "".join(parts)


def _axis(scale: _Scale, bottom: int) -> list[str]:
    parts = []
    for at in scale.ticks():
        x = scale.x(at)
        parts.append(
            f'<line x1="{x}" y1="10" x2="{x}" y2="{bottom}" stroke="#e3e3e3"/>'
            f'<text x="{x}" y="{bottom + 14}" text-anchor="middle">'
            f"{at.astimezone(UTC).strftime('%m-%d %H:%M')}</text>"
        )
    if scale.later:
        x = scale.x(scale.end)
        parts.append(
            f'<line x1="{x}" y1="6" x2="{x}" y2="{bottom}" stroke="#888888" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{WIDTH - RIGHT}" y="{bottom + 28}" text-anchor="end">'
            "after resolution (compressed)</text>"
        )
    parts.append(f'<text x="8" y="{bottom + 14}">time (UTC)</text>')
    return parts


def _level_y(lane: tuple[int, int], level: int, levels: int) -> float:
    top, height = lane
    return round(top + 12 + (height - 24) * level / (levels - 1), 1)


def _steps(points: list[tuple[datetime, float]], end: datetime, scale: _Scale, colour: str) -> str:
    """A step line through ``points`` (each holds until the next), drawn on to ``end``."""
    if not points:
        return ""
    (first_at, first_y), rest = points[0], points[1:]
    path = f"M{scale.x(first_at)} {first_y} "
    path += "".join(f"H{scale.x(at)} V{y} " for at, y in rest)
    path += f"H{scale.x(end)}"
    return f'<path class="steps" d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>'


def _end(view: dict[str, Any]) -> datetime:
    state = view["state"]
    closed = state.get("closed_at") or state.get("resolved_at")
    return min(_instant(closed), _instant(view["as_of"])) if closed else _instant(view["as_of"])


def _severity(view: dict[str, Any], scale: _Scale, lane: tuple[int, int]) -> list[str]:
    points = [
        (_instant(t["occurred_at"]), _level_y(lane, int(t["data"]["severity"]) - 1, 4))
        for t in view["trail"]
        if t["type"] in ("ticket.opened", "ticket.triaged")
    ]
    labels = [
        f'<text x="{LEFT - 6}" y="{_level_y(lane, s - 1, 4) + 4}" text-anchor="end">Sev{s}</text>'
        for s in range(1, 5)
    ]
    return [*labels, _steps(points, _end(view), scale, "#d62728")]


def _tiers(view: dict[str, Any], scale: _Scale, lane: tuple[int, int]) -> list[str]:
    opened = _instant(view["state"]["opened_at"])
    points = [(opened, _level_y(lane, 0, len(TIERS)))]
    points += [
        (_instant(s["at"]), _level_y(lane, TIERS.index(s["to_tier"]), len(TIERS)))
        for s in view["escalation"]["steps"]
    ]
    labels = [
        f'<text x="{LEFT - 6}" y="{_level_y(lane, n, len(TIERS)) + 4}" text-anchor="end">'
        f"{escape(tier.replace('_', ' '))}</text>"
        for n, tier in enumerate(TIERS)
    ]
    return [*labels, _steps(points, _end(view), scale, "#444444")]


def _cadence(view: dict[str, Any], scale: _Scale, lane: tuple[int, int]) -> list[str]:
    """Each update-cadence window: a grey bar from its start to when an update was due."""
    top, height = lane
    as_of = _instant(view["as_of"])
    parts = []
    for timer in view["timers"]:
        if timer["timer"] != "update" or not timer["due_at"]:
            continue
        start, due = _instant(timer["started_at"]), _instant(timer["due_at"])
        if start > as_of:
            continue
        x1, x2 = scale.x(start), scale.x(min(due, as_of))
        missed = timer["state"] == "breached"
        colour = "#d62728" if missed else "#999999"
        parts.append(
            f'<g class="due" data-due="{escape(due.isoformat())}" data-state="{timer["state"]}">'
            f'<line x1="{x1}" y1="{top + height - 12}" x2="{x2}" y2="{top + height - 12}" '
            f'stroke="{colour}" stroke-width="3" opacity="0.6"/>'
            f'<line x1="{scale.x(due)}" y1="{top + height - 20}" x2="{scale.x(due)}" '
            f'y2="{top + height - 4}" stroke="{colour}" stroke-width="2"/>'
            f"<title>update due {escape(due.isoformat())} ({timer['state']})</title></g>"
        )
    return parts


def _fix_bands(view: dict[str, Any], scale: _Scale, lane: tuple[int, int]) -> list[str]:
    """A temporary fix, from when it was applied to when it expires (or the chart ends)."""
    top, height = lane
    parts = []
    for entry in view["trail"]:
        if entry["type"] != "ticket.temporary_fix_applied":
            continue
        start = _instant(entry["occurred_at"])
        expires = _instant(entry["data"]["expires_at"])
        parts.append(
            f'<rect class="fix-band" x="{scale.x(start)}" y="{top + height - 16}" '
            f'width="{max(2.0, scale.x(expires) - scale.x(start))}" height="10" '
            f'fill="#ff9f1c" opacity="0.35"><title>temporary fix until '
            f"{escape(expires.isoformat())}</title></rect>"
        )
    return parts


def _entries(view: dict[str, Any], scale: _Scale, tops: dict[str, tuple[int, int]]) -> list[str]:
    """Every RCA timeline entry as a mark in its lane."""
    severity_at = [
        (_instant(t["occurred_at"]), int(t["data"]["severity"]))
        for t in view["trail"]
        if t["type"] in ("ticket.opened", "ticket.triaged")
    ]
    parts = []
    for n, entry in enumerate(view["rca"]["timeline"]):
        at, kind = _instant(entry["at"]), entry["kind"]
        lane_name = LANE_OF.get(kind, "activity")
        top, height = tops[lane_name]
        y: float = top + height / 2 - (6 if lane_name in ("updates", "outcome") else 0)
        if lane_name == "severity":
            level = next((s for t, s in reversed(severity_at) if t <= at), 4)
            y = _level_y(tops["severity"], level - 1, 4)
        elif lane_name == "tier":
            to_tier = next(
                (s["to_tier"] for s in view["escalation"]["steps"] if _instant(s["at"]) == at),
                TIERS[0],
            )
            y = _level_y(tops["tier"], TIERS.index(to_tier), len(TIERS))
        colour = COLOUR.get(kind, "#7f7f7f")
        x = scale.x(at)
        shape = (
            f'<path d="M{x - 6} {y - 6} L{x + 6} {y + 6} M{x - 6} {y + 6} L{x + 6} {y - 6}" '
            f'stroke="{colour}" stroke-width="3"/>'
            if kind == "SLA breached"
            else f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}" stroke="#ffffff"/>'
        )
        tip = f"{at.astimezone(UTC).isoformat()} {kind}: {entry['text']}"
        parts.append(
            f'<g class="mark" data-entry="{n}" data-kind="{escape(kind)}" '
            f'data-at="{escape(at.astimezone(UTC).isoformat())}">{shape}'
            f"<title>{escape(tip)}</title></g>"
        )
    return parts
