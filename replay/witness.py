"""Witnesses: an independent process that cosigns a checkpoint only if it extends the last
one it cosigned (C2SP tlog-witness, tlog-cosignature/v1); and the ledger's side of it.

The witness (``ledger witness serve``) holds its own Ed25519 key and, per log origin, the
last checkpoint it cosigned, in a state file it replaces atomically (written beside it,
fsynced, renamed, the directory fsynced) under a lock. ``POST /add-checkpoint`` takes::

    old <size the client believes the witness has>
    <consistency proof hashes, base64, one a line>
    <blank line>
    <the checkpoint note>

and answers 200 with its cosignature line, 404 (origin not configured), 403 (no trusted
signature), 400 (malformed, or old size above the new one), 409 with ``<size>\\n`` as
``text/x.tlog.size`` (the old size is not its size, or the same size with another root:
a fork) or 422 (the consistency proof does not verify). ``GET /checkpoints/<origin>``
gives the last checkpoint it cosigned (with its cosignature), the witness's view that
``ledger verify --against URL`` compares the stored checkpoints with.

The ledger's side (:func:`request_cosignatures`) sends each new checkpoint with the
consistency proof from the size the witness last saw, retrying once the witness answers
409 with its size, and stores the cosignature lines it returns on the stored note.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from replay.audit import audit_meta, create_tables
from replay.checkpoint import Checkpoint, checkpoint_number, store_note, stored_tree
from replay.merkle import verify_consistency
from replay.note import (
    COSIGNATURE_V1,
    ED25519,
    Note,
    NoteError,
    Signature,
    VerifierKey,
    b64,
    cosign,
    parse_checkpoint,
    parse_note,
    parse_signature_line,
    unb64,
    valid_name,
    verify_signature,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

ENV_WITNESSES: Final = "LEDGER_WITNESSES"
MAX_PROOF_LINES: Final = 63
MAX_BODY: Final = 64 * 1024
SIZE_TYPE: Final = "text/x.tlog.size"


class WitnessError(Exception):
    """A witness key or state that cannot be used (a user-facing message)."""


# the witness's key ----------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessKey:
    """A witness's name and Ed25519 key; its verifier key has type 0x04 (cosignatures)."""

    name: str
    private: Ed25519PrivateKey

    @property
    def vkey(self) -> VerifierKey:
        """What logs and verifiers are given: ``name+id+base64(0x04||key)``."""
        return VerifierKey(self.name, COSIGNATURE_V1, self.private.public_key())

    def encode(self) -> str:
        """``PRIVATE+KEY+name+id+base64(0x04||seed)`` (the Go note package's form)."""
        seed = self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return f"PRIVATE+KEY+{self.name}+{self.vkey.key_id.hex()}+{b64(bytes([4]) + seed)}"


def new_witness_key(name: str, path: Path) -> WitnessKey:
    """Make a key for the witness ``name`` and write it to ``path`` (mode 0600, never over
    an existing file)."""
    if not valid_name(name):
        raise WitnessError(f"--name {name!r}: a witness name is non-empty, no spaces, no '+'")
    key = WitnessKey(name, Ed25519PrivateKey.generate())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as error:
        raise WitnessError(f"--key {path} exists: a witness key is never overwritten") from error
    except OSError as error:
        raise WitnessError(f"--key {path}: {error.strerror or error}") from error
    with os.fdopen(fd, "w") as file:
        file.write(key.encode() + "\n")
    return key


def load_witness_key(path: Path) -> WitnessKey:
    """The key ``witness init`` wrote."""
    try:
        encoded = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise WitnessError(f"--key {path}: {error}") from error
    parts = encoded.split("+", 4)  # (base64 holds "+" too)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise WitnessError(f"--key {path} is not a witness key (`ledger witness init` makes one)")
    try:
        material = unb64(parts[4], "the witness key")
    except NoteError as error:
        raise WitnessError(f"--key {path}: {error}") from error
    if len(material) != 33 or material[0] != COSIGNATURE_V1 or not valid_name(parts[2]):
        raise WitnessError(f"--key {path} is not an Ed25519 cosigner key")
    key = WitnessKey(parts[2], Ed25519PrivateKey.from_private_bytes(material[1:]))
    if key.vkey.key_id.hex() != parts[3]:
        raise WitnessError(f"--key {path}: its key id does not match its key")
    return key


# the witness's state --------------------------------------------------------------------


