"""Commands for auditors and compliance: checkpoint, verify, key, replay, export,
verify-export and report (``replay/`` holds the code)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    AsOfOption,
    DbOption,
    HelpGroup,
    JsonOption,
    KnownAtOption,
    TzOption,
    err,
    fail,
    open_ledger,
    out,
    print_json,
    stop_on_signals,
    use_tz,
    when_known,
    window,
)
from cli.render import SLA_COLUMNS, moment, print_state, print_timers, print_trail, table

if TYPE_CHECKING:
    from replay.checkpoint import Checkpoint

key_app = typer.Typer(
    help="The Ed25519 key that signs checkpoints and exports.", no_args_is_help=True, cls=HelpGroup
)

PublicKeyOption = Annotated[
    str | None,
    typer.Option(
        "--public-key",
        help="Trust this public key (PEM, from `ledger key public`) instead of the configured one.",
        metavar="FILE",
    ),
]


def _describe(checkpoint: Checkpoint, new: bool) -> str:
    s = checkpoint.statement
    verb = "signed" if new else "nothing new since"
    return (
        f"{verb} checkpoint {s['seq']}: {s['tree_size']} events up to notification "
        f"{s['last_notification_id']}, root {s['root']} (key {s['key_id']})"
    )


def checkpoint(
    db: DbOption = None,
    every: Annotated[
        float | None,
        typer.Option(min=1.0, help="Keep checkpointing every SECONDS (a service); SIGTERM stops."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Sign the Merkle root of the whole log up to its latest event (key made on first use)."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.checkpoint import CheckpointRefused, take_checkpoint
    from replay.keys import KeyError_, signing_key

    try:
        key = signing_key(create=True)
    except KeyError_ as error:
        fail(str(error))
    database = resolve_database(db)
    with opened(database) as ledger:
        engine = engine_for(database)
        try:
            taken, new = take_checkpoint(ledger, engine, key, datetime.now(UTC))
            if every is not None:
                stop = stop_on_signals()
                while not stop.wait(every):
                    taken, new = take_checkpoint(ledger, engine, key, datetime.now(UTC))
                    if new:
                        err().print(_describe(taken, new))
        except CheckpointRefused as error:
            fail(f"not signed: {error}")
    if json:
        print_json({"new": new, **taken.as_dict()})
        return
    out().print(_describe(taken, new))


def verify(
    db: DbOption = None,
    public_key: PublicKeyOption = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="A checkpoint kept elsewhere (`checkpoint --json` output, or an export's "
            "manifest.json): the log must still agree with it.",
            metavar="FILE",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Recompute every hash chain and checkpoint from the stored rows (exit 1 if any fails)."""
    import orjson

    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.checkpoint import held_checkpoint
    from replay.keys import KeyError_, trusted_public
    from replay.verify import verify as run_verify

    try:
        trusted = trusted_public(public_key)
        held = None if against is None else held_checkpoint(orjson.loads(against.read_bytes()))
    except KeyError_ as error:
        fail(str(error))
    except (OSError, ValueError) as error:
        fail(f"--against {against}: {error}")
    database = resolve_database(db)
    with opened(database, create=False) as ledger:
        result = run_verify(ledger, engine_for(database), trusted, held)
    if json:
        print_json(result.as_dict())
    else:
        first = result.first_bad()
        summary = (
            f"{result.events} events in {result.subjects} subjects, "
            f"{result.checkpoints} checkpoints (covering up to notification "
            f"{result.covered_up_to}), key {result.key_id}"
        )
        if first is None:
            out().print(f"[green]verified[/]: {summary}")
        else:
            out().print(f"[red]FAILED[/]: {summary}")
            out().print(
                f"first bad: {first.where()}: {first.kind}: {first.detail}", highlight=False
            )
            for finding in result.findings[:20]:
                out().print(
                    f"  {finding.kind:<20} {finding.where():<32} {finding.detail}", highlight=False
                )
            if len(result.findings) > 20:
                out().print(f"  ... and {len(result.findings) - 20} more (--json lists all)")
    if not result.ok:
        sys.exit(1)


