"""Resource attacks against the real sandbox: each test fails if the attack succeeds."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from nexflow.executor.v1 import executor_pb2 as pb

from executor.tests.executor_testkit import execute, new_call_id, request, write_script

MiB = 1024 * 1024


async def test_fork_bomb_is_stopped_by_the_pids_limit(stub, skill_dir):
    """A fork bomb hits the pids limit, the call still finishes and no process survives it."""
    body = (
        "import os, sys\n"
        "n = 0\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            import time; time.sleep(30); os._exit(0)\n"
        "        n += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print(n)\n"
    )
    # A name of its own: the other backend's run of this test may be forking right now.
    name = f"bomb-{os.getpid()}-{time.monotonic_ns()}.py"
    entry = write_script(skill_dir, name, body)
    limits = pb.Limits(pids=16, wall_time_ms=3000)
    out = await execute(stub, request(skill_dir, entry, limits=limits))
    assert out.finished.kill_reason == pb.KILL_REASON_NONE
    assert 0 < int(out.stdout) < 16
    assert out.finished.wall_time_ms < 3000  # the sleepers died with the jail's init
    deadline = time.monotonic() + 2  # the container's teardown may trail its answer
    while survivors := [p for p in os.listdir("/proc") if p.isdigit() and _cmd(p).endswith(name)]:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert survivors == []


def _cmd(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


async def test_memory_bomb_is_killed_with_oom(stub, skill_dir):
    """Allocating past memory_bytes ends the call with kill_reason OOM."""
    body = "chunks = []\nwhile True:\n    chunks.append(bytearray(4 * 1024 * 1024))\n"
    entry = write_script(skill_dir, "mem.py", body)
    limits = pb.Limits(memory_bytes=32 * MiB, wall_time_ms=10_000)
    out = await execute(stub, request(skill_dir, entry, limits=limits))
    assert out.finished.kill_reason == pb.KILL_REASON_OOM, out.finished
    assert out.finished.peak_memory_bytes >= 16 * MiB
    assert "memory limit" in out.finished.detail


async def test_busy_loop_is_killed_at_the_wall_time_limit(stub, skill_dir):
    """A busy loop is killed at wall_time_ms with kill_reason TIMEOUT, close to the limit."""
    entry = write_script(skill_dir, "spin.sh", "while :; do :; done\n")
    limits = pb.Limits(wall_time_ms=300)
    out = await execute(stub, request(skill_dir, entry, pb.RUNTIME_BASH, limits=limits))
    assert out.finished.kill_reason == pb.KILL_REASON_TIMEOUT
    assert 300 <= out.finished.wall_time_ms < 1500
    assert out.finished.exit_code == 137
    assert out.finished.detail == "wall time limit of 300 ms reached"


async def test_cpu_time_limit_kills_with_cpu_time(stub, skill_dir):
    """Burning CPU past cpu_time_ms (rounded up to seconds) ends with kill_reason CPU_TIME."""
    entry = write_script(skill_dir, "burn.py", "while True:\n    pass\n")
    limits = pb.Limits(cpu_time_ms=1000, wall_time_ms=30_000)
    out = await execute(stub, request(skill_dir, entry, limits=limits))
    assert out.finished.kill_reason == pb.KILL_REASON_CPU_TIME, out.finished
    assert out.finished.cpu_time_ms >= 800


async def test_output_flood_is_truncated_at_the_cap(stub, skill_dir):
    """100 MB of output stops at output_bytes: truncated, OUTPUT_LIMIT, chunks ≤ 64 KiB."""
    body = "import sys\nb = b'x' * 1048576\nfor _ in range(100):\n    sys.stdout.buffer.write(b)\n"
    entry = write_script(skill_dir, "flood.py", body)
    limits = pb.Limits(output_bytes=256 * 1024, wall_time_ms=10_000)
    out = await execute(stub, request(skill_dir, entry, limits=limits))
    assert len(out.stdout) == 256 * 1024
    assert out.finished.truncated
    assert out.finished.kill_reason == pb.KILL_REASON_OUTPUT_LIMIT
    assert out.finished.stdout_bytes == 256 * 1024
    assert max(len(e.output.data) for e in out.events if e.HasField("output")) <= 64 * 1024


async def test_cancel_kills_a_running_call(stub, skill_dir):
    """Cancel ends a running call with CANCELLED; cancelling it again finds nothing."""
    entry = write_script(skill_dir, "sleep.sh", "echo ready\nsleep 30\n")
    call_id = new_call_id()
    req = request(skill_dir, entry, pb.RUNTIME_BASH, call_id=call_id)
    events: list[pb.ExecuteEvent] = []
    running = asyncio.Event()

    async def consume() -> None:
        async for event in stub.Execute(req):
            events.append(event)
            if event.HasField("output"):
                running.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(running.wait(), 5)
    assert (await stub.Cancel(pb.CancelRequest(call_id=call_id))).found
    await asyncio.wait_for(task, 5)
    assert events[-1].finished.kill_reason == pb.KILL_REASON_CANCELLED
    assert not (await stub.Cancel(pb.CancelRequest(call_id=call_id))).found


async def test_client_going_away_kills_the_sandbox(stub, skill_dir, base_dir):
    """When the client cancels its RPC, the sandbox is killed (its marker process is gone)."""
    entry = write_script(skill_dir, "linger.sh", "echo up\nexec sleep 31.5\n")
    call = stub.Execute(request(skill_dir, entry, pb.RUNTIME_BASH))
    async for event in call:
        if event.HasField("output"):
            break
    assert await _eventually(lambda: _sleeper_alive("31.5"))  # bash has exec'd the marker
    call.cancel()
    assert await _eventually(lambda: not _sleeper_alive("31.5"))


def _sleeper_alive(marker: str) -> bool:
    return any(_cmd(p) == f"sleep {marker}" for p in os.listdir("/proc") if p.isdigit())


async def _eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll `check` until it holds or `timeout_s` passes (process state has no event to await)."""
    for _ in range(int(timeout_s / 0.025)):
        if check():
            return True
        await asyncio.sleep(0.025)
    return check()
