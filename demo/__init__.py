"""The demo: a seeded quarter of support operations as JSON Lines (`demo.quarter`).

Outside the product package on purpose: it is a generator of sample input for the
`ledger demo` command, the tests and the benchmarks, and the ledger never imports it.
"""
