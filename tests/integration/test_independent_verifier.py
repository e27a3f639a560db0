"""The independent verifier (``verifier/verify_export.py``, standard library and cryptography
only) against real exports written by ``ledger export``: events of both chain formats, plain
and redacted, JSON Lines and CSV; tampered copies fail with the exact findings; and on every
export it and the ledger's own ``verify-export`` agree."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from cli import app as cli_app
from ledger.adapters.event_store import LedgerApp, opened
from ledger.adapters.settings import Database
from ledger.aggregates import base
from ledger.aggregates.chain import CHAIN_FORMAT, dumps
from ledger.services.intake import Ingestor, Input
from replay.export import render_manifest
from replay.export_verify import verify_export
from replay.keys import key_id, load_public, public_pem, signing_key
from tests.audit_support import Tamper
from tests.conftest import FixedClock
from tests.support import T0, Envelopes

VERIFIER = Path(__file__).resolve().parents[2] / "verifier" / "verify_export.py"
M = timedelta(minutes=1)
RESPONSE = {"public": False, "message": "call Dana"}


def _ingest(ledger: LedgerApp, envelopes: list[dict[str, Any]], days: int) -> None:
    outcomes = Ingestor(ledger, clock=FixedClock(T0 + timedelta(days=days))).ingest_batch(
        [Input(x, "test") for x in envelopes]
    )
    assert not [o.rejection for o in outcomes if o.rejection]


@pytest.fixture
def mixed(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A ledger whose first events were stored under chain format 1, as before formats were
    recorded (their stored state has no ``chain_format``), then appended to under format 2."""
    env = Envelopes()
    e = env.make
    with opened(database) as ledger:
        with monkeypatch.context() as old:
            old.setattr(base, "CHAIN_FORMAT", 1)
            _ingest(
                ledger,
                [
                    env.customer("C-1", at=T0 - timedelta(days=2)),
                    env.ticket("T-1", at=T0, customer_id="C-1"),
                    e("ticket.assigned", "T-1", {"assignee": "se-bo"}, at=T0 + 2 * M),
                ],
                days=1,
            )
        tamper = Tamper(database)
        for nid, _, _ in tamper.rows():  # as stored before the member existed
            state = json.loads(tamper.state(nid))
            assert state.pop("chain_format") == 1
            tamper.set_state(nid, json.dumps(state, separators=(",", ":")).encode())
        _ingest(
            ledger,
            [
                e(
                    "ticket.responded",
                    "T-1",
                    {"public": False, "message": "call Dana"},
                    at=T0 + 5 * M,
                ),
                e("ticket.resolved", "T-1", {"resolution": "restarted"}, at=T0 + 90 * M),
                env.ticket("T-2", at=T0 + 100 * M, customer_id="C-1"),
            ],
            days=2,
        )
        formats = {
            subject: [event.chain_format for event in ledger.history(subject)]
            for subject in ("C-1", "T-1", "T-2")
        }
    assert formats == {"C-1": [1], "T-1": [1, 1, 2, 2], "T-2": [2]}
    assert CHAIN_FORMAT == 2
    yield database


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(cli_app, list(args), catch_exceptions=False)
    return result


def _export(database: Database, out: Path, *options: str) -> Path:
    result = _cli(
        "export", "--db", database.url, "--out", str(out), "--purpose", "a test", *options
    )
    assert result.exit_code == 0, result.output
    return out


