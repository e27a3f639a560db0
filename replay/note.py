"""C2SP signed notes, verifier keys, tlog checkpoints and tlog-cosignature/v1.

Pure functions over text and keys (no database), written to the specs at c2sp.org:

* ``signed-note``: a text ending in a newline, a blank line, then one or more lines
  ``— <key name> base64(key id (4 bytes) || signature)``; the key id of an Ed25519 key is
  ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``;
* verifier keys (``vkey``): ``<name>+<key id, 8 hex digits>+base64(type || public key)``,
  the form ``golang.org/x/mod/sumdb/note`` and the transparency-log tools read;
* ``tlog-checkpoint``: a note whose text is the origin line, the tree size in decimal, the
  RFC 9162 root hash in base64, then optional extension lines;
* ``tlog-cosignature`` (Ed25519, type 0x04): a witness's timestamped signature over
  ``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint's text.

No maintained Python package implements these (sigstore keeps a private parser for its own
log only), and each is a few lines of ``cryptography``; the tests check them against the
reference implementation's published vectors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DASH: Final = "\u2014"
ED25519: Final = 0x01
COSIGNATURE_V1: Final = 0x04
MAX_SIGNATURES: Final = 100
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """Text that is not a well-formed note, key or checkpoint (says which rule it breaks)."""


def b64(data: bytes) -> str:
    """Standard base64 (RFC 4648 section 4), as every C2SP format uses."""
    return base64.b64encode(data).decode()


def unb64(text: str, what: str) -> bytes:
    """Decode standard base64 strictly, naming ``what`` when it is not."""
    try:
        return base64.b64decode(text.encode(), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as error:
        raise NoteError(f"{what} is not base64: {error}") from error


def raw_public(key: Ed25519PublicKey) -> bytes:
    """The 32 bytes of an Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def valid_name(name: str) -> bool:
    """Key names (and origins used as key names): non-empty, no spaces, no ``+``."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, kind: int, public: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A named public key of one signature type: a log's (0x01) or a witness's (0x04)."""

    name: str
    kind: int
    public: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        """The 4-byte id its signature lines start with."""
        return key_id(self.name, self.kind, raw_public(self.public))

    def encode(self) -> str:
        """``name+hexid+base64(type||key)``."""
        material = bytes([self.kind]) + raw_public(self.public)
        return f"{self.name}+{self.key_id.hex()}+{b64(material)}"

    def __str__(self) -> str:
        return self.encode()


def parse_vkey(text: str) -> VerifierKey:
    """A verifier key ``name+hexid+base64(type||key)``; the id must match the key."""
    parts = text.strip().split("+", 2)  # (base64 holds "+" too)
    if len(parts) != 3:
        raise NoteError(f"{text.strip()!r} is not a verifier key (name+keyid+base64key)")
    name, hex_id, encoded = parts
    if not valid_name(name):
        raise NoteError(f"verifier key name {name!r} is empty or holds a space")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise NoteError(f"verifier key id {hex_id!r} is not 8 lower-case hex digits")
    material = unb64(encoded, "the verifier key's key")
    if len(material) != 33 or material[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError(
            "the verifier key is not an Ed25519 key (type 0x01) or an Ed25519 cosigner key "
            "(type 0x04) of 32 bytes"
        )
    try:
        public = Ed25519PublicKey.from_public_bytes(material[1:])
    except ValueError as error:
        raise NoteError(f"the verifier key's key is not an Ed25519 key: {error}") from error
    vkey = VerifierKey(name, material[0], public)
    if vkey.key_id.hex() != hex_id:
        raise NoteError(f"verifier key id {hex_id} does not match its key ({vkey.key_id.hex()})")
    return vkey


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """``— name base64(id||sig)\\n``."""
        return f"{DASH} {self.name} {b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A note's text (ending in a newline) and its signature lines, in order."""

    text: str
    signatures: tuple[Signature, ...]

    def render(self) -> str:
        """The note as it travels: text, blank line, signature lines."""
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, added: list[Signature]) -> Note:
        """The note with ``added`` lines appended (a line it already holds is not repeated)."""
        kept = list(self.signatures)
        kept += [s for s in added if s not in kept]
        return Note(self.text, tuple(kept))


