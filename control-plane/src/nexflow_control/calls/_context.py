"""What every step of a call shares: the parts calls are run with (`CallParts`) and the
one call in flight (`CallContext`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import audit as audit_mod
from .. import policy as policy_mod
from ..approvals import ApprovalStore
from ..auth import Principal
from ..errors import AuditUnavailable
from ..executors import Executor
from ..inputs import HostAccess, PathAccess
from ..metrics import Metrics
from ..settings import Settings
from ..skills import Skill, SkillCatalog, ValidationPool
from ._history import CallHistory
from ._requests import prepare
from ._results import call_event


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
    workspace: Path = field(init=False)
    """The resolved workspace directory (`settings.resolved_workspace`)."""
    validation: ValidationPool = field(default_factory=ValidationPool)
    """Worker processes for costly input validation, started on first need."""

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
