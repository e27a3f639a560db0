"""``ledger webhooks``: subscriptions to the ledger's alerts, the outbox of deliveries and
the dispatcher that sends them (``ledger/services/webhooks.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Final

import typer

from cli.common import (
    DbOption,
    HelpGroup,
    JsonOption,
    err,
    fail,
    out,
    parse_instant,
    print_json,
    stop_on_signals,
)
from cli.render import table

if TYPE_CHECKING:
    from ledger.services.webhooks import DeliverReport, Webhooks

webhooks_app = typer.Typer(
    help="Webhooks for the ledger's alerts (Standard Webhooks: signed, retried, at least once).",
    no_args_is_help=True,
    cls=HelpGroup,
)

EXAMPLES: Final = {
    "webhooks": ["ledger webhooks add https://hooks.example.com/ledger --event sla.breached"],
    "webhooks add": [
        "ledger webhooks add https://hooks.example.com/ledger --event sla.breached",
        "ledger webhooks add http://127.0.0.1:8080/in --event sla.breached "
        "--event customer.churn_risk_raised --json",
    ],
    "webhooks list": ["ledger webhooks list", "ledger webhooks list --all --json"],
    "webhooks remove": ["ledger webhooks remove wh_3f2a9c0d1e4b5a6f"],
    "webhooks deliveries": [
        "ledger webhooks deliveries --status failed",
        "ledger webhooks deliveries --json",
    ],
    "webhooks deliver": [
        "ledger webhooks deliver --once",
        "ledger webhooks deliver --every 5",
    ],
}
"""The examples that end each ``ledger webhooks`` command's ``--help``."""


@contextmanager
def _webhooks(
    db: str | None, *, create: bool = False, now: datetime | None = None
) -> Iterator[Webhooks]:
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from ledger.services.webhooks import Webhooks

    database = resolve_database(db)
    with opened(database, create=create) as ledger:
        engine = engine_for(database)
        try:
            if now is None:
                yield Webhooks(ledger, engine)
            else:
                yield Webhooks(ledger, engine, clock=lambda: now)
        finally:
            engine.dispose()


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST: an http:// or https:// URL.")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            help="An alert type to send (repeat for more): sla.breached, sla.warning, "
            "fix.temporary_expired, customer.churn_risk_raised, customer.exception_expired.",
            metavar="TYPE",
        ),
    ],
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Subscribe a URL to alerts stored from now on; prints its id and secret (once)."""
    from ledger.services.webhooks import WebhookError, check_event_types, check_url

    try:
        check_url(url)
        check_event_types(event)
    except WebhookError as error:
        fail(str(error))
    with _webhooks(db, create=True) as webhooks:
        subscription = webhooks.add(url, event)
    if json:
        print_json(
            {
                "id": subscription.id,
                "url": subscription.url,
                "events": list(subscription.event_types),
                "secret": subscription.secret,
            }
        )
        return
    out().print(
        f"added webhook {subscription.id}: {', '.join(subscription.event_types)} -> "
        f"{subscription.url}",
        highlight=False,
    )
    out().print(
        f"secret (shown only now; receivers verify signatures with it): {subscription.secret}",
        highlight=False,
    )


@webhooks_app.command("list")
def list_(
    db: DbOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Removed subscriptions too.")] = False,
    json: JsonOption = False,
) -> None:
    """The webhook subscriptions (never their secrets)."""
    from ledger.services.webhooks import subscription_view

    with _webhooks(db) as webhooks:
        rows = [subscription_view(s) for s in webhooks.subscriptions(include_removed=all_)]
    if json:
        print_json(rows)
        return
    if not rows:
        out().print("no webhook subscriptions")
        return
    columns = ["id", "url", "events", "created_at", "after_notification"]
    out().print(table("webhooks", rows, columns + (["removed_at"] if all_ else [])))


@webhooks_app.command("remove")
def remove(
    subscription_id: Annotated[str, typer.Argument(help="The id `webhooks add` printed.")],
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Stop a subscription; its pending deliveries are marked failed (and still listed)."""
    from ledger.services.webhooks import WebhookError

    with _webhooks(db) as webhooks:
        try:
            cancelled = webhooks.remove(subscription_id)
        except WebhookError as error:
            fail(str(error))
    if json:
        print_json({"removed": subscription_id, "pending_failed": cancelled})
        return
    out().print(
        f"removed webhook {subscription_id}; {cancelled} pending deliveries marked failed",
        highlight=False,
    )


@webhooks_app.command("deliveries")
def deliveries(
    db: DbOption = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only deliveries in this state: pending, delivered or failed."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many.")] = None,
    json: JsonOption = False,
) -> None:
    """The outbox: every delivery of an alert to a webhook, its attempts and state."""
    from ledger.services.webhooks import WebhookError

    with _webhooks(db) as webhooks:
        try:
            rows = webhooks.deliveries(status=status, limit=limit)
        except WebhookError as error:
            fail(str(error))
    if json:
        print_json(rows)
        return
    if not rows:
        out().print("no webhook deliveries" + (f" {status}" if status else ""))
        return
    columns = [
        "id",
        "webhook_id",
        "event_type",
        "subject",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "delivered_at",
    ]
    out().print(table("webhook deliveries", rows, columns))


def _summary(report: DeliverReport) -> str:
    return (
        f"webhooks at {report.now.isoformat()}: {report.filled} queued, {report.sent} sent "
        f"({report.delivered} delivered, {report.retrying} to retry, {report.failed} failed)"
    )


@webhooks_app.command("deliver")
def deliver(
    db: DbOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="One round, then exit (default: keep delivering).")
    ] = False,
    every: Annotated[
        float, typer.Option(min=0.1, help="Seconds between rounds when not --once.")
    ] = 5.0,
    now: Annotated[
        str | None,
        typer.Option("--now", help="With --once: treat this instant as now (default: the clock)."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Queue new alerts for their webhooks and send what is due, retrying with backoff."""
    when = parse_instant(now, "--now")
    if when is not None and not once:
        fail("--now needs --once: a running dispatcher follows the clock")
    with _webhooks(db, create=True, now=when) as webhooks:
        if once:
            report = webhooks.run_once()
        else:

            def said(report: DeliverReport) -> None:
                if report.filled or report.sent:
                    err().print(_summary(report), highlight=False)

            err().print(f"delivering webhooks every {every:g} s; SIGTERM stops", highlight=False)
            report = webhooks.follow(stop_on_signals(), every, said)
    if json:
        print_json(report.as_dict())
        return
    out().print(_summary(report), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``ledger webhooks`` to ``app``."""
    app.add_typer(webhooks_app, name="webhooks")
