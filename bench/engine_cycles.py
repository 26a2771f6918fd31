"""The Docker engine's ceiling for single-use containers, and where its CPU goes.

Every Nexflow call on the Docker backend uses a fresh container, so the calls per second
of any warm pool are bounded by how many containers the engine can create, start and
remove per second. This measures that directly, through Nexflow's own ContainerFactory
(the pool's confinement, launcher and waiting python), at several concurrencies, and the
CPU spent per cycle by dockerd and by containerd with everything it spawns (shims, runc).

Shims are re-parented away from containerd, so their CPU is only visible through a
cgroup: for the measurement containerd is moved into an accounting-only cpuacct cgroup
(no limit of any kind; its shims and runc runs are born inside it) and moved back at
the end. cgroup v1 hosts only; needs root. Not part of `make bench` for that reason.

Run: `.venv/bin/python bench/engine_cycles.py [seconds per step] [concurrency ...]`
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

from nexflow_executor.sandbox.base import Runtime  # noqa: E402 - after the path fix
from nexflow_executor.sandbox.container import ContainerFactory, Profile  # noqa: E402
from nexflow_executor.sandbox.docker_engine import DockerEngine  # noqa: E402
from nexflow_executor.settings import Settings  # noqa: E402

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
MEASURE = CPUACCT / "nexflow-engine-cycles"
ECHO = _HERE.parent / "skills" / "echo"


def _pid_of(name: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    return int(entry.name)
            except OSError:
                continue
    raise SystemExit(f"no {name} process")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _move(pid: int, group: Path) -> None:
    group.mkdir(exist_ok=True)
    (group / "cgroup.procs").write_text(str(pid))


def _group_cpu_s() -> float:
    return int((MEASURE / "cpuacct.usage").read_text()) / 1e9


async def _step(factory: ContainerFactory, profile: Profile, seconds: float, at_once: int) -> str:
    starts: list[float] = []
    removes: list[float] = []
    dockerd = _pid_of("dockerd")
    until = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < until:
            t = time.perf_counter()
            container = await factory.start(profile)
            starts.append(time.perf_counter() - t)
            t = time.perf_counter()
            factory.discard(container)
            await factory.drain()
            removes.append(time.perf_counter() - t)

    d0, c0, begin = _cpu_s(dockerd), _group_cpu_s(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(at_once)))
    elapsed = time.monotonic() - begin
    n = max(1, len(removes))
    d1, c1 = _cpu_s(dockerd), _group_cpu_s()
    return (
        f"{at_once} at once: {len(removes) / elapsed:5.1f} cycles/s (n={len(removes)})"
        f"  start p50 {statistics.median(starts) * 1000:4.0f} ms"
        f"  remove p50 {statistics.median(removes) * 1000:4.0f} ms"
        f"  CPU per cycle: dockerd {(d1 - d0) / n * 1000:3.0f} ms,"
        f" containerd+shims+runc {(c1 - c0) / n * 1000:3.0f} ms"
        f"  (load {os.getloadavg()[0]:.1f})"
    )


def prepare(base: Path) -> tuple[ContainerFactory, Profile]:
    """A container factory and the echo skill's profile under `base` (bench/docker.py
    measures the same ceiling with it)."""
    base.chmod(0o755)
    skill = base / "skill"
    shutil.copytree(ECHO, skill)
    for path in [skill, *skill.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    settings = Settings(socket=base / "x.sock", state_dir=base / "state", backend="docker")
    engine = DockerEngine(settings.docker.url, settings.docker.api_timeout_s)
    engine.connect()
    factory = ContainerFactory(settings, engine)
    factory.prepare()
    limits = settings.limits.defaults
    profile = Profile(
        image_id=engine.image(settings.docker.images["python"]).id,
        runtime=Runtime.PYTHON,
        skill_dir=skill,
        mounts=(),
        memory_bytes=limits.memory_bytes,
        pids=limits.pids,
        cpu_millis=limits.cpu_millis,
        tmpfs_bytes=limits.tmpfs_bytes,
        cpu_time_ms=limits.cpu_time_ms or limits.wall_time_ms,
    )
    return factory, profile


async def main(seconds: float, concurrency: list[int]) -> None:
    base = Path(tempfile.mkdtemp(prefix="nx-cycles-", dir="/tmp"))
    factory, profile = prepare(base)
    containerd = _pid_of("containerd")
    _move(containerd, MEASURE)
    try:
        await _step(factory, profile, 1.0, 1)  # warm-up: image and launcher in cache
        for at_once in concurrency:
            print(await _step(factory, profile, seconds, at_once), flush=True)
    finally:
        _move(containerd, CPUACCT)
        await factory.drain()
        shutil.rmtree(base, ignore_errors=True)
        with contextlib.suppress(OSError):  # empty once the measured shims have exited
            MEASURE.rmdir()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(float(args[0]) if args else 8.0, [int(a) for a in args[1:]] or [1, 2, 4, 8]))
