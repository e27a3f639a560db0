"""The ledger over HTTP: an ASGI application on the same application services as the
command line (``ledger serve``)."""
