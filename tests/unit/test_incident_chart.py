"""The incident chart and headline (replay/report.py) on a replayed Sev1: the axis, the
"now" marker and the running update window, the headline against the ledger's own
answers, one meaning per colour, and labels inside the viewBox and apart."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.settings import resolve_database
from ledger.services.intake import Ingestor, Input
from ledger.services.timelines import escalation_timeline, ticket_timers
from replay.history import replay_ticket
from replay.report import (
    FONT,
    PALETTE,
    STRUCTURE,
    WIDTH,
    incident_chart_svg,
    incident_headline,
    incident_headline_html,
    render_report,
    text_width,
)
from tests.conftest import FixedClock
from tests.e2e.test_audit_cli import _incident
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
SVG = "{http://www.w3.org/2000/svg}"
RESOLVED = T0 + 310 * M  # the story's ticket.resolved
LATER = T0 + timedelta(days=3)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerApp]:
    """The Sev1 of the audit tests: an escalation, a missed update, a workaround, a
    re-triage to Sev2, a permanent fix, the resolution and a published RCA."""
    path = tmp_path_factory.mktemp("chart") / "ledger.db"
    app = open_app(resolve_database(str(path)))
    clock = FixedClock(T0 + timedelta(days=1))
    outcomes = Ingestor(app, clock=clock).ingest_batch(
        [Input(e, "test") for e in _incident(Envelopes())]
    )
    assert [o.rejection for o in outcomes if o.rejection] == []
    yield app
    app.close()


def _view(ledger: LedgerApp, at: datetime) -> dict[str, Any]:
    view = replay_ticket(ledger, "T-1", at)
    assert view is not None
    return view


def _svg(ledger: LedgerApp, at: datetime) -> ET.Element:
    return ET.fromstring(incident_chart_svg(_view(ledger, at), at))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if cls in (el.get("class") or "").split()]


def _axis_right() -> float:
    return float(WIDTH - 20)  # the axis spans the width but for the right margin


# the axis -------------------------------------------------------------------------------


def test_an_open_incident_runs_to_as_of_with_now_and_the_running_update_window(
    ledger: LedgerApp,
) -> None:
    at = T0 + 60 * M  # the update posted at +40 is due at +100: the window runs
    root = _svg(ledger, at)
    assert root.get("data-open") == "true"
    assert root.get("data-axis-end") == _iso(at) == root.get("data-as-of")
    [now] = _by_class(root, "now")
    assert now.get("data-at") == _iso(at) and now.get("data-meaning") == "now"
    line = now.find(f"{SVG}line")
    assert line is not None and float(line.get("x1", "0")) == _axis_right()
    assert "now 03-02 10:00 UTC" in "".join(now.itertext())
    [running] = _by_class(root, "running")
    assert running.get("data-start") == _iso(T0 + 40 * M)
    assert running.get("data-due") == _iso(T0 + 100 * M)
    assert running.get("data-state") == "running"
    rect = running.find(f"{SVG}rect")
    assert rect is not None  # drawn from the last update to the axis end (due after now)
    right = float(rect.get("x", "0")) + float(rect.get("width", "0"))
    assert right == pytest.approx(_axis_right(), abs=0.2)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "next update due 03-02 10:40 UTC" in texts
    assert not _by_class(root, "axis-end") and not _by_class(root, "overdue")
    # every mark lies on the axis, none beyond now
    for mark in _by_class(root, "mark"):
        assert datetime.fromisoformat(mark.get("data-at", "")) <= at


def test_an_overdue_update_window_runs_red_to_now(ledger: LedgerApp) -> None:
    at = T0 + 150 * M  # due at +100, no update until +225
    root = _svg(ledger, at)
    [running] = _by_class(root, "running")
    assert running.get("data-state") == "breached"
    [overdue] = _by_class(root, "overdue")
    assert overdue.get("data-meaning") == "breach"
    rect = overdue.find(f"{SVG}rect")
    assert rect is not None and rect.get("fill") == PALETTE["breach"][0]
    right = float(rect.get("x", "0")) + float(rect.get("width", "0"))
    assert right == pytest.approx(_axis_right(), abs=0.2)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "update overdue since 03-02 10:40 UTC" in texts
    assert "update breached" in texts


def test_a_resolved_incident_runs_to_its_resolution(ledger: LedgerApp) -> None:
    root = _svg(ledger, LATER)
    assert root.get("data-open") == "false"
    assert root.get("data-axis-end") == _iso(RESOLVED)
    assert root.get("data-as-of") == _iso(LATER)
    assert not _by_class(root, "now") and not _by_class(root, "running")
    [end] = _by_class(root, "axis-end")
    assert end.get("data-at") == _iso(RESOLVED)
    line = end.find(f"{SVG}line")
    assert line is not None and float(line.get("x1", "0")) == _axis_right()
    resolved = [m for m in _by_class(root, "mark") if m.get("data-kind") == "resolved"]
    assert [m.get("data-at") for m in resolved] == [_iso(RESOLVED)]


def test_what_came_after_the_resolution_is_drawn_in_a_compressed_band(
    ledger: LedgerApp,
) -> None:
    view = _view(ledger, LATER)
    view["rca"]["timeline"].append(
        {"at": T0 + timedelta(days=2), "kind": "closed", "actor": "se-ana", "text": ""}
    )
    root = ET.fromstring(incident_chart_svg(view, LATER))
    assert root.get("data-axis-end") == _iso(RESOLVED)
    [end] = _by_class(root, "axis-end")
    line = end.find(f"{SVG}line")
    assert line is not None and float(line.get("x1", "0")) < _axis_right()
    [closed] = [m for m in _by_class(root, "mark") if m.get("data-kind") == "closed"]
    shape = closed.find(f"{SVG}rect")
    assert shape is not None and float(shape.get("x", "0")) > float(line.get("x1", "0"))
    assert "after resolution (compressed)" in [
        "".join(t.itertext()) for t in root.iter(f"{SVG}text")
    ]


# the headline ---------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [5, 60, 150, 235, 305, 60 * 24 * 3])
def test_the_headline_equals_the_ledgers_own_answers(ledger: LedgerApp, minutes: int) -> None:
    at = T0 + minutes * M
    view = _view(ledger, at)
    h = incident_headline(view)
    timers = ticket_timers(ledger, "T-1", at)
    escalation = escalation_timeline(ledger, "T-1", at)
    assert timers is not None and escalation is not None
    state = view["state"]
    opened = state["opened_at"]

    [first] = [t for t in timers if t["timer"] == "first_response"]
    responded = first["stopped_at"] if state["first_response_at"] else None
    assert h["first_response"] == {
        "recorded": responded is not None,
        "at": None if responded is None else _iso(responded),
        "seconds": None if responded is None else first["elapsed_seconds"],
        "due_at": _iso(first["due_at"]),
        "state": first["state"],
    }

    breached = [t for t in timers if t["state"] == "breached"]
    assert h["breaches"]["count"] == len(breached)
    assert [
        (b["timer"], b["seq"], b["due_at"], b["breached_at"], b["overdue_by"])
        for b in h["breaches"]["timers"]
    ] == [
        (t["timer"], t["seq"], _iso(t["due_at"]), _iso(t["breached_at"]), t["overdue_by"])
        for t in breached
    ]

    expected: dict[str, int] = {}
    for step in escalation["steps"]:
        expected[step["from_tier"]] = (
            expected.get(step["from_tier"], 0) + step["seconds_at_previous_tier"]
        )
    tier = escalation["current_tier"]
    expected[tier] = expected.get(tier, 0) + escalation["seconds_at_current_tier"]
    assert {t["tier"]: t["seconds"] for t in h["tiers"]} == expected
    assert [t["tier"] for t in h["tiers"] if t["current"]] == [tier]

    fixes = [
        datetime.fromisoformat(t["occurred_at"])
        for t in view["trail"]
        if t["type"] in ("ticket.temporary_fix_applied", "ticket.permanent_fix_applied")
    ]
    if fixes:
        assert h["mitigation"]["seconds"] == int((min(fixes) - opened).total_seconds())
        assert h["mitigation"]["by"] == "temporary fix (workaround)"
    else:
        assert h["mitigation"]["recorded"] is False and h["mitigation"]["seconds"] is None
    assert h["customer"] == {"customer_id": "C-1", "name": "Acme Dubbing GmbH"}
    assert h["status"]["status"] == state["status"] and h["status"]["tier"] == state["tier"]

    resolutions = [t for t in timers if t["timer"] == "resolution"]
    if minutes >= 310:
        assert h["resolution"]["seconds"] == resolutions[-1]["elapsed_seconds"] == 310 * 60
        assert h["resolution"]["at"] == _iso(resolutions[-1]["stopped_at"])
        assert h["update_window"] is None
    else:
        assert h["resolution"]["recorded"] is False and h["resolution"]["seconds"] is None
        assert h["resolution"]["open_for_seconds"] == resolutions[-1]["elapsed_seconds"]
        running_timers = [t for t in timers if t["timer"] == "update" and t["stopped_at"] is None]
        window = h["update_window"]
        if not running_timers:  # no public response yet: no update cadence runs
            assert minutes < 10 and window is None
            return
        [running] = running_timers
        assert window is not None
        assert (window["started_at"], window["due_at"]) == (
            _iso(running["started_at"]),
            _iso(running["due_at"]),
        )
        assert (window["state"], window["time_left"], window["overdue_by"]) == (
            running["state"],
            running["time_left"],
            running["overdue_by"],
        )


def test_the_headline_block_says_what_is_not_recorded(ledger: LedgerApp) -> None:
    before = incident_headline_html(_view(ledger, T0 + 60 * M))
    assert re.search(r'data-key="mitigation">not recorded', before)
    assert "Acme Dubbing GmbH" in before and "not resolved" in before
    after = incident_headline_html(_view(ledger, LATER))
    assert f'data-key="mitigation" data-seconds="{220 * 60}"' in after
    assert f'data-key="resolution" data-seconds="{310 * 60}"' in after
    assert f'data-key="first_response" data-seconds="{10 * 60}"' in after
    assert 'data-key="update_window"' not in after


def test_the_page_holds_the_same_chart_and_headline(ledger: LedgerApp) -> None:
    for at in (T0 + 60 * M, LATER):
        view = _view(ledger, at)
        page = render_report(view)
        assert incident_chart_svg(view, at) in page
        assert incident_headline_html(view) in page


# self-contained, accessible, one meaning per colour ----------------------------------------


INSTANTS = [T0 + n * 10 * M for n in range(0, 34)] + [LATER]


@pytest.mark.parametrize("at", [T0 + 60 * M, T0 + 150 * M, LATER])
def test_the_svg_is_self_contained_and_titled(ledger: LedgerApp, at: datetime) -> None:
    text = incident_chart_svg(_view(ledger, at), at)
    assert re.findall(r"https?://[^\"' <]+", text) == ["http://www.w3.org/2000/svg"]
    assert not re.search(r"href|src=|url\(|@import|<image|<script|<foreignObject", text)
    root = ET.fromstring(text)
    assert [child.tag for child in root][:2] == [f"{SVG}title", f"{SVG}desc"]
    assert root.get("role") == "img"
    labelled = (root.get("aria-labelledby") or "").split()
    assert labelled == [el.get("id") for el in root][:2]
    desc = "".join(root[1].itertext())
    for item in _by_class(root, "legend-item"):  # the desc names every colour drawn
        colour, meaning = PALETTE[item.get("data-meaning") or ""]
        assert f"{meaning}: {colour}" in desc
    assert ("SLA breach: #d62728" in desc) == (at > T0 + 100 * M)


def _colours(el: ET.Element) -> set[str]:
    return {v.lower() for k in ("fill", "stroke") if (v := el.get(k)) and v != "none"}


def _meanings_in(root: ET.Element) -> list[tuple[str | None, ET.Element]]:
    """Every element with the meaning of its nearest ancestor that names one."""
    found: list[tuple[str | None, ET.Element]] = []

    def walk(el: ET.Element, meaning: str | None) -> None:
        meaning = el.get("data-meaning") or meaning
        found.append((meaning, el))
        for child in el:
            walk(child, meaning)

    walk(root, None)
    return found


def test_each_colour_means_one_thing(ledger: LedgerApp) -> None:
    colours = [c for c, _ in PALETTE.values()]
    assert len(set(colours)) == len(colours)
    assert not set(colours) & set(STRUCTURE)
    for at in (T0 + 60 * M, T0 + 150 * M, LATER):
        root = _svg(ledger, at)
        used: set[str] = set()
        for meaning, el in _meanings_in(root):
            if el.tag.startswith(f"{SVG}title") or "legend-item" in (el.get("class") or ""):
                continue
            allowed = set(STRUCTURE) | ({PALETTE[meaning][0]} if meaning else set())
            assert _colours(el) <= allowed, (meaning, ET.tostring(el)[:200])
            if meaning and PALETTE[meaning][0] in _colours(el):
                used.add(meaning)
        legend = {
            el.get("data-meaning"): "".join(el.itertext()) for el in _by_class(root, "legend-item")
        }
        assert legend == {m: PALETTE[m][1] for m in used}  # a labelled swatch per colour drawn
        for el in _by_class(root, "legend-item"):
            swatch = el.find(f"{SVG}rect")
            assert swatch is not None
            assert swatch.get("fill") == PALETTE[el.get("data-meaning") or ""][0]


# labels: inside the viewBox, never on top of each other ------------------------------------


def _boxes(root: ET.Element) -> list[tuple[str, float, float, float, float]]:
    """Each <text>'s estimated box: (text, left, top, right, bottom)."""
    boxes = []
    for el in root.iter(f"{SVG}text"):
        text = "".join(el.itertext())
        size = float(el.get("font-size") or FONT)
        bold = el.get("font-weight") == "bold"
        assert el.get("text-anchor") in (None, "start")  # extents are from x rightwards
        left, baseline = float(el.get("x", "0")), float(el.get("y", "0"))
        width = text_width(text, size, bold)
        boxes.append((text, left, baseline - size, left + width, baseline + 0.3 * size))
    return boxes


