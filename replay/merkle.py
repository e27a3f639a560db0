"""A Merkle tree over the log in notification order, as in RFC 9162 (Certificate Transparency).

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``. A
:class:`Frontier` (the roots of the perfect subtrees so far) extends the tree one leaf at a
time in O(log n) memory, so a checkpoint only hashes what is new. An inclusion proof lets
anyone holding one exported event and a signed root check that the event is in the log; a
consistency proof, that a later tree extends an earlier one (RFC 9162 sections 2.1.3, 2.1.4).

Proofs are made by :class:`Tree` from any store of hashes: it asks for the root of each
perfect subtree the proof needs (the checkpoints keep those of 256 leaves and more), so a
proof over a million leaves reads O(log n) rows, not the whole tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
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

    def add(self, hashed_leaf: bytes) -> list[tuple[int, bytes]]:
        """Append one leaf (already hashed with :func:`leaf_hash`); return every perfect
        subtree it completes, ``(leaf count, hash)``, smallest (the leaf) first: each ends
        at this leaf."""
        self.subtrees.append((1, hashed_leaf))
        completed = [(1, hashed_leaf)]
        while len(self.subtrees) > 1 and self.subtrees[-1][0] == self.subtrees[-2][0]:
            (count, right), (_, left) = self.subtrees.pop(), self.subtrees.pop()
            self.subtrees.append((2 * count, node_hash(left, right)))
            completed.append(self.subtrees[-1])
        return completed

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


def _largest_power_below(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """RFC 9162 hashes and proofs over leaves kept elsewhere.

    ``leaf_hashes(start, end)``: the hashed leaves at positions [start, end);
    ``stored(level, index)``: the root of the perfect subtree of ``2**level`` leaves
    starting at ``index * 2**level`` if the store keeps it, else None (it is then hashed
    from its leaves).
    """

    def __init__(
        self,
        leaf_hashes: Callable[[int, int], list[bytes]],
        stored: Callable[[int, int], bytes | None] = lambda _level, _index: None,
    ) -> None:
        self._leaf_hashes = leaf_hashes
        self._stored = stored

    def hash(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])``, where ``start`` is aligned as in the RFC's recursion."""
        n = end - start
        if n <= 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            found = self._stored(n.bit_length() - 1, start // n) if n > 1 else None
            if found is not None:
                return found
            if n > 1 and n.bit_length() - 1 > STORED_LEVEL:  # split: halves may be stored
                half = n // 2
                return node_hash(self.hash(start, start + half), self.hash(start + half, end))
            hashed = self._leaf_hashes(start, end)
            if len(hashed) != n:
                raise LookupError(f"leaves {start}-{end - 1} are not all stored")
            return levels(hashed)[-1][0]
        k = _largest_power_below(n)
        return node_hash(self.hash(start, start + k), self.hash(start + k, end))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """``PATH(index, D[size])``: the audit path, leaf level first (RFC 9162 2.1.3.1)."""
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _largest_power_below(n)
        if m < k:
            return [*self._path(m, start, start + k), self.hash(start + k, end)]
        return [*self._path(m - k, start + k, end), self.hash(start, start + k)]

    def consistency(self, old: int, new: int) -> list[bytes]:
        """``PROOF(old, D[new])`` (RFC 9162 2.1.4.1); empty when ``old`` is 0 or ``new``."""
        if not 0 <= old <= new:
            raise ValueError(f"no consistency proof from {old} leaves to {new}")
        if old in (0, new):
            return []
        return self._subproof(old, 0, new, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.hash(start, end)]
        k = _largest_power_below(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self.hash(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self.hash(start, start + k)]


STORED_LEVEL = 8
"""Checkpoints keep the root of every perfect subtree of ``2**8`` leaves and more."""


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the ``new``-leaf tree extends the ``old``-leaf one (RFC 9162
    section 2.1.4.2)."""
    if old > new or old < 0:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
