"""Issue 21's audit figures on the ledger a harness run just built (the harness's ``audit``).

Run after every other measure of a size, on that size's ledger (its checkpoint tables
are written, nothing else the other sections read), with a signing key of its own in the
run's scratch directory (``LEDGER_SIGNING_KEY`` set for the children) and a real witness:
``ledger witness serve --port 0`` as a subprocess with its own key and state, the log's
verifier key as its ``--log-key``; the harness waits for the address it prints (a reader
thread, no sleeping). Measured:

* ``checkpoint``: the first checkpoint over the whole log (``take_checkpoint``, as
  ``ledger checkpoint`` calls it), in a fresh process: seconds, events per second, the
  process's peak RSS (VmHWM); then the witness cosigning it (``request_cosignatures``,
  as ``ledger checkpoint --witness URL`` calls it: the consistency proof from what the
  witness last saw, the POST, the witness's check, fsync and answer), ms;
* ``incremental``: ~1% more events appended (new tickets, every one accepted), then the
  next checkpoint (seconds, in a fresh process) and its cosignature (ms), with the
  consistency proof the witness was sent: hashes and bytes (32 a hash);
* ``verify``: ``ledger verify --log-key VKEY --witness WVKEY --quorum 1 --against URL
  --json``, the auditor's whole command, run in a fresh process (seconds from the call,
  the imports done; the process's peak RSS); it must answer verified. ``verify_read_models``:
  the same with ``--read-models`` (the log folded afresh into a scratch database and every
  read model compared; at 1M it is a rebuild's time plus the comparison);
* ``proofs``: inclusion proofs for ``runs`` random (subject, version) pairs of the newest
  checkpoint, as ``ledger proof inclusion`` makes them (the leaf by subject and version,
  the audit path from the stored leaves and subtree roots, checked against the signed
  root), and consistency proofs between ``runs`` random pairs of tree sizes (as a witness
  that last saw the smaller would be sent): p50 and p99 ms, hashes (min, median, max) and
  bytes; ``*_verify``: checking one from the signed note(s) and the log's key alone
  (parse the note, check its signature, recompute the leaf hash, the path), as ``ledger
  proof verify`` does, p50 and p99 ms (the consistency proof between the two checkpoints).

Run as ``python -m benchmarks.audit_grade checkpoint|verify|proofs ...`` it is a child.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
WITNESS: Final = "bench.example/witness"
HASH_BYTES: Final = 32
APPENDED_SHARE: Final = 0.01


# the harness's side ---------------------------------------------------------------------------


def audit_measures(
    url: str,
    root: Path,
    appended: Sequence[bytes],
    *,
    runs: int,
    seed: int,
    settle: Callable[[str], None],
) -> dict[str, Any]:
    """Every audit figure on the ledger at ``url``; ``appended``: the lines of the ~1% more
    events the incremental checkpoint covers (all to be accepted); scratch files in
    ``root``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from ledger.services.intake import Ingestor, Input
    from replay.checkpoint import origin_of
    from replay.keys import ENV_KEY
    from replay.note import ED25519, VerifierKey
    from replay.witness import ENV_WITNESSES, new_witness_key

    root.mkdir(parents=True, exist_ok=True)
    key_file = root / "audit-signing-key.pem"
    key = Ed25519PrivateKey.generate()
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != ENV_WITNESSES}
    env[ENV_KEY] = str(key_file)
    database = resolve_database(url)
    engine = engine_for(database)
    origin = origin_of(engine)  # the audit tables made, the origin fixed (as the CLI would)
    engine.dispose()
    log_key = VerifierKey(origin, ED25519, key.public_key()).encode()
    witness_key = new_witness_key(WITNESS, root / "witness.key")
    settle(url)
    with witnessing(root, log_key, env) as address:
        first = _child(env, "checkpoint", url, address)
        with opened(database) as ledger:
            report = Ingestor(ledger).ingest(Input(line, "bench") for line in appended)
        if report.accepted != len(appended):
            raise AssertionError(
                f"{report.accepted} of the {len(appended)} appended events were accepted"
            )
        settle(url)
        incremental = _child(env, "checkpoint", url, address)
        auditor = [
            *("--db", url, "--log-key", log_key, "--witness", witness_key.vkey.encode()),
            *("--quorum", "1", "--against", address, "--json"),
        ]
        verify = _child(env, "verify", *auditor)
        read_models = _child(env, "verify", *auditor, "--read-models")
    proofs = _child(env, "proofs", url, log_key, str(runs), str(seed))
    events = first["tree_size"]
    return {
        "checkpoint": {
            "events": events,
            "seconds": first["seconds"],
            "events_per_s": events / first["seconds"],
            "peak_rss_mb": first["peak_rss_mb"],
        },
        "incremental": {
            "events": incremental["tree_size"] - events,
            "seconds": incremental["seconds"],
            "peak_rss_mb": incremental["peak_rss_mb"],
        },
        "witness": {
            "first_cosign_ms": first["cosign_ms"],
            "incremental_cosign_ms": incremental["cosign_ms"],
            "consistency_hashes": incremental["proof_hashes"],
            "consistency_bytes": incremental["proof_hashes"] * HASH_BYTES,
        },
        "verify": verify,
        "verify_read_models": read_models,
        "proofs": proofs,
    }


