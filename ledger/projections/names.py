"""The read models' names without their code, for what must not import them: ``ledger
rebuild --help`` lists them (tests/unit/test_cli_startup.py checks they are the
registry's)."""

from __future__ import annotations

from typing import Final

PROJECTION_NAMES: Final = ("tickets", "customers", "policy")
