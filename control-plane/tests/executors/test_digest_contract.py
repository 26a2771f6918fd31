"""The gRPC client speaks the contract the executor serves: bundles and volumes to one
that names itself in Describe, host paths to a local executor of the path contract."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from nexflow_control.executors import (
    ExecutorRejected,
    GrpcExecutor,
    Mount,
    Volumes,
    build_bundle,
)

from .conftest import DigestExecutor, copy_echo, serve, spec


async def test_bundle_sent_once_then_run_by_digest(tmp_path: Path) -> None:
    """First call: Execute → bundle_missing → PutBundle → Execute; the executor unpacks
    exactly the skill's files; the second call is run from its cache with no upload."""
    skill = copy_echo(tmp_path)
    stub = DigestExecutor("exec-a")
    async with serve(stub, f"unix://{tmp_path / 'e.sock'}") as (_, target):
        client = GrpcExecutor(target, name="a")
        try:
            first = await client.execute(spec(skill, "c1"), output_cap=1 << 20)
            second = await client.execute(spec(skill, "c2"), output_cap=1 << 20)
        finally:
            await client.close()
    bundle = build_bundle(skill)
    assert [r.call_id for r in stub.requests] == ["c1", "c1", "c2"]
    assert {r.bundle_sha256 for r in stub.requests} == {bundle.sha256}
    assert {r.skill_dir for r in stub.requests} == {""}
    assert len(stub.chunk_sizes) == 1
    expected = sorted(p.relative_to(skill).as_posix() for p in skill.rglob("*"))
    assert sorted(stub.bundles[bundle.sha256]) == expected
    for outcome in (first, second):
        assert outcome.status == "succeeded" and outcome.executor == "a"
        assert outcome.bundle_sha256 == bundle.sha256
        assert json.loads(outcome.stdout)["files"] == expected


async def test_large_bundle_travels_in_chunks_of_one_mib(tmp_path: Path) -> None:
    """A 2.5 MiB skill is sent as chunks of at most 1 MiB that add up to the bundle."""
    skill = copy_echo(tmp_path)
    (skill / "blob.bin").write_bytes(bytes(range(256)) * (10 * 1024))
    stub = DigestExecutor("exec-a")
    async with serve(stub, f"unix://{tmp_path / 'e.sock'}") as (_, target):
        client = GrpcExecutor(target)
        try:
            outcome = await client.execute(spec(skill, "c1"), output_cap=1 << 20)
        finally:
            await client.close()
    (sizes,) = stub.chunk_sizes
    assert len(sizes) == 3 and max(sizes) == 1 << 20
    assert sum(sizes) == len(build_bundle(skill).data)
    assert "blob.bin" in json.loads(outcome.stdout)["files"]


async def test_grants_inside_a_volume_travel_by_name(tmp_path: Path) -> None:
    """A grant inside a known volume is sent as (volume, subpath); one outside every
    volume keeps its host path (a local executor may still mount it)."""
    skill = copy_echo(tmp_path)
    workspace = tmp_path / "ws"
    (workspace / "notes").mkdir(parents=True)
    other = tmp_path / "elsewhere"
    other.mkdir()
    mounts = (
        Mount(str(workspace), "/workspace", True),
        Mount(str(workspace / "notes"), str(workspace / "notes"), False),
        Mount(str(other), str(other), False),
    )
    stub = DigestExecutor("exec-a")
    async with serve(stub, f"unix://{tmp_path / 'e.sock'}") as (_, target):
        client = GrpcExecutor(target, volumes=Volumes({"workspace": workspace}))
        try:
            await client.execute(spec(skill, "c1", *mounts), output_cap=1 << 20)
        finally:
            await client.close()
    sent = [
        (m.volume, m.subpath, m.host_path, m.sandbox_path, m.writable)
        for m in stub.requests[-1].mounts
    ]
    assert sent == [
        ("workspace", ".", "", "/workspace", True),
        ("workspace", "notes", "", str(workspace / "notes"), False),
        ("", "", str(other), str(other), False),
    ]


async def test_path_contract_executor_gets_host_paths(tmp_path: Path) -> None:
    """An executor whose Describe names no executor_id gets skill_dir and host paths,
    and is never sent a bundle."""
    skill = copy_echo(tmp_path)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    stub = DigestExecutor("")
    async with serve(stub, f"unix://{tmp_path / 'e.sock'}") as (_, target):
        client = GrpcExecutor(target, volumes=Volumes({"workspace": workspace}))
        try:
            mount = Mount(str(workspace), "/workspace", True)
            outcome = await client.execute(spec(skill, "c1", mount), output_cap=1 << 20)
        finally:
            await client.close()
    (request,) = stub.requests
    assert request.skill_dir == str(skill) and request.bundle_sha256 == ""
    assert [(m.host_path, m.volume) for m in request.mounts] == [(str(workspace), "")]
    assert stub.chunk_sizes == [] and outcome.bundle_sha256 == ""


async def test_path_contract_executor_refuses_a_skill_with_shared_files(tmp_path: Path) -> None:
    """A skill that packs a file from `_shared/` cannot run by host path (the executor
    would mount the folder without it): refused before anything is sent."""
    skill = copy_echo(tmp_path)
    (tmp_path / "lib.py").write_text("VALUE = 1\n")
    shared_spec = replace(spec(skill, "c1"), skill_shared=(("lib.py", tmp_path / "lib.py"),))
    stub = DigestExecutor("")
    async with serve(stub, f"unix://{tmp_path / 'e.sock'}") as (_, target):
        client = GrpcExecutor(target)
        try:
            with pytest.raises(ExecutorRejected, match=r"lib\.py"):
                await client.execute(shared_spec, output_cap=1 << 20)
        finally:
            await client.close()
    assert stub.requests == []
