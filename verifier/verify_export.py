#!/usr/bin/env python3
"""Check a ledger export on its own: an independent verifier, written from docs/chain-format.md.

    python verify_export.py EXPORT_DIR [--public-key PEM | --log-key VKEY] [--json]

It needs Python 3.11 or later and the ``cryptography`` package, nothing else: no ledger
code, no database. Copy this one file to the auditor's machine, ``pip install
cryptography``, and run it on the export directory. It checks

* that ``manifest.json`` is as an export writes it and is signed (Ed25519) by the key;
* each listed file's SHA-256, size in records, and that no file is unlisted;
* each record's hash, recomputed from the record under the chain format it names (1:
  sorted-key JSON in the ledger's first spelling; 2: RFC 8785, the JSON Canonicalization
  Scheme), personal fields through their commitments, redacted ones by commitment alone;
* each subject's chain: versions without gaps, each naming its predecessor's hash, the
  first from genesis, the last the chain head the manifest names;
* each record's Merkle inclusion proof (RFC 9162) under the checkpoint's root;
* the checkpoint's signature: a C2SP ``tlog-checkpoint`` signed note verified against the
  log's C2SP verifier key, or (exports written before notes) a signed JSON statement.

Exit status 0 only when everything holds; 1 with the findings, each naming the file,
record, subject and version it is about; 2 when the command line is wrong.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import hashlib
import itertools
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST = "manifest.json"
GENESIS = "0" * 64
CHAIN_FORMATS = (1, 2)
JCS_SAFE_INTEGER = 2**53 - 1
META = (
    "type",
    "subject",
    "version",
    "recorded_at",
    "event_id",
    "occurred_at",
    "actor_id",
    "actor_role",
    "source",
    "previous_hash",
)
CSV_JSON_COLUMNS = ("data", "proof", "inclusion")
CSV_INT_COLUMNS = ("notification_id", "version", "leaf_index")
ED25519_ALGORITHM = 0x01  # C2SP signed-note signature type of Ed25519
SIGNATURE_PREFIX = "\u2014 "  # em dash, space: a C2SP signature line


class Malformed(ValueError):
    """Something is not as the format says (the message names what)."""


# JSON: reading strictly, and the two canonical spellings ------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise Malformed(f"duplicate member {key!r}")
        document[key] = value
    return document


def _no_constants(name: str) -> Any:
    raise Malformed(f"{name} is not JSON")


def load_json(text: str | bytes) -> Any:
    """JSON text as Python values; a repeated member or NaN/Infinity is ``Malformed``."""
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def _string(value: str) -> str:
    # RFC 8785 section 3.2.2.2 and format 1 alike: escape '"', '\\' and U+0000-U+001F
    # (\b \t \n \f \r by their short forms, the others as \u00xx), nothing else.
    return json.dumps(value, ensure_ascii=False)


def es_number(value: float) -> str:
    """A finite double as ECMAScript's Number.prototype.toString writes it (RFC 8785
    section 3.2.2.3): the shortest digits that read back as the same double (Python's
    ``repr`` finds them), placed by the rules of ECMA-262 Number::toString."""
    if not math.isfinite(value):
        raise Malformed(f"{value} cannot be written in RFC 8785")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)  # the value is 0.<digits> * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    power = n - 1
    shown = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{shown}e{'+' if power >= 0 else '-'}{abs(power)}"


def jcs(value: Any) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of a JSON value."""
    return "".join(_jcs_parts(value, [])).encode("utf-8", errors="strict")


def _jcs_parts(value: Any, parts: list[str]) -> list[str]:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, int):
        if abs(value) > JCS_SAFE_INTEGER:
            raise Malformed(f"integer {value} has no exact IEEE 754 double")
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(es_number(value))
    elif isinstance(value, list):
        parts.append("[")
        for i, item in enumerate(value):
            parts.append("," if i else "")
            _jcs_parts(item, parts)
        parts.append("]")
    elif isinstance(value, dict):
        parts.append("{")
        # members sorted by the UTF-16 code units of their names (RFC 8785 section 3.2.3)
        for i, key in enumerate(sorted(value, key=lambda name: name.encode("utf-16-be"))):
            parts.append("," if i else "")
            parts.append(_string(key))
            parts.append(":")
            _jcs_parts(value[key], parts)
        parts.append("}")
    else:
        raise Malformed(f"{type(value).__name__} is not a JSON value")
    return parts


