"""`/api/v1/audit`, `/api/v1/audit/verify` and `/api/v1/calls/{id}` (a call's story)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..audit import AuditFilter, query, verify
from ..errors import NotFound
from .deps import AuditRead, ServicesDep

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit")
async def list_events(
    svc: ServicesDep,
    _: AuditRead,
    actor: str | None = None,
    skill: str | None = None,
    action: str | None = None,
    decision: str | None = None,
    reason_code: str | None = None,
    call_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Events newest first; pass `before=<next_before>` for the next page."""
    page = await query(
        svc.audit,
        AuditFilter(
            actor=actor,
            skill=skill,
            action=action,
            decision=decision,
            reason_code=reason_code,
            call_id=call_id,
            since=since,
            until=until,
        ),
        limit=limit,
        before_seq=before,
    )
    return {
        "events": [r.to_dict() for r in page.records],
        "next_before": page.next_before_seq,
    }


@router.get("/audit/verify")
async def verify_chain(svc: ServicesDep, _: AuditRead) -> dict[str, Any]:
    """Walk the hash chain; name the first broken sequence number, if any."""
    report = await verify(svc.audit)
    return report.to_dict()


@router.get("/calls/{call_id}")
async def show_call(call_id: str, svc: ServicesDep, _: AuditRead) -> dict[str, Any]:
    """A call's whole story, from the audit log, oldest event first."""
    page = await query(svc.audit, AuditFilter(call_id=call_id), limit=1000)
    if not page.records:
        raise NotFound(f"no call with id {call_id!r}", code="call_not_found")
    events = [r.to_dict() for r in reversed(page.records)]
    last = events[-1]
    status = {
        "call.finished": last["payload"].get("status"),
        "call.refused": "refused",
        "call.failed": "error",
    }.get(last["action"], "running")
    return {"call_id": call_id, "skill": last["skill"], "status": status, "events": events}
