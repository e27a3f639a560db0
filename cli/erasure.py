"""``ledger erase`` (R-ERASE-1) and ``ledger audit log`` (R-ERASE-2): erasure without
breaking the chain, and who looked (``ledger/services/erasure.py``,
``ledger/services/audit_log.py``)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Final

import typer

from cli.common import DbOption, HelpGroup, JsonOption, err, fail, out, print_json
from cli.render import table

COMMANDS: Final = ["erase", "audit"]
EXAMPLES: Final = {
    "erase": [
        "ledger erase --customer C-042 --reason 'GDPR Art. 17 request #881' --yes",
        "ledger erase --customer C-042 --fields decision_maker,escalation_contact "
        "--reason 'contact left' --actor dpo@example.com --yes --json",
    ],
    "audit": ["ledger audit log --json"],
    "audit log": ["ledger audit log --kind export", "ledger audit log --customer C-042 --json"],
}

ActorOption = Annotated[
    str,
    typer.Option(
        "--actor",
        help="Who does this (recorded on the log); default: the local operator.",
        metavar="ID",
    ),
]

audit_app = typer.Typer(
    help="The audit log: every export and erasure, who, when, what and why.",
    no_args_is_help=True,
    cls=HelpGroup,
)


def erase(
    customer: Annotated[
        str, typer.Option("--customer", help="The customer whose personal data to erase.")
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded on the log), e.g. the request's id.")
    ],
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            help="Only these personal fields, comma-separated (default: every one).",
            metavar="F1,F2",
        ),
    ] = None,
    actor: ActorOption = "local",
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask: an erasure cannot be undone.")
    ] = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Erase a customer's personal data from its events, its tickets', its rejected and
    waiting inputs, the webhook outbox and the read models, keeping every hash (the only
    change the ledger ever makes in place), and record the erasure on the log."""
    from ledger.adapters.compaction import compact
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import Projector, engine_for
    from ledger.adapters.settings import resolve_database
    from ledger.services.audit_log import AuditError, check_actor
    from ledger.services.erasure import ErasureError, check_fields, erase_customer

    try:
        chosen = check_fields(None if fields is None else fields.split(","))
        check_actor(actor)
    except (ErasureError, AuditError) as error:
        fail(str(error))
    if not reason.strip():
        fail("--reason is blank: an erasure records why it was made")
    if not yes:
        if not sys.stdin.isatty():
            fail("an erasure cannot be undone: pass --yes to confirm it")
        typer.confirm(
            f"Erase {'every personal field' if fields is None else ', '.join(sorted(chosen))} "
            f"of {customer}, its tickets and its inputs? This cannot be undone",
            abort=True,
        )
    database = resolve_database(db)
    engine = engine_for(database)
    with opened(database, create=False) as ledger:
        try:
            report = erase_customer(
                ledger,
                engine,
                customer,
                fields=chosen,
                reason=reason,
                actor=actor,
                now=datetime.now(UTC),
            )
        except ErasureError as error:
            fail(str(error))
        if report.changed:
            Projector(ledger, engine).catch_up()  # the read models fold the erased log
        events_table = str(ledger.recorder.events_table_name)  # type: ignore[attr-defined]
    notes = compact(database, engine, events_table)
    for note in notes:
        err().print(f"warning: {note}", highlight=False)
    if json:
        print_json({**report.as_dict(), "notes": notes})
        return
    if not report.changed:
        before = ", ".join(report.erased_before) or "none of them held a value"
        out().print(
            f"nothing left to erase of {customer} ({before}): erased before; nothing recorded",
            highlight=False,
        )
        return
    out().print(
        f"erased {', '.join(report.fields)} of {customer}: {report.events} events of "
        f"{report.subjects} subjects, {report.rejections} rejected and {report.deferred} "
        f"waiting inputs, {report.deliveries} webhook payloads; recorded as "
        f"customer.data_erased {report.event_id}",
        highlight=False,
    )


@audit_app.command("log")
def audit_log(
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only `export` or `erasure` records.")
    ] = None,
    customer: Annotated[
        str | None, typer.Option("--customer", help="Only records about this customer.")
    ] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Every export and erasure recorded on the log: who, when, what and why."""
    from cli.common import open_ledger
    from ledger.services.audit_log import audit_log as entries_of

    if kind is not None and kind not in ("export", "erasure"):
        fail(f"--kind {kind!r}: use export or erasure")
    with open_ledger(db) as ledger:
        if customer is not None and ledger.find(customer) is None:
            fail(f"--customer {customer}: the ledger holds no customer {customer}")
        entries = entries_of(ledger, kind=kind, customer=customer)
    if json:
        print_json({"entries": entries})
        return
    rows = [
        {
            "at": e["at"],
            "kind": e["kind"],
            "actor": e["actor"],
            "customer": e["customer"] or "(all)",
            "what": _what(e),
            "why": e["data"].get("purpose") or e["data"].get("reason"),
        }
        for e in entries
    ]
    out().print(
        table(
            f"{len(rows)} exports and erasures recorded",
            rows,
            ["at", "kind", "actor", "customer", "what", "why"],
        )
    )


def _what(entry: dict[str, object]) -> str:
    data = entry["data"]
    assert isinstance(data, dict)
    if entry["kind"] == "erasure":
        return f"{', '.join(data['fields'])}: {data['events']} events"
    selection = data["selection"]
    redacted = ", ".join(selection["redacted_fields"]) or "nothing"
    period = f"{selection['occurred_from'] or '…'} to {selection['occurred_before'] or '…'}"
    return f"{data['records']} events ({selection['format']}), {period}, redacted: {redacted}"


def register(app: typer.Typer) -> None:
    """Add ``erase`` and the ``audit`` group to ``app``."""
    app.command()(erase)
    app.add_typer(audit_app, name="audit")