@key_app.command("public")
def key_public() -> None:
    """Print the public key (PEM) for auditors; the private key is never printed."""
    from replay.keys import KeyError_, public_pem, signing_key

    try:
        public = signing_key(create=False).public_key()
    except KeyError_ as error:
        fail(str(error))
    sys.stdout.write(public_pem(public))


@key_app.command("show")
def key_show(json: JsonOption = False) -> None:
    """Where the signing key is configured and its fingerprint."""
    from replay.keys import KeyError_, key_id, key_path, signing_key

    path = key_path()
    view = {"path": str(path), "exists": path.exists(), "key_id": None}
    if path.exists():
        try:
            view["key_id"] = key_id(signing_key(create=False).public_key())
        except KeyError_ as error:
            fail(str(error))
    if json:
        print_json(view)
        return
    out().print(f"key {view['key_id'] or '(not created yet)'} at {path}")


def _known(known: datetime | None) -> str:
    return "" if known is None else f" known at {known.isoformat()} (recorded later?)"


# replay -------------------------------------------------------------------------------------


def replay(
    target: Annotated[
        str, typer.Argument(help="A ticket id (T-1001), or `board` for the SLA board.")
    ],
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """Replay a ticket (state, timers, escalations, RCA, trail) or the SLA board from the log
    alone, as it stood at --as-of with what was recorded by --known-at."""
    from ledger.services.queries import answered_at
    from replay.history import replay_board, replay_ticket

    about = None if target == "board" else target
    when, known = when_known(as_of, known_at, tz=tz, db=db, about=about)
    with open_ledger(db) as ledger:
        if target == "board":
            board = replay_board(ledger, when, known)
            if json:
                print_json({**answered_at(when, known), "timers": board})
            else:
                title = f"{len(board)} SLA timers as of {moment(when)}, from the log"
                out().print(table(title, board, SLA_COLUMNS))
            return
        view = replay_ticket(ledger, target, when, known)
    if view is None:
        fail(f"no ticket {target} in the log as of {when.isoformat()}{_known(known)}")
    if json:
        print_json(view)
        return
    print_state(f"{target} as of {moment(when)}", view["state"], skip=set())
    print_timers(f"SLA timers as of {moment(when)}", view["timers"], when)
    steps = view["escalation"]["steps"]
    out().print(
        table(
            f"escalations of {target}",
            steps,
            ["seq", "at", "from_tier", "to_tier", "actor_id", "reason"],
        )
    )
    out().print(
        table(
            f"RCA timeline of {target}",
            view["rca"]["timeline"],
            ["at", "kind", "actor", "text"],
        )
    )
    print_trail(view["trail"])
    head = view["chain_head"]
    out().print(f"chain head: v{head['version']} {head['event_hash']}")


# export / verify-export ---------------------------------------------------------------------


def export_trail(
    out_dir: Annotated[Path, typer.Option("--out", help="A new directory for the export.")],
    db: DbOption = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Events that occurred at or after this time (forms of --as-of).",
            metavar="TIME",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Events that occurred before this time.", metavar="TIME"),
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="Only this customer, its tickets and the SLA policy.")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    redact: Annotated[
        bool, typer.Option("--redact", help="Mask customer contacts (decision maker, escalation).")
    ] = False,
    redact_names: Annotated[
        bool, typer.Option("--redact-names", help="Also mask names of people and companies.")
    ] = False,
    redact_text: Annotated[
        bool, typer.Option("--redact-text", help="Also mask free text (titles, messages, notes).")
    ] = False,
    purpose: Annotated[
        str | None,
        typer.Option(
            "--purpose",
            help="Why this export is made (required: recorded on the log with who, when and "
            "what, R-ERASE-2).",
            metavar="TEXT",
        ),
    ] = None,
    actor: Annotated[
        str,
        typer.Option(
            "--actor", help="Who exports (recorded); default: the local operator.", metavar="ID"
        ),
    ] = "local",
    tz: TzOption = None,
    json: JsonOption = False,
) -> None:
    """Export the trail with a signed manifest, for `ledger verify-export` to check offline;
    the export is recorded on the log (who, when, what, why: `ledger audit log`)."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from ledger.aggregates.chain import CONTACT_FIELDS, NAME_FIELDS, TEXT_FIELDS
    from replay.checkpoint import CheckpointRefused
    from replay.export import ExportError, Selection
    from replay.export import export as run_export
    from replay.keys import KeyError_, signing_key

    fields: frozenset[str] = frozenset()
    if redact or redact_names or redact_text:
        fields |= CONTACT_FIELDS
    if redact_names:
        fields |= NAME_FIELDS
    if redact_text:
        fields |= TEXT_FIELDS
    from ledger.services.audit_log import AuditError, check_actor, check_purpose

    try:
        stated = check_purpose(purpose)
        check_actor(actor)
    except AuditError as error:
        fail(str(error))
    use_tz(tz, db=db, about=customer)
    first, last = window(start, end)
    selection = Selection(start=first, end=last, customer=customer, redact=fields)
    database = resolve_database(db)
    try:
        key = signing_key(create=True)
        with opened(database, create=False) as ledger:
            manifest = run_export(
                ledger,
                engine_for(database),
                key,
                out_dir,
                selection,
                fmt=format,
                now=datetime.now(UTC),
                purpose=stated,
                actor=actor,
            )
    except (ExportError, KeyError_) as error:
        fail(str(error))
    except CheckpointRefused as error:
        fail(f"not exported: {error}")
    if json:
        print_json(manifest)
        return
    records = sum(f["records"] for f in manifest["files"].values())
    statement = manifest["checkpoint"]["statement"]
    out().print(
        f"exported {records} events of {len(manifest['subjects'])} subjects to {out_dir} "
        f"(checkpoint {statement['seq']}, root {statement['root'][:16]}, key {manifest['key_id']})"
        + (f"; redacted: {', '.join(sorted(fields))}" if fields else "")
        + f"; recorded as audit.export_recorded {manifest['recorded_as']}"
    )


def verify_export(
    directory: Annotated[Path, typer.Argument(help="The export directory.")],
    public_key: PublicKeyOption = None,
    json: JsonOption = False,
) -> None:
    """Check an export offline (no database): signatures, file hashes, chains, inclusion."""
    from replay.export_verify import verify_export as run_verify_export
    from replay.keys import KeyError_, trusted_public

    try:
        pinned = None if public_key is None else trusted_public(public_key)
    except KeyError_ as error:
        fail(str(error))
    result = run_verify_export(directory, pinned)
    if json:
        print_json(result.as_dict())
    elif result.ok:
        trust = "pinned" if result.key_pinned else "from the export itself; pin with --public-key"
        out().print(
            f"[green]verified[/]: {result.records} events of {result.subjects} subjects, "
            f"signed by key {result.key_id} ({trust})"
        )
    else:
        out().print(f"[red]FAILED[/]: {len(result.problems)} problems in {directory}")
        for problem in result.problems[:20]:
            out().print(f"  {problem}", highlight=False)
    if not result.ok:
        sys.exit(1)


# report -------------------------------------------------------------------------------------


def report(
    ticket_id: Annotated[str, typer.Argument(help="Ticket id, e.g. T-1001.")],
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    json: JsonOption = False,
) -> None:
    """Write one self-contained incident page: the RCA and a timeline chart (no network)."""
    from replay.history import replay_ticket
    from replay.report import render_report

    when, known = when_known(as_of, known_at)
    with open_ledger(db) as ledger:
        view = replay_ticket(ledger, ticket_id, when, known)
    if view is None:
        fail(f"no ticket {ticket_id} in the log as of {when.isoformat()}{_known(known)}")
    out_file.write_text(render_report(view), encoding="utf-8")
    if json:
        print_json(
            {
                "out": str(out_file),
                "ticket_id": ticket_id,
                "as_of": view["as_of"],
                "known_at": view["known_at"],
                "timeline_entries": len(view["rca"]["timeline"]),
                "chain_head": view["chain_head"],
            }
        )
        return
    out().print(
        f"wrote {out_file}: {len(view['rca']['timeline'])} timeline entries of {ticket_id} "
        f"as of {when.isoformat()}"
    )


def register(app: typer.Typer) -> None:
    """Add this family's commands to ``app``, and the key group."""
    app.command()(checkpoint)
    app.command()(verify)
    app.command()(replay)
    app.command("export")(export_trail)
    app.command("verify-export")(verify_export)
    app.command()(report)
    app.add_typer(key_app, name="key")
