"""Client-side checks of the log's proofs (RFC 9162 §2.1.3.2 and §2.1.4.2): pure functions.

Nothing here touches the database or the network; a client that downloaded a proof and a
checkpoint calls these with the bytes it holds. Each returns `True` or `False` and never
raises on hostile input (a wrong-length hash or an over-long path is simply `False`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def _past_right_edge(fn: int, sn: int) -> tuple[int, int]:
    """Shift both indices right until fn is a right child or zero (the RFC's inner loop)."""
    while not fn & 1 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion(
    leaf: bytes, leaf_index: int, tree_size: int, path: Sequence[bytes]
) -> bytes | None:
    """The root that `path` proves `leaf` (a leaf hash) into; None if the path cannot fit."""
    if not 0 <= leaf_index < tree_size or not _well_formed(leaf, *path):
        return None
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _past_right_edge(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, leaf_index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether `path` proves the leaf hash `leaf` sits at `leaf_index` of the tree `root`."""
    return _well_formed(root) and root_from_inclusion(leaf, leaf_index, tree_size, path) == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether the tree of size `second` (`second_root`) extends the one of size `first`.

    A log that was rewound (second < first) or forked (a different history under the same
    prefix) fails here: no path makes both roots come out.
    """
    if not _well_formed(first_root, second_root, *path) or not 0 <= first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if not path:
        return False
    nodes = list(path)
    if first & (first - 1) == 0:  # a power of two: the old root is itself a node of the path
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _past_right_edge(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
