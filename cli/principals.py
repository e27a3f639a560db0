"""Commands for principals (issue 18): ``producers add|list|revoke``, ``readers add|list|revoke``.

A producer may send envelopes of its sources, actor roles and types (R-AUTH-1..3); a
reader may read some customers, or all. ``add`` prints the new token once: the ledger
keeps only its hash (and, for a producer, the key its Kafka records are signed with).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Final, Literal

import typer

from cli.common import DbOption, HelpGroup, JsonOption, fail, out, print_json

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine

producers_app = typer.Typer(
    help="Producers: who may send envelopes, of which sources, roles and types (R-AUTH).",
    no_args_is_help=True,
    cls=HelpGroup,
)
readers_app = typer.Typer(
    help="Readers: read tokens, scoped to customers or all.", no_args_is_help=True, cls=HelpGroup
)

NameArgument = Annotated[
    str, typer.Argument(help="Its name: lower-case letters, digits, '.', '_', '-'.")
]


@contextmanager
def _engine(db: str | None) -> Iterator[Engine]:
    """The ledger's database (created if new, so the principals' table has its schema)."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database

    database = resolve_database(db)
    with opened(database):
        engine = engine_for(database)
        try:
            yield engine
        finally:
            engine.dispose()


def _token_out(kind: str, name: str, token: str, json: bool) -> None:
    if json:
        print_json({"name": name, "kind": kind, "token": token})
        return
    out().print(f"{kind} {name} added; its token, shown this once (the ledger keeps a hash):")
    out().print(token, highlight=False, soft_wrap=True)


def _listed(kind: Literal["producer", "reader"], db: str | None, json: bool) -> None:
    from cli.render import table
    from ledger.services.principals import listing

    with _engine(db) as engine:
        rows = listing(engine, kind)
    if json:
        print_json(rows)
        return
    if not rows:
        out().print(f"no {kind}s")
        return
    if kind == "producer":
        columns = ["name", "sources", "roles", "types", "created_at", "revoked_at"]
    else:
        columns = ["name", "customers", "created_at", "revoked_at"]
    shown = [
        {
            c: (
                ", ".join(v)
                if isinstance(v, list)
                else ("all" if v is None and c == "customers" else (v or ""))
            )
            for c, v in ((c, r[c]) for c in columns)
        }
        for r in rows
    ]
    out().print(table(f"{kind}s", shown, columns))


def _revoke(kind: Literal["producer", "reader"], name: str, db: str | None, json: bool) -> None:
    from ledger.services.principals import PrincipalError, revoke

    with _engine(db) as engine:
        try:
            done = revoke(engine, kind, name)
        except PrincipalError as error:
            fail(str(error))
    if json:
        print_json({"name": name, "kind": kind, "revoked": True, "already": not done})
    else:
        out().print(f"{kind} {name} {'revoked' if done else 'was revoked already'}")


@producers_app.command("add")
def producers_add(
    name: NameArgument,
    source: Annotated[
        list[str], typer.Option("--source", help="An envelope source it may send ('*': any).")
    ],
    role: Annotated[
        list[str], typer.Option("--role", help="An actor role it may carry ('*': any).")
    ],
    type_: Annotated[
        list[str], typer.Option("--type", help="An event type it may send ('*': any).")
    ],
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Add a producer and print its token once (repeat --source, --role, --type)."""
    from ledger.services.principals import PrincipalError, add_producer

    with _engine(db) as engine:
        try:
            token = add_producer(engine, name, sources=source, roles=role, types=type_)
        except PrincipalError as error:
            fail(str(error))
    _token_out("producer", name, token, json)


@producers_app.command("list")
def producers_list(db: DbOption = None, json: JsonOption = False) -> None:
    """List producers with their scopes (revoked ones too; never a token)."""
    _listed("producer", db, json)


@producers_app.command("revoke")
def producers_revoke(name: NameArgument, db: DbOption = None, json: JsonOption = False) -> None:
    """Revoke a producer: its token and signature fail from now on."""
    _revoke("producer", name, db, json)


@readers_app.command("add")
def readers_add(
    name: NameArgument,
    customer: Annotated[
        list[str] | None,
        typer.Option("--customer", help="A customer it may read (repeat; none: every one)."),
    ] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Add a reader and print its token once."""
    from ledger.services.principals import PrincipalError, add_reader

    with _engine(db) as engine:
        try:
            token = add_reader(engine, name, customers=customer)
        except PrincipalError as error:
            fail(str(error))
    _token_out("reader", name, token, json)


@readers_app.command("list")
def readers_list(db: DbOption = None, json: JsonOption = False) -> None:
    """List readers with the customers they may read (revoked ones too; never a token)."""
    _listed("reader", db, json)


@readers_app.command("revoke")
def readers_revoke(name: NameArgument, db: DbOption = None, json: JsonOption = False) -> None:
    """Revoke a reader: its token fails from now on."""
    _revoke("reader", name, db, json)


def register(app: typer.Typer) -> None:
    """Add this family's command groups to ``app``."""
    app.add_typer(producers_app, name="producers")
    app.add_typer(readers_app, name="readers")


COMMANDS: Final = ["producers", "readers"]
"""Their heading's commands in ``ledger --help``."""

EXAMPLES: Final = {
    "producers": ["ledger producers list"],
    "producers add": [
        "ledger producers add billing --source billing-svc --role customer_success "
        "--type customer.usage_reported",
        "ledger producers add portal --source support-portal --role customer --role "
        "support_engineer --type '*' --json",
    ],
    "producers list": ["ledger producers list --json"],
    "producers revoke": ["ledger producers revoke billing"],
    "readers": ["ledger readers list"],
    "readers add": ["ledger readers add acme-dashboard --customer C-042", "ledger readers add bi"],
    "readers list": ["ledger readers list --json"],
    "readers revoke": ["ledger readers revoke bi"],
}
"""The examples that end each command's ``--help``."""