def format1(value: Any) -> bytes:
    """Chain format 1's canonical JSON: members sorted by code point, no whitespace,
    UTF-8, strings escaped as RFC 8785 does, integers as digits, floats as Python's
    ``repr`` but ``1e-05``-style exponents written out (``0.00001``) at -5 and unpadded
    below (``1e-07`` as ``1e-7``); NaN and infinities as null."""
    return "".join(_format1_parts(value, [])).encode("utf-8", errors="strict")


def _format1_parts(value: Any, parts: list[str]) -> list[str]:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(_format1_float(value))
    elif isinstance(value, list):
        parts.append("[")
        for i, item in enumerate(value):
            parts.append("," if i else "")
            _format1_parts(item, parts)
        parts.append("]")
    elif isinstance(value, dict):
        parts.append("{")
        for i, key in enumerate(sorted(value)):
            parts.append("," if i else "")
            parts.append(_string(key))
            parts.append(":")
            _format1_parts(value[key], parts)
        parts.append("}")
    else:
        raise Malformed(f"{type(value).__name__} is not a JSON value")
    return parts


def _format1_float(value: float) -> str:
    if not math.isfinite(value):
        return "null"
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if not exponent or exponent[0] == "+":
        return text
    power = int(exponent)
    if power == -5:
        sign = "-" if mantissa[0] == "-" else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e{power}"


def jcs_ready(value: Any) -> Any:
    """A value as format 2 hashes it: an integer beyond +-(2**53 - 1) as the string of
    its digits (RFC 8785 appendix D), a NaN or infinity as null."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= JCS_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [jcs_ready(item) for item in value]
    if isinstance(value, dict):
        return {key: jcs_ready(item) for key, item in value.items()}
    raise Malformed(f"{type(value).__name__} is not a JSON value")


def serialised(value: Any, fmt: int) -> bytes:
    """The bytes chain format ``fmt`` hashes for a JSON value."""
    return format1(value) if fmt == 1 else jcs(jcs_ready(value))


# The event hash -------------------------------------------------------------------------------


def commitment(field_salt: str, value: Any, fmt: int) -> str:
    """SHA-256 of the field salt's hex text followed by the value's serialisation."""
    return hashlib.sha256(field_salt.encode() + serialised(value, fmt)).hexdigest()


def event_hash(record: dict[str, Any], fmt: int) -> str:
    """The hash an exported record's content gives under chain format ``fmt``."""
    data = record["data"]
    proof = record["proof"]
    if not isinstance(data, dict) or not isinstance(proof, dict):
        raise Malformed("data and proof must be objects")
    commitments = {
        name: commitment(str(salt), data[name], fmt) for name, salt in proof["salts"].items()
    }
    for name, given in proof["commitments"].items():
        commitments[name] = str(given)
    hashed = {name: value for name, value in data.items() if name not in commitments}
    hashed.update({name: {"commitment": c} for name, c in commitments.items()})
    body: dict[str, Any] = {"format": fmt, **{name: record[name] for name in META}}
    if record.get("producer") is not None:
        body["producer"] = record["producer"]
    body["data"] = hashed
    if fmt == 2:
        body = jcs_ready(body)
    return hashlib.sha256(serialised(body, fmt)).hexdigest()


# The Merkle tree (RFC 9162 section 2.1) -----------------------------------------------------


