"""The command line starts without importing the ledger's heavy dependencies."""

from __future__ import annotations

import subprocess
import sys

from ledger.projections.names import PROJECTION_NAMES
from ledger.projections.registry import BY_NAME
from ledger.services.intake import DEFAULT_BATCH_SIZE

HEAVY = (
    "sqlalchemy",
    "psycopg",
    "eventsourcing",
    "kafka",
    "pydantic",
    "schemas",
    "cryptography",
    "orjson",
    "rich.markdown",
    "pygments",
    "markdown_it",
)


def test_projection_names_are_the_registry_names() -> None:
    assert tuple(BY_NAME) == PROJECTION_NAMES


def test_batch_size_default_is_the_ingest_default() -> None:
    from ledger.adapters.settings import DEFAULT_BATCH_SIZE as configured

    assert configured == DEFAULT_BATCH_SIZE


def test_building_the_command_line_imports_nothing_heavy() -> None:
    script = (
        "import sys, typer.main, cli; typer.main.get_command(cli.app); "
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
