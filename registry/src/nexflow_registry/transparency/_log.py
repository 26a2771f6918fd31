"""The append-only Merkle log in the database (RFC 6962 / 9162 tree).

Entries are kept in `log_entries`; each complete subtree's hash is written to `log_nodes`
the moment its last leaf arrives and never changes, so the tree is append-only by
construction and any proof or root reads only O(log² n) stored nodes in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import log_entries, log_nodes
from ..errors import BadRequest
from ._plan import Node, Range, consistency_ranges, decompose, inclusion_ranges
from .verify import leaf_hash, node_hash

EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def _key(node: Node) -> int:
    return node.level << 48 | node.offset


async def size(conn: AsyncConnection) -> int:
    """How many entries the log holds."""
    last = (await conn.execute(select(func.max(log_entries.c.idx)))).scalar()
    return 0 if last is None else int(last) + 1


async def _nodes(conn: AsyncConnection, wanted: Iterable[Node]) -> dict[Node, bytes]:
    keys = {_key(n): n for n in wanted}
    if not keys:
        return {}
    rows = await conn.execute(
        select(log_nodes.c.node, log_nodes.c.hash).where(log_nodes.c.node.in_(keys))
    )
    return {keys[int(k)]: bytes(h) for k, h in rows}


async def append(conn: AsyncConnection, entries: Sequence[bytes]) -> int:
    """Append `entries` inside the caller's write transaction; the index of the first."""
    start = await size(conn)
    frontier = decompose(0, start)
    stored = await _nodes(conn, frontier)
    stack: list[tuple[Node, bytes]] = [(n, stored[n]) for n in frontier]
    new_nodes: list[dict[str, object]] = []
    for offset, data in enumerate(entries):
        node, digest = Node(0, start + offset), leaf_hash(data)
        new_nodes.append({"node": _key(node), "hash": digest})
        stack.append((node, digest))
        while len(stack) >= 2 and stack[-1][0].level == stack[-2][0].level:
            (_, rh), (left, lh) = stack.pop(), stack.pop()
            parent = Node(left.level + 1, left.offset >> 1)
            digest = node_hash(lh, rh)
            new_nodes.append({"node": _key(parent), "hash": digest})
            stack.append((parent, digest))
    if entries:
        await conn.execute(
            log_entries.insert(),
            [{"idx": start + i, "data": data} for i, data in enumerate(entries)],
        )
        await conn.execute(log_nodes.insert(), new_nodes)
    return start


def _fold(nodes: list[Node], hashes: dict[Node, bytes]) -> bytes:
    digest = hashes[nodes[-1]]
    for node in reversed(nodes[:-1]):
        digest = node_hash(hashes[node], digest)
    return digest


async def _range_hashes(conn: AsyncConnection, ranges: list[Range]) -> list[bytes]:
    parts = [decompose(a, b) for a, b in ranges]
    hashes = await _nodes(conn, (n for p in parts for n in p))
    return [_fold(p, hashes) for p in parts]


async def root(conn: AsyncConnection, tree_size: int) -> bytes:
    """MTH of the first `tree_size` entries."""
    if tree_size == 0:
        return EMPTY_ROOT
    return (await _range_hashes(conn, [(0, tree_size)]))[0]


async def _check_size(conn: AsyncConnection, tree_size: int) -> None:
    current = await size(conn)
    if not 0 < tree_size <= current:
        raise BadRequest(
            f"tree_size must be between 1 and the log's size ({current})", code="bad_tree_size"
        )


async def inclusion_proof(conn: AsyncConnection, leaf_index: int, tree_size: int) -> list[bytes]:
    """The audit path of entry `leaf_index` in the tree of `tree_size` entries."""
    await _check_size(conn, tree_size)
    if not 0 <= leaf_index < tree_size:
        raise BadRequest("leaf_index must be below tree_size", code="bad_leaf_index")
    return await _range_hashes(conn, inclusion_ranges(leaf_index, 0, tree_size))


async def consistency_proof(conn: AsyncConnection, first: int, second: int) -> list[bytes]:
    """The proof that the tree of `second` entries extends the tree of `first`."""
    await _check_size(conn, second)
    if not 0 <= first <= second:
        raise BadRequest("first must be between 0 and second", code="bad_tree_size")
    if first in (0, second):
        return []
    return await _range_hashes(conn, consistency_ranges(first, 0, second))


async def entry(conn: AsyncConnection, index: int) -> bytes:
    """The data of entry `index`."""
    found = (
        await conn.execute(select(log_entries.c.data).where(log_entries.c.idx == index))
    ).scalar()
    if found is None:
        raise BadRequest(f"the log has no entry {index}", code="bad_leaf_index")
    return bytes(found)
