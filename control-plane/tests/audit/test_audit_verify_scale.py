"""Verify streams in chunks and stays fast on a large log."""

from __future__ import annotations

import time

import pytest
from nexflow_control.audit import AuditEvent, AuditLog, verify
from sqlalchemy import event


@pytest.mark.timeout(240)
async def test_verify_50k_rows_in_chunks_and_bounded_time(log: AuditLog) -> None:
    """50,000 records verify in chunked reads (never all at once) well within a minute."""
    for start in range(0, 50_000, 5_000):
        await log.append_many(
            [AuditEvent(action="call.finished", call_id=f"c{i}", payload={"i": i})
             for i in range(start, start + 5_000)]
        )  # fmt: skip
    selects: list[str] = []
    event.listen(
        log.engine.sync_engine,
        "before_cursor_execute",
        lambda conn, cur, stmt, *rest: selects.append(stmt),
    )
    started = time.perf_counter()
    report = await verify(log, chunk_size=2_000)
    elapsed = time.perf_counter() - started
    assert report.ok and report.checked == 50_000 and report.head_seq == 50_000
    assert sum(s.lstrip().upper().startswith("SELECT") for s in selects) == 26
    assert elapsed < 60