def independent(directory: Path, *options: str) -> tuple[int, dict[str, Any]]:
    """The verifier as an auditor runs it: its file alone, copied, in isolated mode (no
    PYTHONPATH, no current directory on the path: no ledger code can be imported)."""
    copy = directory.parent / "auditor" / "verify_export.py"
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(VERIFIER, copy)
    done = subprocess.run(
        [sys.executable, "-I", str(copy), str(directory), *options, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=copy.parent,
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert (done.returncode == 0) == report["ok"]
    return done.returncode, report


def agree(directory: Path, pem: Path | None = None) -> dict[str, Any]:
    """Both verifiers on one export: the same verdict and the same findings."""
    options = () if pem is None else ("--public-key", str(pem))
    _, report = independent(directory, *options)
    ours = verify_export(directory, None if pem is None else load_public(pem.read_bytes()))
    assert report["problems"] == ours.problems
    assert (report["ok"], report["records"], report["subjects"], report["key_id"]) == (
        ours.ok,
        ours.records,
        ours.subjects,
        ours.key_id,
    )
    return report


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    "options",
    [
        ("--format", "jsonl"),
        ("--format", "csv"),
        ("--redact", "--redact-names", "--redact-text"),
        ("--format", "csv", "--redact-text", "--customer", "C-1"),
    ],
)
def test_exports_of_both_chain_formats_verify_independently(
    mixed: Database, tmp_path: Path, options: tuple[str, ...]
) -> None:
    assert _cli("checkpoint", "--db", mixed.url).exit_code == 0
    verified = _cli("verify", "--db", mixed.url)
    assert verified.exit_code == 0, verified.output
    out = _export(mixed, tmp_path / "out", *options)
    report = agree(out)
    assert report["ok"] and (report["records"], report["subjects"]) == (6, 3)
    assert report["checkpoint"]["form"] == "note"  # a C2SP signed note
    if "csv" not in options:
        records = _records(out / "events.jsonl")
        assert {r["chain_format"] for r in records} == {1, 2}
        if "--redact" in options:
            assert "call Dana" not in (out / "events.jsonl").read_text()
            assert all(r["data"].get("message") in (None, "[redacted]") for r in records)


@pytest.fixture
def export_dir(mixed: Database, tmp_path: Path) -> Path:
    return _export(mixed, tmp_path / "out", "--redact")


def _line_of(path: Path, subject: str, version: int) -> int:
    for number, record in enumerate(_records(path), start=1):
        if (record["subject"], record["version"]) == (subject, version):
            return number
    raise AssertionError(f"no {subject} v{version}")


def _rewrite(path: Path, number: int, change: Any) -> None:
    lines = path.read_text().splitlines(keepends=True)
    record = json.loads(lines[number - 1])
    change(record)
    lines[number - 1] = dumps(record).decode() + "\n"
    path.write_text("".join(lines))


def test_a_changed_record_is_named(export_dir: Path) -> None:
    events = export_dir / "events.jsonl"
    changes = {2: {"assignee": "se-al"}, 4: {"resolution": "ignored"}}
    for subject, version in (("T-1", 2), ("T-1", 4)):  # a format-1 and a format-2 event
        copy = export_dir.parent / f"{subject}-{version}"
        shutil.copytree(export_dir, copy)
        number = _line_of(events, subject, version)
        _rewrite(copy / "events.jsonl", number, lambda r, v=version: r["data"].update(changes[v]))
        code, report = independent(copy)
        assert code == 1
        assert report["problems"] == [
            "events.jsonl: SHA-256 differs from the manifest (the file was edited)",
            f"events.jsonl record {number} ({subject} v{version}): its content does not match "
            "its hash",
        ]
        agree(copy)


def test_a_changed_chain_format_is_named(export_dir: Path) -> None:
    number = _line_of(export_dir / "events.jsonl", "T-2", 1)
    _rewrite(export_dir / "events.jsonl", number, lambda r: r.update(chain_format=1))
    report = agree(export_dir)
    assert report["problems"] == [
        "events.jsonl: SHA-256 differs from the manifest (the file was edited)",
        f"events.jsonl record {number} (T-2 v1): its content does not match its hash",
    ]


def test_a_removed_record_is_named(export_dir: Path) -> None:
    events = export_dir / "events.jsonl"
    number = _line_of(events, "T-1", 3)
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[: number - 1] + lines[number:]))
    report = agree(export_dir)
    assert report["problems"] == [
        "events.jsonl: SHA-256 differs from the manifest (the file was edited)",
        "events.jsonl: 5 records, the manifest says 6",
        "T-1: versions 1-4 expected, the export holds 1, 2, 4",
    ]


