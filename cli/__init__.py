"""The ``ledger`` command line: the composition root that wires ``ledger``, ``consumers``
and ``replay`` together (the one place that imports all three).

Each command family lives in its own module and imports only ``cli.common`` (and
``cli.render``); this module builds ``app`` from them, puts each command under its
heading of ``ledger --help`` (``SECTIONS``) and ends each command's ``--help`` with
examples (``EXAMPLES``). A test fails while a command has no heading or no example.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

import typer

from cli import (
    audit,
    demo,
    erasure,
    followup,
    intake,
    kafka,
    loops,
    plays,
    principals,
    proof,
    queries,
    queue,
    serve,
    webhooks,
    witness,
)
from cli.common import CliError, HelpGroup, err

if TYPE_CHECKING:
    from typer._click import Context

SECTIONS: Final = {
    "Intake": ["ingest", "demo", "rejects", "deferred", "schemas"],
    "Queries and read models": [
        "ticket",
        "customer",
        "tickets",
        "customers",
        "sla",
        "escalations",
        "rca",
        "metrics",
        "health",
        "project",
        "rebuild",
    ],
    "Audit and compliance": [
        "checkpoint",
        "verify",
        "replay",
        "export",
        "verify-export",
        "report",
        "key",
    ],
    "Services and Kafka": ["serve", "consume", "relay", "emit", "tick", "status", "webhooks"],
}
"""The headings of ``ledger --help``, each with its commands in the order listed."""

EXAMPLES: Final = {
    "": [
        "ledger demo",
        "ledger sla list --breached --as-of yesterday --tz Europe/Berlin",
        "ledger ticket show T-1001 --tz customer",
    ],
    "ingest": ["ledger ingest events.jsonl", "cat events.jsonl | ledger ingest - --json"],
    "demo": ["ledger demo --out demo.jsonl", "ledger demo --db /tmp/demo.db --json"],
    "rejects": ["ledger rejects list --rule R-ESC-1"],
    "rejects list": ["ledger rejects list --rule R-ESC-1", "ledger rejects list --json"],
    "deferred": ["ledger deferred list --json"],
    "deferred list": ["ledger deferred list --subject T-1001"],
    "deferred expire": ["ledger deferred expire --subject T-1001"],
    "schemas": ["ledger schemas export --out schemas/json"],
    "schemas export": ["ledger schemas export --out /tmp/schemas"],
    "ticket": ["ledger ticket show T-1001"],
    "ticket show": [
        "ledger ticket show T-1001 --as-of 2026-03-16 --tz customer",
        "ledger ticket show T-1001 --json",
    ],
    "customer": ["ledger customer show C-001"],
    "customer show": [
        "ledger customer show C-001 --tz customer",
        "ledger customer show C-001 --json",
    ],
    "tickets": ["ledger tickets --as-of -1d"],
    "customers": ["ledger customers --as-of today"],
    "sla": ["ledger sla list --breached --as-of -1h", "ledger sla show T-1001"],
    "sla list": [
        "ledger sla list --breached --as-of 2026-03-16T15:00:00Z --json",
        "ledger sla list --at-risk 120 --customer C-015 --tz customer",
        "ledger sla list --warned --severity 1 --as-of -30m",
    ],
    "sla show": ["ledger sla show T-1001 --as-of yesterday --tz Europe/Berlin"],
    "escalations": ["ledger escalations T-1001 --tz customer"],
    "rca": ["ledger rca T-1001 --format html --out T-1001.html"],
    "metrics": [
        "ledger metrics --from 2026-02-01 --to 2026-03-01 --json",
        "ledger metrics --from -7d --tz Europe/Berlin",
    ],
    "health": ["ledger health --as-of 2026-04-06", "ledger health C-021 --json"],
    "project": ["ledger project", "ledger project --follow"],
    "rebuild": ["ledger rebuild tickets"],
    "checkpoint": ["ledger checkpoint"],
    "verify": ["ledger verify --public-key ledger.pub"],
    "replay": [
        "ledger replay T-1001 --as-of 2026-01-06 --known-at 2026-01-07",
        "ledger replay board --as-of -1d --json",
    ],
    "export": [
        "ledger export --out trail/ --customer C-003 --from 2026-01-01 --to 2026-04-01 --redact"
    ],
    "verify-export": ["ledger verify-export trail/ --public-key ledger.pub"],
    "report": ["ledger report T-1040 --out T-1040.html --as-of 2026-04-06"],
    "key": ["ledger key public > ledger.pub"],
    "key public": ["ledger key public > ledger.pub"],
    "key show": ["ledger key show --json"],
    "consume": ["ledger consume --bootstrap localhost:9092 --db postgresql+psycopg://..."],
    "relay": ["ledger relay --follow --bootstrap localhost:9092"],
    "emit": ["ledger emit demo.jsonl --bootstrap localhost:9092"],
    "tick": [
        "ledger tick --now 2026-04-06T00:00:00Z",
        "ledger tick --every 60 --checkpoint-every 600",
    ],
    "status": ["ledger status", "ledger status --json"],
    "serve": ["ledger serve --port 8000", "ledger serve --no-auth --port 0 --db /tmp/ledger.db"],
}
"""The lines that end each command's ``--help`` (``""``: ``ledger --help`` itself)."""
EXAMPLES.update(webhooks.EXAMPLES)


