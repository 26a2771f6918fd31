"""What every step of a call shares: the parts calls are run with (`CallParts`) and the
one call in flight (`CallContext`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from .. import audit as audit_mod
from .. import policy as policy_mod
from ..approvals import ApprovalStore
from ..auth import Principal
from ..chat.outbox import ChatOutbox, result_text
from ..errors import AuditUnavailable, InternalError
from ..executors import Executor
from ..metrics import Metrics
from ..secrets import SecretStore
from ..settings import Settings
from ..skills import Skill, SkillCatalog, ValidationPool
from ._history import CallHistory
from ._requests import prepare
from ._results import call_event
from ._running import RunningCalls
from .inputs import HostAccess, PathAccess

log = structlog.get_logger("nexflow.calls")


@dataclass
class CallParts:
    """The services a call goes through, shared by every path that runs one."""

    settings: Settings
    catalog: SkillCatalog
    engine: policy_mod.PolicyEngine
    audit: audit_mod.AuditLog
    executor: Executor
    metrics: Metrics
    history: CallHistory
    approvals: ApprovalStore
    secrets: SecretStore | None = None
    """Where granted secrets are read; None: a call granted any fails `secrets_unavailable`."""
    workspace: Path = field(init=False)
    """The resolved workspace directory (`settings.resolved_workspace`)."""
    validation: ValidationPool = field(default_factory=ValidationPool)
    """Worker processes for costly input and output validation, started on first need."""
    running: RunningCalls = field(default_factory=RunningCalls)
    """The calls in flight here, and the runs no request waits for."""
    outbox: ChatOutbox | None = None
    """Where results owed to a chat are kept for the gateway (`Principal.deliver_to`)."""

    def __post_init__(self) -> None:
        self.workspace = self.settings.resolved_workspace

    async def prepare_input(
        self, skill: Skill, raw_input: Any
    ) -> tuple[bytes, list[PathAccess], list[HostAccess]]:
        """The call's validated stdin and the paths and hosts its input names (see `prepare`)."""
        return await prepare(
            skill,
            raw_input,
            self.workspace,
            max_input_bytes=self.settings.limits.max_input_bytes,
            pool=self.validation,
        )

    async def append(self, *events: audit_mod.AuditEvent) -> None:
        """Append to the audit log; a failure is counted, then raised."""
        try:
            await self.audit.append_many(list(events))
        except AuditUnavailable:
            self.metrics.audit_failures.inc()
            raise

    async def owe(
        self, principal: Principal, call_id: str, skill: str, status: str, **result: Any
    ) -> None:
        """A finished call's result owed to its principal's chat, if it has one."""
        if self.outbox is None or principal.deliver_to is None:
            return
        text = result_text(skill, call_id, status, result.get("output"), result.get("error"))
        await self.outbox.add(principal.deliver_to, call_id, text)

    async def internal_error(
        self, call_id: str, principal: Principal, skill: str, exc: Exception
    ) -> InternalError:
        """A fault of ours in a call: logged with its trace, recorded as `call.failed`
        `internal_error` where the audit log can take it; the error to answer with."""
        log.exception("call.internal_error", call_id=call_id, error_type=type(exc).__name__)
        message = "internal error; see the server log"
        with contextlib.suppress(AuditUnavailable):
            await self.append(
                call_event(
                    "call.failed",
                    call_id,
                    principal,
                    skill,
                    decision="error",
                    reason_codes=["internal_error"],
                    payload={"error": "internal_error", "message": message},
                )
            )
        return InternalError(message, call_id=call_id)


@dataclass(frozen=True, slots=True)
class CallContext:
    """One call past its checks: who asked for which skill with what input, and when."""

    call_id: str
    principal: Principal
    skill: Skill
    stdin: bytes
    """The validated input, serialized (what the script reads)."""
    input_digest: str
    started: float
    """`time.perf_counter()` when the call began."""
    facts: dict[str, Any]
    """What the policy decided on besides the input: `rate` and `skill_runs`."""

    def event(self, action: str, **kw: Any) -> audit_mod.AuditEvent:
        """One audit event of this call."""
        return call_event(action, self.call_id, self.principal, self.skill.name, **kw)
