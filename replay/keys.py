"""The ledger's Ed25519 signing key: configured by path, generated on first use, never printed.

``LEDGER_SIGNING_KEY`` names a PEM file holding the private key; by default it is
``$XDG_CONFIG_HOME/ledger/signing-key.pem`` (``~/.config/ledger/...``). ``ledger
checkpoint`` creates it (mode 0600) the first time; everything else only reads it, and
auditors who hold just the public half (``ledger key public``: the PEM, then the C2SP
verifier key line) pass ``--public-key`` (either form). ``ledger key rotate`` installs a
new key in the same place (:func:`install`), keeping the old one beside it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ENV_KEY: Final = "LEDGER_SIGNING_KEY"


class KeyError_(Exception):
    """The key is missing or unreadable (a user-facing message)."""


def key_path() -> Path:
    """Where the signing key is configured to live."""
    configured = os.environ.get(ENV_KEY)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ledger" / "signing-key.pem"


def signing_key(*, create: bool) -> Ed25519PrivateKey:
    """The configured private key; with ``create``, generated (mode 0600) if absent."""
    path = key_path()
    if not path.exists():
        if not create:
            raise KeyError_(
                f"no signing key at {path} (set {ENV_KEY}, or pass --public-key to verify)"
            )
        return _generate(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise KeyError_(f"{path} is not a PEM private key: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def _generate(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return signing_key(create=False)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM text (safe to print and to hand to auditors)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public(pem: str | bytes) -> Ed25519PublicKey:
    """A public key from PEM (a private key's PEM gives its public half)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as error:
            raise KeyError_(f"not a PEM Ed25519 key: {error}") from error
        key = private.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise KeyError_(f"a {type(key).__name__} is not an Ed25519 key")
    return key


def trusted_public(public_key_file: str | None) -> Ed25519PublicKey:
    """The key checkpoints must be signed with: ``--public-key``, else the configured key's."""
    if public_key_file is not None:
        return read_public(public_key_file, "--public-key")
    return signing_key(create=False).public_key()


def read_public(given: str, option: str) -> Ed25519PublicKey:
    """A public key given as a C2SP verifier key (``name+id+key``), or as a file holding
    one or a PEM key (``ledger key public`` output holds both)."""
    from replay.note import ED25519, NoteError, parse_vkey

    if "+" in given and not Path(given).exists():
        try:
            vkey = parse_vkey(given)
        except NoteError as error:
            raise KeyError_(f"{option} {given}: {error}") from error
        if vkey.kind != ED25519:
            raise KeyError_(f"{option} {given}: a cosigner (witness) key, not a log key")
        return vkey.public
    try:
        data = Path(given).read_bytes()
    except OSError as error:
        raise KeyError_(f"cannot read {option} {given}: {error.strerror or error}") from error
    if b"-----BEGIN" in data:
        try:
            return load_public(data)
        except KeyError_ as error:
            raise KeyError_(f"{option} {given}: {error}") from error
    return read_public(data.decode(errors="replace").strip(), option)


def install(new: Ed25519PrivateKey) -> Path:
    """Make ``new`` the configured signing key: written beside the old one, fsynced and
    renamed over it; the old key is kept as ``<file>.<key id>.retired``. Returns that path."""
    path = key_path()
    pem = new.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    retired = path.with_name(
        f"{path.name}.{key_id(signing_key(create=False).public_key())}.retired"
    )
    temporary = path.with_name(f".{path.name}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    if not retired.exists():
        os.link(path, retired)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return retired


def read_private(path: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file (``key rotate --new-key``)."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as error:
        raise KeyError_(f"cannot read {path}: {error.strerror or error}") from error
    except (ValueError, TypeError) as error:
        raise KeyError_(f"{path} is not a PEM private key: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint: the first 16 hex digits of SHA-256 of the raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verifies(key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    """Whether ``signature_hex`` is ``key``'s signature of ``message``."""
    try:
        key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
