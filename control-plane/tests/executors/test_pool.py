"""Several executors: mutual TLS, dispatch by health, slots and draining, failover before
Started only, and `executor_lost` (never a second run) when one dies mid-call."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest
from nexflow_control.errors import ExecutorUnavailable
from nexflow_control.executors import (
    ExecutionSpec,
    ExecutorLost,
    ExecutorPool,
    ExecutorRejected,
    GrpcExecutor,
    Mount,
    Outcome,
)

from .conftest import DigestExecutor, Pki, copy_echo, serve, spec


@pytest.fixture
def skill(tmp_path: Path) -> Path:
    return copy_echo(tmp_path)


def _client(pki: Pki, target: str, name: str, who: str = "control-plane") -> GrpcExecutor:
    cert, key = pki.issue(who)
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_file.read_bytes(),
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )
    return GrpcExecutor(target, name=name, credentials=creds, server_name=name)


async def _tls_pool(
    stack: AsyncExitStack, tmp_path: Path, stubs: list[DigestExecutor]
) -> ExecutorPool:
    pki = Pki(tmp_path)
    members = []
    for i, stub in enumerate(stubs):
        name = f"executor-{i + 1}"
        _, target = await stack.enter_async_context(
            serve(stub, "127.0.0.1:0", pki=pki, server_name=name)
        )
        members.append(_client(pki, target, name))
    pool = ExecutorPool(members, refresh_s=0, queue_s=0.2)
    stack.push_async_callback(pool.close)
    await pool.refresh()
    return pool


async def test_load_spreads_over_two_tls_executors(tmp_path: Path, skill: Path) -> None:
    """20 concurrent calls over TCP + mutual TLS all succeed, on both executors, each
    bundle uploaded once per executor."""
    stubs = [DigestExecutor("a"), DigestExecutor("b")]
    async with AsyncExitStack() as stack:
        pool = await _tls_pool(stack, tmp_path, stubs)
        outcomes = await asyncio.gather(
            *(pool.execute(spec(skill, f"c{i}"), output_cap=1 << 16) for i in range(20))
        )
    assert all(o.status == "succeeded" for o in outcomes)
    ran = [json.loads(o.stdout)["executor"] for o in outcomes]
    assert ran.count("a") >= 5 and ran.count("b") >= 5
    assert [len(s.chunk_sizes) for s in stubs] == [1, 1]


async def test_certificate_of_another_ca_is_refused(tmp_path: Path, skill: Path) -> None:
    """A client whose certificate another CA signed is refused at the handshake: the call
    fails executor_unavailable and the executor never sees a request."""
    (tmp_path / "good").mkdir()
    (tmp_path / "evil").mkdir()
    good, evil = Pki(tmp_path / "good"), Pki(tmp_path / "evil")
    stub = DigestExecutor("a")
    async with serve(stub, "127.0.0.1:0", pki=good, server_name="executor-1") as (_, target):
        cert, key = evil.issue("control-plane")
        creds = grpc.ssl_channel_credentials(
            root_certificates=good.ca_file.read_bytes(),
            private_key=key.read_bytes(),
            certificate_chain=cert.read_bytes(),
        )
        client = GrpcExecutor(target, credentials=creds, server_name="executor-1")
        try:
            with pytest.raises(ExecutorUnavailable):
                await client.execute(spec(skill, "c1"), output_cap=1 << 16)
        finally:
            await client.close()
    assert stub.requests == []


async def test_draining_and_full_executors_are_skipped(tmp_path: Path, skill: Path) -> None:
    """A draining executor gets no call; a full one neither; when none can take the call
    within the queue time the answer is executor_unavailable naming why, and nothing ran."""
    drain, full, free = DigestExecutor("d"), DigestExecutor("f", slots=1), DigestExecutor("o")
    drain.draining = True
    full.busy = 1
    async with AsyncExitStack() as stack:
        pool = await _tls_pool(stack, tmp_path, [drain, full, free])
        outcome = await pool.execute(spec(skill, "c1"), output_cap=1 << 16)
        assert json.loads(outcome.stdout)["executor"] == "o"
        free.draining = True
        await pool.refresh()
        with pytest.raises(ExecutorUnavailable, match=r"draining.*full|full.*draining") as err:
            await pool.execute(spec(skill, "c2"), output_cap=1 << 16)
    assert err.value.code == "executor_unavailable" and err.value.status == 503
    assert drain.requests == [] and full.requests == []
    assert [r.call_id for r in free.requests] == ["c1", "c1"]  # bundle_missing, then ran


async def test_failure_before_started_tries_the_next(tmp_path: Path, skill: Path) -> None:
    """An executor that cannot be reached costs nothing: the call runs on the next one."""
    stub = DigestExecutor("b")
    async with serve(stub, f"unix://{tmp_path / 'b.sock'}") as (_, target):
        pool = ExecutorPool(
            [GrpcExecutor(f"unix://{tmp_path / 'gone.sock'}", name="gone"), GrpcExecutor(target)],
            refresh_s=0,
        )
        try:
            outcome = await pool.execute(spec(skill, "c1"), output_cap=1 << 16)
            states = {s.name: s.healthy for s in await pool.states()}
        finally:
            await pool.close()
    assert outcome.status == "succeeded" and json.loads(outcome.stdout)["executor"] == "b"
    assert states == {"gone": False, target: True}


async def _lose_first(
    tmp_path: Path, call_spec: ExecutionSpec
) -> tuple[asyncio.Task[Outcome], DigestExecutor]:
    """Run `call_spec` on executor `a`, make `b` a candidate once the call has started
    there, then stop `a` mid-call: the call's task (done) and `b`."""
    first, second = DigestExecutor("a"), DigestExecutor("b")
    first.hold = asyncio.Event()
    async with AsyncExitStack() as stack:
        server, target_a = await stack.enter_async_context(
            serve(first, f"unix://{tmp_path / 'a.sock'}")
        )
        _, target_b = await stack.enter_async_context(
            serve(second, f"unix://{tmp_path / 'b.sock'}")
        )
        second.draining = True  # not a candidate at first: the call must land on `a`
        pool = ExecutorPool(
            [GrpcExecutor(target_a, name="a"), GrpcExecutor(target_b, name="b")], refresh_s=0
        )
        stack.push_async_callback(pool.close)
        await pool.refresh()
        call = asyncio.create_task(pool.execute(call_spec, output_cap=1 << 16))
        await asyncio.wait_for(first.started.wait(), 10)
        second.draining = False
        await pool.refresh()  # b takes calls again: a second run would land there
        await server.stop(None)
        await asyncio.wait([call])
    return call, second


