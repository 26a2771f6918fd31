"""One row per call and hourly counts, read from the audit events (the web UI's calls and
overview pages).

A call opens with `call.requested` (or `call.refused`, when it was refused before the
policy ran) and ends with the first of its ending events (`_ENDING_ACTIONS`); its
outcome is named from that event (`succeeded`/`failed`/`killed` from `call.finished`,
`error`, `denied`, `expired`, `refused`), else `pending_approval` or `running`.

Every read is bounded: a page of calls looks at most `SCAN_MAX` openings (the page
comes back shorter with a cursor to go on when an outcome filter skips many), and the
counts cover at most `MAX_HOURS` of events through the ts index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, String, and_, case, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from .models import audit_events as t
from .models import audit_reason_codes as rc
from .query import _fetch

if TYPE_CHECKING:
    from .store import AuditLog

SCAN_MAX = 500
"""Most call openings one page of calls looks at."""
MAX_HOURS = 168
"""Longest window the hourly counts cover (a week)."""
TOP_REASONS = 10

_OPENINGS = ("call.requested", "call.refused")
_ENDING_ACTIONS = (
    "call.finished",
    "call.failed",
    "call.refused",
    "call.decided",
    "approval.denied",
    "approval.expired",
)
_STEPS = (*_ENDING_ACTIONS, "approval.requested")


@dataclass(frozen=True, slots=True)
class CallFilter:
    """All given ones must hold; `since` inclusive, `until` exclusive (on the opening)."""

    skill: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallRow:
    call_id: str
    seq: int
    started_at: datetime
    skill: str | None
    actor: str | None
    channel: str | None
    outcome: str
    decision: str | None
    reason_codes: list[str]
    ended_at: datetime | None
    duration_ms: int | None
    kill_reason: str | None


@dataclass(frozen=True, slots=True)
class CallsPage:
    calls: list[CallRow]
    next_before: int | None


def _outcome(action: str, decision: str | None, payload: dict[str, Any]) -> str | None:
    """The outcome an event gives its call, or None when it does not end it."""
    if action == "call.finished":
        return str(payload.get("status") or "failed")
    if action == "call.decided":
        return "denied" if decision == "deny" else None
    return {
        "call.failed": "error",
        "call.refused": "refused",
        "approval.denied": "denied",
        "approval.expired": "expired",
    }.get(action)


def _row(opening: Any, steps: list[Any]) -> CallRow:
    outcome, ended, kill, decision, codes = None, None, None, None, list(opening.reason_codes)
    pending = False
    for step in steps:  # oldest first
        if step.action == "call.decided":
            decision, codes = step.decision, list(step.reason_codes)
        pending = pending or step.action == "approval.requested"
        found = _outcome(step.action, step.decision, step.payload or {})
        if found is not None and outcome is None:
            outcome, ended = found, step.ts
            kill = (step.payload or {}).get("kill_reason")
            if step.action == "call.refused":
                decision = step.decision
    if outcome is None:
        outcome = "pending_approval" if pending else "running"
    return CallRow(
        call_id=opening.call_id,
        seq=int(opening.seq),
        started_at=opening.ts,
        skill=opening.skill,
        actor=opening.actor,
        channel=(opening.payload or {}).get("channel"),
        outcome=outcome,
        decision=decision,
        reason_codes=codes,
        ended_at=ended,
        duration_ms=None if ended is None else int((ended - opening.ts).total_seconds() * 1000),
        kill_reason=None if kill in (None, "", "none", "NONE") else str(kill),
    )


def _openings(f: CallFilter, before: int | None, limit: int) -> Select[Any]:
    where: list[ColumnElement[bool]] = [t.c.action.in_(_OPENINGS)]
    for column, value in ((t.c.skill, f.skill), (t.c.actor, f.actor)):
        if value is not None:
            where.append(column == value)
    if f.since is not None:
        where.append(t.c.ts >= f.since)
    if f.until is not None:
        where.append(t.c.ts < f.until)
    if before is not None:
        where.append(t.c.seq < before)
    return select(t).where(*where).order_by(t.c.seq.desc()).limit(limit)


async def list_calls(
    log: AuditLog, f: CallFilter, *, limit: int = 50, before: int | None = None
) -> CallsPage:
    """Calls newest first (by their opening event), at most `limit` (<= 200); pass
    `next_before` as `before` for the next page."""
    scan = SCAN_MAX if f.outcome is not None else limit + 1
    openings = await _fetch(log, _openings(f, before, scan))
    ids = [o.call_id for o in openings if o.call_id is not None]
    steps_by_call: dict[str, list[Any]] = {i: [] for i in ids}
    if ids:
        stmt = (
            select(t)
            .where(t.c.call_id.in_(ids), t.c.action.in_(_STEPS))
            .order_by(t.c.seq)
            .limit(len(ids) * 16)
        )
        for step in await _fetch(log, stmt):
            steps_by_call[step.call_id].append(step)
    rows: list[CallRow] = []
    for opening in openings:
        if opening.call_id is None:
            continue
        row = _row(opening, steps_by_call[opening.call_id])
        if f.outcome is None or row.outcome == f.outcome:
            rows.append(row)
        if len(rows) > limit:
            break
    if len(rows) > limit:
        return CallsPage(rows[:limit], rows[limit - 1].seq)
    full_scan = len(openings) == scan
    return CallsPage(rows, int(openings[-1].seq) if full_scan and openings else None)


@dataclass(frozen=True, slots=True)
class CallStats:
    since: datetime
    until: datetime
    hours: list[dict[str, Any]]
    """[{"hour": "YYYY-MM-DDTHH:00:00Z", "counts": {outcome: n}}], oldest first, every hour."""
    denials: list[dict[str, Any]]
    """[{"code", "count"}], most frequent first, at most TOP_REASONS."""


def _hour(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":  # fixed-width text, UTC: 'YYYY-MM-DD HH'
        return func.substr(cast(t.c.ts, String), 1, 13)
    return func.to_char(func.timezone("UTC", t.c.ts), "YYYY-MM-DD HH24")


def _outcome_sql() -> ColumnElement[Any]:
    status = t.c.payload["status"].as_string()
    return case(
        (t.c.action == "call.finished", func.coalesce(status, literal("failed"))),
        (t.c.action == "call.failed", literal("error")),
        (t.c.action == "call.refused", literal("refused")),
        (t.c.action.in_(("call.decided", "approval.denied")), literal("denied")),
        else_=literal("expired"),
    )


def _ending_in(since: datetime, until: datetime) -> ColumnElement[bool]:
    decided_deny = and_(t.c.action == "call.decided", t.c.decision == "deny")
    others = t.c.action.in_([a for a in _ENDING_ACTIONS if a != "call.decided"])
    return and_(t.c.ts >= since, t.c.ts < until, decided_deny | others)


async def call_stats(log: AuditLog, hours: int, now: datetime | None = None) -> CallStats:
    """Calls ended per hour by outcome over the last `hours` (1..MAX_HOURS) whole hours
    up to now, and the most frequent reason codes of denials in that window; counted by
    the database (GROUP BY), so the answer is at most `hours` x outcomes rows."""
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be between 1 and {MAX_HOURS}, not {hours}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    since = until - timedelta(hours=hours)
    bucket = _hour(log.engine.dialect.name).label("hour")
    outcome = _outcome_sql().label("outcome")
    per_hour = (
        select(bucket, outcome, func.count().label("n"))
        .where(_ending_in(since, until))
        .group_by(bucket, outcome)
    )
    denials = (
        select(rc.c.code, func.count().label("n"))
        .select_from(rc.join(t, t.c.seq == rc.c.seq))
        .where(t.c.ts >= since, t.c.ts < until, t.c.decision == "deny")
        .group_by(rc.c.code)
        .order_by(func.count().desc(), rc.c.code)
        .limit(TOP_REASONS)
    )
    counts: dict[str, dict[str, int]] = {}
    for row in await _fetch(log, per_hour):
        counts.setdefault(str(row.hour), {})[str(row.outcome)] = int(row.n)
    hours_out = []
    for i in range(hours):
        start = since + timedelta(hours=i)
        key = start.strftime("%Y-%m-%d %H")
        hours_out.append(
            {"hour": start.strftime("%Y-%m-%dT%H:00:00Z"), "counts": counts.get(key, {})}
        )
    top = [{"code": r.code, "count": int(r.n)} for r in await _fetch(log, denials)]
    return CallStats(since, until, hours_out, top)
