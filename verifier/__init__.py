"""The independent verifier of exports: ``verify_export.py`` is one file, standard library and
``cryptography`` only, that an auditor copies to run without the ledger (docs/chain-format.md)."""
