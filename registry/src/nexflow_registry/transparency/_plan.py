"""Which subtrees a proof is made of (RFC 6962 §2.1.1 and §2.1.2), as index ranges.

A proof is a list of subtree hashes MTH(D[a:b]). Every range is split into the complete,
aligned subtrees (`Node`) that the log
stores once when they fill up, so a proof costs one read of O(log² n) stored nodes and
no rehashing of leaves.
"""

from __future__ import annotations

from typing import NamedTuple


class Node(NamedTuple):
    """A complete subtree of 2**level leaves."""

    level: int
    offset: int
    """the subtree's position among those of its level (its first leaf is offset * 2**level)"""


Range = tuple[int, int]


def split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(m: int, start: int, end: int) -> list[Range]:
    """PATH(m, D[start:end]) as ranges, leaf side first."""
    n = end - start
    if n <= 1:
        return []
    k = split(n)
    if m < k:
        return [*inclusion_ranges(m, start, start + k), (start + k, end)]
    return [*inclusion_ranges(m - k, start + k, end), (start, start + k)]


def consistency_ranges(m: int, start: int, end: int, whole: bool = True) -> list[Range]:
    """SUBPROOF(m, D[start:end], whole) as ranges."""
    n = end - start
    if m == n:
        return [] if whole else [(start, end)]
    k = split(n)
    if m <= k:
        return [*consistency_ranges(m, start, start + k, whole), (start + k, end)]
    return [*consistency_ranges(m - k, start + k, end, False), (start, start + k)]


def decompose(start: int, end: int) -> list[Node]:
    """The complete subtrees whose right fold is MTH(D[start:end]), largest first."""
    nodes: list[Node] = []
    while end - start > 0:
        size = end - start
        k = size if size & (size - 1) == 0 else split(size)
        level = k.bit_length() - 1
        nodes.append(Node(level, start >> level))
        start += k
    return nodes


def parents_completed(leaf_index: int) -> list[tuple[Node, Node, Node]]:
    """(left, right, parent) for each subtree that leaf `leaf_index` completes, lowest first."""
    out: list[tuple[Node, Node, Node]] = []
    level, index = 0, leaf_index
    while index & 1:
        out.append((Node(level, index - 1), Node(level, index), Node(level + 1, index >> 1)))
        level, index = level + 1, index >> 1
    return out
