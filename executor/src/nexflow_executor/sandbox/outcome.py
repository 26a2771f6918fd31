"""How a run ends, shared by the backends: watch for the end, classify it, describe it."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from nexflow_executor.errors import KillReason
from nexflow_executor.sandbox.base import RunSpec
from nexflow_executor.sandbox.cgroups import CgroupUsage
from nexflow_executor.sandbox.output import OutputGate

__all__ = ["classify", "describe", "watch"]


async def watch(
    ended: asyncio.Future[Any], gate: OutputGate, cancel: asyncio.Event, wall_s: float
) -> KillReason | None:
    """Wait for the first of: `ended` (the run ended by itself: None), the output cap,
    a cancel, the wall time. An end wins a tie. `ended` is the caller's, never cancelled."""
    others = {
        asyncio.ensure_future(gate.capped.wait()): KillReason.OUTPUT_LIMIT,
        asyncio.ensure_future(cancel.wait()): KillReason.CANCELLED,
    }
    try:
        done, _ = await asyncio.wait(
            {ended, *others}, timeout=wall_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in others:
            task.cancel()
    if ended in done:
        return None
    if not done:
        return KillReason.TIMEOUT
    return next(reason for task, reason in others.items() if task in done)


def classify(signum: int | None, usage: CgroupUsage, cpu_ms: int) -> KillReason:
    """Why a run that nobody in Nexflow ended, ended: OOM, CPU time, a signal, or not at all."""
    if usage.oom_kills > 0:
        return KillReason.OOM
    if signum is None:
        return KillReason.NONE
    cpu_limit_ms = max(1, -(-cpu_ms // 1000)) * 1000
    if signum == signal.SIGXCPU or (
        signum == signal.SIGKILL
        and usage.cpu_time_ms >= cpu_limit_ms * 0.8  # cgroup vs rlimit accounting differ
    ):
        return KillReason.CPU_TIME
    return KillReason.SIGNALED


def describe(reason: KillReason, spec: RunSpec, signum: int | None) -> str:
    """The Finished.detail text for `reason`: limits and signal names, never output."""
    limits = spec.limits
    match reason:
        case KillReason.TIMEOUT:
            return f"wall time limit of {limits.wall_time_ms} ms reached"
        case KillReason.CPU_TIME:
            return f"cpu time limit of {limits.cpu_time_ms} ms reached"
        case KillReason.OOM:
            return f"memory limit of {limits.memory_bytes} bytes reached"
        case KillReason.OUTPUT_LIMIT:
            return f"output limit of {limits.output_bytes} bytes reached"
        case KillReason.CANCELLED:
            return "cancelled"
        case KillReason.SIGNALED:
            name = signal.Signals(signum).name if signum else "unknown"
            return f"killed by signal {name}"
        case _:
            return ""