def _assert_labels_fit(root: ET.Element) -> None:
    _, _, width, height = (float(v) for v in (root.get("viewBox") or "").split())
    boxes = _boxes(root)
    for text, left, top, right, bottom in boxes:
        assert left >= 0 and right <= width and top >= 0 and bottom <= height, text
    for n, (a, *box_a) in enumerate(boxes):
        for b, *box_b in boxes[n + 1 :]:
            apart = (
                box_a[2] <= box_b[0]
                or box_b[2] <= box_a[0]
                or box_a[3] <= box_b[1]
                or box_b[3] <= box_a[1]
            )
            assert apart, f"{a!r} overlaps {b!r}"


@pytest.mark.parametrize("at", INSTANTS, ids=lambda at: at.strftime("%d-%H%M"))
def test_labels_lie_inside_the_viewbox_and_apart(ledger: LedgerApp, at: datetime) -> None:
    _assert_labels_fit(_svg(ledger, at))


def test_crowded_labels_are_staggered_not_clipped(ledger: LedgerApp) -> None:
    view = copy.deepcopy(_view(ledger, LATER))
    kinds = ["temporary fix", "permanent fix", "resolved", "reopened", "closed", "SLA breached"]
    for n in range(24):  # a burst at the very start and at the very end of the axis
        at = (T0 if n % 2 else RESOLVED) - n * M
        text = "first_response target of Sev1 missed"
        view["rca"]["timeline"].append(
            {"at": at, "kind": kinds[n % len(kinds)], "actor": "x", "text": text}
        )
    root = ET.fromstring(incident_chart_svg(view, LATER))
    _assert_labels_fit(root)
    labels = [el for el in _by_class(root, "label")]
    assert len(labels) >= 24
