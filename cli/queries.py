"""Commands over the projections: project, rebuild, tick, sla list, escalations, rca,
metrics and health. Every query takes ``--as-of`` and ``--known-at`` (R-TIME-1), and its
JSON is one object that starts with the ``as_of`` and ``known_at`` it was computed for,
in UTC (``known_at`` null: everything recorded); a list goes under a named key.

The answers (sla list, escalations, rca, metrics, health) are ``ledger.services.answers``',
as the HTTP API gives them; these commands read the options and render.

A subject that cannot be projected or evaluated is left out of an answer with a warning
on standard error naming it; ``project`` and ``rebuild`` list every subject left out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import (
    AsOfOption,
    DbOption,
    JsonOption,
    KnownAtOption,
    TzOption,
    ask,
    err,
    fail,
    open_ledger,
    out,
    parse_instant,
    print_json,
    stop_on_signals,
    when_known,
    window,
)
from cli.render import SLA_COLUMNS, cell, counts, moment, pct, table, zone_name
from ledger.projections.names import PROJECTION_NAMES

if TYPE_CHECKING:
    from rich.progress import Progress
    from sqlalchemy import Engine

    from ledger.adapters.event_store import LedgerApp
    from ledger.adapters.projector import CatchUp


FAILURE_COLUMNS = ["projection", "subject", "notification_id", "error"]


def _print_failures(failures: list[dict[str, Any]]) -> None:
    """The subjects left out of the read models (nothing when there are none)."""
    if failures:
        out().print(table(f"{len(failures)} subjects left out", failures, FAILURE_COLUMNS))


# project / rebuild / tick -------------------------------------------------------------------


def _progress_bar(label: str, quiet: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(f"[bold]{label}[/] {{task.description}}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err(),
        disable=quiet or not err().is_terminal,
        transient=True,
    )


def project(
    db: DbOption = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep following the log.")] = False,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between polls when idle.")] = 1.0,
    json: JsonOption = False,
) -> None:
    """Bring the read models up to date with the log (exactly once), then exit or follow."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import Projector, engine_for
    from ledger.adapters.settings import resolve_database

    database = resolve_database(db)
    with opened(database) as ledger:
        projector = Projector(ledger, engine_for(database))
        if follow:
            stop = stop_on_signals()
            err().print(f"following the log of {database.label}; SIGTERM or Ctrl-C stops")

            def applied(report: CatchUp) -> None:
                err().print(
                    f"projected up to {min(report.positions.values())}: {counts(report.applied)}",
                    highlight=False,
                )

            projector.follow(stop, poll_seconds=poll, on_catch_up=applied)
        report = projector.catch_up()
        failures = projector.failures()
    if json:
        print_json({"applied": report.applied, "positions": report.positions, "failed": failures})
        return
    rows = [
        {"projection": n, "applied": report.applied.get(n, 0), "position": p}
        for n, p in sorted(report.positions.items())
    ]
    out().print(table("projections", rows, ["projection", "applied", "position"]))
    _print_failures(failures)


