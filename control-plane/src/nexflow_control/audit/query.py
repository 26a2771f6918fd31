"""Reading the log: filtered pages, newest first (keyset by seq), and the live tail."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, Select, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ..errors import AuditUnavailable
from .models import audit_events as t
from .models import audit_reason_codes as rc
from .records import AuditRecord

if TYPE_CHECKING:
    from .store import AuditLog

MAX_LIMIT = 1000

# A skip scan: each step is one probe of the (action, seq) index for the next action.
_DISTINCT_ACTIONS = text("""
WITH RECURSIVE a(action) AS (
  SELECT MIN(action) FROM audit_events
  UNION ALL
  SELECT (SELECT MIN(action) FROM audit_events WHERE action > a.action)
  FROM a WHERE a.action IS NOT NULL
)
SELECT action FROM a WHERE action IS NOT NULL
""")


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
    f = filters or AuditFilter()
    rows = await _fetch_filtered(
        log, f, lambda actions: page_statement(f, limit + 1, before_seq, actions)
    )
    records = [record_from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(records, records[-1].seq if more and records else None)


def page_statement(
    filters: AuditFilter | None,
    limit: int,
    before_seq: int | None = None,
    actions: Sequence[str] | None = None,
) -> Select[Any]:
    """The SELECT behind `query` (at most `limit` rows), for EXPLAIN in tests.

    An action prefix must come resolved as `actions` (`matching_actions`), non-empty.
    """
    return _statement(filters or AuditFilter(), actions, limit, before=before_seq)


async def matching_actions(conn: AsyncConnection, prefix: str) -> tuple[str, ...]:
    """The distinct stored actions starting with `prefix`, by a skip scan of the
    (action, seq) index: one index probe per distinct action (there are dozens)."""
    rows = (await conn.execute(_DISTINCT_ACTIONS)).scalars().all()
    return tuple(a for a in rows if a.startswith(prefix))


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


async def _fetch_filtered(
    log: AuditLog, f: AuditFilter, statement: Callable[[Sequence[str] | None], Select[Any]]
) -> list[Row[Any]]:
    """Resolve an action prefix, then run `statement(actions)` on the same connection."""
    try:
        async with log.engine.connect() as conn:
            actions = None
            if f.action is not None and f.action != "*" and f.action.endswith("*"):
                actions = await matching_actions(conn, f.action[:-1])
                if not actions:
                    return []  # no stored action has this prefix: nothing to walk
            return list((await conn.execute(statement(actions))).all())
    except (SQLAlchemyError, OSError, ValueError, TypeError) as exc:
        raise AuditUnavailable(f"the audit store cannot be read ({type(exc).__name__})") from exc


def _statement(
    f: AuditFilter,
    actions: Sequence[str] | None,
    limit: int,
    *,
    before: int | None = None,
    after: int | None = None,
) -> Select[Any]:
    """Matching rows ordered by seq (descending unless `after` is given), keyset-bounded.

    * reason_code: the page walks `audit_reason_codes` (code, seq) in seq order and
      probes `audit_events` by primary key; the order and the keyset bound are on the
      side table's seq, so SQLite never collects and sorts the code's matches.
    * since/until (without reason_code): the seqs are picked first from the indexes
      alone (the ts index holds seq), then only `limit` full rows are read; reading
      every row of the range before sorting it is what made a day's range slow.
    """
    conditions = _conditions(f, actions)
    if f.reason_code is not None:
        key = rc.c.seq
        stmt = select(t).select_from(rc.join(t, t.c.seq == rc.c.seq))
        conditions.append(rc.c.code == f.reason_code)
    else:
        key = t.c.seq
        stmt = select(t)
    if before is not None:
        conditions.append(key < before)
    if after is not None:
        conditions.append(key > after)
    order = key.asc() if after is not None else key.desc()
    if f.reason_code is None and (f.since is not None or f.until is not None):
        seqs = select(t.c.seq).where(*conditions).order_by(order).limit(limit)
        return select(t).where(t.c.seq.in_(seqs)).order_by(order)
    return stmt.where(*conditions).order_by(order).limit(limit)


def _conditions(f: AuditFilter, actions: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """The conditions on `audit_events` columns (reason_code is `_statement`'s join)."""
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
        if not f.action.endswith("*"):
            out.append(t.c.action == f.action)
        elif not actions:
            raise ValueError("an action prefix must be resolved to a non-empty `actions`")
        elif len(actions) == 1:
            out.append(t.c.action == actions[0])
        else:
            # SQLite walks (action, seq) per value in seq order and stops each walk once
            # the LIMIT is filled (its IN + ORDER BY LIMIT optimization).
            out.append(t.c.action.in_(actions))
    if f.since is not None:
        out.append(t.c.ts >= f.since)
    if f.until is not None:
        out.append(t.c.ts < f.until)
    return out


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


async def scan(
    log: AuditLog, filters: AuditFilter | None = None, after_seq: int = 0, limit: int = 1000
) -> list[AuditRecord]:
    """Records matching `filters` with seq > `after_seq`, OLDEST first, at most `limit`
    (export: page on with the last seq)."""
    _check_limit(limit)
    f = filters or AuditFilter()
    rows = await _fetch_filtered(
        log, f, lambda actions: _statement(f, actions, limit, after=after_seq)
    )
    return [record_from_row(r) for r in rows]
