"""What people read: tables more than one command family prints (a state, SLA timers, a
trail, an ingest report, any list of rows) and the words for values in them.

Human output has no Python reprs: no value is "—", counts by kind are "3 tickets, 1
customer" lines, nested values are "key: value" lines, and instants are shown in the zone
of ``--tz`` (UTC by default; JSON output never goes through here and stays UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from cli.common import display_zone, out

if TYPE_CHECKING:
    from rich.table import Table

    from ledger.services.intake import IngestReport

NOTHING: Final = "—"
"""A cell with no value (None)."""

SLA_COLUMNS = [
    "ticket_id",
    "customer_id",
    "timer",
    "severity",
    "policy_version",
    "exception_id",
    "started_at",
    "warn_at",
    "due_at",
    "stopped_at",
    "state",
    "breached_at",
]

_INSTANT: Final = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def moment(instant: datetime) -> str:
    """An instant for people, in the zone of ``--tz``: ``2026-02-10 02:01:38Z`` in UTC,
    ``2026-02-10 03:01:38+01:00`` elsewhere (seconds cut)."""
    zone, _ = display_zone()
    text = instant.astimezone(zone).isoformat(sep=" ", timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if zone is UTC else text


def zone_name() -> str:
    """The name of the zone instants are shown in (``UTC`` unless ``--tz``)."""
    return display_zone()[1]


def short(instant: str) -> str:
    """An ISO 8601 instant (``2026-02-10T02:01:38.5+00:00``) as ``moment`` shows it."""
    return moment(datetime.fromisoformat(instant))


def span(seconds: float) -> str:
    """A duration for people: ``45s``, ``35m``, ``2h 05m``, ``3d 4h 05m``."""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{whole}s"
    days, rest = divmod(whole // 60, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def counts(by_kind: dict[str, int], nothing: str = "nothing") -> str:
    """``{"sla.breached": 3, "x": 1}`` as ``3 sla.breached, 1 x`` (``nothing`` if empty)."""
    return ", ".join(f"{n} {kind}" for kind, n in by_kind.items()) or nothing


def pct(value: float | None) -> str:
    """A percentage for people: ``97.5%``, or ``n/a`` when there is nothing to divide."""
    return "n/a" if value is None else f"{cell(value)}%"


def cell(value: Any) -> str:
    """A value for people: "—" for None, instants as ``moment`` shows them, yes/no, lists
    joined by commas, mappings as ``key: value`` lines."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return moment(value)
    if isinstance(value, str):
        return short(value) if _INSTANT.fullmatch(value) else value
    if isinstance(value, dict):
        return "\n".join(f"{k}: {cell(v)}" for k, v in value.items()) or NOTHING
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(cell(v) for v in value) or NOTHING
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    """Rows as a table of the given columns."""
    from rich.table import Table

    shown = Table(title=title, show_header=True)
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*(cell(row.get(c)) for c in columns))
    return shown


def print_state(title: str, view: dict[str, Any], skip: set[str]) -> None:
    """A subject's fields, one a row (nested values as ``key: value`` lines)."""
    from rich.table import Table

    shown = Table(title=title, show_header=False)
    shown.add_column("field", style="bold")
    shown.add_column("value")
    for key, value in view.items():
        if key not in skip:
            shown.add_row(key, cell(value))
    out().print(shown, highlight=False)


def print_trail(entries: list[dict[str, Any]]) -> None:
    """A subject's trail, oldest first."""
    import orjson
    from rich.table import Table

    shown = Table(title=f"trail (times in {zone_name()})", show_header=True)
    for column in ("v", "occurred_at", "recorded_at", "type"):
        shown.add_column(column, no_wrap=True)
    for column in ("actor", "source", "data"):
        shown.add_column(column, overflow="fold")
    for e in entries:
        shown.add_row(
            str(e["version"]),
            short(e["occurred_at"]),
            short(e["recorded_at"]),
            e["type"],
            f"{e['actor']['id']} ({e['actor']['role']})",
            e["source"] + (f" via {e['producer']}" if e.get("producer") else ""),
            orjson.dumps(e["data"]).decode(),
        )
    out().print(shown)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None


def timer_clock(row: dict[str, Any], as_of: datetime | None) -> str:
    """How a timer stands, for people: ``2h 05m left``, ``overdue by 35m`` (for a stopped
    breached timer, how late it stopped), ``met``, ``no target``.

    Reads the row's ``time_left`` and ``overdue_by`` (seconds) when it has them, else
    works them out from ``due_at``, ``stopped_at`` and ``as_of``."""
    due, stopped = _instant(row.get("due_at")), _instant(row.get("stopped_at"))
    state = row.get("state")
    overdue = row.get("overdue_by")
    if overdue is None and "overdue_by" not in row and state == "breached" and due is not None:
        end = stopped or as_of
        overdue = None if end is None else max((end - due).total_seconds(), 0)
    if overdue is not None:
        return f"overdue by {span(overdue)}"
    left = row.get("time_left")
    if left is None and "time_left" not in row and state == "running" and due is not None:
        left = None if as_of is None else max((due - as_of).total_seconds(), 0)
    if left is not None:
        return f"{span(left)} left"
    if due is None:
        return "no target"
    return "met" if state == "met" else NOTHING