def rebuild(
    name: Annotated[
        str | None,
        typer.Argument(help=f"One projection ({', '.join(PROJECTION_NAMES)}); default all."),
    ] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Drop read models and project them again from the log alone (R-TRAIL-3)."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import Projector, engine_for, listed_failures
    from ledger.adapters.settings import resolve_database
    from ledger.projections.registry import BY_NAME

    if name is not None and name not in BY_NAME:
        fail(f"no projection named {name!r}; known: {', '.join(BY_NAME)}")
    database = resolve_database(db)
    names = [name] if name else list(BY_NAME)
    with opened(database) as ledger, _progress_bar("rebuild", json) as bar:
        projector = Projector(ledger, engine_for(database))
        task = bar.add_task(", ".join(names), total=None)
        report = projector.rebuild(
            names, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
        failures = [f for f in listed_failures(projector.engine) if f["projection"] in names]
    if json:
        print_json(
            {
                "rebuilt": names,
                "events_read": report.applied,
                "positions": report.positions,
                "failed": failures,
            }
        )
        return
    out().print(f"rebuilt {', '.join(names)} from the log: {counts(report.applied)} events read")
    _print_failures(failures)


def tick(
    db: DbOption = None,
    now: Annotated[
        str | None, typer.Option("--now", help="Treat this instant as now (default: the clock).")
    ] = None,
    every: Annotated[
        float | None,
        typer.Option(min=1.0, help="Keep ticking every SECONDS (a service); SIGTERM stops."),
    ] = None,
    checkpoint: Annotated[
        bool,
        typer.Option(
            "--checkpoint/--no-checkpoint",
            help="After each tick, sign a checkpoint of the log if it grew, with the "
            "configured signing key (on by default).",
        ),
    ] = True,
    checkpoint_every: Annotated[
        float | None,
        typer.Option(
            "--checkpoint-every",
            min=1.0,
            help="With --every: sign at most once every SECONDS (default: after every tick).",
            metavar="SECONDS",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Write breaches, warnings, expired temporary fixes and exceptions, overdue preventive
    actions, churn risks and their plays, overdue plays: what has come due, once."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from ledger.services.tick import tick as run_tick

    if every is not None and now is not None:
        fail("--every ticks on the clock; it cannot be combined with --now")
    when = parse_instant(now, "--now") or datetime.now(UTC)
    database = resolve_database(db)
    if checkpoint_every is not None and not checkpoint:
        fail(
            "--checkpoint-every sets how often the tick signs; it cannot be combined with "
            "--no-checkpoint"
        )
    sign = _checkpointer(checkpoint, checkpoint_every)
    with opened(database) as ledger:
        engine = engine_for(database)
        report = run_tick(ledger, engine, when)
        sign(ledger, engine)
        if every is not None:
            stop = stop_on_signals()
            while not stop.wait(every):
                report = run_tick(ledger, engine, datetime.now(UTC))
                if report.written:
                    err().print(f"tick at {report.now.isoformat()}: wrote {counts(report.written)}")
                sign(ledger, engine)
    if json:
        print_json(report.as_dict())
        return
    out().print(
        f"tick at {report.now.isoformat()}: {report.due} due, "
        f"{sum(report.written.values())} written"
        + (f" ({counts(report.written)})" if report.written else "")
    )


def _checkpointer(enabled: bool, every: float | None) -> Callable[[LedgerApp, Engine], None]:
    """What the tick calls after each run: sign a checkpoint (if the log grew), unless
    turned off; with ``every``, at most once every ``every`` seconds."""
    if not enabled:
        return lambda _ledger, _engine: None
    import time

    from replay.checkpoint import CheckpointRefused, take_checkpoint
    from replay.keys import KeyError_, signing_key
    from replay.witness import configured_witnesses, request_cosignatures  # LEDGER_WITNESSES

    try:
        key = signing_key(create=True)
    except KeyError_ as error:
        fail(f"{error}; or tick without signing: --no-checkpoint")
    last_signed: float | None = None

    def sign(ledger: LedgerApp, engine: Engine) -> None:
        nonlocal last_signed
        if every is not None and last_signed is not None and time.monotonic() - last_signed < every:
            return
        last_signed = time.monotonic()
        try:
            taken, new = take_checkpoint(ledger, engine, key, datetime.now(UTC))
        except CheckpointRefused as error:  # keep ticking; verify names the bad event
            err().print(f"[red]checkpoint refused[/]: {error}")
            return
        if new:
            err().print(
                f"checkpoint {taken.seq}: {taken.tree_size} events up to notification "
                f"{taken.last_notification_id}"
            )
            for outcome in request_cosignatures(engine, taken, configured_witnesses()):
                shown = "cosigned" if outcome.cosigned else "[red]REFUSED[/]"
                err().print(f"witness {outcome.url}: {shown}: {outcome.detail}", highlight=False)

    return sign


# sla list -----------------------------------------------------------------------------------


def sla_list(
    db: DbOption = None,
    breached: Annotated[bool, typer.Option("--breached", help="Only breached timers.")] = False,
    at_risk: Annotated[
        int | None,
        typer.Option(
            "--at-risk", min=0, help="Only running timers due within MINUTES.", metavar="MINUTES"
        ),
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only timers not stopped yet.")] = False,
    warned: Annotated[
        bool,
        typer.Option(
            "--warned", help="Only timers past their warning threshold, not stopped or breached."
        ),
    ] = False,
    customer: Annotated[str | None, typer.Option(help="Only this customer, e.g. C-042.")] = None,
    severity: Annotated[int | None, typer.Option(min=1, max=4, help="Only this severity.")] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The SLA board: every timer interval as of an instant, filtered."""
    from ledger.services import answers

    when, known = when_known(as_of, known_at, tz=tz, db=db, about=customer)
    board = ask(
        db,
        answers.board,
        when,
        known,
        breached=breached,
        at_risk=at_risk,
        open_only=open_only,
        customer=customer,
        severity=severity,
        warned=warned,
    )
    if json:
        print_json(answers.document(when, known, timers=board))
        return
    columns = SLA_COLUMNS + (["minutes_left"] if at_risk is not None else [])
    out().print(table(f"{len(board)} SLA timers as of {moment(when)}", board, columns))


# escalations / rca ----------------------------------------------------------------------------


def escalations(
    ticket_id: Annotated[str, typer.Argument(help="Ticket id, e.g. T-1001.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """The escalation timeline: who, when, from, to, why, and time at the tier before."""
    from ledger.projections.registry import SubjectFailed
    from ledger.services import answers

    when, known = when_known(as_of, known_at, tz=tz, db=db, about=ticket_id)
    with open_ledger(db) as ledger:
        try:
            timeline = answers.escalations(ledger, ticket_id, when, known)
        except answers.Absent:
            fail(_no_ticket(ticket_id, when))
        except SubjectFailed as error:
            fail(str(error))
    if json:
        print_json(answers.document(when, known, **timeline))
        return
    steps = [
        {**s, "time_at_previous_tier": _duration(s["seconds_at_previous_tier"])}
        for s in timeline["steps"]
    ]
    out().print(
        table(
            f"escalations of {ticket_id} (times in {zone_name()})",
            steps,
            ["seq", "at", "from_tier", "to_tier", "actor_id", "reason", "time_at_previous_tier"],
        )
    )
    out().print(
        f"now at [bold]{timeline['current_tier']}[/] "
        f"since {cell(timeline['at_current_tier_since'])}"
        f" ({_duration(timeline['seconds_at_current_tier'])}), status {timeline['status']}"
    )


def _no_ticket(ticket_id: str, when: datetime) -> str:
    return f"no ticket {ticket_id} in the ledger as of {when.isoformat()}"


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m"


def rca(
    ticket_id: Annotated[str, typer.Argument(help="Ticket id, e.g. T-1001.")],
    db: DbOption = None,
    format: Annotated[
        str, typer.Option("--format", help="md or html (the RCA document), or json.")
    ] = "md",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the document here.")] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    json: JsonOption = False,
) -> None:
    """The ticket's RCA with its timeline from the trail, rendered from the ledger (R-RCA-3)."""
    from ledger.projections.registry import SubjectFailed
    from ledger.services import answers
    from ledger.services.rca_report import render_html, render_markdown

    if format not in ("md", "html", "json"):
        fail(f"--format {format!r}: use md, html or json")
    when, known = when_known(as_of, known_at)
    with open_ledger(db) as ledger:
        try:
            document = answers.rca(ledger, ticket_id, when, known)
        except answers.Absent:
            fail(_no_ticket(ticket_id, when))
        except SubjectFailed as error:
            fail(str(error))
    if json or format == "json":
        print_json(answers.document(when, known, **document))
        return
    text = render_html(document, when) if format == "html" else render_markdown(document, when)
    if out_file is not None:
        out_file.write_text(text, encoding="utf-8")
        err().print(f"wrote {out_file}")
    else:
        typer.echo(text, nl=False)


# metrics / health -------------------------------------------------------------------------------


def metrics(
    db: DbOption = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Window start (default: the beginning).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Window end (default: --as-of).")] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """Response times, SLA compliance, volume, repeats, resolution, incident times,
    preventive-action follow-through, CSAT, NPS, churn, revenue retention, success plays
    (R-MET)."""
    from ledger.services import answers

    when, known = when_known(as_of, known_at, tz=tz, db=db)
    start, end = window(from_, to)
    figures = ask(db, answers.metrics, when, known, start, end)
    if json:
        print_json(answers.document(when, known, **figures))
        return
    out().print(
        f"[bold]metrics[/] as of {moment(when)}, "
        f"{figures['tickets_opened']} tickets opened in the window"
    )
    out().print(
        table(
            "first response (minutes)",
            figures["first_response"],
            ["severity", "count", "median_minutes", "p90_minutes"],
        )
    )
    out().print(
        table(
            "SLA compliance",
            figures["sla_compliance"],
            ["severity", "met", "breached", "open", "compliance_pct"],
        )
    )
    out().print(
        table(
            "time to resolution (hours)",
            figures["time_to_resolution"],
            ["severity", "count", "median_hours", "p90_hours"],
        )
    )
    out().print(
        table(
            "volume by week",
            figures["volume_by_week"],
            ["week", "sev1", "sev2", "sev3", "sev4", "total"],
        )
    )
    out().print(
        table(
            f"{len(figures['repeat_incidents'])} repeat incidents",
            figures["repeat_incidents"],
            ["ticket_id", "repeats", "customer_id", "why"],
        )
    )
    incident = figures["incident_times"]
    spans = [
        {"severity": severity, **{f"{name} (n, median, p90)": cell(None) for name in incident}}
        for severity in (1, 2, 3, 4)
    ]
    for name, by_severity in incident.items():
        for row, figure in zip(spans, by_severity, strict=True):
            row[f"{name} (n, median, p90)"] = (
                f"{figure['count']}, {cell(figure['median_minutes'])}, "
                f"{cell(figure['p90_minutes'])}"
            )
    out().print(
        table(
            "incident times (minutes): detect, acknowledge, mitigate, resolve",
            spans,
            ["severity", *(f"{name} (n, median, p90)" for name in incident)],
        )
    )
    actions = figures["preventive_actions"]
    overdue = ", ".join(f"{o['owner']} {o['overdue']}" for o in actions["overdue_by_owner"])
    out().print(
        f"preventive actions due in the window: {actions['due']}, "
        f"{actions['completed_on_time']} completed on time "
        f"({pct(actions['follow_through_pct'])}), {actions['completed_late']} late; "
        f"overdue now by owner: {overdue or 'none'}",
        highlight=False,
    )
    csat, nps, churn = figures["csat"], figures["nps"], figures["churn"]
    out().print(
        f"CSAT {cell(csat['average'])} ({csat['responses']} answers, "
        f"{pct(csat['satisfied_pct'])} satisfied); "
        f"NPS {cell(nps['score'])} ({nps['responses']} answers)",
        highlight=False,
    )
    out().print(
        f"churn {pct(churn['churn_rate_pct'])} "
        f"({churn['churned']} of {churn['customers_at_start']}), "
        f"retention {pct(churn['retention_rate_pct'])}, renewals {churn['renewals']}",
        highlight=False,
    )
    _print_success(figures["revenue"], figures["plays"])


def _print_success(revenue: dict[str, Any], plays: dict[str, Any]) -> None:
    """Revenue retention and success plays (issue 20), two lines each."""
    out().print(
        f"revenue of the {revenue['customers_at_start']} customers with an ARR at the start: "
        f"{revenue['starting_arr']} -> {revenue['ending_arr']} "
        f"(expansion {revenue['expansion_arr']}, contraction {revenue['contraction_arr']}, "
        f"churn {revenue['churned_arr']}); GRR {pct(revenue['gross_revenue_retention_pct'])}, "
        f"NRR {pct(revenue['net_revenue_retention_pct'])}, "
        f"expansion {pct(revenue['expansion_rate_pct'])}",
        highlight=False,
    )
    first, before = plays["time_to_first_outreach"], plays["outreach_before_complaint"]
    out().print(
        f"success plays: {plays['opened']} opened, {plays['closed']} closed; first outreach "
        f"after {cell(first['median_hours'])} h (median), {cell(first['p90_hours'])} h (p90) "
        f"of {first['count']}; outreach before complaint {pct(before['pct'])} "
        f"({before['outreach_first']} of {before['decided']} decided)",
        highlight=False,
    )


def health(
    customer_id: Annotated[
        str | None, typer.Argument(help="One customer, e.g. C-042; default all.")
    ] = None,
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """Health score (0-100), its components, trend, churn-risk flags and missed check-ins."""
    from ledger.services import answers

    when, known = when_known(as_of, known_at, tz=tz, db=db, about=customer_id)
    records = ask(db, answers.health_records, when, known, customer_id)
    if customer_id is not None and not records:
        fail(f"no customer {customer_id} in the ledger as of {when.isoformat()}")
    if json:
        found = records[0] if customer_id is not None else {"customers": records}
        print_json(answers.document(when, known, **found))
        return
    shown = [
        {
            **r,
            **r["components"],
            "flags": ", ".join(r["flags"]),
            "missed": len(r["missed_check_ins"]),
        }
        for r in records
    ]
    out().print(
        table(
            f"customer health as of {moment(when)} (lowest first)",
            shown,
            [
                "customer_id",
                "name",
                "score",
                "trend",
                "usage_trend",
                "error_frequency",
                "support_load",
                "engagement",
                "flags",
                "missed",
                "status",
            ],
        )
    )


def register(app: typer.Typer, sla: typer.Typer) -> None:
    """Add this family's commands to ``app`` and ``sla list`` to the sla group."""
    for command in (project, rebuild, tick, escalations, rca, metrics, health):
        app.command()(command)
    sla.command("list")(sla_list)
