"""The auditor's and compliance team's commands as they run them, and the incident page
rendered in a real headless Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
AS_OF = (T0 + timedelta(days=3)).isoformat()


def _incident(env: Envelopes) -> list[dict[str, Any]]:
    """A Sev1 with an escalation, a missed update, a temporary fix, a re-triage and an RCA."""
    e = env.make
    story = [
        env.customer("C-1", at=T0 - timedelta(days=5)),
        env.ticket("T-1", at=T0),
        e("ticket.assigned", "T-1", {"assignee": "se-ana"}, at=T0 + 3 * M),
        e("ticket.responded", "T-1", {"public": True, "message": "on it"}, at=T0 + 10 * M),
        e(
            "ticket.escalated",
            "T-1",
            {"to_tier": "platform_engineer", "reason": "db"},
            at=T0 + 20 * M,
        ),
        e("ticket.update_posted", "T-1", {"message": "failing over"}, at=T0 + 40 * M),
        # no update for 3 hours: the 1-hour Sev1 cadence is missed
        e(
            "ticket.temporary_fix_applied",
            "T-1",
            {
                "description": "failover",
                "expires_at": (T0 + timedelta(days=1)).isoformat(),
                "owner": "pe-li",
            },
            at=T0 + 220 * M,
        ),
        e("ticket.update_posted", "T-1", {"message": "mitigated"}, at=T0 + 225 * M),
        e(
            "ticket.triaged",
            "T-1",
            {"severity": 2, "category": "partial_outage", "reason": "mitigated"},
            at=T0 + 230 * M,
        ),
        e(
            "ticket.responded",
            "T-1",
            {"public": False, "message": "lock held by migration"},
            at=T0 + 240 * M,
        ),
        e(
            "ticket.permanent_fix_applied",
            "T-1",
            {"description": "migration lock timeout"},
            at=T0 + 300 * M,
        ),
        e("ticket.resolved", "T-1", {"resolution": "patched"}, at=T0 + 310 * M),
        e(
            "rca.timeline_entry_added",
            "T-1",
            {"at": (T0 - 5 * M).isoformat(), "entry": "alert fired"},
            at=T0 + 320 * M,
        ),
    ]
    env.now = T0 + 330 * M
    return [*story, *env.rca("T-1")]


@pytest.fixture
def incident_db(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.db"
    file = write_jsonl(tmp_path / "incident.jsonl", _incident(Envelopes()))
    result = ledger("ingest", str(file), db=db)
    assert result.returncode == 0, result.stderr
    assert ledger_json("rejects", "list", db=db) == []
    return db


class _Marks(HTMLParser):
    """(data-kind, data-at) of the chart's marks and of the timeline table's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[str, str]] = []
        self.rows: list[tuple[str, str]] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        entry = (a.get("data-kind") or "", a.get("data-at") or "")
        if a.get("class") == "mark":
            self.marks.append(entry)
        if a.get("class") == "entry":
            self.rows.append(entry)
        for name in ("src", "href"):
            if a.get(name):
                self.external.append(f"{tag} {name}={a[name]}")
        if tag in ("script", "link", "iframe", "img"):
            self.external.append(tag)


