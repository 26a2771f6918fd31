"""Sending an allowed call to the executor, and recording how it ended.

`dispatch` commits the events that say why the call may run, with `call.dispatched`,
before anything runs ("no audit, no execution"); then `call.egress` (one per connection
attempt the call's egress proxy saw) and `call.finished`, or `call.failed` when the
executor could not run it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from nexflow.executor.v1 import executor_pb2 as pb

from .. import audit as audit_mod
from .. import policy as policy_mod
from ..auth import Principal
from ..errors import AuditUnavailable, NexflowError
from ..skills import Skill
from ._requests import execute_request
from ._results import CallResult, call_event, cap, grants_dict, parse_output

if TYPE_CHECKING:
    from ._service import CallService

log = structlog.get_logger("nexflow.calls")

_KILL_NAMES = {v: k.removeprefix("KILL_REASON_").lower() for k, v in pb.KillReason.items()}

Commit = Callable[[list[audit_mod.AuditEvent]], Awaitable[None]]


async def dispatch(
    calls: CallService,
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
    request = execute_request(calls.workspace, call_id, skill, stdin, decision.grants)
    await commit(
        [
            *leading,
            call_event(
                "call.dispatched",
                call_id,
                principal,
                skill.name,
                payload={
                    "mounts": [
                        {"host": m.host_path, "sandbox": m.sandbox_path, "rw": m.writable}
                        for m in request.mounts
                    ],
                    "limits": grants_dict(decision.grants)["limits"],
                    "backend": pb.Backend.Name(request.backend).removeprefix("BACKEND_").lower(),
                    "image": request.image,
                    "skill_digest": skill.digest,
                },
            ),
        ]
    )
    calls.history.record_run(skill.name, skill.digest)
    try:
        execution = await calls.executor.execute(
            request, output_cap=calls.settings.limits.result_output_bytes
        )
    except NexflowError as exc:
        calls.metrics.calls.labels(skill=skill.name, status="error").inc()
        try:
            await calls._append(
                call_event(
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
        exc.extra.setdefault("call_id", call_id)
        raise
    return await _finished(calls, call_id, principal, skill, execution, started)


async def _finished(
    calls: CallService,
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
    io_cap = calls.settings.limits.audit_io_bytes
    egress = [egress_event(call_id, principal, skill.name, e) for e in execution.egress]
    allowed = sum(1 for e in execution.egress if e.allowed)
    try:
        await calls._append(
            *egress,
            call_event(
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
                    "stdout": cap(stdout, io_cap),
                    "stderr": cap(stderr, io_cap),
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
    calls.metrics.calls.labels(skill=skill.name, status=status).inc()
    calls.metrics.call_latency.labels(skill=skill.name).observe(duration_ms / 1000)
    log.info(
        "call.finished",
        skill=skill.name,
        status=status,
        exit_code=fin.exit_code,
        kill_reason=kill,
        duration_ms=duration_ms,
    )
    return result


def egress_event(
    call_id: str, principal: Principal, skill: str, egress: pb.Egress
) -> audit_mod.AuditEvent:
    """One connection attempt the call's egress proxy saw, allowed or refused."""
    return call_event(
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
