"""`/api/v1/audit`, `/api/v1/audit/verify` and `/api/v1/calls/{id}` (a call's story)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..audit import AuditFilter, VerifyReport, query, verify, verify_with_checkpoints
from ..audit.chain import format_ts
from ..calls import parse_output
from ..errors import NotFound
from .audit_filters import AuditFilterDep
from .deps import AuditRead, ServicesDep
from .params import Limit, PathName, Seq
from .route import edge_router
from .schemas import AuditPage, CallStory, VerifyOut

router = edge_router("/api/v1", "audit")


@router.get("/audit", response_model=AuditPage)
async def list_events(
    svc: ServicesDep,
    _: AuditRead,
    filters: AuditFilterDep,
    limit: Limit = 100,
    before: Seq = None,
) -> dict[str, Any]:
    """Events newest first; pass `before=<next_before>` for the next page."""
    page = await query(svc.audit, filters, limit=limit, before_seq=before)
    return {
        "events": [r.to_dict() for r in page.records],
        "next_before": page.next_before_seq,
    }


@router.get("/audit/verify", response_model=VerifyOut)
async def verify_chain(svc: ServicesDep, _: AuditRead, fresh: bool = False) -> dict[str, Any]:
    """Walk the hash chain and hold it against the signed checkpoints; name the first
    broken sequence number (or the missing tail), if any. The report of the last walk is
    reused for a minute (`verified_at` says when it ran); `fresh=true` walks again."""
    cp = svc.checkpointer

    async def walk() -> VerifyReport:
        if cp is None:
            plain = await verify(svc.audit)
            return dataclasses.replace(plain, warnings=("checkpoints are disabled",))
        return await verify_with_checkpoints(svc.audit, cp.file, cp.public_key)

    report, verified_at = await svc.chain_status.report(walk, fresh=fresh)
    return {**report.to_dict(), "verified_at": format_ts(verified_at)}


@router.get("/calls/{call_id}", response_model=CallStory)
async def show_call(call_id: PathName, svc: ServicesDep, _: AuditRead) -> dict[str, Any]:
    """A call's whole story, from the audit log, oldest event first."""
    page = await query(svc.audit, AuditFilter(call_id=call_id), limit=1000)
    if not page.records:
        raise NotFound(f"no call with id {call_id!r}", code="call_not_found")
    events = [r.to_dict() for r in reversed(page.records)]
    return {"call_id": call_id, **call_summary(events), "events": events}


# The event that decides a call's status, and that status; later events (egress, a late
# approval.expired) do not change it.
_ENDINGS = {
    "call.refused": "refused",
    "call.failed": "error",
    "approval.denied": "denied",
    "approval.expired": "expired",
}


def call_summary(events: list[dict[str, Any]]) -> dict[str, Any]:
    """status (`pending_approval`, `approved`, `running`, `succeeded`/`failed`/`killed`,
    `refused`, `denied`, `expired`, `error`), the approval id, and once finished the result
    (from `call.finished`: output parsed from its stdout, which is capped at
    `limits.audit_io_bytes` — `result.capped` says so)."""
    summary: dict[str, Any] = {"skill": events[-1]["skill"], "status": "running"}
    for event in events:
        action, payload = event["action"], event["payload"] or {}
        if "approval_id" in payload:
            summary["approval_id"] = payload["approval_id"]
        if action == "approval.requested":
            summary["status"] = "pending_approval"
        elif action == "approval.granted":
            summary["status"] = "approved"
        elif action == "call.dispatched":
            summary["status"] = "running"
        elif action == "call.finished":
            stdout = str(payload.get("stdout", ""))
            summary["status"] = payload.get("status")
            summary["result"] = {
                "status": payload.get("status"),
                "exit_code": payload.get("exit_code"),
                "kill_reason": payload.get("kill_reason"),
                "output": parse_output(stdout),
                "stdout": stdout,
                "stderr": payload.get("stderr", ""),
                "truncated": payload.get("truncated"),
                "capped": stdout.endswith("…"),
            }
        elif action in _ENDINGS and summary["status"] not in _ENDINGS.values():
            summary["status"] = _ENDINGS[action]
            if action == "call.failed":
                summary["error"] = payload.get("error")
    return summary
