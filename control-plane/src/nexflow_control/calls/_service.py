"""One skill call, step by step: resolve → validate → decide → audit → dispatch → audit.

Every step that ends a call early is an audit event too. Nothing is dispatched unless
the events that say why it may run are committed first ("no audit, no execution").
"""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta
from typing import Any

import structlog

from .. import audit as audit_mod
from .. import policy as policy_mod
from ..approvals import Approval, ApprovalStore, Status, new_approval_id
from ..auth import Principal
from ..errors import (
    AuditUnavailable,
    InternalError,
    NexflowError,
    NotExecutable,
    NotFound,
    PolicyDenied,
    PolicyUnavailable,
)
from ..executor_client import ExecutorClient
from ..inputs import input_sha256
from ..metrics import Metrics
from ..settings import Settings
from ..skills import Skill, SkillCatalog
from . import _approved
from ._dispatch import dispatch
from ._history import CallHistory
from ._requests import policy_input, prepare
from ._results import (
    CallResult,
    PendingCall,
    call_event,
    cap,
    grants_dict,
    new_call_id,
    reasons_list,
)

log = structlog.get_logger("nexflow.calls")


class CallService:
    """Runs skill calls for the HTTP API and the CLI alike."""

    def __init__(
        self,
        settings: Settings,
        catalog: SkillCatalog,
        engine: policy_mod.PolicyEngine,
        audit: audit_mod.AuditLog,
        executor: ExecutorClient,
        metrics: Metrics,
        history: CallHistory,
        approvals: ApprovalStore,
    ) -> None:
        self.settings = settings
        self.approvals = approvals
        self.history = history
        self.catalog = catalog
        self.engine = engine
        self.audit = audit
        self.executor = executor
        self.metrics = metrics
        self.workspace = settings.resolved_workspace

    async def _append(self, *events: audit_mod.AuditEvent) -> None:
        try:
            await self.audit.append_many(list(events))
        except AuditUnavailable:
            self.metrics.audit_failures.inc()
            raise

    async def _refuse(
        self, call_id: str, principal: Principal, skill: str, error: NexflowError
    ) -> NexflowError:
        """Record a refusal; if even that cannot be recorded, the caller learns so."""
        codes = [r["code"] for r in error.extra.get("reasons", [])] or [error.code]
        try:
            await self._append(
                call_event(
                    "call.refused",
                    call_id,
                    principal,
                    skill,
                    decision="deny",
                    reason_codes=codes,
                    payload={"error": error.code, "message": error.message},
                )
            )
        except AuditUnavailable as exc:
            return exc
        self.metrics.calls.labels(skill=skill, status="refused").inc()
        error.extra.setdefault("call_id", call_id)  # recorded: the caller may look it up
        return error

    async def run(
        self, principal: Principal, name: str, raw_input: Any
    ) -> CallResult | PendingCall:
        """One call. Every way out is recorded under its call id: a result, a pending
        approval, a refusal (`call_id` in the error), or — for a fault of ours —
        `call.failed` `internal_error` and a 500 that names the call id."""
        call_id = new_call_id()
        structlog.contextvars.bind_contextvars(call_id=call_id, principal=principal.id)
        try:
            return await self._run(call_id, principal, name, raw_input)
        except NexflowError:
            raise
        except Exception as exc:
            log.exception("call.internal_error", error_type=type(exc).__name__)
            message = "internal error; see the server log"
            with contextlib.suppress(AuditUnavailable):
                await self._append(
                    call_event(
                        "call.failed",
                        call_id,
                        principal,
                        name[:64],
                        decision="error",
                        reason_codes=["internal_error"],
                        payload={"error": "internal_error", "message": message},
                    )
                )
            raise InternalError(message, call_id=call_id) from None

    async def _run(
        self, call_id: str, principal: Principal, name: str, raw_input: Any
    ) -> CallResult | PendingCall:
        started = time.perf_counter()
        skill = self.catalog.get(name)
        if skill is None:
            raise await self._refuse(
                call_id,
                principal,
                name[:64],
                NotFound(f"no skill named {name!r}", code="skill_not_found"),
            )
        try:
            stdin, paths, hosts = prepare(
                skill,
                raw_input,
                self.workspace,
                max_input_bytes=self.settings.limits.max_input_bytes,
            )
            if not skill.executable:
                raise NotExecutable(f"skill {name!r} has instructions only; nothing to execute")
        except NexflowError as exc:
            raise await self._refuse(call_id, principal, skill.name, exc) from None

        # Hashed once: the policy input and the audit event both carry it.
        input_digest = input_sha256(raw_input)
        # Unreadable audit store: AuditUnavailable, and the call is refused (503).
        skill_runs = await self.history.skill_runs(skill.name, skill.digest)
        # Read and counted in one step, shared by every control plane on the database.
        facts = {"skill_runs": skill_runs, "rate": await self.history.count_decision(principal.id)}
        request = policy_input(
            self.workspace, call_id, principal, skill, input_digest, paths, hosts, facts
        )
        try:
            decision = await self.engine.decide(request)
        except policy_mod.PolicyUnavailable as exc:
            self.metrics.decisions.labels(outcome="error").inc()
            raise await self._refuse(
                call_id, principal, skill.name, PolicyUnavailable(f"policy engine failed: {exc}")
            ) from None
        return await self._decided(
            call_id, principal, skill, input_digest, stdin, decision, started, facts
        )

    async def _decided(
        self,
        call_id: str,
        principal: Principal,
        skill: Skill,
        input_digest: str,
        stdin: bytes,
        decision: policy_mod.Decision,
        started: float,
        context: dict[str, Any],
    ) -> CallResult | PendingCall:
        reasons = reasons_list(decision)
        codes = [r.code for r in decision.reasons]
        # Only `allow` means "may run now"; approval-needed calls come back allow=false.
        if decision.allow:
            outcome = "allow"
        elif decision.require_approval:
            outcome = "approval_required"
        else:
            outcome = "deny"
        self.metrics.decisions.labels(outcome=outcome).inc()
        io_cap = self.settings.limits.audit_io_bytes
        requested = call_event(
            "call.requested",
            call_id,
            principal,
            skill.name,
            payload={
                "skill_version": skill.version,
                "skill_digest": skill.digest,
                "channel": principal.channel,
                "input_sha256": input_digest,
                "input": cap(stdin.decode(), io_cap),
            },
        )
        decided = call_event(
            "call.decided",
            call_id,
            principal,
            skill.name,
            decision=outcome,
            reason_codes=codes,
            policy_revision=decision.revision,
            payload={"reasons": reasons, "grants": grants_dict(decision.grants)},
        )
        if outcome == "approval_required":
            pending = await self._pend(
                call_id,
                principal,
                skill,
                input_digest,
                stdin,
                decision,
                context,
                requested,
                decided,
            )
            self.metrics.calls.labels(skill=skill.name, status="pending_approval").inc()
            return PendingCall(pending)
        if outcome != "allow":
            await self._append(requested, decided)
            self.metrics.calls.labels(skill=skill.name, status="refused").inc()
            raise PolicyDenied("policy denied the call", call_id=call_id, reasons=reasons)
        return await dispatch(
            self,
            call_id,
            principal,
            skill,
            stdin,
            decision,
            started,
            [requested, decided],
            self._commit,
        )

    async def _commit(self, events: list[audit_mod.AuditEvent]) -> None:
        await self._append(*events)

    async def _pend(
        self,
        call_id: str,
        principal: Principal,
        skill: Skill,
        input_digest: str,
        stdin: bytes,
        decision: policy_mod.Decision,
        context: dict[str, Any],
        *events: audit_mod.AuditEvent,
    ) -> Approval:
        """Store the call as a pending approval with its events, in one transaction."""
        now = self.approvals.now()
        approval = Approval(
            id=new_approval_id(),
            call_id=call_id,
            status=Status.PENDING,
            principal={
                **principal.to_policy(),
                "user_id": principal.user_id,
                "token_id": principal.token_id,
            },
            skill=skill.name,
            skill_digest=skill.digest,
            input_sha256=input_digest,
            input=stdin.decode(),  # validate_input capped it at limits.max_input_bytes
            grants=grants_dict(decision.grants),
            policy_revision=decision.revision,
            reasons=reasons_list(decision),
            context=context,
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.approvals.ttl_s),
            decided_at=None,
            decided_by=None,
            comment=None,
        )
        async with self.approvals.changing() as tx:
            await self.approvals.insert(tx, approval)
            for event in events:
                tx.record(event)
            tx.record(
                call_event(
                    "approval.requested",
                    call_id,
                    principal,
                    skill.name,
                    decision="approval_required",
                    reason_codes=approval.reason_codes,
                    policy_revision=decision.revision,
                    payload={
                        "approval_id": approval.id,
                        "binding": approval.binding(),
                        "expires_at": approval.expires_at.isoformat(),
                    },
                )
            )
        return approval

    async def run_approved(
        self, approval: Approval, principal: Principal | None = None
    ) -> CallResult | None:
        """Run a granted approval's call, if the current catalog and policy still give
        exactly what was approved; else invalidate it. None when it did not run.

        `principal` is the requester as their account stands now (roles may have
        changed since they asked); default: as stored with the approval."""
        return await _approved.run_approved(self, approval, principal)

    async def invalidate(self, approval: Approval, principal: Principal, why: str) -> None:
        """granted → invalidated: approval.invalidated and call.failed, in one transaction."""
        await _approved.invalidate(self, approval, principal, why)