@contextmanager
def witnessing(root: Path, log_key: str, env: dict[str, str]) -> Iterator[str]:
    """``ledger witness serve --port 0`` (its key in ``root``) until the block ends; its
    address."""
    from benchmarks.http import printed_address

    log = root / "witness.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "cli", "witness", "serve"),
                *("--key", str(root / "witness.key"), "--log-key", log_key),
                *("--state", str(root / "witness-state"), "--port", "0"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            yield printed_address(process.stdout, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    """One measure in a fresh process; its JSON report (its last line)."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.audit_grade", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"audit child {args[0]} failed:\n{result.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def appended_count(events: int) -> int:
    """How many events the incremental checkpoint covers: ~1% of the log, at least one."""
    return max(1, round(events * APPENDED_SHARE))


# the children ---------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _quantiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p99_ms": cuts[98], "runs": float(len(samples))}


def _sizes(hashes: list[int]) -> dict[str, float]:
    return {
        "hashes_min": float(min(hashes)),
        "hashes_median": float(statistics.median(hashes)),
        "hashes_max": float(max(hashes)),
        "bytes_median": float(statistics.median(hashes)) * HASH_BYTES,
        "bytes_max": float(max(hashes)) * HASH_BYTES,
    }


def child_checkpoint(url: str, witness: str) -> dict[str, Any]:
    """Take the next checkpoint of the whole log, then have the witness cosign it."""
    from ledger.adapters.event_store import opened
    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.checkpoint import latest_checkpoint, stored_tree, take_checkpoint
    from replay.keys import signing_key
    from replay.witness import request_cosignatures

    key = signing_key(create=False)
    database = resolve_database(url)
    with opened(database, create=False) as ledger:
        engine = engine_for(database)
        before = latest_checkpoint(engine)
        start = time.perf_counter()
        taken, new = take_checkpoint(ledger, engine, key, datetime.now(UTC))
        seconds = time.perf_counter() - start
        if not new:
            raise RuntimeError("nothing new to checkpoint")
        start = time.perf_counter()
        (outcome,) = request_cosignatures(engine, taken, [witness])
        cosign_ms = (time.perf_counter() - start) * 1000
        if not outcome.cosigned:
            raise RuntimeError(f"the witness refused: {outcome.detail}")
        old = 0 if before is None else before.tree_size
        with engine.connect() as conn:  # the proof the witness was sent
            hashes = len(stored_tree(conn).consistency(old, taken.tree_size))
        engine.dispose()
    return {
        "seq": taken.seq,
        "tree_size": taken.tree_size,
        "seconds": seconds,
        "cosign_ms": cosign_ms,
        "proof_hashes": hashes,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_verify(args: list[str]) -> dict[str, Any]:
    """``ledger verify ARGS`` run in this process (its imports done first); it must pass."""
    import cli
    import replay.read_models
    import replay.verify
    import replay.witness

    del replay  # imported so that the timing is the command's work, not its imports
    printed = io.StringIO()
    argv = sys.argv
    sys.argv = ["ledger", "verify", *args]
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(printed):
            cli.main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
    seconds = time.perf_counter() - start
    if code != 0:  # its error went to standard error, which the harness shows
        raise RuntimeError(f"verify exited {code}: {printed.getvalue()[:3000]}")
    found = json.loads(printed.getvalue())
    return {
        "seconds": seconds,
        "events": found["events"],
        "events_per_s": found["events"] / seconds,
        "uncovered_events": found["uncovered_events"],
        "cosigned_by": found["cosigned_by"],
        "read_model_rows": (found.get("read_models") or {}).get("rows"),
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_proofs(url: str, log_key: str, runs: int, seed: int) -> dict[str, Any]:
    """Inclusion and consistency proofs as ``ledger proof`` makes and checks them."""
    from sqlalchemy import select

    from ledger.adapters.projector import engine_for
    from ledger.adapters.settings import resolve_database
    from replay.audit import leaf, leaves
    from replay.checkpoint import checkpoint_number, latest_checkpoint, stored_tree
    from replay.merkle import leaf_hash, verify_consistency, verify_inclusion
    from replay.note import parse_checkpoint, parse_note, parse_vkey, verify_signature

    vkey = parse_vkey(log_key)
    engine = engine_for(resolve_database(url))
    newest, first = latest_checkpoint(engine), checkpoint_number(engine, 1)
    if newest is None or first is None or newest.note is None or first.note is None:
        raise RuntimeError("no checkpoints to prove against")
    size, root = newest.tree_size, bytes.fromhex(newest.root)
    rng = random.Random(seed)
    figures: dict[str, Any] = {"tree_size": size}
    with engine.connect() as conn:
        picked = [
            conn.execute(
                select(leaves.c.subject, leaves.c.version).where(leaves.c.position == position)
            ).one()
            for position in (rng.randrange(size) for _ in range(runs))
        ]
        samples, hashes, made = [], [], []
        for subject, version in picked:  # as `ledger proof inclusion` makes one
            start = time.perf_counter()
            row = conn.execute(
                select(leaves).where(leaves.c.subject == subject, leaves.c.version == version)
            ).one()
            path = stored_tree(conn).inclusion(int(row.position), size)
            hashed = leaf_hash(leaf(row.notification_id, row.subject, row.version, row.event_hash))
            if not verify_inclusion(hashed, int(row.position), size, path, root):
                raise RuntimeError(f"{subject} v{version}: the inclusion proof does not verify")
            samples.append((time.perf_counter() - start) * 1000)
            hashes.append(len(path))
            made.append((row, path))
        figures["inclusion"] = {**_quantiles(samples), **_sizes(hashes)}
        samples = []
        for row, path in made:  # as `ledger proof verify` checks one: the note and key only
            start = time.perf_counter()
            note = parse_note(newest.note)
            body = parse_checkpoint(note.text)
            hashed = leaf_hash(leaf(row.notification_id, row.subject, row.version, row.event_hash))
            if not (
                verify_signature(note, vkey)
                and verify_inclusion(hashed, int(row.position), body.size, path, body.root)
            ):
                raise RuntimeError("an inclusion proof does not verify from the note")
            samples.append((time.perf_counter() - start) * 1000)
        figures["inclusion_verify"] = _quantiles(samples)
        tree = stored_tree(conn)
        samples, hashes = [], []
        for _ in range(runs):  # as a witness that last saw the smaller size is sent
            old, new = sorted(rng.sample(range(1, size + 1), 2))
            start = time.perf_counter()
            proof = tree.consistency(old, new)
            samples.append((time.perf_counter() - start) * 1000)
            if not verify_consistency(old, new, tree.hash(0, old), tree.hash(0, new), proof):
                raise RuntimeError(f"the consistency proof {old} -> {new} does not verify")
            hashes.append(len(proof))
        figures["consistency"] = {**_quantiles(samples), **_sizes(hashes)}
        between = tree.consistency(first.tree_size, size)
    samples = []
    for _ in range(runs):  # the two checkpoints' notes and the log's key alone
        start = time.perf_counter()
        old_note, new_note = parse_note(first.note), parse_note(newest.note)
        old_body, new_body = parse_checkpoint(old_note.text), parse_checkpoint(new_note.text)
        if not (
            verify_signature(old_note, vkey)
            and verify_signature(new_note, vkey)
            and verify_consistency(
                old_body.size, new_body.size, old_body.root, new_body.root, between
            )
        ):
            raise RuntimeError("the consistency proof between the checkpoints does not verify")
        samples.append((time.perf_counter() - start) * 1000)
    figures["consistency_verify"] = {**_quantiles(samples), "hashes": float(len(between))}
    engine.dispose()
    return figures


def main(argv: list[str]) -> None:
    """``checkpoint URL WITNESS`` | ``verify ARGS...`` | ``proofs URL VKEY RUNS SEED``."""
    what, *rest = argv
    if what == "checkpoint":
        report = child_checkpoint(rest[0], rest[1])
    elif what == "verify":
        report = child_verify(rest)
    elif what == "proofs":
        report = child_proofs(rest[0], rest[1], int(rest[2]), int(rest[3]))
    else:
        raise SystemExit(f"unknown measure {what!r}")
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