def test_a_changed_manifest_field_is_named(export_dir: Path) -> None:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    manifest["selection"]["redacted_fields"] = []
    (export_dir / "manifest.json").write_bytes(render_manifest(manifest))
    report = agree(export_dir)
    assert report["problems"] == [
        "manifest.json: the signature does not match (edited, or another key)"
    ]


def test_another_key_is_named(export_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other_key = Ed25519PrivateKey.generate().public_key()
    other.write_text(public_pem(other_key))
    code, _ = independent(export_dir)
    assert code == 0
    report = agree(export_dir, other)
    assert report["problems"] == [
        "manifest.json: the signature does not match (edited, or another key)",
        f"the covering checkpoint is not signed by the key in force for it ({key_id(other_key)})",
    ]
    mine = tmp_path / "mine.pem"
    mine.write_text(public_pem(signing_key(create=False).public_key()))
    assert agree(export_dir, mine)["key_pinned"] is True


def test_a_re_signed_forgery_fails_against_the_pinned_key(export_dir: Path, tmp_path: Path) -> None:
    """An insider who re-signs an edited export with a key of their own passes only the
    check that trusts the export's own key: pinning the ledger's key catches it."""
    forger = Ed25519PrivateKey.generate()
    events = export_dir / "events.jsonl"
    events.write_text(events.read_text().replace("se-bo", "se-xx"))
    manifest = json.loads((export_dir / "manifest.json").read_text())
    manifest["files"]["events.jsonl"]["sha256"] = hashlib.sha256(events.read_bytes()).hexdigest()
    manifest["public_key"] = public_pem(forger.public_key())
    del manifest["signature"]
    manifest["signature"] = forger.sign(dumps(manifest)).hex()
    (export_dir / "manifest.json").write_bytes(render_manifest(manifest))
    pem = tmp_path / "ledger.pem"
    pem.write_text(public_pem(signing_key(create=False).public_key()))
    number = _line_of(events, "T-1", 2)
    report = agree(export_dir, pem)
    assert report["problems"] == [
        "manifest.json: the signature does not match (edited, or another key)",
        f"events.jsonl record {number} (T-1 v2): its content does not match its hash",
    ]


# The checkpoint as a C2SP signed note ------------------------------------------------------


def _vkey(name: str, key: Ed25519PrivateKey) -> tuple[str, bytes]:
    raw = b"\x01" + key.public_key().public_bytes_raw()
    key_hash = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    return f"{name}+{key_hash.hex()}+{base64.b64encode(raw).decode()}", key_hash


def _as_note(directory: Path, key: Ed25519PrivateKey, origin: str = "ledger.example/log") -> str:
    """Rewrite the export's checkpoint as a C2SP tlog-checkpoint signed note by ``key``, and
    re-sign the manifest, as the note-form exports are written."""
    manifest = json.loads((directory / "manifest.json").read_text())
    statement = manifest["checkpoint"]["statement"]
    root = base64.b64encode(bytes.fromhex(statement["root"])).decode()
    text = f"{origin}\n{statement['tree_size']}\n{root}\n"
    vkey, key_hash = _vkey(origin, key)
    signature = base64.b64encode(key_hash + key.sign(text.encode())).decode()
    manifest["checkpoint"] = {
        "note": f"{text}\n\u2014 {origin} {signature}\n",
        "log_key": vkey,
        "key_chain": [],
    }
    del manifest["signature"]
    manifest["signature"] = key.sign(dumps(manifest)).hex()
    (directory / "manifest.json").write_bytes(render_manifest(manifest))
    return vkey


def test_a_signed_note_checkpoint_verifies_and_a_changed_one_is_named(export_dir: Path) -> None:
    key = signing_key(create=False)
    vkey = _as_note(export_dir, key)
    code, report = independent(export_dir)
    assert code == 0, report["problems"]
    assert report["checkpoint"]["form"] == "note"
    assert report["checkpoint"]["origin"] == "ledger.example/log"
    assert independent(export_dir, "--log-key", vkey)[0] == 0

    other_key = Ed25519PrivateKey.generate()
    other, _ = _vkey("ledger.example/log", other_key)
    code, report = independent(export_dir, "--log-key", other)
    assert report["problems"] == [
        "manifest.json: the signature does not match (edited, or another key)",
        "the covering checkpoint is not signed by the key in force for it "
        f"({key_id(other_key.public_key())})",
    ]

    manifest = json.loads((export_dir / "manifest.json").read_text())
    note = manifest["checkpoint"]["note"]
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)  # a bigger tree than was signed
    manifest["checkpoint"]["note"] = "\n".join(lines)
    del manifest["signature"]
    manifest["signature"] = key.sign(dumps(manifest)).hex()
    (export_dir / "manifest.json").write_bytes(render_manifest(manifest))
    code, report = independent(export_dir)
    assert code == 1
    assert report["problems"][0] == (
        f"the covering checkpoint is not signed by the key in force for it "
        f"({key_id(key.public_key())})"
    )
    assert all("not in the signed checkpoint" in p for p in report["problems"][1:])


