"""A Merkle tree over the log in notification order, as in RFC 9162 (Certificate Transparency).

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``. A
:class:`Frontier` (the roots of the perfect subtrees so far) extends the tree one leaf at a
time in O(log n) memory, so a checkpoint only hashes what is new. An inclusion proof lets
anyone holding one exported event and a signed root check that the event is in the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field


def leaf_hash(leaf: bytes) -> bytes:
    """The hash of one leaf."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


@dataclass
class Frontier:
    """The tree so far as its perfect subtrees, largest first: ``(leaf count, hash)``."""

    subtrees: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Leaves added so far."""
        return sum(count for count, _ in self.subtrees)

    def add(self, hashed_leaf: bytes) -> None:
        """Append one leaf (already hashed with :func:`leaf_hash`)."""
        self.subtrees.append((1, hashed_leaf))
        while len(self.subtrees) > 1 and self.subtrees[-1][0] == self.subtrees[-2][0]:
            (count, right), (_, left) = self.subtrees.pop(), self.subtrees.pop()
            self.subtrees.append((2 * count, node_hash(left, right)))

    def root(self) -> bytes:
        """The Merkle tree hash of every leaf added (RFC 9162 section 2.1.1)."""
        if not self.subtrees:
            return EMPTY_ROOT
        root = self.subtrees[-1][1]
        for _, left in reversed(self.subtrees[:-1]):
            root = node_hash(left, root)
        return root

    def dump(self) -> list[list[int | str]]:
        """JSON-ready form, to resume from."""
        return [[count, digest.hex()] for count, digest in self.subtrees]

    @classmethod
    def load(cls, dumped: Sequence[Sequence[int | str]]) -> Frontier:
        """The frontier :meth:`dump` wrote."""
        return cls([(int(count), bytes.fromhex(str(digest))) for count, digest in dumped])


def levels(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first; an odd last node moves up unpaired."""
    tree = [leaf_hashes]
    while len(tree[-1]) > 1:
        below = tree[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        tree.append(above)
    return tree


def inclusion_proof(tree: list[list[bytes]], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` (RFC 9162 section 2.1.3.1), from :func:`levels`."""
    proof = []
    for level in tree[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def verify_inclusion(
    hashed_leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf ``index`` of a ``size``-leaf tree under ``root``."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, hashed_leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
