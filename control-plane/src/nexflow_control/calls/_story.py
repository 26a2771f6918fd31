"""A call's story as the audit log tells it: its events, and what they add up to.

`call_events` reads them (oldest first; 404 `call_not_found` when there are none);
`call_summary` says the call's status, approval, result and error from them. The API's
`GET /api/v1/calls/{id}` answers both; a cancel reads them for a call that runs on
another control plane.
"""

from __future__ import annotations

from typing import Any

from ..audit import AuditFilter, AuditLog, query
from ..errors import NotFound
from ._results import parse_output

MAX_EVENTS = 1000


async def call_events(audit: AuditLog, call_id: str) -> list[dict[str, Any]]:
    """The call's events, oldest first (at most `MAX_EVENTS`)."""
    page = await query(audit, AuditFilter(call_id=call_id), limit=MAX_EVENTS)
    if not page.records:
        raise NotFound(f"no call with id {call_id!r}", code="call_not_found")
    return [r.to_dict() for r in reversed(page.records)]


def call_owner(events: list[dict[str, Any]]) -> str | None:
    """Who started the call: the actor of its `call.requested`."""
    return next((e["actor"] for e in events if e["action"] == "call.requested"), None)


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
        elif action == "call.decided" and event.get("decision") == "deny":
            summary["status"] = "denied"
        elif action == "call.finished":
            stdout = str(payload.get("stdout", ""))
            summary["status"] = payload.get("status")
            if payload.get("error"):  # output_invalid: it ran, but its output is refused
                summary["error"] = payload["error"]
            summary["result"] = {
                "status": payload.get("status"),
                "error": payload.get("error"),
                "message": payload.get("message"),
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
