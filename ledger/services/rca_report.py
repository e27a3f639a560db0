"""The RCA as a readable document (R-RCA-3): Markdown or HTML, generated from the ledger.

Both renderers take the dict of ``ledger.services.timelines.rca_document``; every instant is
shown in UTC. Nothing here is typed by hand: re-rendering the same ledger as of the
same instant gives the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any


def _t(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def _status_line(doc: dict[str, Any]) -> str:
    if doc["published"]:
        return f"Published {_t(doc['published_at'])} (revision {doc['revision']})"
    return (
        "Draft, not published: missing " + "; ".join(doc["missing"])
        if doc["missing"]
        else "Draft, ready to publish"
    )


def _span(seconds: int | None) -> str:
    if seconds is None:
        return "not recorded"
    hours, rest = divmod(seconds // 60, 60)
    return f"{hours}h {rest:02d}m" if hours else f"{rest}m"


def _facts(doc: dict[str, Any]) -> list[tuple[str, str]]:
    impact = doc["impact"] or {}
    milestones = doc.get("milestones") or {}
    return [
        ("Customer", doc["customer_id"]),
        ("Severity", f"Sev{doc['severity']} (highest Sev{doc['max_severity']})"),
        ("Status", doc["status"]),
        ("Product area", doc.get("product_area") or "not set"),
        ("Impact started", _t(milestones.get("impact_started_at")) or "not recorded"),
        ("Detected", _t(milestones.get("detected_at")) or "not recorded"),
        ("Opened", _t(doc["opened_at"])),
        ("Mitigated", _t(milestones.get("mitigated_at")) or "not recorded"),
        ("Resolved", _t(doc["resolved_at"]) or "not resolved"),
        ("Time to detect", _span(milestones.get("time_to_detect_seconds"))),
        ("Time to mitigate", _span(milestones.get("time_to_mitigate_seconds"))),
        ("RCA owner", doc["owner"] or "not assigned"),
        ("Customers affected", _t(impact.get("customers_affected"))),
        ("Duration (minutes)", _t(impact.get("duration_minutes"))),
    ]


def _action_status(action: dict[str, Any]) -> str:
    """An action's state, with when it changed (and the reason of a cancellation)."""
    state = str(action.get("state") or action.get("status") or "open")
    if state in ("completed", "verified"):
        done = f"completed {_t(action['completed_at'])}"
        if state == "verified":
            done += f", verified {_t(action['verified_at'])}"
        return done
    if state == "cancelled":
        return f"cancelled {_t(action['cancelled_at'])}: {action['reason']}"
    return state


def render_markdown(doc: dict[str, Any], as_of: datetime) -> str:
    """The RCA as Markdown."""
    lines = [
        f"# RCA {doc['ticket_id']}: {doc['title']}",
        "",
        f"_{_status_line(doc)}. Generated from the ledger as of {_t(as_of)}._",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in _facts(doc)),
        "",
        "## Root cause",
        "",
        f"{doc['root_cause'] or '_not identified yet_'}"
        + (f" (`{doc['root_cause_code']}`)" if doc["root_cause_code"] else ""),
        "",
        "## Impact",
        "",
        (doc["impact"] or {}).get("impact") or "_not assessed yet_",
        "",
        "## Preventive actions",
        "",
    ]
    if doc["preventive_actions"]:
        lines += [
            "| action | description | owner | due | status |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {a['action_id']} | {a['description']} | {a['owner']} | {a['due_date']} | "
            f"{_action_status(a).replace('|', '/')} |"
            for a in doc["preventive_actions"]
        ]
    else:
        lines.append("_none yet_")
    links = doc.get("knowledge_links") or []
    lines += ["", "## Runbooks, FAQs and playbooks", ""]
    if links:
        lines += [f"- {k['kind']}: [{k['title']}]({k['ref']})" for k in links]
    else:
        lines.append("_none linked_")
    lines += ["", "## Timeline (UTC)", "", "| when | what | who | detail |", "|---|---|---|---|"]
    lines += [
        f"| {_t(e['at'])} | {e['kind']} | {e['actor']} | {str(e['text']).replace('|', '/')} |"
        for e in doc["timeline"]
    ]
    return "\n".join(lines) + "\n"


def render_html(doc: dict[str, Any], as_of: datetime) -> str:
    """The RCA as a self-contained HTML page."""
    e = escape
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>RCA {e(doc['ticket_id'])}</title></head><body>\n"
        f"<h1>RCA {e(doc['ticket_id'])}: {e(doc['title'])}</h1>\n"
        f"{html_sections(doc, as_of)}</body></html>\n"
    )


def html_sections(doc: dict[str, Any], as_of: datetime) -> str:
    """The RCA's sections as an HTML fragment (status, facts, cause, impact, actions, timeline)."""
    e = escape
    facts = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _facts(doc))
    actions = "".join(
        f"<tr><td>{e(a['action_id'])}</td><td>{e(a['description'])}</td>"
        f"<td>{e(a['owner'])}</td><td>{e(str(a['due_date']))}</td>"
        f"<td>{e(_action_status(a))}</td></tr>"
        for a in doc["preventive_actions"]
    )
    links = "".join(
        f"<li>{e(k['kind'])}: {e(k['title'])} (<code>{e(k['ref'])}</code>)</li>"
        for k in doc.get("knowledge_links") or []
    )
    timeline = "".join(
        f'<tr class="entry" data-entry="{n}" data-kind="{e(x["kind"])}" '
        f'data-at="{e(x["at"].astimezone(UTC).isoformat())}">'
        f"<td>{e(_t(x['at']))}</td><td>{e(x['kind'])}</td><td>{e(x['actor'])}</td>"
        f"<td>{e(str(x['text']))}</td></tr>"
        for n, x in enumerate(doc["timeline"])
    )
    cause = e(doc["root_cause"] or "not identified yet")
    if doc["root_cause_code"]:
        cause += f" (<code>{e(doc['root_cause_code'])}</code>)"
    impact = e((doc["impact"] or {}).get("impact") or "not assessed yet")
    return (
        f"<p><em>{e(_status_line(doc))}. Generated from the ledger as of {e(_t(as_of))}.</em></p>\n"
        f"<table>{facts}</table>\n<h2>Root cause</h2>\n<p>{cause}</p>\n"
        f"<h2>Impact</h2>\n<p>{impact}</p>\n<h2>Preventive actions</h2>\n"
        "<table><tr><th>action</th><th>description</th><th>owner</th><th>due</th>"
        f"<th>status</th></tr>{actions}</table>\n"
        "<h2>Runbooks, FAQs and playbooks</h2>\n"
        + (f'<ul class="knowledge">{links}</ul>' if links else "<p>none linked</p>")
        + "\n<h2>Timeline (UTC)</h2>\n"
        '<table class="timeline"><tr><th>when</th><th>what</th><th>who</th><th>detail</th></tr>'
        f"{timeline}</table>\n"
    )
