"""``ledger serve``: the HTTP API (``web/``) on uvicorn.

FastAPI and uvicorn are imported when the command runs, never by ``ledger --help``.
Once the server listens it prints ``listening on http://HOST:PORT`` (the real port:
``--port 0`` picks a free one) on standard output.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import DbOption, fail, listening

if TYPE_CHECKING:
    import socket

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: a free one).")
    ] = 8000,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="No tokens: every request acts as the local operator (loopback only).",
        ),
    ] = False,
    max_body: Annotated[
        int, typer.Option(min=1, help="Largest POST body taken, in bytes.", metavar="BYTES")
    ] = 32 * 1024 * 1024,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request on standard error.")
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow/--no-follow",
            help="Keep the read models caught up in this process (--no-follow: a separate "
            "`ledger project --follow` does; each read still catches up first).",
        ),
    ] = True,
) -> None:
    """Serve the HTTP API: POST /v1/events, the reads as of any instant, /openapi.json."""
    import logging
    import sys

    import uvicorn

    from ledger.adapters.settings import resolve_database
    from web.app import create_app

    if no_auth and not loopback(host):
        fail(f"--no-auth serves anyone who can connect: bind to loopback (127.0.0.1), not {host}")
    database = resolve_database(db)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(
        database.url, auth_required=not no_auth, max_body_bytes=max_body, follow=follow
    )
    sock = listening(host, port)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if sock.family.name == "AF_INET6" else bound[0]

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                sys.stdout.write(f"listening on http://{shown}:{bound[1]}\n")
                sys.stdout.flush()

    config = uvicorn.Config(
        app, log_level="info", access_log=access_log, lifespan="on", timeout_graceful_shutdown=10
    )
    Server(config).run(sockets=[sock])


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)
