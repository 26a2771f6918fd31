"""The chat outbox does not pile up: acked rows go a day after their ack, rows never
acked a week after they were written; rows still owed are kept. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nexflow_control.chat.models import chat_outbox
from nexflow_control.chat.outbox import KEEP_ACKED, KEEP_UNACKED, PRUNE_EVERY, ChatOutbox
from nexflow_control.db import Database
from sqlalchemy import select


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _calls(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(chat_outbox.c.call_id).order_by(chat_outbox.c.id))
        return [r.call_id for r in rows]


async def test_acked_and_stale_rows_are_pruned_and_owed_ones_kept(db: Database) -> None:
    clock = Clock()
    outbox = ChatOutbox(db, clock)
    for n in range(3):
        await outbox.add("telegram:42", f"call{n}", f"result {n}")
    first, second, _ = await outbox.due("telegram", 10)
    await outbox.ack(first.id)
    assert await _calls(db) == ["call0", "call1", "call2"]  # acked today: kept a day

    clock.now += KEEP_ACKED + timedelta(minutes=1)
    await outbox.ack(second.id)  # a write: the prune runs (the last ran over a day ago)
    assert await _calls(db) == ["call1", "call2"]  # call0's ack is over a day old

    clock.now += PRUNE_EVERY / 2
    await outbox.add("discord:7", "call3", "later")  # too soon for another prune
    clock.now += KEEP_UNACKED + timedelta(minutes=1)
    assert await _calls(db) == ["call1", "call2", "call3"]
    await outbox.add("telegram:42", "call4", "new")  # prunes: call1 acked, call2/3 stale
    assert await _calls(db) == ["call4"]
    assert [d.call_id for d in await outbox.due("telegram", 10)] == ["call4"]


async def test_prune_counts_what_it_deleted(db: Database) -> None:
    clock = Clock()
    outbox = ChatOutbox(db, clock)
    await outbox.add("telegram:1", "a", "x")
    await outbox.add("telegram:1", "b", "y")
    (due, _) = await outbox.due("telegram", 10)
    await outbox.ack(due.id)
    assert await outbox.prune() == (0, 0)
    clock.now += KEEP_UNACKED + timedelta(seconds=1)
    assert await outbox.prune() == (1, 1)
    assert await _calls(db) == []
