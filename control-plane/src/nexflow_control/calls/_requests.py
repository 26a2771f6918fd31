"""What a call sends on: its checked input, the policy input, the execution spec.

Functions of the skill, the input and the workspace; nothing here does I/O except
handing a costly validation to a worker process.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import policy as policy_mod
from ..auth import Principal
from ..executors import Backend, ExecutionSpec, Limits, Mount, Runtime
from ..skills import SKILL_DIGEST_LABEL, Skill, ValidationPool
from .inputs import HostAccess, PathAccess, resolve_hosts, resolve_paths, validate_input_tiered

_RUNTIMES: dict[str, Runtime] = {"bash": "bash", "python": "python", "node": "node"}
_BACKENDS: dict[str, Backend] = {"": "", "docker": "docker", "nsjail": "nsjail"}


async def prepare(
    skill: Skill, raw_input: Any, workspace: Path, *, max_input_bytes: int, pool: ValidationPool
) -> tuple[bytes, list[PathAccess], list[HostAccess]]:
    """The validated stdin, and the paths and hosts the input names; NexflowError (422)
    when the input does not fit the skill. A costly validation goes to `pool`'s worker
    processes; the common one runs inline (see `validate_input_tiered`)."""
    stdin = await validate_input_tiered(
        f"{skill.name}@{skill.digest}",
        skill.input_schema,
        raw_input,
        max_bytes=max_input_bytes,
        pool=pool,
    )
    paths = resolve_paths(list(skill.path_inputs), raw_input, workspace)
    hosts = resolve_hosts(skill.network_inputs, raw_input)
    return stdin, paths, hosts


def policy_input(
    workspace: Path,
    call_id: str,
    principal: Principal,
    skill: Skill,
    input_digest: str,
    paths: list[PathAccess],
    hosts: list[HostAccess],
    facts: dict[str, Any],
    approved: bool = False,
) -> dict[str, Any]:
    """The policy input; `facts` are `rate` and `skill_runs` (see `CallHistory`)."""
    ws = str(workspace)
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
            # True only for a skill installed through the verified registry path whose
            # files still match skills.lock; otherwise the publisher is a SKILL.md claim.
            "publisher_verified": skill.verified_publisher is not None,
            "scan_verdict": skill.scan_verdict,
            "source": skill.source,
            "permissions": sorted(str(p) for p in skill.permissions),
            "runtime": str(skill.runtime) if skill.runtime else None,
            "tags": list(skill.tags),
            "filesystem": [
                {"path": str(f.resolve(workspace)), "mode": f.mode} for f in skill.filesystem
            ],
            "network": [str(n) for n in skill.network],
            "secrets": list(skill.secrets),
            "optional_secrets": list(skill.optional_secrets),
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


def execution_spec(
    workspace: Path,
    call_id: str,
    skill: Skill,
    stdin: bytes,
    grants: policy_mod.Grants,
    secrets: dict[str, str] | None = None,
) -> ExecutionSpec:
    """What the executor is asked to run: the skill, the input and the granted mounts,
    hosts, limits and secret values."""
    assert skill.entrypoint is not None  # CallService.run refuses skills without one
    mounts = []
    for g in grants.filesystem:
        target = "/workspace" if Path(g.path) == workspace else g.path
        mounts.append(Mount(host_path=g.path, sandbox_path=target, writable=g.mode == "rw"))
    lim = grants.limits
    return ExecutionSpec(
        call_id=call_id,
        runtime=_RUNTIMES[str(skill.runtime)],
        skill_dir=skill.dir,
        skill_digest=skill.digest,
        skill_shared=skill.shared,
        entrypoint=str(skill.entrypoint),
        stdin=stdin,
        mounts=tuple(mounts),
        network_hosts=tuple(grants.network),
        image=skill.image_ref or "",
        image_labels={SKILL_DIGEST_LABEL: skill.digest} if skill.dockerfile else {},
        backend=_BACKENDS[skill.requested_backend or ""],
        limits=Limits(
            wall_time_ms=lim.wall_time_ms,
            cpu_time_ms=lim.cpu_time_ms,
            memory_bytes=lim.memory_bytes,
            pids=lim.pids,
            output_bytes=lim.output_bytes,
        )
        if lim is not None
        else Limits(),
        idempotent=skill.idempotent,
        secrets=dict(secrets or {}),
    )
