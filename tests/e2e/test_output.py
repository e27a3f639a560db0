"""Output a person reads: help grouped under headings and ending with examples, shell
completion, and human output with no Python reprs."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

import cli
from cli.common import command_paths
from tests.e2e.test_cli import ledger, ledger_json, write_jsonl
from tests.support import T0, Envelopes

M = timedelta(minutes=1)
REPR = re.compile(r"\{'|': |\bNone\b|\bTrue\b|\bFalse\b|Counter\(|datetime\.")
"""What a Python repr of a dict, None, a bool, a Counter or a datetime looks like (the
trail's data column is the event's JSON, as stored: null, [] and {} are JSON)."""


def _help(*path: str) -> str:
    result = CliRunner().invoke(cli.app, [*path, "--help"], prog_name="ledger")
    assert result.exit_code == 0, (path, result.output)
    return result.output


def test_ledger_help_lists_commands_under_headings() -> None:
    shown = _help()
    headings = re.findall(r"^(\S[^\n:]*):$", shown, flags=re.MULTILINE)
    assert headings == [
        "Options",
        "Intake",
        "Queries and read models",
        "Audit and compliance",
        "Services and Kafka",
    ]
    parts = re.split(r"^\S[^\n:]*:$", shown, flags=re.MULTILINE)[1:]
    sections = dict(zip(headings, parts, strict=True))
    assert "  ingest " in sections["Intake"]
    assert "  sla " in sections["Queries and read models"]
    assert "  export " in sections["Audit and compliance"]
    assert "  consume " in sections["Services and Kafka"]


def test_every_command_has_a_heading() -> None:
    group = typer.main.get_command(cli.app)
    top = {path[0] for path in command_paths(group)}
    placed = {name for names in cli.SECTIONS.values() for name in names}
    assert top == placed, (top - placed, placed - top)


def test_every_help_ends_with_an_example() -> None:
    paths = [(), *command_paths(typer.main.get_command(cli.app))]
    for path in paths:
        lines = [line for line in _help(*path).splitlines() if line.strip()]
        assert "ledger " in lines[-1], (path, lines[-3:])
        assert "Examples:" in lines[-1 - len(cli.EXAMPLES[" ".join(path)])], path


def test_help_imports_no_rich_and_completion_is_on() -> None:
    script = (
        "import sys, cli\n"
        "sys.argv = ['ledger', '--help']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "--install-completion" in done.stdout and "--show-completion" in done.stdout
    assert [m for m in done.stderr.split() if m == "rich" or m.startswith("rich.")] == []


def test_shell_completion_completes_commands() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "cli", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "_ledger_completion" in shown.stdout or "complete" in shown.stdout
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "ledger")],
        capture_output=True,
        text=True,
        check=True,
        env={
            "_LEDGER_COMPLETE": "complete_bash",
            "COMP_WORDS": "ledger sla ",
            "COMP_CWORD": "2",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert completed.stdout.split() == ["show", "list"]


@pytest.fixture
def waiting_db(tmp_path: Path) -> Path:
    """A Sev1 answered at 09:10Z (update due 10:10Z), waiting on the customer 09:30-10:00Z,
    and a second Sev1 nobody answered."""
    env = Envelopes()
    e = env.make
    lines = [
        env.customer("C-1", at=T0 - timedelta(days=1)),
        env.ticket("T-1", at=T0),
        e("ticket.responded", "T-1", {"public": True, "message": "on it"}, at=T0 + 10 * M),
        e("ticket.status_changed", "T-1", {"status": "waiting_on_customer"}, at=T0 + 30 * M),
        e("ticket.status_changed", "T-1", {"status": "in_progress"}, at=T0 + 60 * M),
        env.ticket("T-2", at=T0 + 5 * M),
    ]
    db = tmp_path / "ledger.db"
    ledger_json("ingest", str(write_jsonl(tmp_path / "s.jsonl", lines)), db=db)
    return db


def test_timers_say_time_left_overdue_and_paused(waiting_db: Path) -> None:
    paused = ledger("sla", "show", "T-1", "--as-of", "2026-03-02T09:45:00Z", db=waiting_db)
    row = next(line for line in paused.stdout.splitlines() if "│ update" in line)
    assert "paused" in row and "│ yes, 15m" in row  # waiting since 09:30
    assert "40m left" in row  # 20 of the 60 minutes counted when the pause began
    resumed = ledger("sla", "show", "T-1", "--as-of", "2026-03-02T10:20:00Z", db=waiting_db)
    row = next(line for line in resumed.stdout.splitlines() if "│ update" in line)
    assert "20m left" in row and "│ no, 30m" in row  # due 10:40Z after the 30-minute pause
    late = ledger("sla", "show", "T-2", "--as-of", "2026-03-02T10:40:00Z", db=waiting_db)
    row = next(line for line in late.stdout.splitlines() if "│ first_response" in line)
    assert "breached" in row and "overdue by 35m" in row  # due 10:05Z
    row = next(line for line in late.stdout.splitlines() if "│ resolution" in line)
    assert "no target" in row


def test_human_output_has_no_python_reprs(waiting_db: Path) -> None:
    at = "2026-03-03T00:00:00Z"
    commands = [
        ("status",),
        ("metrics", "--as-of", at),
        ("health", "--as-of", at),
        ("health", "C-1", "--as-of", at),
        ("sla", "list", "--as-of", at),
        ("sla", "show", "T-1", "--as-of", at),
        ("ticket", "show", "T-1"),
        ("customer", "show", "C-1"),
        ("escalations", "T-1"),
        ("tick", "--now", at),
        ("project",),
        ("rebuild",),
        ("replay", "T-1", "--as-of", at),
    ]
    for command in commands:
        result = ledger(*command, db=waiting_db)
        assert result.returncode == 0, (command, result.stderr)
        for line in result.stdout.splitlines() + result.stderr.splitlines():
            assert not REPR.search(line), (command, line)
    metrics = ledger("metrics", "--as-of", at, db=waiting_db).stdout
    assert "NPS — (0 answers)" in metrics or "NPS n/a" in metrics
    assert "n/a satisfied" in metrics


def test_the_demo_summary_reads_as_words(tmp_path: Path) -> None:
    shown = ledger("demo", db=tmp_path / "demo.db")
    assert shown.returncode == 0, shown.stderr
    tick = next(line for line in shown.stdout.splitlines() if "the tick wrote" in line)
    assert re.search(r"the tick wrote \d+ [a-z_.]+(, \d+ [a-z_.]+)*$", tick), tick
    assert not REPR.search(shown.stdout)
