"""``ledger witness``: an independent witness of some ledger's checkpoints (C2SP tlog-witness).

``witness init`` makes its own Ed25519 key; ``witness serve`` runs it (Starlette on
uvicorn) with the logs' keys it trusts and its state file, and prints ``witness NAME
listening on http://HOST:PORT`` (``--port 0``: a free port) once it listens. It needs no
ledger database: run it on another host.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Annotated, Final

import typer

from cli.common import HelpGroup, JsonOption, fail, listening, print_json

witness_app = typer.Typer(
    help="An independent witness that cosigns a ledger's checkpoints only if each extends "
    "the last one it cosigned.",
    no_args_is_help=True,
    cls=HelpGroup,
)

COMMANDS: Final = ["witness"]
EXAMPLES: Final = {
    "witness": ["ledger witness init --name witness.example/w1 --key w1.key"],
    "witness init": ["ledger witness init --name witness.example/w1 --key w1.key"],
    "witness vkey": ["ledger witness vkey --key w1.key > w1.vkey"],
    "witness serve": [
        'ledger witness serve --key w1.key --log-key "$(tail -1 ledger.pub)" '
        "--state /var/lib/witness --host 0.0.0.0 --port 7380"
    ],
}

KeyFile = Annotated[Path, typer.Option("--key", help="The witness's key file.", metavar="FILE")]


@witness_app.command("init")
def init(
    name: Annotated[
        str, typer.Option("--name", help="The witness's name (a schema-less URL is usual).")
    ],
    key: KeyFile,
    json: JsonOption = False,
) -> None:
    """Make the witness's own Ed25519 key (mode 0600; never overwritten) and print its
    verifier key, which ledgers' auditors pass as `ledger verify --witness`."""
    from replay.witness import WitnessError, new_witness_key

    try:
        made = new_witness_key(name, key)
    except WitnessError as error:
        fail(str(error))
    if json:
        print_json({"name": made.name, "key_file": str(key), "vkey": made.vkey.encode()})
        return
    sys.stdout.write(made.vkey.encode() + "\n")


@witness_app.command("vkey")
def vkey(key: KeyFile) -> None:
    """Print the witness's verifier key (name+id+base64(0x04||key))."""
    from replay.witness import WitnessError, load_witness_key

    try:
        sys.stdout.write(load_witness_key(key).vkey.encode() + "\n")
    except WitnessError as error:
        fail(str(error))


@witness_app.command("serve")
def serve(
    key: KeyFile,
    log_key: Annotated[
        list[str],
        typer.Option(
            "--log-key",
            help="A log's verifier key (`ledger key public`'s last line, or a file holding "
            "it); its name is the log's origin. Repeat for each log (and each rotated key).",
            metavar="VKEY",
        ),
    ],
    state: Annotated[
        Path,
        typer.Option(
            "--state",
            help="A directory (witness-state.json in it) or a file: the last checkpoint "
            "cosigned per log.",
            metavar="DIR|FILE",
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: a free one).")
    ] = 7380,
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) and GET /checkpoints/ORIGIN (the last
    checkpoint cosigned, with its cosignature) until SIGTERM."""
    import uvicorn

    from replay.note import NoteError, parse_vkey
    from replay.witness import Witness, WitnessError, WitnessState, create_app, load_witness_key

    keys = []
    for given in log_key:
        text = Path(given).read_text().strip() if Path(given).is_file() else given
        found, problem = [], "not a verifier key"
        for line in [*text.splitlines(), text]:
            try:
                found.append(parse_vkey(line))
            except NoteError as error:
                problem = str(error)
        if not found:
            fail(f"--log-key {given}: {problem}")
        keys.append(found[0])
    try:
        witness = Witness(load_witness_key(key), keys, WitnessState(state))
    except WitnessError as error:
        fail(str(error))
    sock = listening(host, port, 128)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
    name = witness.key.name

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                sys.stdout.write(f"witness {name} listening on http://{shown}:{bound[1]}\n")
                sys.stdout.flush()

    config = uvicorn.Config(create_app(witness), log_level="warning", lifespan="off")
    Server(config).run(sockets=[sock])


def register(app: typer.Typer) -> None:
    """Add the ``witness`` group."""
    app.add_typer(witness_app, name="witness")
