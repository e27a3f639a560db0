"""C2SP signed notes, verifier keys, checkpoints and cosignatures, against the vectors of the
reference implementation (golang.org/x/mod/sumdb/note's tests) and the specs' rules."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from replay.note import (
    COSIGNATURE_V1,
    ED25519,
    CheckpointBody,
    Note,
    NoteError,
    VerifierKey,
    cosign,
    cosignature_message,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    sign,
    verify_cosignature,
    verify_signature,
)

# golang.org/x/mod/sumdb/note/note_test.go
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngo"
    "tpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33"
    "WWd1RvMc+QQ=\n"
)


def _peter() -> Ed25519PrivateKey:
    material = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert material[0] == ED25519
    return Ed25519PrivateKey.from_private_bytes(material[1:])


def test_signing_gives_the_reference_implementations_signature_line() -> None:
    line = sign(TEXT, "PeterNeumann", _peter())
    assert Note(TEXT, (line,)).render() == TEXT + "\n" + PETER_SIG
    assert VerifierKey("PeterNeumann", ED25519, _peter().public_key()).encode() == PETER_VKEY


def test_a_note_verifies_with_its_keys_and_ignores_unknown_ones() -> None:
    note = parse_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert note.text == TEXT and [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]
    peter, enoch = parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)
    assert verify_signature(note, peter) and verify_signature(note, enoch)
    only_enoch = parse_note(TEXT + "\n" + ENOCH_SIG)
    assert not verify_signature(only_enoch, peter)  # no line of that key: not signed by it
    forged = parse_note(TEXT.replace("answer", "Answer") + "\n" + PETER_SIG)
    assert not verify_signature(forged, peter)


@pytest.mark.parametrize(
    "bad",
    [
        TEXT,  # no signatures
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],  # the last line does not end in a newline
        "\x01" + TEXT + "\n" + PETER_SIG,  # a control character
        TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p=\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,  # too many signatures
    ],
)
def test_malformed_notes_are_refused(bad: str) -> None:
    with pytest.raises(NoteError):
        parse_note(bad)


def test_mangled_verifier_keys_are_refused() -> None:
    parse_vkey(PETER_VKEY)
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            parse_vkey(mangled)
    with pytest.raises(NoteError):  # unknown algorithm, with an adjusted key id
        parse_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_a_cosignature_signs_the_header_the_time_and_the_checkpoint() -> None:
    body = CheckpointBody("example.com/log", 8, b"\x11" * 32, ("seq 2",)).text()
    assert parse_checkpoint(body) == CheckpointBody("example.com/log", 8, b"\x11" * 32, ("seq 2",))
    witness = Ed25519PrivateKey.generate()
    line = cosign(body, "witness.example/w1", witness, 1_679_315_147)
    assert cosignature_message(body, 1_679_315_147).startswith(
        b"cosignature/v1\ntime 1679315147\nexample.com/log\n8\n"
    )
    vkey = VerifierKey("witness.example/w1", COSIGNATURE_V1, witness.public_key())
    note = Note(body, (line,))
    assert verify_cosignature(parse_note(note.render()), vkey) == 1_679_315_147
    assert parse_vkey(vkey.encode()) == vkey
    other = Note(body.replace("\n8\n", "\n9\n"), (line,))
    assert verify_cosignature(other, vkey) is None  # another tree: not cosigned
    as_log_key = VerifierKey("witness.example/w1", ED25519, witness.public_key())
    assert not verify_signature(note, as_log_key)  # a cosignature is no log signature


@pytest.mark.parametrize(
    "text",
    [
        "origin\n8\n",  # no root
        "\n8\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # empty origin
        "origin\n08\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "origin\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n8\nAAAA\n",  # not 32 bytes
        "origin\n8\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # no final newline
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)