def test_a_bad_log_key_is_a_usage_error(export_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(export_dir), "--log-key", "name+00000000+AAAA"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--log-key" in done.stderr


def test_a_missing_export_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    code, report = independent(tmp_path / "nothing-here")
    assert code == 1 and report["problems"][0].startswith("manifest.json cannot be read")


def test_the_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(VERIFIER.read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    roots = {name.split(".")[0] for name in imported}
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


# Key rotation ----------------------------------------------------------------------------------


def test_a_rotated_key_is_followed_and_a_forged_rotation_named(
    mixed: Database, tmp_path: Path
) -> None:
    """After ``ledger key rotate`` an export is signed by the new key and carries the
    statement; both verifiers follow it from the ledger's first key. An insider who writes
    a statement of their own (naming the real key as old, signed only by theirs) and
    re-signs the export is named by both, the same way."""
    from replay.note import Note, parse_note, parse_vkey, sign

    assert _cli("checkpoint", "--db", mixed.url).exit_code == 0
    first = signing_key(create=False).public_key()
    rotated = _cli("key", "rotate", "--db", mixed.url, "--json")
    assert rotated.exit_code == 0, rotated.output
    old_vkey, new_vkey = json.loads(rotated.stdout)["old"], json.loads(rotated.stdout)["new"]
    with opened(mixed) as ledger:
        _ingest(ledger, [Envelopes(seed=77).ticket("T-3", at=T0 + 200 * M)], days=3)
    assert _cli("checkpoint", "--db", mixed.url).exit_code == 0
    out = _export(mixed, tmp_path / "out")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["checkpoint"]["key_chain"]) == 1
    new_key = parse_vkey(new_vkey).public
    pem = tmp_path / "first.pem"
    pem.write_text(public_pem(first))
    for pinned in (pem, None):
        report = agree(out, pinned)
        assert report["ok"] and report["key_id"] == key_id(new_key), report["problems"]
    assert independent(out, "--log-key", old_vkey)[0] == 0
    assert independent(out, "--log-key", new_vkey)[0] == 1  # the first key is the pin

    forger = Ed25519PrivateKey.generate()
    statement = parse_note(manifest["checkpoint"]["key_chain"][0])
    origin = statement.text.split("\n", 1)[0]
    forged_vkey = _vkey(origin, forger)[0]
    text = statement.text.replace(new_vkey, forged_vkey)
    forged = Note(text, (sign(text, origin, forger), sign(text, origin, forger))).render()
    manifest["checkpoint"]["key_chain"] = [forged]
    manifest["public_key"] = public_pem(forger.public_key())
    del manifest["signature"]
    manifest["signature"] = forger.sign(dumps(manifest)).hex()
    (out / "manifest.json").write_bytes(render_manifest(manifest))
    report = agree(out, pem)
    assert report["problems"] == [
        "key_rotation: key rotation statement 1 is not signed by the key in force",
        "manifest.json: the signature does not match (edited, or another key)",
        f"the covering checkpoint is not signed by the key in force for it ({key_id(first)})",
    ]