def leaf_bytes(notification_id: int, subject: str, version: int, hash_hex: str) -> bytes:
    """What a log leaf holds: the event's place in the log and its hash, as a format-1
    JSON array."""
    return format1([notification_id, subject, version, hash_hex])


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(
    hashed_leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: whether ``proof`` puts leaf ``index`` under ``root``."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, hashed_leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# Keys and signatures ------------------------------------------------------------------------


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The ledger's short name of a key: 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def load_pem_public(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as error:
        raise Malformed(f"not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise Malformed(f"a {type(key).__name__} is not an Ed25519 key")
    return key


def signed_by(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def signed_hex(key: Ed25519PublicKey, signature_hex: Any, message: bytes) -> bool:
    """Whether ``signature_hex`` (lower-case hex) is ``key``'s signature of ``message``."""
    if not isinstance(signature_hex, str) or signature_hex != signature_hex.lower():
        return False
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    return signed_by(key, signature, message)


@dataclass(frozen=True)
class VerifierKey:
    """A C2SP signed-note verifier key: ``<name>+<hex key hash>+<base64(0x01 || key)>``."""

    name: str
    key_hash: bytes
    public: Ed25519PublicKey

    @classmethod
    def of(cls, name: str, public: Ed25519PublicKey) -> VerifierKey:
        """The verifier key of ``public`` under ``name``."""
        key_bytes = bytes([ED25519_ALGORITHM]) + raw_public(public)
        return cls(name, hashlib.sha256(name.encode() + b"\n" + key_bytes).digest()[:4], public)

    def render(self) -> str:
        """The key as a C2SP verifier key string."""
        encoded = base64.b64encode(bytes([ED25519_ALGORITHM]) + raw_public(self.public))
        return f"{self.name}+{self.key_hash.hex()}+{encoded.decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)  # base64 may hold "+", a name may not
        if len(parts) != 3:
            raise Malformed("a verifier key is <name>+<hash>+<key>")
        name, hash_hex, encoded = parts
        if not name or any(c.isspace() for c in name):
            raise Malformed("a verifier key's name is non-empty, without spaces")
        try:
            key_hash = bytes.fromhex(hash_hex)
            key_bytes = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise Malformed("a verifier key's hash is hex and its key base64") from None
        if len(hash_hex) != 8 or len(key_bytes) != 33 or key_bytes[0] != ED25519_ALGORITHM:
            raise Malformed("not an Ed25519 verifier key (8 hex digits, 0x01 and 32 bytes)")
        expected = hashlib.sha256(name.encode() + b"\n" + key_bytes).digest()[:4]
        if key_hash != expected:
            raise Malformed(f"its key hash {hash_hex} is not {expected.hex()}")
        public = Ed25519PublicKey.from_public_bytes(key_bytes[1:])
        return cls(name, key_hash, public)


@dataclass(frozen=True)
class Note:
    """A C2SP signed note: its text (what is signed) and its signature lines."""

    text: str
    signatures: list[tuple[str, bytes]]

    @classmethod
    def parse(cls, note: str) -> Note:
        cut = note.rfind("\n\n")
        if cut < 0 or not note.endswith("\n"):
            raise Malformed("a signed note is text, a blank line and signature lines")
        text, block = note[: cut + 1], note[cut + 2 :]
        signatures = []
        for line in block.removesuffix("\n").split("\n"):
            if not line.startswith(SIGNATURE_PREFIX):
                raise Malformed(f"signature line {line!r} does not start with an em dash")
            name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
            try:
                signature = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise Malformed(f"signature of {name} is not base64") from None
            signatures.append((name, signature))
        return cls(text, signatures)

    def signed_by(self, key: VerifierKey) -> bool:
        """Whether a signature line of ``key`` (its name and key hash) verifies."""
        return any(
            name == key.name
            and signature[:4] == key.key_hash
            and signed_by(key.public, signature[4:], self.text.encode())
            for name, signature in self.signatures
        )


def parse_checkpoint(text: str) -> tuple[str, int, bytes, list[str]]:
    """A C2SP tlog-checkpoint body: (origin, tree size, root hash, extension lines)."""
    lines = text.split("\n")[:-1]  # the text ends with a newline
    if len(lines) < 3 or not lines[0]:
        raise Malformed("a checkpoint has an origin, a tree size and a root hash line")
    origin, size_text, root_text = lines[:3]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise Malformed(f"tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        root = b""
    if len(root) != 32:
        raise Malformed(f"root hash {root_text!r} is not 32 bytes in base64")
    return origin, int(size_text), root, lines[3:]


# Reading the export ---------------------------------------------------------------------------


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an export file: JSON Lines, or CSV with JSON in three columns."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                record: dict[str, Any] = dict(row)
                for column in CSV_JSON_COLUMNS:
                    record[column] = load_json(row[column])
                for column in CSV_INT_COLUMNS:
                    record[column] = int(row[column])
                record["producer"] = row.get("producer") or None
                chain_format = row.get("chain_format") or "1"
                record["chain_format"] = (
                    int(chain_format) if chain_format.isdigit() else chain_format
                )
                yield record
        return
    with path.open(encoding="utf-8") as file:
        for line in file:
            if line.strip():
                record = load_json(line)
                if not isinstance(record, dict):
                    raise Malformed("a record is a JSON object")
                yield record


def render_manifest(manifest: dict[str, Any]) -> bytes:
    """How an export writes its manifest: 2-space indented JSON, UTF-8, a final newline."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()


# The checks -----------------------------------------------------------------------------------


@dataclass
class Result:
    """What was checked, and every problem found."""

    key_id: str = ""
    key_pinned: bool = False
    checkpoint: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    subjects: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "subjects": self.subjects,
            "key_id": self.key_id,
            "key_pinned": self.key_pinned,
            "checkpoint": self.checkpoint,
            "problems": self.problems,
        }


def verify(
    directory: Path,
    public_key: Ed25519PublicKey | None = None,
    log_key: VerifierKey | None = None,
) -> Result:
    """Check the export in ``directory``; a pinned key is what it must be signed with."""
    result = Result(key_pinned=public_key is not None or log_key is not None)
    try:
        raw = (directory / MANIFEST).read_bytes()
        manifest = load_json(raw)
        if not isinstance(manifest, dict):
            raise Malformed("not a JSON object")
        embedded = load_pem_public(str(manifest["public_key"]).encode())
    except (OSError, ValueError, KeyError, TypeError) as error:
        result.problems.append(f"{MANIFEST} cannot be read: {error}")
        return result
    pinned = public_key or (log_key.public if log_key is not None else None)
    try:
        keys = _key_chain(manifest, pinned, embedded, result)
        _verify(directory, raw, manifest, keys, result)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        result.problems.append(f"{MANIFEST} is not as an export writes it: {error!r}")
    return result


# Key rotation ---------------------------------------------------------------------------------


def _key_chain(
    manifest: dict[str, Any],
    pinned: Ed25519PublicKey | None,
    embedded: Ed25519PublicKey,
    result: Result,
) -> list[tuple[int, Ed25519PublicKey]]:
    """The keys in force, ``[(first checkpoint it signs, key), ...]``: from the pinned key
    (the ledger's first key; else the first rotation statement's old key, else the
    manifest's own key) through the statements of ``checkpoint.key_chain`` (section 7)."""
    checkpoint = manifest.get("checkpoint")
    checkpoint = checkpoint if isinstance(checkpoint, dict) else {}
    notes = [str(n) for n in checkpoint.get("key_chain") or []]
    origin = ""
    if checkpoint.get("note"):
        try:
            origin = parse_checkpoint(Note.parse(str(checkpoint["note"])).text)[0]
        except Malformed as error:
            result.problems.append(f"the covering checkpoint's note cannot be read: {error}")
    first = pinned or embedded
    if pinned is None and notes:
        try:
            first = _rotation(notes[0])[1].public
        except Malformed:
            first = embedded
    keys = [(1, first)]
    for number, text in enumerate(notes, start=1):
        where = f"key rotation statement {number}"
        try:
            note = Note.parse(text)
            from_seq, old, new = _rotation(text)
        except Malformed as error:
            result.problems.append(f"key_rotation: {where} cannot be read: {error}")
            break
        in_force = keys[-1][1]
        if raw_public(old.public) != raw_public(in_force) or old.name != origin:
            result.problems.append(
                f"key_rotation: {where} replaces key {old.render()} ({key_id(old.public)}), "
                f"but the key in force is {key_id(in_force)}: it does not follow the chain"
            )
            break
        if not note.signed_by(VerifierKey.of(origin, in_force)):
            result.problems.append(f"key_rotation: {where} is not signed by the key in force")
            break
        if not note.signed_by(new):
            result.problems.append(f"key_rotation: {where} is not signed by the new key it names")
            break
        if from_seq < keys[-1][0]:
            result.problems.append(f"key_rotation: {where} starts before the rotation it follows")
            break
        keys.append((from_seq, new.public))
    return keys


def _rotation(text: str) -> tuple[int, VerifierKey, VerifierKey]:
    """A rotation statement's first checkpoint, old key and new key (signatures unchecked):
    its lines after the origin are ``key-rotation N``, ``old VKEY``, ``new VKEY``,
    ``from-checkpoint SEQ`` and ``time INSTANT``; the first of each name counts."""
    fields: dict[str, str] = {}
    for line in Note.parse(text).text.split("\n")[1:-1]:
        name, _, value = line.partition(" ")
        fields.setdefault(name, value)
    names = ("key-rotation", "old", "new", "from-checkpoint", "time")
    missing = [name for name in names if name not in fields]
    if missing:
        raise Malformed(f"not a key rotation statement (no {', '.join(missing)} line)")
    if not fields["key-rotation"].isdigit() or not fields["from-checkpoint"].isdigit():
        raise Malformed("not a key rotation statement (its numbers are not decimal)")
    old, new = VerifierKey.parse(fields["old"]), VerifierKey.parse(fields["new"])
    return int(fields["from-checkpoint"]), old, new


def _in_force(keys: list[tuple[int, Ed25519PublicKey]], seq: int) -> Ed25519PublicKey:
    """The key that must have signed checkpoint ``seq``."""
    key = keys[0][1]
    for start, candidate in keys:
        if start <= seq:
            key = candidate
    return key


def _verify(
    directory: Path,
    raw: bytes,
    manifest: dict[str, Any],
    keys: list[tuple[int, Ed25519PublicKey]],
    result: Result,
) -> None:
    if raw != render_manifest(manifest):
        result.problems.append(f"{MANIFEST}: its bytes are not as written (edited)")
    key = keys[-1][1]  # the key in force when the export was signed
    result.key_id = key_id(key)
    unsigned = {name: value for name, value in manifest.items() if name != "signature"}
    if not signed_hex(key, manifest.get("signature"), format1(unsigned)):
        result.problems.append(f"{MANIFEST}: the signature does not match (edited, or another key)")
    root, size = _checkpoint(manifest.get("checkpoint"), keys, result)
    files = manifest["files"]
    for extra in sorted(p.name for p in directory.iterdir() if p.name not in {*files, MANIFEST}):
        result.problems.append(f"{extra}: not listed in the manifest")
    chains: dict[str, list[dict[str, Any]]] = {}
    for name, expected in sorted(files.items()):
        path = directory / name
        if "/" in name or "\\" in name or not path.is_file():
            result.problems.append(f"{name}: listed in the manifest but missing")
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected["sha256"]:
            result.problems.append(
                f"{name}: SHA-256 differs from the manifest (the file was edited)"
            )
        count = 0
        try:
            for count, record in enumerate(read_records(path), start=1):
                _record(record, f"{name} record {count}", root, size, result)
                chains.setdefault(str(record.get("subject")), []).append(record)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, csv.Error) as error:
            result.problems.append(f"{name}: cannot be parsed after record {count}: {error}")
        if count != expected.get("records"):
            result.problems.append(
                f"{name}: {count} records, the manifest says {expected['records']}"
            )
        result.records += count
    _chains(chains, manifest["subjects"], result)
    result.subjects = len(chains)


def _checkpoint(
    checkpoint: Any, keys: list[tuple[int, Ed25519PublicKey]], result: Result
) -> tuple[bytes, int]:
    """The signed root and tree size the records must be included under."""
    if not isinstance(checkpoint, dict):
        result.problems.append("the manifest holds no checkpoint")
        return b"", 0
    if "note" in checkpoint:
        return _note_checkpoint(checkpoint, keys, result)
    statement = checkpoint.get("statement")
    result.checkpoint = {"form": "statement"}
    seq = statement.get("seq") if isinstance(statement, dict) else None
    key = _in_force(keys, seq if isinstance(seq, int) and seq > 0 else 1)
    if not isinstance(statement, dict) or not signed_hex(
        key, checkpoint.get("signature"), format1(statement)
    ):
        result.problems.append("the covering checkpoint's signature does not match")
    try:
        assert isinstance(statement, dict)
        root, size = bytes.fromhex(statement["root"]), int(statement["tree_size"])
    except (AssertionError, KeyError, ValueError, TypeError):
        result.problems.append("the covering checkpoint has no root")
        return b"", 0
    result.checkpoint.update(tree_size=size, root=root.hex())
    return root, size


def _note_checkpoint(
    checkpoint: dict[str, Any], keys: list[tuple[int, Ed25519PublicKey]], result: Result
) -> tuple[bytes, int]:
    result.checkpoint = {"form": "note"}
    try:
        VerifierKey.parse(str(checkpoint.get("log_key", "")))
    except Malformed as error:
        result.problems.append(f"the checkpoint's log_key is not a verifier key: {error}")
        return b"", 0
    try:
        note = Note.parse(str(checkpoint["note"]))
        origin, size, root, extensions = parse_checkpoint(note.text)
        seqs = [int(line.split(" ", 1)[1]) for line in extensions if line.startswith("seq ")]
    except (Malformed, ValueError) as error:
        result.problems.append(f"the covering checkpoint's note cannot be read: {error}")
        return b"", 0
    # Signed under the log's origin by the key in force for it (key rotation, section 7).
    # (a note without the ledger's seq line: the last key in force)
    log_key = VerifierKey.of(origin, _in_force(keys, seqs[0]) if seqs else keys[-1][1])
    if not note.signed_by(log_key):
        result.problems.append(
            f"the covering checkpoint is not signed by the key in force for it "
            f"({key_id(log_key.public)})"
        )
    result.checkpoint.update(
        origin=origin, tree_size=size, root=root.hex(), extensions=extensions, log_key=log_key.name
    )
    return root, size


def _record(record: dict[str, Any], where: str, root: bytes, size: int, result: Result) -> None:
    about = f"{where} ({record.get('subject')} v{record.get('version')})"
    fmt = record.get("chain_format", 1)  # exports older than the member: format 1
    if type(fmt) is not int or fmt not in CHAIN_FORMATS:
        result.problems.append(f"{about}: chain_format {fmt!r} is not one of {list(CHAIN_FORMATS)}")
        return
    try:
        computed = event_hash(record, fmt)
    except (Malformed, KeyError, TypeError, AttributeError, UnicodeEncodeError) as error:
        result.problems.append(f"{about}: cannot be hashed ({type(error).__name__}: {error})")
        return
    if computed != record["event_hash"]:
        result.problems.append(f"{about}: its content does not match its hash")
    try:
        leaf = leaf_hash(
            leaf_bytes(
                record["notification_id"],
                record["subject"],
                record["version"],
                record["event_hash"],
            )
        )
        proof = [bytes.fromhex(h) for h in record["inclusion"]]
        included = verify_inclusion(leaf, int(record["leaf_index"]), size, proof, root)
    except (KeyError, TypeError, ValueError):
        included = False
    if not included:
        result.problems.append(f"{about}: not in the signed checkpoint")


def _chains(
    chains: dict[str, list[dict[str, Any]]], subjects: dict[str, Any], result: Result
) -> None:
    for subject in sorted(set(subjects) - set(chains)):
        result.problems.append(f"{subject}: in the manifest but no record of it is in the export")
    for subject, records in sorted(chains.items()):
        expected = subjects.get(subject)
        if expected is None:
            result.problems.append(f"{subject}: exported but not in the manifest")
            continue
        records.sort(key=lambda r: int(r["version"]))
        versions = [int(r["version"]) for r in records]
        first, last = int(expected["first_version"]), int(expected["last_version"])
        if versions != list(range(first, last + 1)):
            shown = ", ".join(str(v) for v in versions[:10]) + (
                " ..." if len(versions) > 10 else ""
            )
            result.problems.append(
                f"{subject}: versions {first}-{last} expected, the export holds {shown}"
            )
        for before, after in itertools.pairwise(records):
            if int(after["version"]) == int(before["version"]) + 1 and (
                after["previous_hash"] != before["event_hash"]
            ):
                result.problems.append(
                    f"{subject} v{after['version']}: does not name v{before['version']}'s hash"
                )
        if int(records[0]["version"]) == 1 and records[0]["previous_hash"] != GENESIS:
            result.problems.append(f"{subject} v1: does not start from genesis")
        if last == expected["head_version"] and records[-1]["event_hash"] != expected["head_hash"]:
            result.problems.append(f"{subject}: the last record is not the chain head")


# The command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_export.py",
        description="Check a ledger export offline, independently of the ledger "
        "(docs/chain-format.md).",
    )
    parser.add_argument("directory", type=Path, help="the export directory")
    pin = parser.add_mutually_exclusive_group()
    pin.add_argument(
        "--public-key",
        metavar="PEM",
        help="the ledger's public key (a PEM file) the export must be signed with",
    )
    pin.add_argument(
        "--log-key",
        metavar="VKEY",
        help="the log's C2SP verifier key (name+hash+key, or a file holding it)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    public_key = log_key = None
    try:
        if args.public_key is not None:
            public_key = load_pem_public(Path(args.public_key).read_bytes())
        if args.log_key is not None:
            text = args.log_key
            if "+" not in text and Path(text).is_file():
                text = Path(text).read_text(encoding="utf-8")
            log_key = VerifierKey.parse(text)
    except (OSError, Malformed) as error:
        which = "--public-key" if args.public_key is not None else "--log-key"
        parser.error(f"{which}: {error}")
    result = verify(args.directory, public_key, log_key)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    elif result.ok:
        trust = (
            "pinned"
            if result.key_pinned
            else "from the export itself; pin it with --public-key or --log-key"
        )
        print(
            f"verified: {result.records} events of {result.subjects} subjects, "
            f"signed by key {result.key_id} ({trust})"
        )
    else:
        print(f"FAILED: {len(result.problems)} problems in {args.directory}")
        for problem in result.problems:
            print(f"  {problem}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
