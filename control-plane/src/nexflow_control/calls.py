"""One skill call, step by step: resolve → validate → decide → audit → dispatch → audit.

Every step that ends a call early is an audit event too. Nothing is dispatched unless
the events that say why it may run are committed first ("no audit, no execution").
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from nexflow.executor.v1 import executor_pb2 as pb

from . import audit as audit_mod
from . import policy as policy_mod
from .approvals import Approval, ApprovalStore, Status, new_approval_id, not_pending
from .approvals.records import SYSTEM
from .auth import Principal
from .errors import (
    AuditUnavailable,
    NexflowError,
    NotExecutable,
    NotFound,
    PolicyDenied,
    PolicyUnavailable,
)
from .executor_client import ExecutorClient
from .history import CallHistory
from .inputs import (
    HostAccess,
    PathAccess,
    input_sha256,
    resolve_hosts,
    resolve_paths,
    validate_input,
)
from .metrics import Metrics
from .settings import Settings
from .skills import SKILL_DIGEST_LABEL, Skill, SkillCatalog

log = structlog.get_logger("nexflow.calls")

_RUNTIMES = {"bash": pb.RUNTIME_BASH, "python": pb.RUNTIME_PYTHON, "node": pb.RUNTIME_NODE}
_BACKENDS = {"": pb.BACKEND_UNSPECIFIED, "docker": pb.BACKEND_DOCKER, "nsjail": pb.BACKEND_NSJAIL}
_KILL_NAMES = {v: k.removeprefix("KILL_REASON_").lower() for k, v in pb.KillReason.items()}


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


class ApprovalStale(NexflowError):
    """An approved call whose skill, input or grants changed since it was approved."""

    status, code = 409, "approval_stale"


Commit = Callable[[list[audit_mod.AuditEvent]], Awaitable[None]]


def parse_output(stdout: str) -> Any:
    """A script's result: its stdout as JSON if it is JSON, else the text itself."""
    text = stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return stdout


def _reasons_list(decision: policy_mod.Decision) -> list[dict[str, str]]:
    return [{"code": r.code, "message": r.message} for r in decision.reasons]


def _grants_dict(grants: policy_mod.Grants) -> dict[str, Any]:
    return {
        "filesystem": [{"path": g.path, "mode": g.mode} for g in grants.filesystem],
        "network": list(grants.network),
        "limits": dataclasses.asdict(grants.limits) if grants.limits else None,
    }


