"""Sending an allowed call to the executor, and recording how it ended.

`dispatch` commits the events that say why the call may run, with `call.dispatched`,
before anything runs ("no audit, no execution"); then `call.egress` (one per connection
attempt the call's egress proxy saw) and `call.finished`, or `call.failed` when the
executor could not run it. With `wait=False` the run after the commit belongs to a task
of `CallParts.running` and the caller gets a `StartedCall` at once.

A succeeded call whose output does not fit the skill's output schema is `failed` with
`output_invalid` (see `_output`); `call.finished` says so beside the raw, capped stdout.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from .. import audit as audit_mod
from .. import policy as policy_mod
from ..errors import AuditUnavailable, NexflowError
from ..executors import EgressRecord, ExecutionSpec, KillReason, Outcome
from ..secrets import Redactor
from ._context import CallContext, CallParts
from ._output import OUTPUT_INVALID, check_output
from ._requests import execution_spec
from ._results import CallResult, StartedCall, cap, grants_dict, parse_output, read_output
from ._running import InFlight
from ._secrets import Commit, granted_secrets, redactor

log = structlog.get_logger("nexflow.calls")


async def dispatch(
    parts: CallParts,
    ctx: CallContext,
    decision: policy_mod.Decision,
    leading: list[audit_mod.AuditEvent],
    commit: Commit,
) -> CallResult:
    """Commit `leading` + call.dispatched through `commit`, then run the call to its end."""
    spec, entry = await _dispatched(parts, ctx, decision, leading, commit, wait=True)
    return await _execute(parts, ctx, spec, entry)


async def start(
    parts: CallParts,
    ctx: CallContext,
    decision: policy_mod.Decision,
    leading: list[audit_mod.AuditEvent],
    commit: Commit,
) -> StartedCall:
    """`dispatch`, with the run in a task of `parts.running`: answers once it is committed."""
    spec, entry = await _dispatched(parts, ctx, decision, leading, commit, wait=False)
    parts.running.spawn(entry, _in_background(parts, ctx, spec, entry))
    return StartedCall(ctx.call_id, ctx.skill.name)


async def _dispatched(
    parts: CallParts,
    ctx: CallContext,
    decision: policy_mod.Decision,
    leading: list[audit_mod.AuditEvent],
    commit: Commit,
    *,
    wait: bool,
) -> tuple[ExecutionSpec, InFlight]:
    """Commit `leading` + secret.read + call.dispatched; the spec to run and the call,
    known as running."""
    skill = ctx.skill
    values, reads = await granted_secrets(parts, ctx, decision.grants.secrets, leading, commit)
    spec = execution_spec(parts.workspace, ctx.call_id, skill, ctx.stdin, decision.grants, values)
    await commit(
        [
            *leading,
            *reads,
            ctx.event(
                "call.dispatched",
                payload={
                    "mounts": [
                        {"host": m.host_path, "sandbox": m.sandbox_path, "rw": m.writable}
                        for m in spec.mounts
                    ],
                    "limits": grants_dict(decision.grants)["limits"],
                    "backend": spec.backend or "unspecified",
                    "image": spec.image,
                    "skill_digest": skill.digest,
                    "wait": wait,
                },
            ),
        ]
    )
    parts.history.record_run(skill.name, skill.digest)
    # Known as running before anyone can hear of it: a cancel may come at once.
    return spec, parts.running.enter(ctx.call_id, skill.name, ctx.principal.id)


async def _in_background(
    parts: CallParts, ctx: CallContext, spec: ExecutionSpec, entry: InFlight
) -> None:
    structlog.contextvars.bind_contextvars(call_id=ctx.call_id, principal=ctx.principal.id)
    try:
        await _execute(parts, ctx, spec, entry)
    except NexflowError as exc:  # recorded as call.failed by `_execute`
        log.warning("call.background_failed", error=exc.code)
    except Exception as exc:
        await parts.internal_error(ctx.call_id, ctx.principal, ctx.skill.name, exc)


async def _execute(
    parts: CallParts, ctx: CallContext, spec: ExecutionSpec, entry: InFlight
) -> CallResult:
    """Run the dispatched call on an executor and record how it ended."""
    try:
        try:
            outcome = await entry.execute(
                lambda: parts.executor.execute(
                    spec, output_cap=parts.settings.limits.result_output_bytes
                ),
                spec.backend,
            )
        except NexflowError as exc:
            await _failed(parts, ctx, exc.code, exc.message)
            exc.extra.setdefault("call_id", ctx.call_id)
            raise
        except asyncio.CancelledError:  # the control plane is stopping
            await _failed(parts, ctx, STOPPED, "the control plane stopped while the call ran")
            raise
        result = await _finished(parts, ctx, outcome, redactor(spec))
        entry.finish(result.status, result.kill_reason)
        return result
    finally:
        parts.running.leave(entry)


STOPPED = "control_plane_stopped"


async def _failed(parts: CallParts, ctx: CallContext, code: str, message: str) -> None:
    """`call.failed`: the executor could not run the call, or gave no outcome."""
    parts.metrics.calls.labels(skill=ctx.skill.name, status="error").inc()
    try:
        await parts.append(
            ctx.event(
                "call.failed",
                decision="error",
                reason_codes=[code],
                payload={"error": code, "message": message},
            )
        )
    except AuditUnavailable:
        log.error("audit.write_failed", stage="call.failed")
    await parts.owe(ctx.principal, ctx.call_id, ctx.skill.name, "error", error=code)


async def _finished(
    parts: CallParts, ctx: CallContext, outcome: Outcome, secrets: Redactor
) -> CallResult:
    skill = ctx.skill
    # The first thing done with the output: nothing below sees a secret the call received.
    stdout = secrets.redact(outcome.stdout.decode(errors="replace"))
    stderr = secrets.redact(outcome.stderr.decode(errors="replace"))
    kill = str(outcome.kill_reason)
    status: str = outcome.status
    problem = None
    read = read_output(stdout)
    if status == "succeeded":
        problem = await check_output(skill, read, parts.validation)
        if problem is not None:
            status = "failed"
    duration_ms = int((time.perf_counter() - ctx.started) * 1000)
    result = CallResult(
        call_id=ctx.call_id,
        skill=skill.name,
        status=status,
        exit_code=outcome.exit_code,
        output=parse_output(stdout, read),
        stdout=stdout,
        stderr=stderr,
        duration_ms=duration_ms,
        kill_reason=kill,
        truncated=outcome.truncated,
        backend=outcome.backend,
        error=None if problem is None else OUTPUT_INVALID,
        message=None if problem is None else problem.message,
    )
    io_cap = parts.settings.limits.audit_io_bytes
    egress = [egress_event(ctx, e) for e in outcome.egress]
    allowed = sum(1 for e in outcome.egress if e.allowed)
    try:
        await parts.append(
            *egress,
            ctx.event(
                "call.finished",
                reason_codes=[] if problem is None else [OUTPUT_INVALID],
                payload={
                    "status": status,
                    **({} if problem is None else problem.to_dict()),
                    "exit_code": outcome.exit_code,
                    "kill_reason": kill,
                    "detail": outcome.detail,
                    "truncated": outcome.truncated,
                    "wall_time_ms": outcome.usage.wall_time_ms,
                    "cpu_time_ms": outcome.usage.cpu_time_ms,
                    "peak_memory_bytes": outcome.usage.peak_memory_bytes,
                    "backend": outcome.backend,
                    "image_id": outcome.image_id,
                    "warm": outcome.warm,
                    "executor": outcome.executor,
                    "bundle_sha256": outcome.bundle_sha256,
                    "lost_on": list(outcome.lost_on),
                    "stdout": cap(stdout, io_cap),
                    "stderr": cap(stderr, io_cap),
                    "egress": {
                        "allowed": allowed,
                        "refused": len(outcome.egress) - allowed,
                        "dropped": outcome.egress_dropped,
                    },
                },
            ),
        )
    except AuditUnavailable:
        # The call already ran; the caller gets its result, flagged, and the
        # operator gets an error line and a metric.
        log.error("audit.write_failed", stage="call.finished")
        result = CallResult(**{**result.to_dict(), "audit_complete": False})
    await parts.owe(
        ctx.principal, ctx.call_id, skill.name, status, output=result.output, error=result.error
    )
    parts.metrics.calls.labels(skill=skill.name, status=status).inc()
    if outcome.kill_reason is not KillReason.NONE:
        parts.metrics.executor_kills.labels(executor=outcome.executor, reason=kill).inc()
    parts.metrics.call_latency.labels(skill=skill.name).observe(duration_ms / 1000)
    log.info(
        "call.finished",
        skill=skill.name,
        status=status,
        exit_code=outcome.exit_code,
        kill_reason=kill,
        duration_ms=duration_ms,
    )
    return result


def egress_event(ctx: CallContext, egress: EgressRecord) -> audit_mod.AuditEvent:
    """One connection attempt the call's egress proxy saw, allowed or refused."""
    return ctx.event(
        "call.egress",
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
