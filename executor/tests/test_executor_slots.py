"""Call slots and draining: a full executor refuses before anything starts; SIGTERM and
SIGUSR1 drain the real `nexflow-executor` process (running calls finish, new ones are refused,
health says NOT_SERVING) and then it exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc

from executor.tests.executor_testkit import (
    NSJAIL_ONLY,
    execute,
    make_dir,
    request,
    serving,
    status_of,
    write_script,
)

pytestmark = NSJAIL_ONLY
SLEEP = "import sys, time; time.sleep(float(sys.argv[1])); print('done')"


async def test_a_call_beyond_the_slots_is_refused_before_it_starts(settings, skill_dir):
    """With max_calls = 1 and one call running, a second Execute gets RESOURCE_EXHAUSTED
    and no Started; Describe reports the slots, the busy count and the executor id."""
    settings.max_calls = 1
    settings.id = "exec-a"
    script = write_script(skill_dir, "sleep.py", SLEEP)
    marks = make_dir(skill_dir.parent, "marks", sandbox_writable=True)
    second = write_script(skill_dir, "second.py", "open('/marks/ran', 'w')")
    grant = [pb.Mount(host_path=str(marks), sandbox_path="/marks", writable=True)]
    async with serving(settings) as stub:
        first = asyncio.create_task(execute(stub, request(skill_dir, script, args=["2"])))
        for _ in range(50):
            described = await stub.Describe(pb.DescribeRequest())
            if described.slots_busy:
                break
            await asyncio.sleep(0.05)
        assert (described.slots_total, described.slots_busy) == (1, 1)
        assert described.executor_id == "exec-a" and not described.draining
        error = await status_of(execute(stub, request(skill_dir, second, mounts=grant)))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
        assert not (marks / "ran").exists()
        assert (await first).stdout == b"done\n"
        assert (await stub.Describe(pb.DescribeRequest())).slots_busy == 0
        out = await execute(stub, request(skill_dir, second, mounts=grant))  # a free slot again
        assert out.finished.exit_code == 0 and (marks / "ran").exists(), out.stderr


class Process:
    """A real `nexflow-executor` process and a channel to its socket."""

    def __init__(self, proc: asyncio.subprocess.Process, socket: Path) -> None:
        self.proc = proc
        self.channel = grpc.aio.insecure_channel(f"unix:{socket}")
        self.stub = pb_grpc.ExecutorStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    async def status(self) -> int:
        answer = await self.health.Check(health_pb2.HealthCheckRequest(service=""))
        return int(answer.status)

    async def exit_code(self, within_s: float) -> int:
        return await asyncio.wait_for(self.proc.wait(), within_s)


@pytest.fixture
async def process(settings, short_dir: Path) -> AsyncIterator[Process]:
    """`nexflow-executor` on its own socket and state dir, drain grace 1.5 s."""
    env = {
        **os.environ,
        "NEXFLOW_EXECUTOR_SOCKET": str(settings.socket),
        "NEXFLOW_EXECUTOR_STATE_DIR": str(settings.state_dir),
        "NEXFLOW_EXECUTOR_BACKEND": "nsjail",
        "NEXFLOW_EXECUTOR_DRAIN_GRACE_S": "1.5",
    }
    log = (short_dir / "executor.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexflow_executor.main", env=env, stdout=log, stderr=log
    )
    running = Process(proc, settings.socket)
    try:
        for _ in range(300):
            try:
                if await running.status() == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail((short_dir / "executor.log").read_text())
        yield running
    finally:
        await running.channel.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
async def test_a_drain_lets_running_calls_finish_and_refuses_new_ones(process, skill_dir, sig):
    """After SIGTERM (within the grace) or SIGUSR1: the running call finishes normally, a
    new call and a new bundle get UNAVAILABLE "draining", health is NOT_SERVING, Describe
    says draining; then the process exits 0."""
    script = write_script(skill_dir, "sleep.py", SLEEP)
    running = asyncio.create_task(execute(process.stub, request(skill_dir, script, args=["1"])))
    await asyncio.sleep(0.4)
    process.proc.send_signal(sig)
    await asyncio.sleep(0.2)
    error = await status_of(execute(process.stub, request(skill_dir, script, args=["0"])))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, "draining")

    async def one_chunk() -> AsyncIterator[pb.BundleChunk]:
        yield pb.BundleChunk(sha256="a" * 64, size=10, data=b"0123456789")

    error = await status_of(process.stub.PutBundle(one_chunk()))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, "draining")
    assert await process.status() == health_pb2.HealthCheckResponse.NOT_SERVING
    assert (await process.stub.Describe(pb.DescribeRequest())).draining
    out = await running
    assert out.stdout == b"done\n" and out.finished.kill_reason == pb.KILL_REASON_NONE
    assert await process.exit_code(within_s=10) == 0


async def test_calls_beyond_the_grace_are_killed_and_the_process_exits(process, skill_dir):
    """A call still running when the 1.5 s drain grace ends is killed (its stream ends
    without a normal Finished) and the process exits 0 soon after, not after the call."""
    script = write_script(skill_dir, "sleep.py", SLEEP)
    running = asyncio.create_task(execute(process.stub, request(skill_dir, script, args=["60"])))
    await asyncio.sleep(0.5)
    process.proc.send_signal(signal.SIGTERM)
    assert await process.exit_code(within_s=15) == 0
    try:
        out = await running
    except grpc.aio.AioRpcError:
        return  # the stream was cut: the call did not end as if it had finished
    assert out.finished.kill_reason == pb.KILL_REASON_CANCELLED