def _cap(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore") + "…"


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
        history: CallHistory | None = None,
        approvals: ApprovalStore | None = None,
    ) -> None:
        self.settings = settings
        self.approvals = approvals or ApprovalStore(audit)
        self.history = history or CallHistory(audit)
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

    def _event(
        self, action: str, call_id: str, principal: Principal, skill: str, **kw: Any
    ) -> audit_mod.AuditEvent:
        return audit_mod.AuditEvent(
            action=action, call_id=call_id, actor=principal.id, skill=skill, **kw
        )

    async def _refuse(
        self, call_id: str, principal: Principal, skill: str, error: NexflowError
    ) -> NexflowError:
        """Record a refusal; if even that cannot be recorded, the caller learns so."""
        codes = [r["code"] for r in error.extra.get("reasons", [])] or [error.code]
        try:
            await self._append(
                self._event(
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
        return error

    async def run(
        self, principal: Principal, name: str, raw_input: Any
    ) -> CallResult | PendingCall:
        call_id = new_call_id()
        structlog.contextvars.bind_contextvars(call_id=call_id, principal=principal.id)
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
            stdin, paths, hosts = self._prepare(skill, raw_input)
            if not skill.executable:
                raise NotExecutable(f"skill {name!r} has instructions only; nothing to execute")
        except NexflowError as exc:
            raise await self._refuse(call_id, principal, skill.name, exc) from None

        # Hashed once: the policy input and the audit event both carry it.
        input_digest = input_sha256(raw_input)
        # Unreadable audit store: AuditUnavailable, and the call is refused (503).
        skill_runs = await self.history.skill_runs(skill.name, skill.digest)
        # Read and counted with no await between: concurrent calls see each other.
        facts = {"skill_runs": skill_runs, "rate": self.history.rate(principal.id)}
        self.history.record_decision(principal.id)
        policy_input = self._policy_input(
            call_id, principal, skill, input_digest, paths, hosts, facts
        )
        try:
            decision = await self.engine.decide(policy_input)
        except policy_mod.PolicyUnavailable as exc:
            self.metrics.decisions.labels(outcome="error").inc()
            raise await self._refuse(
                call_id, principal, skill.name, PolicyUnavailable(f"policy engine failed: {exc}")
            ) from None
        return await self._decided(
            call_id, principal, skill, input_digest, stdin, decision, started, facts
        )

    def _prepare(
        self, skill: Skill, raw_input: Any
    ) -> tuple[bytes, list[PathAccess], list[HostAccess]]:
        """The validated stdin, and the paths and hosts the input names; NexflowError (422)
        when the input does not fit the skill."""
        stdin = validate_input(
            f"{skill.name}@{skill.digest}",
            skill.input_schema,
            raw_input,
            max_bytes=self.settings.limits.max_input_bytes,
        )
        paths = resolve_paths(list(skill.path_inputs), raw_input, self.workspace)
        hosts = resolve_hosts(skill.network_inputs, raw_input)
        return stdin, paths, hosts

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
        reasons = _reasons_list(decision)
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
        requested = self._event(
            "call.requested",
            call_id,
            principal,
            skill.name,
            payload={
                "skill_version": skill.version,
                "skill_digest": skill.digest,
                "channel": principal.channel,
                "input_sha256": input_digest,
                "input": _cap(stdin.decode(), io_cap),
            },
        )
        decided = self._event(
            "call.decided",
            call_id,
            principal,
            skill.name,
            decision=outcome,
            reason_codes=codes,
            policy_revision=decision.revision,
            payload={"reasons": reasons, "grants": _grants_dict(decision.grants)},
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
        return await self._dispatch(
            call_id, principal, skill, stdin, decision, started, [requested, decided], self._commit
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
            grants=_grants_dict(decision.grants),
            policy_revision=decision.revision,
            reasons=_reasons_list(decision),
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
                self._event(
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
        started = time.perf_counter()
        principal = principal or approval.requester()
        structlog.contextvars.bind_contextvars(call_id=approval.call_id, principal=principal.id)
        problem, decision, skill = await self._redecide(approval, principal)
        if problem is not None or decision is None or skill is None:
            await self.invalidate(approval, principal, problem or "decision_changed")
            return None
        decided = self._event(
            "call.decided",
            approval.call_id,
            principal,
            skill.name,
            decision="allow",
            reason_codes=list(decision.codes),
            policy_revision=decision.revision,
            payload={
                "reasons": _reasons_list(decision),
                "grants": _grants_dict(decision.grants),
                "approval_id": approval.id,
                "approved_by": approval.decided_by,
            },
        )

        async def commit(events: list[audit_mod.AuditEvent]) -> None:
            # The row becomes `ran` in the transaction that records the dispatch: after a
            # crash, a `granted` row is one that was certainly never dispatched.
            async with self.approvals.changing() as tx:
                current = await self.approvals.locked(tx, approval.id)
                if current.status is not Status.GRANTED:
                    raise not_pending(current)
                await self.approvals.set_status(tx.conn, current, Status.RAN)
                for event in events:
                    tx.record(event)

        stdin = approval.input.encode()
        self.metrics.decisions.labels(outcome="allow").inc()
        return await self._dispatch(
            approval.call_id, principal, skill, stdin, decision, started, [decided], commit
        )

    async def _redecide(
        self, approval: Approval, principal: Principal
    ) -> tuple[str | None, policy_mod.Decision | None, Skill | None]:
        """(what changed or None, the decision with approved=true, the current skill)."""
        skill = self.catalog.get(approval.skill)
        if skill is None or skill.digest != approval.skill_digest:
            return "skill_changed", None, None
        raw_input = json.loads(approval.input)
        try:
            stdin, paths, hosts = self._prepare(skill, raw_input)
        except NexflowError:
            return "input_changed", None, None
        digest = input_sha256(raw_input)
        if digest != approval.input_sha256 or stdin.decode() != approval.input:
            return "input_changed", None, None
        # The facts the request was decided on (it was counted then, not again now).
        policy_input = self._policy_input(
            approval.call_id, principal, skill, digest, paths, hosts, approval.context, True
        )
        try:
            decision = await self.engine.decide(policy_input)
        except policy_mod.PolicyUnavailable:
            self.metrics.decisions.labels(outcome="error").inc()
            return "policy_unavailable", None, None
        if not decision.allow:
            return "decision_changed", decision, None
        if _grants_dict(decision.grants) != approval.grants:
            return "grants_changed", decision, None
        return None, decision, skill

    async def invalidate(self, approval: Approval, principal: Principal, why: str) -> None:
        """granted → invalidated: approval.invalidated and call.failed, in one transaction."""
        self.metrics.calls.labels(skill=approval.skill, status="refused").inc()
        message = f"the approved call changed since it was approved ({why}); ask again"
        async with self.approvals.changing() as tx:
            current = await self.approvals.locked(tx, approval.id)
            if current.status is not Status.GRANTED:
                return
            await self.approvals.set_status(tx.conn, current, Status.INVALIDATED)
            tx.record(
                audit_mod.AuditEvent(
                    action="approval.invalidated",
                    call_id=approval.call_id,
                    actor=SYSTEM,
                    skill=approval.skill,
                    decision="deny",
                    reason_codes=[why],
                    payload={"approval_id": approval.id, "binding": approval.binding()},
                )
            )
            tx.record(
                self._event(
                    "call.failed",
                    approval.call_id,
                    principal,
                    approval.skill,
                    decision="error",
                    reason_codes=[ApprovalStale.code, why],
                    payload={"error": ApprovalStale.code, "message": message},
                )
            )
        log.info("approval.invalidated", approval_id=approval.id, why=why)

    async def _dispatch(
        self,
        call_id: str,
        principal: Principal,
        skill: Skill,
        stdin: bytes,
        decision: policy_mod.Decision,
        started: float,
        leading: list[audit_mod.AuditEvent],
        commit: Commit,
    ) -> CallResult:
        """Commit `leading` + call.dispatched through `commit`, then run the call."""
        request = self._execute_request(call_id, skill, stdin, decision.grants)
        await commit(
            [
                *leading,
                self._event(
                    "call.dispatched",
                    call_id,
                    principal,
                    skill.name,
                    payload={
                        "mounts": [
                            {"host": m.host_path, "sandbox": m.sandbox_path, "rw": m.writable}
                            for m in request.mounts
                        ],
                        "limits": _grants_dict(decision.grants)["limits"],
                        "backend": pb.Backend.Name(request.backend)
                        .removeprefix("BACKEND_")
                        .lower(),
                        "image": request.image,
                        "skill_digest": skill.digest,
                    },
                ),
            ]
        )
        self.history.record_run(skill.name, skill.digest)
        try:
            execution = await self.executor.execute(
                request, output_cap=self.settings.limits.result_output_bytes
            )
        except NexflowError as exc:
            self.metrics.calls.labels(skill=skill.name, status="error").inc()
            try:
                await self._append(
                    self._event(
                        "call.failed",
                        call_id,
                        principal,
                        skill.name,
                        decision="error",
                        reason_codes=[exc.code],
                        payload={"error": exc.code, "message": exc.message},
                    )
                )
            except AuditUnavailable:
                log.error("audit.write_failed", stage="call.failed")
            raise
        return await self._finished(call_id, principal, skill, execution, started)

    async def _finished(
        self,
        call_id: str,
        principal: Principal,
        skill: Skill,
        execution: Any,
        started: float,
    ) -> CallResult:
        fin = execution.finished
        stdout = execution.stdout.decode(errors="replace")
        stderr = execution.stderr.decode(errors="replace")
        kill = _KILL_NAMES.get(fin.kill_reason, "unspecified")
        status = "killed" if kill != "none" else ("succeeded" if fin.exit_code == 0 else "failed")
        duration_ms = int((time.perf_counter() - started) * 1000)
        result = CallResult(
            call_id=call_id,
            skill=skill.name,
            status=status,
            exit_code=fin.exit_code,
            output=parse_output(stdout),
            stdout=stdout,
            stderr=stderr,
            duration_ms=duration_ms,
            kill_reason=kill,
            truncated=fin.truncated,
            backend=execution.backend.removeprefix("BACKEND_").lower(),
        )
        io_cap = self.settings.limits.audit_io_bytes
        egress = [self._egress_event(call_id, principal, skill.name, e) for e in execution.egress]
        allowed = sum(1 for e in execution.egress if e.allowed)
        try:
            await self._append(
                *egress,
                self._event(
                    "call.finished",
                    call_id,
                    principal,
                    skill.name,
                    payload={
                        "status": status,
                        "exit_code": fin.exit_code,
                        "kill_reason": kill,
                        "detail": fin.detail,
                        "truncated": fin.truncated,
                        "wall_time_ms": fin.wall_time_ms,
                        "cpu_time_ms": fin.cpu_time_ms,
                        "peak_memory_bytes": fin.peak_memory_bytes,
                        "backend": result.backend,
                        "image_id": execution.image_id,
                        "warm": execution.warm,
                        "stdout": _cap(stdout, io_cap),
                        "stderr": _cap(stderr, io_cap),
                        "egress": {
                            "allowed": allowed,
                            "refused": len(execution.egress) - allowed,
                            "dropped": fin.egress_dropped,
                        },
                    },
                ),
            )
        except AuditUnavailable:
            # The call already ran; the caller gets its result, flagged, and the
            # operator gets an error line and a metric.
            log.error("audit.write_failed", stage="call.finished")
            result = CallResult(**{**result.to_dict(), "audit_complete": False})
        self.metrics.calls.labels(skill=skill.name, status=status).inc()
        self.metrics.call_latency.labels(skill=skill.name).observe(duration_ms / 1000)
        log.info(
            "call.finished",
            skill=skill.name,
            status=status,
            exit_code=fin.exit_code,
            kill_reason=kill,
            duration_ms=duration_ms,
        )
        return result

    def _egress_event(
        self, call_id: str, principal: Principal, skill: str, egress: pb.Egress
    ) -> audit_mod.AuditEvent:
        """One connection attempt the call's egress proxy saw, allowed or refused."""
        return self._event(
            "call.egress",
            call_id,
            principal,
            skill,
            decision="allow" if egress.allowed else "deny",
            reason_codes=[egress.reason],
            payload={
                "host": egress.host,
                "port": egress.port,
                "method": egress.method,
                "address": egress.address,
                "grant": egress.grant,
                "bytes_up": egress.bytes_up,
                "bytes_down": egress.bytes_down,
                "started_at_unix_ms": egress.started_at_unix_ms,
                "duration_ms": egress.duration_ms,
                "seq": egress.seq,
            },
        )

    def _policy_input(
        self,
        call_id: str,
        principal: Principal,
        skill: Skill,
        input_digest: str,
        paths: list[PathAccess],
        hosts: list[HostAccess],
        facts: dict[str, Any],
        approved: bool = False,
    ) -> dict[str, Any]:
        """The policy input; `facts` are `rate` and `skill_runs` (see history.py)."""
        ws = str(self.workspace)
        limits: dict[str, int] = {}
        if skill.timeout_sec:
            limits["wall_time_ms"] = int(skill.timeout_sec * 1000)
        if skill.max_output_kb:
            limits["output_bytes"] = int(skill.max_output_kb * 1024)
        return {
            "principal": principal.to_policy(),
            "skill": {
                "name": skill.name,
                "version": skill.version,
                "digest": skill.digest,
                "publisher": skill.publisher,
                # Nothing verifies a publisher yet (signed skills come with the registry):
                # the publisher a SKILL.md names is a claim.
                "publisher_verified": False,
                "source": skill.source,
                "permissions": sorted(str(p) for p in skill.permissions),
                "runtime": str(skill.runtime) if skill.runtime else None,
                "tags": list(skill.tags),
                "filesystem": [
                    {"path": str(f.resolve(self.workspace)), "mode": f.mode}
                    for f in skill.filesystem
                ],
                "network": [str(n) for n in skill.network],
                "limits": limits,
                "backend": skill.requested_backend,
            },
            "call": {
                "id": call_id,
                "input_sha256": input_digest,
                "paths": [p.to_policy() for p in paths],
                "hosts": [h.to_policy() for h in hosts],
            },
            "context": {
                "workspace": ws,
                "time": datetime.now(UTC).isoformat(),
                "approved": approved,
                "rate": facts["rate"],
                "skill_runs": facts["skill_runs"],
            },
        }

    def _execute_request(
        self, call_id: str, skill: Skill, stdin: bytes, grants: policy_mod.Grants
    ) -> pb.ExecuteRequest:
        assert skill.entrypoint is not None  # executable skills have one (checked above)
        mounts = []
        for g in grants.filesystem:
            target = "/workspace" if Path(g.path) == self.workspace else g.path
            mounts.append(pb.Mount(host_path=g.path, sandbox_path=target, writable=g.mode == "rw"))
        lim = grants.limits
        return pb.ExecuteRequest(
            call_id=call_id,
            runtime=_RUNTIMES[str(skill.runtime)],
            skill_dir=str(skill.dir),
            entrypoint=str(skill.entrypoint),
            stdin=stdin,
            mounts=mounts,
            network_hosts=list(grants.network),
            image=skill.image_ref or "",
            image_labels={SKILL_DIGEST_LABEL: skill.digest} if skill.dockerfile else {},
            backend=_BACKENDS[skill.requested_backend or ""],
            limits=pb.Limits(
                wall_time_ms=lim.wall_time_ms,
                cpu_time_ms=lim.cpu_time_ms,
                memory_bytes=lim.memory_bytes,
                pids=lim.pids,
                output_bytes=lim.output_bytes,
            )
            if lim is not None
            else pb.Limits(),
        )