def paused_text(row: dict[str, Any]) -> str:
    """Whether a timer is paused, and for how long in all: ``yes, 35m``, ``no, 1h 00m``
    (paused before, running again), ``no``."""
    paused = row.get("paused")
    if paused is None:
        paused = row.get("state") == "paused"
    seconds = row.get("paused_seconds") or 0
    return ("yes" if paused else "no") + (f", {span(seconds)}" if seconds else "")


def print_timers(title: str, rows: list[dict[str, Any]], as_of: datetime | None = None) -> None:
    """A ticket's SLA timers: when each started, is due and stopped, how it stands at
    ``as_of`` (time left, or overdue by), whether it is paused and for how long in all.

    A breach is at the due instant, except under a re-target (R-SLA-4): then the instant
    it was breached at follows the overdue time; a warned timer (R-SLA-7) says when. The
    customer exception a timer runs under (R-EXC) is in its own column."""
    from rich.table import Table

    shown = Table(title=f"{title} (times in {zone_name()})", show_header=True)
    for column in (
        "timer",
        "sev",
        "policy",
        "exception",
        "started_at",
        "due_at",
        "stopped_at",
        "state",
        "left / overdue",
        "paused",
    ):
        shown.add_column(column, no_wrap=column not in ("left / overdue", "paused"))
    for r in rows:
        clock = timer_clock(r, as_of)
        breached = _instant(r.get("breached_at"))
        if breached is not None and breached != _instant(r.get("due_at")):
            clock += f"; breached {moment(breached)}"
        warned = _instant(r.get("warn_at"))
        if r.get("warned") and warned is not None:
            clock += f"; warned {moment(warned)}"
        shown.add_row(
            r["timer"],
            str(r["severity"]),
            str(r["policy_version"]),
            cell(r.get("exception_id")),
            *(cell(r.get(k)) for k in ("started_at", "due_at", "stopped_at")),
            r["state"],
            clock,
            paused_text(r),
        )
    out().print(shown)


def print_status(report: dict[str, Any]) -> None:
    """``ledger status``: the counts on one line, then a table for each kind of position
    (or a line saying there is none)."""
    out().print(
        f"[bold]{report['database']}[/]: {report['events']} events, log head "
        f"{report['log_head']}, {report['rejections']} rejections kept, "
        f"{report['deferred']} inputs deferred",
        highlight=False,
    )
    sections: list[tuple[str, list[dict[str, Any]], list[str]]] = [
        (
            "projections",
            [{"projection": n, **p} for n, p in report["projections"].items()],
            ["projection", "position", "behind"],
        ),
        (
            "publishers",
            [{"stream": s, "position": p} for s, p in report["publishers"].items()],
            ["stream", "position"],
        ),
        ("consumers", report["consumers"], ["group", "topic", "partition", "offset"]),
        (
            "projection failures",
            report["projection_failures"],
            ["projection", "subject", "notification_id", "error"],
        ),
    ]
    for title, rows, columns in sections:
        if rows:
            out().print(table(title, rows, columns))
        else:
            out().print(f"{title}: none")


def print_report(report: IngestReport, title: str) -> None:
    """Counts of accepted, duplicate and rejected, and the rejections by rule."""
    from rich.table import Table

    shown = Table(title=title, show_header=True)
    shown.add_column("outcome")
    shown.add_column("inputs", justify="right")
    shown.add_row("accepted", str(report.accepted))
    shown.add_row("duplicate (acknowledged)", str(report.duplicates))
    shown.add_row("deferred (waiting, kept)", str(report.deferred))
    shown.add_row("rejected (kept)", str(report.rejected))
    shown.add_row("rejected before (not kept again)", str(report.already_rejected))
    out().print(shown)
    if report.released:
        out().print(
            f"Inputs deferred earlier and decided now: {report.released['accepted']} accepted, "
            f"{report.released['rejected']} rejected."
        )
    if report.deferred:
        out().print("List what waits with [bold]ledger deferred list[/].")
    if report.by_rule:
        rules = Table(title="rejected, by rule", show_header=True)
        rules.add_column("rule")
        rules.add_column("count", justify="right")
        rules.add_column("example (origin: reason)", overflow="fold")
        for rule, count in sorted(report.by_rule.items()):
            example = report.examples[rule]
            rules.add_row(rule, str(count), f"{example.origin}: {example.reason}")
        out().print(rules)
        out().print("List them with [bold]ledger rejects list[/].")
