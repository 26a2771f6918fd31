"""Reading the log: filtered pages, newest first (keyset by seq), and the live tail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, Select, Text, cast, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from ..errors import AuditUnavailable
from .models import audit_events as t
from .records import AuditRecord

if TYPE_CHECKING:
    from .store import AuditLog

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Viewer filters; all given ones must hold.

    `action` is exact, or a prefix when it ends in `*` (`call.*`). `reason_code` matches
    records whose `reason_codes` contain it. `since` is inclusive, `until` exclusive;
    naive datetimes are taken as UTC.
    """

    actor: str | None = None
    skill: str | None = None
    action: str | None = None
    decision: str | None = None
    reason_code: str | None = None
    call_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page, newest first; pass `next_before_seq` as `before_seq` for the next one."""

    records: list[AuditRecord]
    next_before_seq: int | None


async def query(
    log: AuditLog,
    filters: AuditFilter | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> AuditPage:
    """Records matching `filters` with seq < `before_seq`, newest first, at most `limit`."""
    _check_limit(limit)
    stmt = select(t).where(*_conditions(filters or AuditFilter()))
    if before_seq is not None:
        stmt = stmt.where(t.c.seq < before_seq)
    rows = await _fetch(log, stmt.order_by(t.c.seq.desc()).limit(limit + 1))
    records = [record_from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(records, records[-1].seq if more and records else None)


async def tail(log: AuditLog, after_seq: int, limit: int = 100) -> list[AuditRecord]:
    """Records with seq > `after_seq`, oldest first (for a live tail: poll with the last seq)."""
    _check_limit(limit)
    stmt = select(t).where(t.c.seq > after_seq).order_by(t.c.seq).limit(limit)
    return [record_from_row(r) for r in await _fetch(log, stmt)]


def record_from_row(row: Row[Any]) -> AuditRecord:
    """An `AuditRecord` from a full `audit_events` row."""
    m = row._mapping
    return AuditRecord(
        seq=int(m["seq"]),
        ts=m["ts"],
        action=m["action"],
        call_id=m["call_id"],
        actor=m["actor"],
        skill=m["skill"],
        decision=m["decision"],
        reason_codes=list(m["reason_codes"]),
        policy_revision=m["policy_revision"],
        payload=dict(m["payload"]),
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")


async def _fetch(log: AuditLog, stmt: Select[Any]) -> list[Row[Any]]:
    try:
        async with log.engine.connect() as conn:
            return list((await conn.execute(stmt)).all())
    except (SQLAlchemyError, OSError, ValueError, TypeError) as exc:
        raise AuditUnavailable(f"the audit store cannot be read ({type(exc).__name__})") from exc


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(f: AuditFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for column, value in (
        (t.c.actor, f.actor),
        (t.c.skill, f.skill),
        (t.c.decision, f.decision),
        (t.c.call_id, f.call_id),
    ):
        if value is not None:
            out.append(column == value)
    if f.action is not None and f.action != "*":
        if f.action.endswith("*"):
            out.append(t.c.action.like(_like_escape(f.action[:-1]) + "%", escape="\\"))
        else:
            out.append(t.c.action == f.action)
    if f.reason_code is not None:
        # reason_codes is stored as canonical JSON text (no whitespace): an element is a
        # JSON string right after "[" or ",", and inside strings every quote is escaped.
        token = _like_escape(json.dumps(f.reason_code, ensure_ascii=False))
        text = cast(t.c.reason_codes, Text)
        out.append(
            or_(text.like(f"%[{token}%", escape="\\"), text.like(f"%,{token}%", escape="\\"))
        )
    if f.since is not None:
        out.append(t.c.ts >= f.since)
    if f.until is not None:
        out.append(t.c.ts < f.until)
    return out


async def decisions_since(log: AuditLog, since: datetime) -> list[tuple[str, datetime]]:
    """(actor, ts) of every `call.decided` event at or after `since`, oldest first.

    Walks the `ts` index; used once at start to restore the per-principal rate counts.
    """
    stmt = (
        select(t.c.actor, t.c.ts)
        .where(t.c.ts >= since, t.c.action == "call.decided", t.c.actor.is_not(None))
        .order_by(t.c.ts)
    )
    return [(str(r.actor), r.ts) for r in await _fetch(log, stmt)]


async def version_has_run(log: AuditLog, skill: str, digest: str) -> bool:
    """Whether a `call.dispatched` event exists for this skill at this exact digest.

    Walks the (skill, seq) index and reads the digest from the payload.
    """
    stmt = (
        select(t.c.seq)
        .where(
            t.c.skill == skill,
            t.c.action == "call.dispatched",
            t.c.payload["skill_digest"].as_string() == digest,
        )
        .limit(1)
    )
    return bool(await _fetch(log, stmt))