async def test_executor_lost_mid_call_is_not_run_again(tmp_path: Path, skill: Path) -> None:
    """When the executor dies after Started, the call ends executor_lost and the other
    executor, free to take calls by then, never receives it."""
    call, second = await _lose_first(tmp_path, spec(skill, "c1"))
    with pytest.raises(ExecutorLost) as err:
        call.result()
    assert err.value.code == "executor_lost"
    assert second.requests == []


async def test_idempotent_skill_runs_again_when_its_executor_is_lost(
    tmp_path: Path, skill: Path
) -> None:
    """A skill declared idempotent whose executor dies after Started runs again on the
    next executor, and the outcome names the lost one."""
    idempotent = dataclasses.replace(spec(skill, "c1"), idempotent=True)
    call, second = await _lose_first(tmp_path, idempotent)
    outcome = call.result()
    assert outcome.status == "succeeded" and outcome.executor == "b"
    assert outcome.lost_on == ("a",)
    assert [r.call_id for r in second.requests][-1] == "c1"


async def test_remote_executor_takes_volume_grants_only(tmp_path: Path, skill: Path) -> None:
    """A grant outside every volume is refused for a TLS executor before anything is sent."""
    stub = DigestExecutor("a")
    async with AsyncExitStack() as stack:
        pool = await _tls_pool(stack, tmp_path, [stub])
        mount = Mount(str(tmp_path), "/data", False)
        with pytest.raises(ExecutorRejected, match="lies in no volume"):
            await pool.execute(spec(skill, "c1", mount), output_cap=1 << 16)
    assert stub.requests == []
