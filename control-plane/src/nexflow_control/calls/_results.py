"""What a call answers and the small pieces its audit events are made of.

`CallResult` (ran), `PendingCall` (waits for a human, HTTP 202), `StartedCall` (runs on
without a held request, HTTP 202), `ApprovalStale` (an approved call that changed, 409);
`call_event` builds one audit event of a call.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .. import audit as audit_mod
from .. import policy as policy_mod
from ..api import parse_lenient
from ..approvals import Approval
from ..auth import Principal
from ..errors import NexflowError


def new_call_id() -> str:
    """Sortable, unguessable: milliseconds since the epoch in hex + 48 random bits."""
    return f"c_{int(time.time() * 1000):011x}{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class CallResult:
    call_id: str
    skill: str
    status: str  # succeeded | failed | killed
    exit_code: int
    output: Any
    stdout: str
    stderr: str
    duration_ms: int
    kill_reason: str
    truncated: bool
    backend: str
    audit_complete: bool = True
    error: str | None = None
    """Set when a call that ran is nevertheless failed: `output_invalid`."""
    message: str | None = None
    """What `error` means for this call (the first schema problem, bounded)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "skill": self.skill,
            "status": self.status,
            "exit_code": self.exit_code,
            "output": self.output,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "duration_ms": self.duration_ms,
            "kill_reason": self.kill_reason,
            "truncated": self.truncated,
            "backend": self.backend,
            "audit_complete": self.audit_complete,
            "error": self.error,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A call that waits for a human: stored as an approval, answered 202."""

    approval: Approval

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "pending_approval",
            "call_id": self.approval.call_id,
            "approval_id": self.approval.id,
            "skill": self.approval.skill,
            "reasons": self.approval.reasons,
            "expires_at": self.approval.expires_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class StartedCall:
    """A call dispatched with `wait: false`: it runs on, answered 202 with its id."""

    call_id: str
    skill: str

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "skill": self.skill, "status": "running"}


class ApprovalStale(NexflowError):
    """An approved call whose skill, input or grants changed since it was approved."""

    status, code = 409, "approval_stale"


def read_output(stdout: str) -> tuple[bool, Any]:
    """(True, value) when the script's stdout is JSON the API can answer, else
    (False, None). Parsed once per call: the output check and the result share it."""
    text = stdout.strip()
    # The edge's strict decoder: JSON that could not be sent back as JSON (NaN, numbers
    # that overflow, lone surrogates, nesting deeper than a request may have) stays text.
    return parse_lenient(text) if text else (False, None)


def parse_output(stdout: str, read: tuple[bool, Any] | None = None) -> Any:
    """A script's result: its stdout as JSON if it is JSON the API can answer, else the
    text itself (which is always valid UTF-8: stdout is decoded with replacement); None
    for an empty stdout. `read`: `read_output(stdout)` when the caller has it already."""
    parsed, value = read_output(stdout) if read is None else read
    if parsed:
        return value
    return stdout if stdout.strip() else None


def call_event(
    action: str, call_id: str, principal: Principal, skill: str, **kw: Any
) -> audit_mod.AuditEvent:
    return audit_mod.AuditEvent(
        action=action, call_id=call_id, actor=principal.id, skill=skill, **kw
    )


def reasons_list(decision: policy_mod.Decision) -> list[dict[str, str]]:
    return [{"code": r.code, "message": r.message} for r in decision.reasons]


def grants_dict(grants: policy_mod.Grants) -> dict[str, Any]:
    return {
        "filesystem": [{"path": g.path, "mode": g.mode} for g in grants.filesystem],
        "network": list(grants.network),
        "limits": dataclasses.asdict(grants.limits) if grants.limits else None,
        # Only when some are granted: approvals stored before secrets existed still match.
        **({"secrets": list(grants.secrets)} if grants.secrets else {}),
    }


def cap(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore") + "…"
