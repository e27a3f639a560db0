"""The Merkle tree is RFC 9162's: roots, incremental frontiers and inclusion proofs agree."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replay.merkle import (
    EMPTY_ROOT,
    Frontier,
    inclusion_proof,
    leaf_hash,
    levels,
    node_hash,
    verify_inclusion,
)


def rfc_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 section 2.1.1 defines it (recursive split)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(rfc_root(leaves[:k]), rfc_root(leaves[k:]))


# The ledger's leaves are unique: each holds the event's notification id.
leaf_lists = st.lists(st.binary(min_size=0, max_size=8), min_size=1, max_size=70, unique=True)


@given(leaf_lists)
def test_the_frontier_and_the_levels_give_the_rfc_root(leaves: list[bytes]) -> None:
    frontier = Frontier()
    for leaf in leaves:
        frontier.add(leaf_hash(leaf))
    assert frontier.root() == rfc_root(leaves)
    assert levels([leaf_hash(x) for x in leaves])[-1] == [rfc_root(leaves)]
    assert Frontier.load(frontier.dump()).root() == frontier.root()
    assert frontier.size == len(leaves)


@given(leaf_lists, st.data())
def test_every_leaf_has_a_proof_and_no_other_leaf_fits_it(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = levels([leaf_hash(x) for x in leaves])
    root, size = tree[-1][0], len(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(tree, index)
    assert verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)
    assert not verify_inclusion(leaf_hash(leaves[index] + b"!"), index, size, proof, root)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        assert not verify_inclusion(leaf_hash(leaves[index]), other, size, proof, root)
    assert not verify_inclusion(leaf_hash(leaves[index]), index, size, proof, rfc_root([b"x"]))


def test_resuming_from_a_checkpoint_frontier_extends_the_same_tree() -> None:
    leaves = [str(i).encode() for i in range(1000)]
    first = Frontier()
    for leaf in leaves[:613]:
        first.add(leaf_hash(leaf))
    resumed = Frontier.load(first.dump())
    for leaf in leaves[613:]:
        resumed.add(leaf_hash(leaf))
    assert resumed.root() == rfc_root(leaves)
    assert len(first.dump()) == bin(613).count("1")  # O(log n) to keep between checkpoints
