"""One skill call, step by step: resolve → validate → decide → audit → dispatch → audit.

Every step that ends a call early is an audit event too. Nothing is dispatched unless
the events that say why it may run are committed first ("no audit, no execution").
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import structlog

from .. import audit as audit_mod
from .. import policy as policy_mod
from ..approvals import Approval, ApprovalStore, Status, new_approval_id
from ..auth import Principal
from ..chat.outbox import ChatOutbox
from ..errors import (
    AuditUnavailable,
    Conflict,
    NexflowError,
    NotExecutable,
    NotFound,
    PolicyDenied,
    PolicyUnavailable,
)
from ..executors import Executor
from ..metrics import Metrics
from ..secrets import SecretStore
from ..settings import Settings
from ..skills import Skill, SkillCatalog, ValidationPool
from ..tracing import step
from . import _approved, _cancel
from ._cancel import Cancelled
from ._context import CallContext, CallParts
from ._dispatch import dispatch, start
from ._history import CallHistory
from ._requests import policy_input
from ._results import (
    CallResult,
    PendingCall,
    StartedCall,
    call_event,
    cap,
    grants_dict,
    new_call_id,
    reasons_list,
)
from .inputs import HostAccess, PathAccess, input_sha256

log = structlog.get_logger("nexflow.calls")


class CallService:
    """Runs skill calls for the HTTP API and the CLI alike."""

    def __init__(
        self,
        settings: Settings,
        catalog: SkillCatalog,
        engine: policy_mod.PolicyEngine,
        audit: audit_mod.AuditLog,
        executor: Executor,
        metrics: Metrics,
        history: CallHistory,
        approvals: ApprovalStore,
        secrets: SecretStore | None = None,
    ) -> None:
        self.parts = CallParts(
            settings, catalog, engine, audit, executor, metrics, history, approvals, secrets
        )

    @property
    def catalog(self) -> SkillCatalog:
        return self.parts.catalog

    @catalog.setter
    def catalog(self, catalog: SkillCatalog) -> None:
        """Swap the catalog calls resolve skills in (tests reload it)."""
        self.parts.catalog = catalog

    @property
    def outbox(self) -> ChatOutbox | None:
        """The results owed to chats (read and acked by the gateway)."""
        return self.parts.outbox

    @outbox.setter
    def outbox(self, outbox: ChatOutbox | None) -> None:
        self.parts.outbox = outbox

    @property
    def validation(self) -> ValidationPool:
        """The worker processes costly input validation runs in."""
        return self.parts.validation

    async def prepare_input(
        self, skill: Skill, raw_input: Any
    ) -> tuple[bytes, list[PathAccess], list[HostAccess]]:
        """The call's validated stdin and the paths and hosts its input names."""
        return await self.parts.prepare_input(skill, raw_input)

    async def _refuse(
        self, call_id: str, principal: Principal, skill: str, error: NexflowError
    ) -> NexflowError:
        """Record a refusal; if even that cannot be recorded, the caller learns so."""
        codes = [r["code"] for r in error.extra.get("reasons", [])] or [error.code]
        try:
            await self.parts.append(
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
        self.parts.metrics.calls.labels(skill=skill, status="refused").inc()
        error.extra.setdefault("call_id", call_id)  # recorded: the caller may look it up
        return error

    async def run(
        self, principal: Principal, name: str, raw_input: Any, *, wait: bool = True
    ) -> CallResult | PendingCall | StartedCall:
        """One call. Every way out is recorded under its call id: a result, a pending
        approval, a refusal (`call_id` in the error), or — for a fault of ours —
        `call.failed` `internal_error` and a 500 that names the call id. With
        `wait=False` an allowed call answers `StartedCall` once dispatched and runs on
        (its end is in its story, `GET /api/v1/calls/{id}`)."""
        call_id = new_call_id()
        structlog.contextvars.bind_contextvars(call_id=call_id, principal=principal.id)
        try:
            with step("call", {"nexflow.call_id": call_id, "nexflow.skill": name[:64]}) as span:
                result = await self._run(call_id, principal, name, raw_input, wait)
                if isinstance(result, CallResult):
                    status = result.status
                elif isinstance(result, StartedCall):
                    status = "running"
                else:
                    status = "pending_approval"
                span.set_attribute("nexflow.status", status)
                return result
        except NexflowError:
            raise
        except Exception as exc:
            raise await self.parts.internal_error(call_id, principal, name[:64], exc) from None

    async def _run(
        self, call_id: str, principal: Principal, name: str, raw_input: Any, wait: bool
    ) -> CallResult | PendingCall | StartedCall:
        started = time.perf_counter()
        parts = self.parts
        skill = parts.catalog.get(name)
        if skill is None:
            raise await self._refuse(
                call_id,
                principal,
                name[:64],
                NotFound(f"no skill named {name!r}", code="skill_not_found"),
            )
        if skill.consent_pending:
            raise await self._refuse(
                call_id,
                principal,
                skill.name,
                Conflict(
                    f"an update of {name!r} asks for more than was approved: "
                    f"'nexflow skill consent {name}' shows and approves it",
                    code="consent_required",
                ),
            )
        try:
            with step("input.validate"):
                stdin, paths, hosts = await parts.prepare_input(skill, raw_input)
            if not skill.executable:
                raise NotExecutable(f"skill {name!r} has instructions only; nothing to execute")
        except NexflowError as exc:
            raise await self._refuse(call_id, principal, skill.name, exc) from None

        # Hashed once: the policy input and the audit event both carry it.
        input_digest = input_sha256(raw_input)
        # Unreadable audit store: AuditUnavailable, and the call is refused (503).
        skill_runs = await parts.history.skill_runs(skill.name, skill.digest)
        # Read and counted in one step, shared by every control plane on the database.
        facts = {"skill_runs": skill_runs, "rate": await parts.history.count_decision(principal.id)}
        request = policy_input(
            parts.workspace, call_id, principal, skill, input_digest, paths, hosts, facts
        )
        try:
            with step("policy.decide") as span:
                decision = await parts.engine.decide(request)
                span.set_attribute("nexflow.allow", decision.allow)
                span.set_attribute("nexflow.require_approval", decision.require_approval)
        except policy_mod.PolicyUnavailable as exc:
            parts.metrics.decisions.labels(outcome="error").inc()
            raise await self._refuse(
                call_id, principal, skill.name, PolicyUnavailable(f"policy engine failed: {exc}")
            ) from None
        ctx = CallContext(call_id, principal, skill, stdin, input_digest, started, facts)
        return await self._decided(ctx, decision, wait)

    async def _decided(
        self, ctx: CallContext, decision: policy_mod.Decision, wait: bool
    ) -> CallResult | PendingCall | StartedCall:
        parts, skill = self.parts, ctx.skill
        reasons = reasons_list(decision)
        codes = [r.code for r in decision.reasons]
        # Only `allow` means "may run now"; approval-needed calls come back allow=false.
        if decision.allow:
            outcome = "allow"
        elif decision.require_approval:
            outcome = "approval_required"
        else:
            outcome = "deny"
        parts.metrics.decisions.labels(outcome=outcome).inc()
        io_cap = parts.settings.limits.audit_io_bytes
        requested = ctx.event(
            "call.requested",
            payload={
                "skill_version": skill.version,
                "skill_digest": skill.digest,
                "channel": ctx.principal.channel,
                "input_sha256": ctx.input_digest,
                "input": cap(ctx.stdin.decode(), io_cap),
                **ctx.principal.chat_fields(),
            },
        )
        decided = ctx.event(
            "call.decided",
            decision=outcome,
            reason_codes=codes,
            policy_revision=decision.revision,
            payload={"reasons": reasons, "grants": grants_dict(decision.grants)},
        )
        if outcome == "approval_required":
            pending = await self._pend(ctx, decision, requested, decided)
            parts.metrics.calls.labels(skill=skill.name, status="pending_approval").inc()
            return PendingCall(pending)
        if outcome != "allow":
            await parts.append(requested, decided)
            parts.metrics.calls.labels(skill=skill.name, status="refused").inc()
            raise PolicyDenied("policy denied the call", call_id=ctx.call_id, reasons=reasons)
        run = dispatch if wait else start
        return await run(parts, ctx, decision, [requested, decided], self._commit)

    async def _commit(self, events: list[audit_mod.AuditEvent]) -> None:
        await self.parts.append(*events)

    async def _pend(
        self, ctx: CallContext, decision: policy_mod.Decision, *events: audit_mod.AuditEvent
    ) -> Approval:
        """Store the call as a pending approval with its events, in one transaction."""
        store, principal = self.parts.approvals, ctx.principal
        now = store.now()
        approval = Approval(
            id=new_approval_id(),
            call_id=ctx.call_id,
            status=Status.PENDING,
            principal={
                **principal.to_policy(),
                "user_id": principal.user_id,
                "token_id": principal.token_id,
                **({"identity": principal.identity} if principal.identity else {}),
                **({"deliver_to": chat} if (chat := principal.waiting_chat()) else {}),
            },
            skill=ctx.skill.name,
            skill_digest=ctx.skill.digest,
            input_sha256=ctx.input_digest,
            input=ctx.stdin.decode(),  # validate_input capped it at limits.max_input_bytes
            grants=grants_dict(decision.grants),
            policy_revision=decision.revision,
            reasons=reasons_list(decision),
            context=ctx.facts,
            created_at=now,
            expires_at=now + timedelta(seconds=self.parts.settings.approvals.ttl_s),
            decided_at=None,
            decided_by=None,
            comment=None,
        )
        async with store.changing() as tx:
            await store.insert(tx, approval)
            for event in events:
                tx.record(event)
            tx.record(
                ctx.event(
                    "approval.requested",
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
        return await _approved.run_approved(self.parts, approval, principal)

    async def cancel(self, call_id: str, who: Principal) -> Cancelled:
        """Kill a running call (see `_cancel`): its status once it ended, or `cancelling`."""
        return await _cancel.cancel(self.parts, call_id, who)

    async def close(self) -> None:
        """Let calls that run without a held request end (bounded), cancel the rest."""
        await self.parts.running.close()

    async def owe_not_run(self, approval: Approval, status: str, why: str) -> None:
        """Tell the chat a call that waited for approval came from (its `deliver_to`)
        that it will not run (`denied`, `expired`), through the outbox: the gateway that
        showed its buttons may have restarted since."""
        await self.parts.owe(
            approval.requester(), approval.call_id, approval.skill, status, error=f"not run, {why}"
        )

    async def invalidate(self, approval: Approval, principal: Principal, why: str) -> None:
        """granted → invalidated: approval.invalidated and call.failed, in one transaction."""
        await _approved.invalidate(self.parts, approval, principal, why)
