"""``ledger report`` draws the incident chart and headline the web board embeds: the same
SVG as ``incident_chart_svg`` of ``ledger replay --json``, headline figures equal to
``ledger ticket show --json`` and ``ledger escalations --json``, and, in Debian's headless
Chromium, every label's rendered box inside the viewBox and apart from the others."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from replay.report import incident_chart_svg, incident_headline_html, text_width
from tests.e2e.test_audit_cli import _incident
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
OPEN = T0 + 150 * M  # an update overdue, no fix yet
RESOLVED = T0 + timedelta(days=3)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    path = folder / "ledger.db"
    file = write_jsonl(folder / "incident.jsonl", _incident(Envelopes()))
    result = ledger("ingest", str(file), db=path)
    assert result.returncode == 0, result.stderr
    return path


def _page(db: Path, at: datetime, tmp_path: Path) -> str:
    out = tmp_path / f"T-1-{at:%d%H%M}.html"
    written = ledger_json("report", "T-1", "--out", str(out), "--as-of", at.isoformat(), db=db)
    assert written["as_of"] == at.isoformat()
    return out.read_text(encoding="utf-8")


class _Headline(HTMLParser):
    """The headline block's figures: data-key -> attributes, and its tier/breach spans."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, dict[str, str | None]] = {}
        self.tiers: dict[str, int] = {}
        self.breaches: list[tuple[str, int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "dd" and a.get("data-key"):
            self.figures[str(a["data-key"])] = a
        if a.get("class") == "tier":
            self.tiers[str(a["data-tier"])] = int(str(a["data-seconds"]))
        if a.get("class") == "breach":
            self.breaches.append(
                (str(a["data-timer"]), int(str(a["data-seq"])), str(a["data-due"]))
            )


@pytest.mark.parametrize("at", [OPEN, RESOLVED], ids=["open", "resolved"])
def test_ledger_report_draws_the_chart_of_the_replay(
    db: Path, at: datetime, tmp_path: Path
) -> None:
    page = _page(db, at, tmp_path)
    view = ledger_json("replay", "T-1", "--as-of", at.isoformat(), db=db)
    svg = incident_chart_svg(view, at)  # from the JSON view, as the web board may hold it
    assert page.count("<svg") == 1 and svg in page
    assert incident_headline_html(view) in page
    assert re.findall(r"https?://[^\"' <]+", page) == ["http://www.w3.org/2000/svg"]
    end = f'data-axis-end="{(at if at == OPEN else T0 + 310 * M).isoformat()}"'
    assert end in svg
    assert ('class="now"' in svg) == (at == OPEN)
    assert ('class="update-window running"' in svg) == (at == OPEN)


def _seconds(later: str, earlier: str) -> int:
    return int((datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds())


@pytest.mark.parametrize("at", [T0 + 5 * M, OPEN, RESOLVED], ids=["new", "open", "resolved"])
def test_the_headline_equals_ticket_show_and_escalations(
    db: Path, at: datetime, tmp_path: Path
) -> None:
    parsed = _Headline()
    parsed.feed(_page(db, at, tmp_path))
    figures = parsed.figures
    shown = ledger_json("ticket", "show", "T-1", "--as-of", at.isoformat(), db=db)
    escalations = ledger_json("escalations", "T-1", "--as-of", at.isoformat(), db=db)
    opened = shown["opened_at"]

    def seconds(key: str) -> int | None:
        value = figures[key].get("data-seconds")
        return None if value is None else int(value)

    first = shown["first_response_at"]
    assert seconds("first_response") == (None if first is None else _seconds(first, opened))
    if first is not None:
        [timer] = [t for t in shown["timers"] if t["timer"] == "first_response"]
        assert seconds("first_response") == timer["elapsed_seconds"]

    fixes = [
        e["occurred_at"]
        for e in shown["trail"]
        if e["type"] in ("ticket.temporary_fix_applied", "ticket.permanent_fix_applied")
    ]
    assert seconds("mitigation") == (_seconds(min(fixes), opened) if fixes else None)
    resolved = shown["resolved_at"]
    assert seconds("resolution") == (None if resolved is None else _seconds(resolved, opened))
    if resolved is not None:
        [timer] = [t for t in shown["timers"] if t["timer"] == "resolution"]
        assert seconds("resolution") == timer["elapsed_seconds"]

    assert parsed.breaches == [
        (t["timer"], t["seq"], t["due_at"]) for t in shown["timers"] if t["state"] == "breached"
    ]
    expected: dict[str, int] = {}
    for step in escalations["steps"]:
        tier = step["from_tier"]
        expected[tier] = expected.get(tier, 0) + step["seconds_at_previous_tier"]
    current = escalations["current_tier"]
    expected[current] = expected.get(current, 0) + escalations["seconds_at_current_tier"]
    assert parsed.tiers == expected

    running = [t for t in shown["timers"] if t["timer"] == "update" and t["stopped_at"] is None]
    if shown["status"] == "open" and running:
        assert figures["update_window"].get("data-at") == running[-1]["due_at"]
    else:
        assert "update_window" not in figures


BOXES = """<script>
const svg = document.querySelector("svg");
const vb = svg.viewBox.baseVal;
const boxes = [...svg.querySelectorAll("text")].map((t) => {
  const b = t.getBBox();
  const bold = t.getAttribute("font-weight") === "bold";
  const size = parseFloat(t.getAttribute("font-size"));
  return {text: t.textContent, x: b.x, y: b.y, w: b.width, h: b.height, size, bold};
});
document.getElementById("boxes").textContent = JSON.stringify({vb: [vb.width, vb.height], boxes});
</script>"""


def _rendered_boxes(chromium: str, svg: str, tmp_path: Path) -> dict[str, Any]:
    page = tmp_path / "boxes.html"
    page.write_text(
        f'<!doctype html><html><body style="margin:0">{svg}<pre id="boxes"></pre>{BOXES}'
        "</body></html>",
        encoding="utf-8",
    )
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r'<pre id="boxes">(.*?)</pre>', dom, re.S)
    assert found and found.group(1), dom[-2000:]
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("at", [T0 + 60 * M, OPEN, RESOLVED], ids=["due", "overdue", "resolved"])
def test_chromium_renders_every_label_inside_the_viewbox_and_apart(
    db: Path, at: datetime, tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    view = ledger_json("replay", "T-1", "--as-of", at.isoformat(), db=db)
    measured = _rendered_boxes(chromium, incident_chart_svg(view, at.astimezone(UTC)), tmp_path)
    width, height = measured["vb"]
    boxes = measured["boxes"]
    assert len(boxes) > 20
    for box in boxes:
        assert box["w"] > 0, box  # the font drew it
        assert box["x"] >= 0 and box["x"] + box["w"] <= width, box
        assert box["y"] >= 0 and box["y"] + box["h"] <= height, box
        # the estimate that places the labels is conservative: never narrower than drawn
        assert box["w"] <= text_width(box["text"], box["size"], box["bold"]), box
    for n, a in enumerate(boxes):
        for b in boxes[n + 1 :]:
            apart = (
                a["x"] + a["w"] <= b["x"] + 0.5
                or b["x"] + b["w"] <= a["x"] + 0.5
                or a["y"] + a["h"] <= b["y"] + 0.5
                or b["y"] + b["h"] <= a["y"] + 0.5
            )
            assert apart, (a, b)
