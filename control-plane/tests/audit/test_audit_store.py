"""The store: group commit, multi-writer safety, and failing closed when the store is down."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.audit import AuditEvent, AuditLog, AuditUnavailable, tail, verify
from nexflow_control.audit.bench import bench_append


def ev(i: int, actor: str = "ann") -> AuditEvent:
    return AuditEvent(action="call.requested", call_id=f"c{i}", actor=actor, payload={"i": i})


def count_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as raw:
        return int(raw.execute("SELECT count(*) FROM audit_events").fetchone()[0])


def replace_with_directory(db_path: Path) -> None:
    for path in db_path.parent.iterdir():
        path.unlink()
    db_path.mkdir()


async def test_open_creates_parent_dir_and_wal(db_url: str, db_path: Path) -> None:
    """Opening creates the missing folder and the file, in WAL journal mode."""
    assert not db_path.parent.exists()
    opened = await AuditLog.open(db_url)
    await opened.close()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_group_commit_keeps_one_gapless_chain(log: AuditLog) -> None:
    """200 concurrent appends share few transactions and still form seq 1..200 intact."""
    before = log.commits
    records = await asyncio.gather(*(log.append(ev(i)) for i in range(200)))
    assert sorted(r.seq for r in records) == list(range(1, 201))
    assert 1 <= log.commits - before < 50
    report = await verify(log)
    assert report.ok and report.checked == 200 and report.head_seq == 200


async def test_append_many_is_contiguous_amid_concurrent_appends(log: AuditLog) -> None:
    """Events given together get consecutive seqs even while others append concurrently."""
    singles = [log.append(ev(i)) for i in range(50)]
    many = log.append_many([ev(1000 + i, actor="bob") for i in range(10)])
    results = await asyncio.gather(many, *singles)
    seqs = [r.seq for r in results[0]]
    assert seqs == list(range(seqs[0], seqs[0] + 10))
    assert [r.call_id for r in results[0]] == [f"c{1000 + i}" for i in range(10)]
    assert (await verify(log)).ok


async def test_two_instances_on_one_file_build_one_chain(db_url: str) -> None:
    """Two logs on one SQLite file (two processes' worth) append concurrently into one chain."""
    first, second = await AuditLog.open(db_url), await AuditLog.open(db_url)
    try:
        await asyncio.gather(
            *(first.append(ev(i, "one")) for i in range(150)),
            *(second.append(ev(i, "two")) for i in range(150)),
        )
        report = await verify(first)
        records = await tail(first, 0, 1000)
    finally:
        await first.close()
        await second.close()
    assert report.ok and report.checked == 300
    assert {r.actor for r in records} == {"one", "two"}


CHILD = """
import asyncio, sys
from nexflow_control.audit import AuditEvent, AuditLog
async def main():
    log = await AuditLog.open(sys.argv[1])
    for i in range(300):
        await log.append(AuditEvent(action="call.requested", actor="child", payload={"i": i}))
    await log.close()
asyncio.run(main())
"""


@pytest.mark.timeout(120)
async def test_a_second_process_appending_at_once_keeps_the_chain(
    db_url: str, db_path: Path, log: AuditLog
) -> None:
    """A real second OS process appending at the same time still leaves one valid chain."""
    await log.append(ev(0, "parent"))
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, db_url)
    try:
        for _ in range(3000):  # wait (at most a minute) until the child is writing
            if count_rows(db_path) >= 2 or child.returncode is not None:
                break
            await asyncio.sleep(0.02)
        for i in range(1, 200):
            await log.append(ev(i, "parent"))
    finally:
        assert await asyncio.wait_for(child.wait(), 60) == 0
    report = await verify(log)
    assert report.ok and report.checked == 500
    actors = [r.actor for r in await tail(log, 0, 1000)]
    assert actors.count("child") == 300
    last_parent = len(actors) - 1 - actors[::-1].index("parent")
    assert actors.index("child") < last_parent  # the two really wrote at the same time


async def test_lock_held_too_long_fails_every_waiter_then_recovers(
    db_url: str, db_path: Path
) -> None:
    """A foreign writer holding the lock makes the whole batch fail; later appends work."""
    log = await AuditLog.open(db_url, busy_timeout_ms=200)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        results = await asyncio.gather(
            *(log.append(ev(i)) for i in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, AuditUnavailable) for r in results)
        assert log.head is None
        blocker.execute("ROLLBACK")
        record = await log.append(ev(99))
        assert record.seq == 1  # nothing of the failed batch was kept
        assert (await verify(log)).ok
    finally:
        blocker.close()
        await log.close()


async def test_database_replaced_by_directory_raises_unavailable(
    log: AuditLog, db_path: Path
) -> None:
    """With the file gone (a directory in its place) and the pool dropped, append fails closed."""
    await log.append(ev(0))
    replace_with_directory(db_path)
    await log.engine.dispose()
    with pytest.raises(AuditUnavailable) as info:
        await log.append(ev(1))
    assert info.value.code == "audit_unavailable"
    assert "Traceback" not in info.value.message


async def test_dropped_table_raises_unavailable(log: AuditLog, db_path: Path) -> None:
    """A store that lost its table refuses appends with AuditUnavailable."""
    await log.append(ev(0))
    with sqlite3.connect(db_path) as raw:
        raw.execute("DROP TABLE audit_events")
    with pytest.raises(AuditUnavailable):
        await log.append(ev(1))


async def test_open_on_impossible_path_raises_unavailable(tmp_path: Path) -> None:
    """Opening under a path whose parent is a regular file raises AuditUnavailable."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(AuditUnavailable):
        await AuditLog.open(f"sqlite+aiosqlite:///{tmp_path / 'file' / 'audit.db'}")


async def test_closed_log_refuses_appends(db_url: str) -> None:
    """After close, append raises AuditUnavailable instead of hanging."""
    log = await AuditLog.open(db_url)
    queued = asyncio.ensure_future(log.append(ev(0)))
    await asyncio.sleep(0)
    await log.close()
    assert (await queued).seq == 1  # what was queued before close is still written
    with pytest.raises(AuditUnavailable):
        await log.append(ev(1))


async def test_cancelled_caller_does_not_break_the_writer(log: AuditLog) -> None:
    """A caller cancelled while waiting leaves the writer working and the chain intact."""
    task = asyncio.ensure_future(log.append(ev(0)))
    await asyncio.sleep(0)
    task.cancel()
    others: list[Any] = await asyncio.gather(*(log.append(ev(i)) for i in range(1, 5)))
    assert len(others) == 4
    assert (await verify(log)).ok


async def test_bench_append_reports_a_rate(db_url: str) -> None:
    """The benchmark helper appends n events for real and returns events per second."""
    rate = await bench_append(db_url, 200, 8)
    assert rate > 0
    log = await AuditLog.open(db_url)
    try:
        assert (await verify(log)).checked == 200
    finally:
        await log.close()
