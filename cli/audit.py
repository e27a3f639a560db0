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
    from replay.note import VerifierKey
    from replay.verify import Verification

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


LogKeyOption = Annotated[
    str | None,
    typer.Option(
        "--log-key",
        help="Trust this log key as the first (a C2SP verifier key name+id+key, or a file "
        "holding it or a PEM key); the rotation statements lead from it. Same as --public-key.",
        metavar="VKEY",
    ),
]
WitnessKeysOption = Annotated[
    list[str] | None,
    typer.Option(
        "--witness",
        help="A witness's verifier key (name+id+key, from `ledger witness init`, or a file "
        "holding it); repeat for each.",
        metavar="VKEY",
    ),
]
QuorumOption = Annotated[
    int,
    typer.Option(
        "--quorum",
        min=0,
        help="How many of the --witness keys must have cosigned the newest checkpoint.",
    ),
]


def _describe(checkpoint: Checkpoint, new: bool) -> str:
    verb = "signed" if new else "nothing new since"
    return (
        f"{verb} checkpoint {checkpoint.seq}: {checkpoint.tree_size} events up to notification "
        f"{checkpoint.last_notification_id}, root {checkpoint.root} (key {checkpoint.key_id})"
    )


def _witness_keys(given: list[str] | None, quorum: int) -> list[VerifierKey]:
    """The --witness keys (each a verifier key of type 0x04, or a file holding one)."""
    from replay.note import COSIGNATURE_V1, NoteError, parse_vkey

    keys = []
    for value in given or []:
        text = value
        path = Path(value)
        if "+" not in value or path.is_file():
            try:
                text = path.read_text().strip()
            except (OSError, UnicodeDecodeError) as error:
                fail(f"--witness {value}: not a verifier key, nor a file holding one ({error})")
        try:
            vkey = parse_vkey(text)
        except NoteError as error:
            fail(f"--witness {value}: {error}")
        if vkey.kind != COSIGNATURE_V1:
            fail(f"--witness {value}: a log key (type 0x01), not a witness's cosigner key (0x04)")
        keys.append(vkey)
    if quorum > len(keys):
        fail(f"--quorum {quorum} needs at least {quorum} --witness keys (got {len(keys)})")
    if keys and quorum == 0:
        fail("--witness names keys to count: give --quorum N (how many must have cosigned)")
    return keys


