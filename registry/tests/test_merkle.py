"""The Merkle log in a real SQLite database against a from-the-RFC reference tree."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from nexflow_registry.db import Database, open_database
from nexflow_registry.transparency import log, verify_consistency, verify_inclusion
from nexflow_registry.transparency.verify import leaf_hash


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _data(i: int) -> bytes:
    return f"entry-{i}".encode()


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'log.db'}")
    yield database  # type: ignore[misc]
    await database.close()


async def _fill(db: Database, n: int, batch: int = 1) -> None:
    for start in range(0, n, batch):
        async with db.writing() as conn:
            await log.append(conn, [_data(i) for i in range(start, min(n, start + batch))])


async def test_roots_match_the_rfc_definition(db: Database) -> None:
    """The stored tree's root of every size equals MTH computed from the leaves."""
    await _fill(db, 37)
    async with db.engine.connect() as conn:
        assert await log.size(conn) == 37
        for n in range(0, 38):
            assert await log.root(conn, n) == _mth([_data(i) for i in range(n)])


async def test_batched_appends_store_the_same_tree(db: Database, tmp_path: Path) -> None:
    """Appending in uneven batches gives the same roots as appending one at a time."""
    other = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        await _fill(db, 29)
        await _fill(other, 29, batch=7)
        async with db.engine.connect() as a, other.engine.connect() as b:
            assert await log.root(a, 29) == await log.root(b, 29)
    finally:
        await other.close()


async def test_every_inclusion_proof_verifies_and_a_wrong_one_does_not(db: Database) -> None:
    """Each leaf's proof verifies at each size; a different leaf, index or root fails."""
    await _fill(db, 21)
    async with db.engine.connect() as conn:
        for n in range(1, 22):
            root = _mth([_data(i) for i in range(n)])
            for m in range(n):
                path = await log.inclusion_proof(conn, m, n)
                assert verify_inclusion(leaf_hash(_data(m)), m, n, path, root)
                assert not verify_inclusion(leaf_hash(_data(m + 1)), m, n, path, root)
                if n > 1:
                    assert not verify_inclusion(leaf_hash(_data(m)), (m + 1) % n, n, path, root)
                    flipped = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
                    assert not verify_inclusion(leaf_hash(_data(m)), m, n, flipped, root)


async def test_every_consistency_proof_verifies(db: Database) -> None:
    """A proof between any two sizes verifies; swapped roots do not."""
    await _fill(db, 19)
    async with db.engine.connect() as conn:
        for n in range(1, 20):
            for m in range(0, n + 1):
                path = await log.consistency_proof(conn, m, n)
                first, second = (
                    _mth([_data(i) for i in range(m)]),
                    _mth([_data(i) for i in range(n)]),
                )
                assert verify_consistency(m, n, first, second, path)
                if 0 < m < n:
                    assert not verify_consistency(m, n, second, first, path)


async def test_a_forked_or_rewound_log_fails_the_consistency_check(db: Database) -> None:
    """A log whose history differs under the old size, or is shorter, cannot prove consistency."""
    await _fill(db, 10)
    async with db.engine.connect() as conn:
        old_root = await log.root(conn, 6)
        path = await log.consistency_proof(conn, 6, 10)
        new_root = await log.root(conn, 10)
    forked = [_data(i) for i in range(10)]
    forked[3] = b"rewritten history"
    assert verify_consistency(6, 10, old_root, new_root, path)
    assert not verify_consistency(6, 10, old_root, _mth(forked), path)
    assert not verify_consistency(10, 6, new_root, old_root, path)  # rewound


async def test_proofs_for_sizes_the_log_lacks_are_refused(db: Database) -> None:
    """Asking for a tree larger than the log or a leaf outside the tree is a clear error."""
    await _fill(db, 4)
    async with db.engine.connect() as conn:
        with pytest.raises(Exception, match="tree_size") as info:
            await log.inclusion_proof(conn, 0, 5)
        assert getattr(info.value, "code", "") == "bad_tree_size"
        with pytest.raises(Exception, match="leaf_index"):
            await log.inclusion_proof(conn, 4, 4)


async def test_a_newer_schema_is_refused_and_nothing_is_changed(tmp_path: Path) -> None:
    """A database written by a newer registry is refused with a clear error, left as it was."""
    from nexflow_registry.db import schema_info
    from nexflow_registry.errors import RegistryUnavailable

    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    first = await open_database(url)
    await _fill(first, 3)
    async with first.writing() as conn:
        await conn.execute(schema_info.update().values(version=99))
    await first.close()
    with pytest.raises(RegistryUnavailable, match="version 99"):
        await open_database(url)
    import sqlite3

    with sqlite3.connect(tmp_path / "new.db") as raw:
        assert raw.execute("SELECT count(*) FROM log_entries").fetchone() == (3,)
