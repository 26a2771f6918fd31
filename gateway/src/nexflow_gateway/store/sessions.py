"""Chat sessions in the database: each turn, its messages, tool steps and costs.

A session row is written with its first turn (a turn that never ran leaves nothing). Each
session keeps its newest `max_turns` turns (older ones are deleted with their messages
and steps); sessions idle longer than `retention_days` are deleted by `sweep()`. One
asyncio lock per session keeps this process's turns of one session in order.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from ..errors import SessionNotFound
from ..turns import CallRecord, PendingApproval, Turn, Usage
from ._engine import in_one_hop
from .models import Owner, SessionSummary
from .tables import messages, sessions, tool_steps, turns

_USAGE = ("llm_calls", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd")


def new_session_id() -> str:
    return "s_" + secrets.token_hex(12)


class SessionStore:
    def __init__(self, engine: AsyncEngine, *, max_turns: int, retention_days: float) -> None:
        self._engine = engine
        self._max_turns = max_turns
        self._retention = timedelta(days=retention_days)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, session_id: str) -> asyncio.Lock:
        """This process's lock for the turns of `session_id` (hold it from read to record)."""
        found = self._locks.get(session_id)
        if found is None:
            found = self._locks[session_id] = asyncio.Lock()
        return found

    async def summary(self, session_id: str, user_id: str) -> SessionSummary:
        """The session if it is `user_id`'s; `SessionNotFound` otherwise (either way)."""
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(sessions).where(
                            sessions.c.id == session_id, sessions.c.user_id == user_id
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise SessionNotFound(f"no session {session_id[:64]!r}")
        return _summary(row)

    async def of_user(self, user_id: str, limit: int = 100) -> list[SessionSummary]:
        """`user_id`'s sessions, most recently active first."""
        query = (
            select(sessions)
            .where(sessions.c.user_id == user_id)
            .order_by(sessions.c.last_activity.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_summary(r) for r in (await conn.execute(query)).mappings()]

    async def history(
        self, session_id: str, last: int, *, owned_by: str | None = None
    ) -> list[dict[str, Any]]:
        """The model-facing messages of the session's `last` turns, oldest first. With
        `owned_by`, the session must exist and be that user's (`SessionNotFound` otherwise,
        as `summary` says), checked by the same statement that reads it."""
        if owned_by is None:
            query = select(turns.c.transcript).where(turns.c.session_id == session_id)
        else:  # a session row always has its turns: no row at all means not theirs
            query = (
                select(turns.c.transcript)
                .select_from(sessions.outerjoin(turns, turns.c.session_id == sessions.c.id))
                .where(sessions.c.id == session_id, sessions.c.user_id == owned_by)
            )
        query = query.order_by(turns.c.id.desc()).limit(last)
        rows = await in_one_hop(
            self._engine, lambda conn: conn.execute(query).scalars().all(), write=False
        )
        if owned_by is not None and not rows:
            raise SessionNotFound(f"no session {session_id[:64]!r}")
        return [m for transcript in reversed(rows) if transcript for m in transcript]

    async def turns(self, session_id: str) -> list[Turn]:
        """The session's kept turns with their calls, oldest first."""
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(turns).where(turns.c.session_id == session_id).order_by(turns.c.id)
                    )
                )
                .mappings()
                .all()
            )
            ids = [r["id"] for r in rows]
            said = (
                await conn.execute(
                    select(messages).where(messages.c.turn_id.in_(ids)).order_by(messages.c.id)
                )
            ).mappings()
            steps = (
                await conn.execute(
                    select(tool_steps)
                    .where(tool_steps.c.turn_id.in_(ids))
                    .order_by(tool_steps.c.id)
                )
            ).mappings()
            text: dict[tuple[int, str], str] = {
                (m["turn_id"], m["role"]): m["content"] for m in said
            }
            calls: dict[int, list[CallRecord]] = {}
            for s in steps:
                calls.setdefault(s["turn_id"], []).append(_call(s))
        return [
            Turn(
                message=text.get((r["id"], "user"), ""),
                reply=text.get((r["id"], "assistant"), ""),
                calls=calls.get(r["id"], []),
                pending_approvals=[PendingApproval.model_validate(p) for p in r["pending"]],
                stop_reason=r["stop_reason"],
                usage=_usage(r),
                model=r["model"],
                at=r["at"],
            )
            for r in rows
        ]

    async def record(self, session_id: str, owner: Owner, turn: Turn) -> SessionSummary:
        """Store `turn` (and the session with its first one); the session's new totals.

        One transaction of four statements at most: the session upserted with its new
        totals returned, the turn, its two messages, its steps. Old turns are looked for
        only once the session has had more than `max_turns` (its count never goes down);
        all in one hop to the database's thread (`in_one_hop`)."""
        row = await in_one_hop(
            self._engine, lambda conn: self._record(conn, session_id, owner, turn), write=True
        )
        return _summary(row)

    def _record(self, conn: Connection, session_id: str, owner: Owner, turn: Turn) -> RowMapping:
        row = self._upsert_session(conn, session_id, owner, turn)
        row_of_turn = {
            "session_id": session_id,
            "at": turn.at,
            "model": turn.model,
            "stop_reason": turn.stop_reason,
            "pending": [p.model_dump(mode="json") for p in turn.pending_approvals],
            "transcript": turn.transcript,
            **turn.usage.model_dump(),
        }
        turn_id = conn.execute(_NEW_TURN, row_of_turn).scalar_one()
        said = [("user", turn.message, turn.at), ("assistant", turn.reply, _now())]
        conn.execute(
            insert(messages),
            [
                {"turn_id": turn_id, "session_id": session_id, "role": r, "content": c, "at": a}
                for r, c, a in said
            ],
        )
        if turn.calls:
            conn.execute(insert(tool_steps), [_step(turn_id, c) for c in turn.calls])
        if row["turns"] > self._max_turns:
            self._keep_newest(conn, session_id)
        return row

    def _upsert_session(
        self, conn: Connection, session_id: str, owner: Owner, turn: Turn
    ) -> RowMapping:
        """The session's row with this turn counted in: made with its first turn, else its
        counters raised (its owner never changes); one statement either way."""
        made = {
            "id": session_id,
            "created_at": turn.at,
            "last_activity": _now(),
            "turns": 1,
            **owner.model_dump(),
            **turn.usage.model_dump(),
        }
        return conn.execute(_upsert(conn.dialect.name), made).mappings().one()

    def _keep_newest(self, conn: Connection, session_id: str) -> None:
        """Delete the session's turns older than its newest `max_turns` (with their rows)."""
        cut = (
            conn.execute(
                select(turns.c.id)
                .where(turns.c.session_id == session_id)
                .order_by(turns.c.id.desc())
                .offset(self._max_turns)
                .limit(1)
            )
        ).scalar()
        if cut is not None:
            old = select(turns.c.id).where(turns.c.session_id == session_id, turns.c.id <= cut)
            conn.execute(delete(messages).where(messages.c.turn_id.in_(old)))
            conn.execute(delete(tool_steps).where(tool_steps.c.turn_id.in_(old)))
            conn.execute(delete(turns).where(turns.c.session_id == session_id, turns.c.id <= cut))

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete the sessions idle past the retention; how many went."""
        before = (now or _now()) - self._retention
        stale = select(sessions.c.id).where(sessions.c.last_activity < before)
        old_turns = select(turns.c.id).where(turns.c.session_id.in_(stale))
        async with self._engine.begin() as conn:  # writes first: no stale read to upgrade
            await conn.execute(delete(messages).where(messages.c.turn_id.in_(old_turns)))
            await conn.execute(delete(tool_steps).where(tool_steps.c.turn_id.in_(old_turns)))
            await conn.execute(delete(turns).where(turns.c.session_id.in_(stale)))
            gone = await conn.execute(delete(sessions).where(sessions.c.last_activity < before))
        return int(gone.rowcount)


_NEW_TURN = insert(turns).returning(turns.c.id)
"""A turn's row, its values given at execution: one statement object, compiled once."""


