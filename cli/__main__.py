"""``python -m cli`` is the ``ledger`` command."""

from cli import main

main()
