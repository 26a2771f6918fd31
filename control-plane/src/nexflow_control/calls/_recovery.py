"""At start: end the story of every call a previous control plane dispatched but never saw end.

A call runs only after its `call.dispatched` event is committed, and it ends with
`call.finished` (or `call.failed`). When the control plane stops in between — killed,
crashed, the host lost power — the executor's answer is lost with it and the call's
story would say `running` forever. `end_interrupted_calls` appends, for each such call,
a `call.failed` with reason `control_plane_restarted` (actor: the caller, as the other
`call.failed` events): the call was dispatched, and whether it completed is unknown.

Like `ApprovalService.recover`, it assumes one control plane per database: a second one
sharing the database would see this one's running calls as interrupted.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import exists, select
from sqlalchemy.exc import SQLAlchemyError

from ..audit import Action, AuditEvent, AuditLog, AuditUnavailable
from ..audit.models import audit_events

log = structlog.get_logger("nexflow.recovery")

REASON = "control_plane_restarted"
_ENDS = (Action.CALL_FINISHED.value, Action.CALL_FAILED.value)
_BATCH = 500


async def unfinished_calls(audit: AuditLog) -> list[dict[str, Any]]:
    """The `call.dispatched` records (seq, call_id, actor, skill) with no ending event."""
    d, e = audit_events.alias("d"), audit_events.alias("e")
    ended = exists().where(e.c.call_id == d.c.call_id, e.c.action.in_(_ENDS))
    stmt = (
        select(d.c.seq, d.c.call_id, d.c.actor, d.c.skill)
        .where(d.c.action == Action.CALL_DISPATCHED.value, d.c.call_id.is_not(None), ~ended)
        .order_by(d.c.seq)
    )
    try:
        async with audit.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
    except (SQLAlchemyError, OSError) as exc:
        raise AuditUnavailable(f"the audit store cannot be read ({type(exc).__name__})") from exc
    return [dict(r._mapping) for r in rows]


def _failed(row: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        action=Action.CALL_FAILED,
        call_id=row["call_id"],
        actor=row["actor"],
        skill=row["skill"],
        decision="error",
        reason_codes=[REASON],
        payload={
            "error": REASON,
            "message": "the control plane stopped while the call was dispatched; "
            "whether it completed is unknown",
            "dispatched_seq": row["seq"],
        },
    )


async def end_interrupted_calls(audit: AuditLog) -> dict[str, int]:
    """Append `call.failed` (`control_plane_restarted`) for each unfinished dispatched call."""
    rows = await unfinished_calls(audit)
    for start in range(0, len(rows), _BATCH):
        await audit.append_many([_failed(r) for r in rows[start : start + _BATCH]])
    for row in rows:
        log.warning("call.interrupted", call_id=row["call_id"], skill=row["skill"])
    return {"interrupted_calls": len(rows)}