@lru_cache(maxsize=4)
def _upsert(dialect: str) -> Any:
    """The session's row made with its first turn, else its counters raised by the new
    turn's (its owner never changes), the row returned; the dialect's `ON CONFLICT DO
    UPDATE` (SQLite and PostgreSQL), built once and given its values at execution."""
    made = (pg_insert if dialect == "postgresql" else sqlite_insert)(sessions)
    raised = {k: getattr(sessions.c, k) + getattr(made.excluded, k) for k in _USAGE}
    return made.on_conflict_do_update(
        index_elements=[sessions.c.id],
        set_={
            "last_activity": made.excluded.last_activity,
            "turns": sessions.c.turns + 1,
            **raised,
        },
    ).returning(*sessions.c)


def _now() -> datetime:
    return datetime.now(UTC)


def _usage(row: RowMapping) -> Usage:
    return Usage(**{k: row[k] for k in _USAGE})


def _summary(row: RowMapping) -> SessionSummary:
    return SessionSummary(
        id=row["id"],
        channel=row["channel"],
        chat_id=row["chat_id"],
        user_id=row["user_id"],
        created_at=row["created_at"],
        updated_at=row["last_activity"],
        turns=row["turns"] if row["turns"] is not None else 0,
        usage=_usage(row),
    )


def _step(turn_id: int, call: CallRecord) -> dict[str, Any]:
    return {
        "turn_id": turn_id,
        "tool_call_id": call.tool_call_id[:128],
        "tool": call.tool[:128],
        "skill": call.skill,
        "call_id": call.call_id,
        "outcome": call.status[:32],
        "error": call.error[:100] if call.error else None,
        "message": call.message,
        "output": call.output,
        "duration_ms": call.duration_ms,
    }


def _call(row: RowMapping) -> CallRecord:
    return CallRecord(
        tool_call_id=row["tool_call_id"],
        tool=row["tool"],
        skill=row["skill"],
        status=row["outcome"],
        call_id=row["call_id"],
        error=row["error"],
        message=row["message"],
        output=row["output"],
        duration_ms=row["duration_ms"],
    )
