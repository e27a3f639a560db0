"""The ``ledger`` command line: the composition root that wires ``ledger``, ``consumers``
and ``replay`` together (the one place that imports all three).

Each command family lives in its own module and imports only ``cli.common`` (and
``cli.render``); this module builds ``app`` from them, in the order ``--help`` lists them.
"""

from __future__ import annotations

import sys

import typer

from cli import audit, demo, intake, kafka, queries, queue
from cli.common import CliError, HelpGroup, err

app = typer.Typer(
    name="ledger",
    help="The ledger: an event-sourced incident and ticket ledger for enterprise support.",
    no_args_is_help=True,
    cls=HelpGroup,
    pretty_exceptions_enable=False,
    add_completion=False,
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
        from ledger.adapters.errors import describe  # psycopg and eventsourcing: only when needed

        err().print(f"[red]error:[/] {describe(error)}", highlight=False)
        sys.exit(1)
