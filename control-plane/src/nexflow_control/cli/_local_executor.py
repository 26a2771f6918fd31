"""A local `nexflow-executor` process: find it, start it tied to us, wait for it, stop it.

What `nexflow up` and `nexflow skill test` share. Light to import: no web app, no database.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from pathlib import Path

from ..executors import GrpcExecutor


def executor_binary() -> str:
    """`nexflow-executor` beside this interpreter, else on PATH."""
    exe = Path(sys.executable).with_name("nexflow-executor")
    return str(exe) if exe.exists() else (shutil.which("nexflow-executor") or "nexflow-executor")


async def wait_for_executor(
    proc: asyncio.subprocess.Process, socket: Path, timeout_s: float = 20
) -> None:
    """Until the executor at `socket` answers its health check; SystemExit with a
    sentence when it exits first or never answers."""
    client = GrpcExecutor(f"unix://{socket}", connect_timeout_s=1)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise SystemExit(f"the executor exited with status {proc.returncode} on start-up")
            if await client.healthy():
                return
            await asyncio.sleep(0.05)
        raise SystemExit(f"the executor did not become healthy within {timeout_s:g} s")
    finally:
        await client.close()


async def stop_process(proc: asyncio.subprocess.Process, grace_s: float = 5) -> None:
    """SIGTERM, then SIGKILL after `grace_s`; waits for the exit either way."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
