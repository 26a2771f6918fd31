"""The approved-call path: a granted approval runs only if nothing changed since.

`run_approved` re-decides the call with `context.approved = true` against the current
catalog and policy; it dispatches only if the skill digest, the input and the grants are
what was approved, and otherwise `invalidate`s the approval (`approval_stale`).
"""

from __future__ import annotations

import json
import time

import structlog

from .. import audit as audit_mod
from .. import policy as policy_mod
from ..approvals import Approval, Status, not_pending
from ..approvals.records import SYSTEM
from ..auth import Principal
from ..errors import NexflowError, Unavailable
from ..skills import Skill
from ._context import CallContext, CallParts
from ._dispatch import dispatch
from ._requests import policy_input
from ._results import ApprovalStale, CallResult, call_event, grants_dict, reasons_list
from .inputs import input_sha256

log = structlog.get_logger("nexflow.calls")


async def run_approved(
    parts: CallParts, approval: Approval, principal: Principal | None = None
) -> CallResult | None:
    """See `CallService.run_approved`."""
    started = time.perf_counter()
    principal = principal or approval.requester()
    structlog.contextvars.bind_contextvars(call_id=approval.call_id, principal=principal.id)
    problem, decision, skill = await _redecide(parts, approval, principal)
    if problem is not None or decision is None or skill is None:
        await invalidate(parts, approval, principal, problem or "decision_changed")
        return None
    ctx = CallContext(
        call_id=approval.call_id,
        principal=principal,
        skill=skill,
        stdin=approval.input.encode(),
        input_digest=approval.input_sha256,
        started=started,
        facts=approval.context,
    )
    decided = ctx.event(
        "call.decided",
        decision="allow",
        reason_codes=list(decision.codes),
        policy_revision=decision.revision,
        payload={
            "reasons": reasons_list(decision),
            "grants": grants_dict(decision.grants),
            "approval_id": approval.id,
            "approved_by": approval.decided_by,
        },
    )

    async def commit(events: list[audit_mod.AuditEvent]) -> None:
        # The row becomes `ran` in the transaction that records the dispatch: after a
        # crash, a `granted` row is one that was certainly never dispatched.
        async with parts.approvals.changing() as tx:
            current = await parts.approvals.locked(tx, approval.id)
            if current.status is not Status.GRANTED:
                raise not_pending(current)
            await parts.approvals.set_status(tx.conn, current, Status.RAN)
            for event in events:
                tx.record(event)

    parts.metrics.decisions.labels(outcome="allow").inc()
    return await dispatch(parts, ctx, decision, [decided], commit)


async def _redecide(
    parts: CallParts, approval: Approval, principal: Principal
) -> tuple[str | None, policy_mod.Decision | None, Skill | None]:
    """(what changed or None, the decision with approved=true, the current skill)."""
    skill = parts.catalog.get(approval.skill)
    if skill is None or skill.digest != approval.skill_digest:
        return "skill_changed", None, None
    raw_input = json.loads(approval.input)
    try:
        stdin, paths, hosts = await parts.prepare_input(skill, raw_input)
    except Unavailable:
        raise  # no worker could judge the input: that is not a changed input
    except NexflowError:
        return "input_changed", None, None
    digest = input_sha256(raw_input)
    if digest != approval.input_sha256 or stdin.decode() != approval.input:
        return "input_changed", None, None
    # The facts the request was decided on (it was counted then, not again now).
    request = policy_input(
        parts.workspace,
        approval.call_id,
        principal,
        skill,
        digest,
        paths,
        hosts,
        approval.context,
        approved=True,
    )
    try:
        decision = await parts.engine.decide(request)
    except policy_mod.PolicyUnavailable:
        parts.metrics.decisions.labels(outcome="error").inc()
        return "policy_unavailable", None, None
    if not decision.allow:
        return "decision_changed", decision, None
    if grants_dict(decision.grants) != approval.grants:
        return "grants_changed", decision, None
    return None, decision, skill


async def invalidate(parts: CallParts, approval: Approval, principal: Principal, why: str) -> None:
    """See `CallService.invalidate`."""
    parts.metrics.calls.labels(skill=approval.skill, status="refused").inc()
    message = f"the approved call changed since it was approved ({why}); ask again"
    async with parts.approvals.changing() as tx:
        current = await parts.approvals.locked(tx, approval.id)
        if current.status is not Status.GRANTED:
            return
        await parts.approvals.set_status(tx.conn, current, Status.INVALIDATED)
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
            call_event(
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
    await parts.owe(principal, approval.call_id, approval.skill, "error", error=ApprovalStale.code)