class LedgerHelp(HelpGroup):
    """The top-level group: commands listed heading by heading, as ``SECTIONS`` orders them."""

    def list_commands(self, ctx: Context) -> list[str]:
        order = {name: i for i, name in enumerate(n for names in SECTIONS.values() for n in names)}
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: order.get(name, len(order)))


def examples(path: str) -> str | None:
    """The epilog of a command's ``--help``: its examples, one a line, kept as written."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _document(group: typer.Typer, prefix: str = "") -> None:
    """Give every command registered on ``group`` its heading (at the top) and examples."""
    headings = {name: heading for heading, names in SECTIONS.items() for name in names}
    for command in group.registered_commands:
        name = command.name or typer.main.get_command_name(command.callback.__name__)  # type: ignore[union-attr]
        command.epilog = examples(f"{prefix}{name}")
        if not prefix:
            command.rich_help_panel = headings.get(name)
    for sub in group.registered_groups:
        name = str(sub.name)
        sub.epilog = examples(f"{prefix}{name}")
        if not prefix:
            sub.rich_help_panel = headings.get(name)
        _document(sub.typer_instance, f"{prefix}{name} ")  # type: ignore[arg-type]


app = typer.Typer(
    name="ledger",
    help="The ledger: an event-sourced incident and ticket ledger for enterprise support.",
    epilog=examples(""),
    no_args_is_help=True,
    cls=LedgerHelp,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)
sla_app = typer.Typer(
    help="SLA timers (first response, update cadence, resolution).",
    no_args_is_help=True,
    cls=HelpGroup,
)

intake.register(app, sla_app)
demo.register(app)
queries.register(app, sla_app)
queue.register(app)
app.add_typer(sla_app, name="sla")
audit.register(app)
kafka.register(app)
serve.register(app)
# Issue 18: producers and readers, who may send and read (cli/principals.py).
SECTIONS["Intake"].extend(principals.COMMANDS)
EXAMPLES.update(principals.EXAMPLES)
principals.register(app)
webhooks.register(app)
# Issue 18: health checks that fail when a service's loop is stuck (cli/loops.py).
SECTIONS["Services and Kafka"].append("health-check")
EXAMPLES["health-check"] = [
    "ledger health-check project --max-age 120",
    "ledger health-check tick --max-age 300 --checkpoint --json",
]
loops.register(app)
# Issue 20: success plays opened by churn risks (cli/plays.py).
SECTIONS["Queries and read models"][4:4] = plays.COMMANDS
EXAMPLES.update(plays.EXAMPLES)
plays.register(app)
# Issue 20: the RCA's follow-through and the product loop (cli/followup.py).
_queries = SECTIONS["Queries and read models"]
_queries[_queries.index("health") + 1 : _queries.index("health") + 1] = followup.COMMANDS
EXAMPLES.update(followup.EXAMPLES)
followup.register(app)
# Issue 21: proofs, witnesses and key rotation (cli/proof.py, cli/witness.py, cli/audit.py).
SECTIONS["Audit and compliance"] += [*proof.COMMANDS, *witness.COMMANDS]
EXAMPLES.update(proof.EXAMPLES)
EXAMPLES.update(witness.EXAMPLES)
EXAMPLES["checkpoint"] = [
    "ledger checkpoint",
    "ledger checkpoint --witness http://w1.example:7380 --json",
]
EXAMPLES["verify"] = [
    "ledger verify --public-key ledger.pub",
    "ledger verify --log-key ledger.pub --witness w1.vkey --quorum 1 --against http://w1.example:7380",
]
EXAMPLES["verify-export"] = [
    "ledger verify-export trail/ --public-key ledger.pub",
    "ledger verify-export trail/ --log-key ledger.pub --witness w1.vkey --quorum 1",
]
EXAMPLES["key rotate"] = ["ledger key rotate", "ledger key rotate --new-key new-key.pem --json"]
proof.register(app)
witness.register(app)
# Issue 21: erasure without breaking the chain, and who looked (cli/erasure.py).
SECTIONS["Audit and compliance"].extend(erasure.COMMANDS)
EXAMPLES.update(erasure.EXAMPLES)
erasure.register(app)
_document(app)


def main() -> None:
    """Entry point: one clear line and a non-zero exit on failure, never a traceback."""
    try:
        app()
    except CliError as error:
        err().print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err().print("interrupted")
        sys.exit(130)
    except Exception as error:
        from ledger.adapters.errors import describe  # eventsourcing: only when needed

        err().print(f"[red]error:[/] {describe(error)}", highlight=False)
        sys.exit(1)