def test_the_incident_page_renders_in_headless_chromium(incident_db: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    page = tmp_path / "T-1.html"
    written = ledger_json("report", "T-1", "--out", str(page), "--as-of", AS_OF, db=incident_db)
    expected = [
        (entry["kind"], entry["at"])
        for entry in ledger_json(
            "rca", "T-1", "--format", "json", "--as-of", AS_OF, db=incident_db
        )["timeline"]
    ]
    assert written["timeline_entries"] == len(expected) and written["out"] == str(page)
    kinds = {kind for kind, _ in expected}
    assert {
        "escalated",
        "SLA breached",
        "temporary fix",
        "permanent fix",
        "triaged",
        "update posted",
        "manual",
    } <= kinds

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [chromium, *flags, "--window-size=1200,900", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout

    image = Image.open(shot).convert("RGB")
    colours = [(n, c) for n, c in image.getcolors(maxcolors=1 << 24) or [] if isinstance(c, tuple)]
    total = image.width * image.height
    inked = sum(n for n, colour in colours if colour != (255, 255, 255)) / total
    assert inked > 0.05, f"the page looks blank ({inked:.1%} of pixels not white)"
    assert len(colours) > 50
    assert any(c[0] > 180 and c[1] < 80 and c[2] < 80 for _, c in colours)  # a breach's red

    parsed = _Marks()
    parsed.feed(dom)
    normal = sorted((k, _utc(a)) for k, a in expected)
    assert sorted(parsed.marks) == normal  # every timeline entry is drawn in the chart
    assert sorted(parsed.rows) == normal  # and listed in the table
    assert parsed.external == []  # self-contained: nothing fetched


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``ledger ARGS`` for commands that take no database."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, check=False
    )


def _utc(instant: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromisoformat(instant).astimezone(UTC).isoformat()


def test_checkpoint_verify_export_and_tamper_from_the_command_line(
    incident_db: Path, tmp_path: Path
) -> None:
    signed = ledger_json("checkpoint", db=incident_db)
    assert signed["new"] and signed["statement"]["tree_size"] == 18
    assert ledger_json("verify", db=incident_db)["ok"] is True

    out = tmp_path / "export"
    assert (
        ledger(
            "export",
            "--out",
            str(out),
            "--redact",
            "--format",
            "csv",
            "--purpose",
            "audit",
            db=incident_db,
        ).returncode
        == 0
    )
    public = tmp_path / "ledger.pub"
    keys = _cli("key", "public")
    assert "PRIVATE" not in keys.stdout
    public.write_text(keys.stdout)
    checked = _cli("verify-export", str(out), "--public-key", str(public), "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["key_pinned"] is True
    assert "dana@acme.example" not in (out / "events.csv").read_text()

    with sqlite3.connect(incident_db) as conn:  # an attacker edits the resolution
        rowid, version, state = conn.execute(
            "SELECT rowid, originator_version, state FROM stored_events "
            "WHERE topic LIKE '%Resolved'"
        ).fetchone()
        conn.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            (state.replace(b"patched", b"pAtched"), rowid),
        )
    failed = ledger("verify", "--json", db=incident_db)
    assert failed.returncode == 1
    first = json.loads(failed.stdout)["first_bad"]
    assert (first["subject"], first["version"], first["notification_id"]) == ("T-1", version, rowid)
    assert first["kind"] == "altered"
    shown = ledger("verify", db=incident_db).stdout
    assert f"first bad: T-1 v{version} (notification {rowid})" in shown


def test_replay_board_answers_like_sla_list(incident_db: Path) -> None:
    as_of = (T0 + 200 * M).isoformat()
    board = ledger_json("replay", "board", "--as-of", as_of, db=incident_db)
    assert board == ledger_json("sla", "list", "--as-of", as_of, db=incident_db)
    assert (board["as_of"], board["known_at"]) == (as_of, None)
    assert any(row["state"] == "breached" for row in board["timers"])
    view = ledger_json("replay", "T-1", "--as-of", as_of, db=incident_db)
    assert view["state"]["tier"] == "platform_engineer" and view["state"]["severity"] == 1
    assert ledger("replay", "T-9", "--as-of", as_of, db=incident_db).returncode == 1


def test_notes_proofs_witness_and_rotation_from_the_command_line(
    incident_db: Path, tmp_path: Path
) -> None:
    """Issue 21 as an operator and an auditor run it: a witness on its own port, the
    checkpoint it cosigns, proofs checked offline, a key rotation and quorum verifies."""
    assert ledger_json("checkpoint", db=incident_db)["new"]  # the key is made on first use
    vkey = _cli("key", "public", "--db", str(incident_db)).stdout.splitlines()[-1]
    name, key_hash, key = vkey.split("+", 2)  # (base64 may hold '+' too)
    assert name.startswith("ledger.local/") and re.fullmatch("[0-9a-f]{8}", key_hash)
    assert base64.b64decode(key)[:1] == b"\x01" and len(base64.b64decode(key)) == 33
    made = _cli("witness", "init", "--name", "w.example/1", "--key", str(tmp_path / "w.key"))
    assert made.returncode == 0, made.stderr
    witness_vkey = made.stdout.strip()
    assert _cli("witness", "init", "--name", "w", "--key", str(tmp_path / "w.key")).returncode == 1
    serving = subprocess.Popen(
        [
            *(sys.executable, "-m", "cli", "witness", "serve", "--key", str(tmp_path / "w.key")),
            *("--log-key", vkey, "--state", str(tmp_path), "--port", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serving.stdout is not None
        url = serving.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:")
        signed = ledger_json("checkpoint", "--witness", url, db=incident_db)
        assert not signed["new"] and signed["log_key"] == vkey  # checkpoint 1, now witnessed
        assert [w["cosigned"] for w in signed["witnesses"]] == [True]
        note = tmp_path / "c1.note"
        note.write_text(signed["note"])  # with its cosignature
        assert "\n— w.example/1 " in note.read_text()
        quorum = ("--witness", witness_vkey, "--quorum", "1", "--against", url)
        checked = ledger("verify", "--log-key", vkey, *quorum, "--json", db=incident_db)
        assert checked.returncode == 0, checked.stdout
        assert json.loads(checked.stdout)["cosigned_by"] == ["w.example/1"]

        proof = ledger("proof", "inclusion", "T-1", "3", "--json", db=incident_db)
        (tmp_path / "p.json").write_text(proof.stdout)
        offline = _cli(
            "proof", "verify", str(tmp_path / "p.json"), "--checkpoint", str(note), "--key", vkey
        )
        assert offline.returncode == 0 and "is leaf" in offline.stdout, offline.stdout
        forged = json.loads(proof.stdout)
        forged["leaf"]["event_hash"] = "0" * 64
        (tmp_path / "bad.json").write_text(json.dumps(forged))
        refused = _cli(
            "proof", "verify", str(tmp_path / "bad.json"), "--checkpoint", str(note), "--key", vkey
        )
        assert refused.returncode == 1 and "NOT proven" in refused.stdout
        assert ledger("proof", "inclusion", "T-9", "1", db=incident_db).returncode == 1

        rotated = ledger_json("key", "rotate", db=incident_db)
        new_vkey = rotated["new"]
        assert rotated["old"] == vkey and rotated["from_checkpoint"] == 2
        env = Envelopes(seed=3_000)
        more = write_jsonl(
            tmp_path / "more.jsonl",
            [env.make("ticket.reopened", "T-1", {"reason": "again"}, at=T0 + 400 * M)],
        )
        assert ledger("ingest", str(more), db=incident_db).returncode == 0
        # the witness trusts only the old key: it refuses the new key's checkpoint
        refused_cp = ledger("checkpoint", "--witness", url, db=incident_db)
        assert refused_cp.returncode == 1 and "403" in refused_cp.stderr
        second = ledger_json("checkpoint", db=incident_db)
        assert second["log_key"] == new_vkey and second["statement"]["seq"] == 2
        (tmp_path / "c2.note").write_text(second["note"])
        assert ledger("verify", "--log-key", vkey, db=incident_db).returncode == 0
        lacking = ledger("verify", "--log-key", vkey, *quorum[:4], "--json", db=incident_db)
        assert lacking.returncode == 1
        assert json.loads(lacking.stdout)["first_bad"]["kind"] == "checkpoint_witness"
        consistency = ledger("proof", "consistency", "1", "2", "--json", db=incident_db)
        (tmp_path / "c.json").write_text(consistency.stdout)
        args = ("proof", "verify", str(tmp_path / "c.json"), "--checkpoint", str(note))
        args += ("--checkpoint", str(tmp_path / "c2.note"))
        one_key = _cli(*args, "--key", new_vkey)
        assert one_key.returncode == 1 and "not signed by the log key" in one_key.stdout
        both = _cli(*args, "--key", vkey, "--key", new_vkey)  # across the rotation
        assert both.returncode == 0 and "extends" in both.stdout, both.stdout

        out_dir = tmp_path / "export"
        assert (
            ledger(
                "export", "--out", str(out_dir), "--purpose", "rotation check", db=incident_db
            ).returncode
            == 0
        )
        manifest = json.loads((out_dir / "manifest.json").read_text())
        assert manifest["checkpoint"]["log_key"] == new_vkey
        assert len(manifest["checkpoint"]["key_chain"]) == 1
        exported = _cli("verify-export", str(out_dir), "--log-key", vkey, "--json")
        assert exported.returncode == 0, exported.stdout
        stranger = _cli("witness", "init", "--name", "x", "--key", str(tmp_path / "x.key")).stdout
        unwitnessed = _cli(
            "verify-export", str(out_dir), "--witness", stranger.strip(), "--quorum", "1"
        )
        assert unwitnessed.returncode == 1 and "witness cosignatures" in unwitnessed.stdout
    finally:
        serving.terminate()
        serving.wait(timeout=30)