def parse_note(data: str | bytes) -> Note:
    """A signed note, checked against the format (not the signatures: see ``verify_*``)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NoteError(f"a note must be UTF-8: {error}") from error
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise NoteError("a note holds no control characters but newlines")
    split = data.rfind("\n\n")
    if split < 0 or not data.endswith("\n"):
        raise NoteError("a note is its text, a blank line and signature lines, each ending in \\n")
    text, lines = data[: split + 1], data[split + 2 :].splitlines()
    if not lines:
        raise NoteError("the note has no signature line")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(parse_signature_line(line) for line in lines))


def parse_signature_line(line: str) -> Signature:
    """``— <name> <base64(id||sig)>`` (without its newline)."""
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != DASH or not valid_name(parts[1]):
        raise NoteError(f"{line!r} is not a signature line (— <key name> <base64>)")
    raw = unb64(parts[2], f"the signature of {parts[1]}")
    if len(raw) < 5:
        raise NoteError(f"the signature of {parts[1]} is too short")
    return Signature(parts[1], raw[:4], raw[4:])


def sign(text: str, name: str, key: Ed25519PrivateKey) -> Signature:
    """An Ed25519 (type 0x01) note signature of ``text`` by the key named ``name``."""
    _check_text(text)
    kid = key_id(name, ED25519, raw_public(key.public_key()))
    return Signature(name, kid, key.sign(text.encode()))


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("a note's text must end in a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note's text holds no control characters but newlines")


def _matching(note: Note, vkey: VerifierKey) -> list[Signature]:
    return [s for s in note.signatures if s.name == vkey.name and s.key_id == vkey.key_id]


def verify_signature(note: Note, vkey: VerifierKey) -> bool:
    """Whether ``vkey`` (type 0x01) signed the note's text; False if it holds no line of it."""
    found = _matching(note, vkey)
    if vkey.kind != ED25519 or not found:
        return False
    return all(_verifies(vkey.public, s.signature, note.text.encode()) for s in found)


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header, time line, the checkpoint's text."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(text: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> Signature:
    """A tlog-cosignature/v1 line (type 0x04) of the checkpoint ``text`` at ``timestamp``."""
    if not 0 <= timestamp < 2**63:
        raise NoteError("a cosignature's timestamp is a POSIX time below 2^63")
    kid = key_id(name, COSIGNATURE_V1, raw_public(key.public_key()))
    signed = key.sign(cosignature_message(text, timestamp))
    return Signature(name, kid, timestamp.to_bytes(8, "big") + signed)


def verify_cosignature(note: Note, vkey: VerifierKey) -> int | None:
    """The timestamp of ``vkey``'s valid cosignature on the note, None if it has none."""
    if vkey.kind != COSIGNATURE_V1:
        return None
    for s in _matching(note, vkey):
        if len(s.signature) != 72:
            continue
        timestamp = int.from_bytes(s.signature[:8], "big")
        if _verifies(vkey.public, s.signature[8:], cosignature_message(note.text, timestamp)):
            return timestamp
    return None


def _verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# tlog-checkpoint ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointBody:
    """The text of a tlog checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The note text (each line ending in a newline)."""
        lines = [self.origin, str(self.size), b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> CheckpointBody:
    """A checkpoint's note text, checked line by line."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint is at least three lines (origin, size, root)")
    lines = lines[:-1]
    origin, size, root, extensions = lines[0], lines[1], lines[2], lines[3:]
    if not origin:
        raise NoteError("the checkpoint's origin line is empty")
    if not _DECIMAL.fullmatch(size):
        raise NoteError(f"the checkpoint's tree size {size!r} is not a decimal number")
    digest = unb64(root, "the checkpoint's root hash")
    if len(digest) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    if any(not line for line in extensions):
        raise NoteError("a checkpoint's extension lines are not empty")
    return CheckpointBody(origin, int(size), digest, tuple(extensions))