class WitnessState:
    """Per origin, the last checkpoint cosigned (its note, cosignature included), in one
    JSON file replaced atomically; a lock file keeps two processes from interleaving."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            path = path / "witness-state.json"
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.read()
        except OSError as error:
            raise WitnessError(f"--state {path}: {error.strerror or error}") from error

    def read(self) -> dict[str, str]:
        """origin -> note."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise WitnessError(f"--state {self.path} is not a witness state: {error}") from error
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise WitnessError(f"--state {self.path} is not a witness state")
        return data

    @contextmanager
    def locked(self) -> Iterator[dict[str, str]]:
        """The state to read and change; written back (atomically) when the block ends."""
        with self._lock, open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read()
            before = dict(state)
            yield state
            if state != before:
                self._write(state)

    def _write(self, state: dict[str, str]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        with open(temporary, "w") as file:
            json.dump(state, file, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


# the witness ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type, body."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    """The add-checkpoint logic of C2SP tlog-witness, independent of HTTP."""

    def __init__(
        self,
        key: WitnessKey,
        log_keys: Sequence[VerifierKey],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for vkey in log_keys:
            if vkey.kind != ED25519:
                raise WitnessError(f"--log-key {vkey}: not a log (type 0x01) key")
        self.key, self.log_keys, self.state, self.clock = key, list(log_keys), state, clock

    def add_checkpoint(self, body: bytes) -> Answer:
        """Check and cosign one request (see the module's doc)."""
        try:
            request = body.decode("utf-8")
        except UnicodeDecodeError:
            return Answer(400, "the request is not UTF-8\n")
        header, blank, note_text = request.partition("\n\n")
        lines = header.split("\n")
        if not blank or not lines[0].startswith("old "):
            return Answer(400, "the request starts with `old <size>`, proof lines, a blank line\n")
        try:
            old = _decimal(lines[0][4:])
            proof = [unb64(line, "a proof line") for line in lines[1:]]
            note = parse_note(note_text)
            checkpoint = parse_checkpoint(note.text)
        except (NoteError, ValueError) as error:
            return Answer(400, f"{error}\n")
        if len(proof) > MAX_PROOF_LINES or any(len(h) != 32 for h in proof):
            return Answer(400, "at most 63 proof lines of 32-byte hashes\n")
        trusted = [k for k in self.log_keys if k.name == checkpoint.origin]
        if not trusted:
            return Answer(404, f"unknown log origin {checkpoint.origin}\n")
        if not any(verify_signature(note, k) for k in trusted):
            return Answer(403, f"no signature of a trusted key of {checkpoint.origin}\n")
        if old > checkpoint.size:
            return Answer(400, f"old size {old} is above the checkpoint's {checkpoint.size}\n")
        with self.state.locked() as state:
            latest = state.get(checkpoint.origin)
            seen = None if latest is None else parse_checkpoint(parse_note(latest).text)
            size = 0 if seen is None else seen.size
            if old != size:
                return Answer(409, f"{size}\n", SIZE_TYPE)
            if seen is not None:
                if checkpoint.size == seen.size and checkpoint.root != seen.root:
                    return Answer(409, f"{size}\n", SIZE_TYPE)  # same size, another root: a fork
                if not verify_consistency(
                    seen.size, checkpoint.size, seen.root, checkpoint.root, proof
                ):
                    return Answer(
                        422,
                        f"the consistency proof from {seen.size} to {checkpoint.size} does not "
                        "verify: this tree does not extend the one cosigned\n",
                    )
            elif proof:
                return Answer(422, "a proof from the empty tree is empty\n")
            line = cosign(note.text, self.key.name, self.key.private, int(self.clock()))
            state[checkpoint.origin] = note.with_signatures([line]).render()
        return Answer(200, line.line())

    def latest(self, origin: str) -> str | None:
        """The last checkpoint cosigned for ``origin`` (with the cosignature)."""
        return self.state.read().get(origin)


def _decimal(text_: str) -> int:
    if not text_.isdigit() or (text_.startswith("0") and text_ != "0"):
        raise ValueError(f"old size {text_!r} is not a decimal number")
    return int(text_)


def create_app(witness: Witness) -> Starlette:
    """The witness's HTTP API (Starlette, served by uvicorn)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("request too large\n", status_code=413)
        answer = await run_in_threadpool(witness.add_checkpoint, body)
        return Response(answer.body, answer.status, media_type=answer.content_type)

    async def latest(request: Request) -> Response:
        origin = request.path_params["origin"]
        found = witness.latest(origin)
        if found is None:
            return PlainTextResponse(f"no checkpoint cosigned for {origin}\n", status_code=404)
        return PlainTextResponse(found)

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/checkpoints/{origin:path}", latest, methods=["GET"]),
        ]
    )


# the ledger's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one witness answered for one checkpoint."""

    url: str
    cosigned: bool
    detail: str
    lines: tuple[Signature, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "url": self.url,
            "cosigned": self.cosigned,
            "detail": self.detail,
            "cosignatures": [s.line().rstrip("\n") for s in self.lines],
        }


def configured_witnesses(given: Sequence[str] = ()) -> list[str]:
    """``--witness URL`` values, else ``LEDGER_WITNESSES`` (URLs separated by spaces or
    commas)."""
    if given:
        return list(given)
    return [u for u in os.environ.get(ENV_WITNESSES, "").replace(",", " ").split() if u]


def request_cosignatures(
    engine: Engine, checkpoint: Checkpoint, urls: Sequence[str], timeout: float = 10.0
) -> list[Outcome]:
    """Send ``checkpoint`` to each witness; store the cosignatures returned on its note."""
    if checkpoint.note is None:
        return [Outcome(url, False, "a format 1 checkpoint cannot be cosigned") for url in urls]
    create_tables(engine)
    note = parse_note(checkpoint.note)
    log_only = note.text + "\n" + note.signatures[0].line()
    outcomes = [_submit(engine, checkpoint, log_only, url, timeout) for url in urls]
    added = [s for o in outcomes for s in o.lines]
    if added:
        current = checkpoint_number(engine, checkpoint.seq)
        base = parse_note(current.note if current and current.note else checkpoint.note)
        replaced = {(a.name, a.key_id) for a in added}  # a witness's newer line replaces its older
        kept = [s for s in base.signatures if (s.name, s.key_id) not in replaced]
        store_note(engine, checkpoint.seq, Note(base.text, (*kept, *added)).render())
    return outcomes


def _submit(engine: Engine, checkpoint: Checkpoint, note: str, url: str, timeout: float) -> Outcome:
    endpoint = url.rstrip("/") + "/add-checkpoint"
    old = _last_seen(engine, url)
    for _ in range(3):
        if old > checkpoint.tree_size:
            return Outcome(
                url,
                False,
                f"the witness has cosigned a larger tree ({old} events) than this checkpoint "
                f"({checkpoint.tree_size}): the log was rolled back or forked",
            )
        try:
            with engine.connect() as conn:
                proof = stored_tree(conn).consistency(old, checkpoint.tree_size)
        except LookupError as error:
            return Outcome(url, False, f"no consistency proof from the stored leaves: {error}")
        body = "".join([f"old {old}\n", *(b64(h) + "\n" for h in proof), "\n", note])
        status, answer = _post(endpoint, body.encode(), timeout)
        if status == 409:
            try:
                size = _decimal(answer.strip())
            except ValueError:
                return Outcome(url, False, f"409 without a size: {answer.strip()[:200]}")
            if size == old:  # same size, another root: the witness saw a fork
                return Outcome(
                    url, False, f"409: the witness cosigned another tree of {size} events (a fork)"
                )
            old = size
            continue
        if status != 200:
            return Outcome(url, False, f"{status}: {answer.strip()[:300]}")
        try:
            lines = tuple(parse_signature_line(line) for line in answer.splitlines() if line)
        except NoteError as error:
            return Outcome(url, False, f"the answer is not cosignature lines: {error}")
        _remember(engine, url, checkpoint.tree_size)
        return Outcome(url, True, f"cosigned by {', '.join(s.name for s in lines)}", lines)
    return Outcome(url, False, "the witness kept answering 409")


def _post(url: str, body: bytes, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as error:
        return 0, f"cannot reach the witness: {getattr(error, 'reason', error)}"


def _last_seen(engine: Engine, url: str) -> int:
    with engine.connect() as conn:
        found = conn.execute(
            select(audit_meta.c.value).where(audit_meta.c.name == f"witness {url}")
        ).scalar()
    return int(found) if found and found.isdigit() else 0


def _remember(engine: Engine, url: str, size: int) -> None:
    with engine.begin() as conn:
        conn.execute(audit_meta.delete().where(audit_meta.c.name == f"witness {url}"))
        conn.execute(audit_meta.insert().values(name=f"witness {url}", value=str(size)))


def fetch_view(url: str, origin: str, timeout: float = 10.0) -> str:
    """The last checkpoint the witness at ``url`` cosigned for ``origin``."""
    quoted = urllib.parse.quote(origin, safe="/")
    endpoint = f"{url.rstrip('/')}/checkpoints/{quoted}"
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as error:
        raise WitnessError(
            f"{endpoint}: {error.code} {error.read().decode(errors='replace').strip()}"
        ) from error
    except (urllib.error.URLError, OSError) as error:
        raise WitnessError(f"cannot reach {endpoint}: {getattr(error, 'reason', error)}") from error
