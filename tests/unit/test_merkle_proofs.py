"""RFC 9162 inclusion and consistency proofs: the reference vectors of
transparency-dev/merkle (over the RFC 6962 test leaves), and every small tree against the
RFC's recursive definitions."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from replay.merkle import (
    Frontier,
    Tree,
    leaf_hash,
    levels,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _tree(hashed: list[bytes], stored_levels: int = 0) -> Tree:
    """A tree over ``hashed``; ``stored_levels``: perfect subtrees of 2**level leaves from
    this level up are answered by the store (as the checkpoints' node table does)."""

    def stored(level: int, index: int) -> bytes | None:
        if not stored_levels or level < stored_levels:
            return None
        size = 1 << level
        return levels(hashed[index * size : (index + 1) * size])[-1][0]

    return Tree(lambda a, b: hashed[a:b], stored)


def _mth(d: list[bytes]) -> bytes:  # RFC 9162 2.1.1, literally
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m: int, d: list[bytes]) -> list[bytes]:  # RFC 9162 2.1.3.1
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:  # RFC 9162 2.1.4.1
    n = len(d)
    if m == n:
        return [] if b else [_mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


HASHED = [leaf_hash(x) for x in LEAVES]


def test_the_reference_inclusion_vectors() -> None:
    tree = _tree(HASHED)
    assert tree.hash(0, 8) == _b("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")
    proof = [
        _b("lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c="),
        _b("Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4="),
        _b("a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ="),
    ]
    assert tree.inclusion(0, 8) == proof
    assert verify_inclusion(HASHED[0], 0, 8, proof, tree.hash(0, 8))
    root3 = _b("rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=")
    assert HASHED[2] == _b("ApjRIpBtz8EIkstTpzmS/FufST6kybrbJ7eRtBJ6f+c=")
    assert tree.inclusion(2, 3) == [_b("+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU=")]
    assert verify_inclusion(HASHED[2], 2, 3, tree.inclusion(2, 3), root3)
    assert not verify_inclusion(HASHED[2], 1, 3, tree.inclusion(2, 3), root3)
    assert not verify_inclusion(HASHED[1], 2, 3, tree.inclusion(2, 3), root3)


def test_the_reference_consistency_vectors() -> None:
    tree = _tree(HASHED)
    vectors = [
        (
            1,
            8,
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
            [
                "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
                "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
            ],
        ),
        (
            6,
            8,
            "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
            [
                "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
                "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
                "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
            ],
        ),
        (
            2,
            5,
            "+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU=",
            "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
            [
                "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            ],
        ),
    ]
    for old, new, root1, root2, proof in vectors:
        path = [_b(p) for p in proof]
        assert tree.hash(0, old) == _b(root1) and tree.hash(0, new) == _b(root2)
        assert tree.consistency(old, new) == path
        assert verify_consistency(old, new, _b(root1), _b(root2), path)
        assert not verify_consistency(old, new, _b(root2), _b(root1), path)  # swapped roots
        assert not verify_consistency(old, new, _b(root1), _b(root2), path[:-1])  # truncated
        for i in range(len(path)):  # one flipped bit anywhere fails it
            bent = [*path[:i], bytes([path[i][0] ^ 0x10]) + path[i][1:], *path[i + 1 :]]
            assert not verify_consistency(old, new, _b(root1), _b(root2), bent)


@given(st.integers(1, 70), st.data(), st.sampled_from([0, 1, 2, 3]))
def test_proofs_follow_the_rfc_definitions_for_every_small_tree(
    n: int, data: st.DataObject, stored: int
) -> None:
    d = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = _tree(d, stored)
    frontier = Frontier()
    for h in d:
        frontier.add(h)
    assert tree.hash(0, n) == _mth(d) == frontier.root()
    m = data.draw(st.integers(0, n - 1))
    assert tree.inclusion(m, n) == _path(m, d)
    assert verify_inclusion(d[m], m, n, _path(m, d), _mth(d))
    old = data.draw(st.integers(0, n))
    proof = tree.consistency(old, n)
    assert proof == ([] if old in (0, n) else _subproof(old, d, True))
    assert verify_consistency(old, n, _mth(d[:old]), _mth(d), proof)
    if 0 < old < n:  # a tree that changed one of the first ``old`` leaves is not consistent
        changed = [leaf_hash(b"changed"), *d[1:]]
        assert not verify_consistency(old, n, _mth(changed[:old]), _mth(d), proof)