def checkpoint(
    db: DbOption = None,
    every: Annotated[
        float | None,
        typer.Option(min=1.0, help="Keep checkpointing every SECONDS (a service); SIGTERM stops."),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="Ask the witness at URL to cosign (repeat for each; default: the URLs in "
            "LEDGER_WITNESSES).",
            metavar="URL",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Sign the Merkle root of the whole log up to its latest event as a C2SP checkpoint
    note (key made on first use), and have witnesses cosign it."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.checkpoint import CheckpointRefused, checkpoint_number, take_checkpoint
    from replay.keys import KeyError_, signing_key
    from replay.witness import Outcome, configured_witnesses, request_cosignatures

    try:
        key = signing_key(create=True)
    except KeyError_ as error:
        fail(str(error))
    urls = configured_witnesses(witness or ())
    database = resolve_database(db)
    outcomes: list[Outcome] = []
    with opened(database) as ledger:
        engine = engine_for(database)

        def cosigned(taken: Checkpoint) -> Checkpoint:
            if not urls:
                return taken
            outcomes[:] = request_cosignatures(engine, taken, urls)
            for outcome in outcomes:
                shown = "[green]cosigned[/]" if outcome.cosigned else "[red]REFUSED[/]"
                err().print(f"witness {outcome.url}: {shown}: {outcome.detail}", highlight=False)
            return checkpoint_number(engine, taken.seq) or taken

        try:
            taken, new = take_checkpoint(ledger, engine, key, datetime.now(UTC))
            taken = cosigned(taken)
            if every is not None:
                stop = stop_on_signals()
                while not stop.wait(every):
                    taken, new = take_checkpoint(ledger, engine, key, datetime.now(UTC))
                    if new:
                        err().print(_describe(taken, new))
                        taken = cosigned(taken)
        except CheckpointRefused as error:
            fail(f"not signed: {error}")
    if json:
        print_json({"new": new, **taken.as_dict(), "witnesses": [o.as_dict() for o in outcomes]})
    else:
        out().print(_describe(taken, new), highlight=False)
        if taken.note is not None:
            sys.stdout.write("\n" + taken.note)
    if any(not o.cosigned for o in outcomes):
        sys.exit(1)


def _views(
    against: list[str], origin: str, witnesses: list[VerifierKey]
) -> tuple[Checkpoint | None, list[tuple[str, Checkpoint]]]:
    """--against values: files (a note, `checkpoint --json`, a manifest) or witness URLs."""
    import orjson

    from replay.checkpoint import held_checkpoint
    from replay.note import parse_note, verify_cosignature
    from replay.witness import WitnessError, fetch_view

    held: Checkpoint | None = None
    views: list[tuple[str, Checkpoint]] = []
    for value in against:
        try:
            if value.startswith(("http://", "https://")):
                note = fetch_view(value, origin)
                signed = [w.name for w in witnesses if verify_cosignature(parse_note(note), w)]
                if witnesses and not signed:
                    fail(f"--against {value}: its checkpoint has no cosignature of a --witness key")
                views.append((f"the checkpoint witness {value} cosigned", held_checkpoint(note)))
                continue
            data = Path(value).read_bytes()
            document = (
                orjson.loads(data) if data.lstrip().startswith(b"{") else data.decode("utf-8")
            )
            copy = held_checkpoint(document)
        except WitnessError as error:
            fail(f"--against {value}: {error}")
        except (OSError, ValueError) as error:
            fail(f"--against {value}: {error}")
        if held is None:
            held = copy
        else:
            views.append((f"the checkpoint in {value}", copy))
    return held, views


def verify(
    db: DbOption = None,
    public_key: PublicKeyOption = None,
    log_key: LogKeyOption = None,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="A checkpoint kept elsewhere: a file (a note, `checkpoint --json` output, an "
            "export's manifest.json) or a witness's URL (the last checkpoint it cosigned); the "
            "log must still agree with it. Repeatable.",
            metavar="FILE|URL",
        ),
    ] = None,
    witness: WitnessKeysOption = None,
    quorum: QuorumOption = 0,
    read_models: Annotated[
        bool,
        typer.Option(
            "--read-models",
            help="Also fold the log afresh into a scratch database and compare every read "
            "model (and its versions) with it.",
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Recompute every hash chain and checkpoint from the stored rows, and check the event
    keys, the rejected and deferred inputs' chain and, with --read-models, the read models
    (exit 1 if anything fails)."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.checkpoint import CheckpointRefused, origin_of
    from replay.keys import KeyError_, trusted_public
    from replay.verify import verify as run_verify

    if public_key is not None and log_key is not None:
        fail("--public-key and --log-key are the same option: give one")
    pinned = public_key or log_key
    try:
        trusted = trusted_public(pinned)
    except KeyError_ as error:
        fail(str(error))
    witnesses = _witness_keys(witness, quorum)
    database = resolve_database(db)
    with opened(database, create=False) as ledger:
        engine = engine_for(database)
        try:
            origin = origin_of(engine)
        except CheckpointRefused as error:
            fail(str(error))
        held, views = _views(against or [], origin, witnesses)
        result = run_verify(
            ledger,
            engine,
            trusted,
            held,
            pinned=pinned is not None,
            witnesses=witnesses,
            quorum=quorum,
            views=views,
        )
        if read_models:
            from replay.read_models import check_read_models

            models = check_read_models(ledger, engine, database)
            result.read_models = models.as_dict()
            result.findings += models.findings
    if json:
        print_json(result.as_dict())
    else:
        first = result.first_bad()
        summary = (
            f"{result.events} events in {result.subjects} subjects, "
            f"{result.checkpoints} checkpoints (covering up to notification "
            f"{result.covered_up_to}), key {result.key_id}"
            + (f", cosigned by {', '.join(result.cosigned_by)}" if result.cosigned_by else "")
        )
        verdict = "[green]verified[/]" if first is None else "[red]FAILED[/]"
        out().print(f"{verdict}: {summary}")
        for line in _coverage(result):
            out().print(line, highlight=False, soft_wrap=True)
        if first is not None:
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


def _origin_or_none(db: str | None) -> str | None:
    """The ledger's origin (names its key in verifier keys), None without a ledger."""
    import os

    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.checkpoint import ENV_ORIGIN, CheckpointRefused, origin_of

    database = resolve_database(db)
    if database.kind == "sqlite" and not Path(database.sqlite_path).exists():
        return os.environ.get(ENV_ORIGIN) or None
    try:
        return origin_of(engine_for(database))
    except CheckpointRefused as error:
        fail(str(error))


def _coverage(result: Verification) -> list[str]:
    """What else verify covered, and what no checkpoint covers yet."""
    intake = result.intake
    uncovered = f"  not covered by a checkpoint yet: {result.uncovered_events} events"
    if intake is not None:
        uncovered += f", {intake['uncovered']} intake chain entries"
    lines = [uncovered, f"  event keys: {result.key_rows} rows"]
    if intake is not None:
        adopted = intake["adopted_when_started"]
        lines.append(
            f"  intake chain: {intake['entries']} entries over {intake['rejections']} "
            f"rejections and {intake['deferred']} deferred inputs ({intake['erased']} erased), "
            f"covered from {intake['covered_from'] or '(no start entry)'}"
            + (f", adopting the {adopted} rows stored before" if adopted else "")
        )
    if result.read_models is not None:
        models = result.read_models
        lines.append(
            f"  read models: {models['tables']} tables, {models['rows']} rows equal a fresh "
            "fold of the log"
            if result.ok or not any(f.kind.startswith("read_model") for f in result.findings)
            else f"  read models: {models['tables']} tables, {models['rows']} rows compared "
            "with a fresh fold of the log"
        )
    return lines


@key_app.command("public")
def key_public(db: DbOption = None) -> None:
    """Print the public key (PEM) for auditors, then its C2SP verifier key (name+id+key,
    named by the ledger's origin); the private key is never printed."""
    from replay.keys import KeyError_, public_pem, signing_key
    from replay.note import ED25519, VerifierKey

    try:
        public = signing_key(create=False).public_key()
    except KeyError_ as error:
        fail(str(error))
    sys.stdout.write(public_pem(public))
    origin = _origin_or_none(db)
    if origin is not None:
        sys.stdout.write(VerifierKey(origin, ED25519, public).encode() + "\n")
    else:
        err().print("no ledger at --db: its verifier key names the ledger's origin (--db)")


@key_app.command("show")
def key_show(db: DbOption = None, json: JsonOption = False) -> None:
    """Where the signing key is configured, its fingerprint and its C2SP verifier key."""
    from replay.keys import KeyError_, key_id, key_path, signing_key
    from replay.note import ED25519, VerifierKey

    path = key_path()
    view: dict[str, object] = {
        "path": str(path),
        "exists": path.exists(),
        "key_id": None,
        "origin": None,
        "vkey": None,
    }
    if path.exists():
        try:
            public = signing_key(create=False).public_key()
        except KeyError_ as error:
            fail(str(error))
        view["key_id"] = key_id(public)
        origin = _origin_or_none(db)
        view["origin"] = origin
        if origin is not None:
            view["vkey"] = VerifierKey(origin, ED25519, public).encode()
    if json:
        print_json(view)
        return
    out().print(f"key {view['key_id'] or '(not created yet)'} at {path}", highlight=False)
    if view["vkey"]:
        out().print(f"verifier key: {view['vkey']}", highlight=False)


@key_app.command("rotate")
def key_rotate(
    db: DbOption = None,
    new_key: Annotated[
        Path | None,
        typer.Option(
            "--new-key",
            help="The new key (PEM private key); default: a new one is made.",
            metavar="FILE",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Sign, with the key in force, a statement naming the new key and the checkpoint it
    signs from; store it, then make the new key the configured one (the old is kept as
    <file>.<key id>.retired)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.checkpoint import CheckpointRefused, latest_checkpoint, origin_of
    from replay.keys import KeyError_, install, key_id, read_private, signing_key
    from replay.rotation import RotationRefused, rotate

    try:
        old = signing_key(create=False)
        new = Ed25519PrivateKey.generate() if new_key is None else read_private(str(new_key))
    except KeyError_ as error:
        fail(str(error))
    database = resolve_database(db)
    with opened(database, create=False):
        engine = engine_for(database)
        latest = latest_checkpoint(engine)
        if latest is not None and latest.key_id != key_id(old.public_key()) and not latest.problem:
            from replay.rotation import load_rotations

            with engine.connect() as conn:
                pending = [
                    r
                    for r in load_rotations(conn)
                    if r.from_seq > latest.seq and key_id(r.new.public) == key_id(old.public_key())
                ]
            if not pending:
                fail(
                    f"the configured key {key_id(old.public_key())} is not the key in force "
                    f"({latest.key_id} signed checkpoint {latest.seq}): rotate from that key"
                )
        try:
            rotation = rotate(engine, origin_of(engine), old, new, datetime.now(UTC))
        except (RotationRefused, CheckpointRefused) as error:
            fail(f"not rotated: {error}")
    retired = install(new)
    if json:
        print_json({**rotation.as_dict(), "retired_key_file": str(retired)})
        return
    out().print(
        f"key rotation {rotation.number}: {key_id(old.public_key())} -> "
        f"{key_id(new.public_key())} from checkpoint {rotation.from_seq} "
        f"(the old key is kept in {retired})",
        highlight=False,
    )
    sys.stdout.write(rotation.note)


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
    log_key: LogKeyOption = None,
    witness: WitnessKeysOption = None,
    quorum: QuorumOption = 0,
    json: JsonOption = False,
) -> None:
    """Check an export offline (no database): signatures, the key chain, witness
    cosignatures, file hashes, chains, inclusion."""
    from replay.export_verify import verify_export as run_verify_export
    from replay.keys import KeyError_, trusted_public

    if public_key is not None and log_key is not None:
        fail("--public-key and --log-key are the same option: give one")
    given = public_key or log_key
    try:
        pinned = None if given is None else trusted_public(given)
    except KeyError_ as error:
        fail(str(error))
    witnesses = _witness_keys(witness, quorum)
    if not directory.is_dir():
        fail(f"{directory} is not an export directory")
    result = run_verify_export(directory, pinned, witnesses, quorum)
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
