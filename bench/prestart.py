"""Pre-started nsjail jails: one `echo` call at the sandbox backend, cold and pre-started,
against a bare `python3 -I -S echo.py` measured alternately in the same run; calls/s at 8
concurrent callers both ways; and what one waiting jail costs in memory. Then what one
ready container of the Docker pool (launcher + waiting python) costs in memory.

Below gRPC, policy and audit (`spine` measures those with it): this is what the sandbox
itself adds. "cold" sets the jail up on the call's path (prestart off), "pre-started"
takes one the pool set up before (the refill runs beside the calls, on the same cores).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from nexflow_executor.sandbox.base import RunLimits, RunSpec, Runtime, Stream
from nexflow_executor.sandbox.cgroups import CallCgroup
from nexflow_executor.sandbox.docker_box import DockerSandbox
from nexflow_executor.sandbox.nsjail import NsjailSandbox
from nexflow_executor.settings import PrestartSettings, Settings

from bench.stats import pct, summary

# The limits of every benchmarked call (bench/srt.py reads them into its table).
LIMITS = RunLimits(30_000, 30_000, 256 << 20, 64, 1 << 20, 64 << 20, 1000)


async def _started(image_id: str = "", warm: bool = False) -> None:
    return None


async def _output(stream: Stream, data: bytes) -> None:
    return None


def nsjail_settings(tmp: Path, *, prestart: bool) -> Settings:
    """Executor settings for an nsjail backend with its state under `tmp`."""
    return Settings(
        socket=tmp / "s.sock",
        state_dir=tmp / "state",
        nsjail={"prestart": PrestartSettings(enabled=prestart)},
    )


def nsjail_sandbox(settings: Settings) -> NsjailSandbox:
    """The nsjail backend, checked (nsjail, cgroups and runtimes usable); not started."""
    sandbox = NsjailSandbox(settings)
    sandbox.check()
    return sandbox


async def timed_call(sandbox: NsjailSandbox, spec: RunSpec) -> float:
    """Milliseconds of one call at the sandbox backend; it must exit 0."""
    t = time.perf_counter()
    result = await sandbox.run(spec, _started, _output, asyncio.Event())
    assert result.exit_code == 0, result
    return (time.perf_counter() - t) * 1000


def _bare(script: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        ["/usr/bin/python3", "-I", "-S", str(script)], input=b"hi", capture_output=True, check=True
    )
    return (time.perf_counter() - t) * 1000


async def _concurrent(
    sandbox: NsjailSandbox, spec: RunSpec, total: int
) -> tuple[list[float], float]:
    lat: list[float] = []
    left = iter(range(total))

    async def worker() -> None:
        for _ in left:
            lat.append(await timed_call(sandbox, spec))

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    return lat, total / (time.perf_counter() - t)


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _memory(what: str, cgroups: list[CallCgroup]) -> str:
    charged = [c.current_memory() for c in cgroups]
    rss = [sum(_rss_kib(p) for p in c.pids()) for c in cgroups]
    mib = 1024 * 1024
    return (
        f"  memory per {what} (n={len(cgroups)}): cgroup charge "
        f"{sum(charged) / len(charged) / mib:.1f} MiB, resident "
        f"{sum(rss) / len(rss) / 1024:.1f} MiB"
    )


async def _docker_memory(tmp: Path, spec: RunSpec) -> None:
    settings = Settings(socket=tmp / "d.sock", state_dir=tmp / "dstate", backend="docker")
    sandbox = DockerSandbox(settings)
    try:
        sandbox.check()
    except Exception as exc:  # a bench without Docker says so and goes on
        print(f"  docker: not measured ({exc})")
        return
    await sandbox.start()
    try:
        await sandbox.run(spec, _started, _output, asyncio.Event())
        for _ in range(100):
            await asyncio.sleep(0.1)
            if sandbox.pool.stats()[0] >= settings.docker.pool.size:
                break
        await asyncio.sleep(1.0)  # the interpreter is up and waiting
        cgroups = [c.cgroup for c in sandbox.pool.waiting()]
        if cgroups:
            print(_memory("ready Docker container (docker-init, launcher, python)", cgroups))
    finally:
        await sandbox.close()


async def run(tmp: Path, scale: float) -> None:
    print("== prestart: echo in an nsjail jail, cold and pre-started, vs bare python ==")
    base = tmp / "prestart"
    base.mkdir()
    base.chmod(0o755)
    script = base / "echo.py"
    script.write_text("import sys\nsys.stdout.write(sys.stdin.read())\n")
    script.chmod(0o644)
    spec = RunSpec(
        "bench", Runtime.PYTHON, base, "echo.py", (), b"hi", {"PATH": "/usr/bin"}, (), LIMITS
    )
    n = max(20, int(200 * scale))
    cold = nsjail_sandbox(nsjail_settings(tmp, prestart=False))
    warm = nsjail_sandbox(nsjail_settings(tmp, prestart=True))
    await cold.start()
    await warm.start()
    try:
        await timed_call(warm, spec)  # the profile becomes known; the pool fills
        await asyncio.sleep(1.0)
        bare, cold_ms, warm_ms = [], [], []
        hits = 0
        for _ in range(n):
            bare.append(_bare(script))
            cold_ms.append(await timed_call(cold, spec))
            hits += warm.pool.stats().ready > 0
            warm_ms.append(await timed_call(warm, spec))
        print(summary("bare python3 -I -S echo.py", bare))
        print(summary("nsjail, cold (jail set up on the call)", cold_ms))
        print(summary("nsjail, pre-started jail", warm_ms, f"ready at take {hits}/{n}"))
        b50 = pct(bare, 50)
        print(
            f"  overhead over bare at p50: cold +{pct(cold_ms, 50) - b50:.2f} ms, "
            f"pre-started +{pct(warm_ms, 50) - b50:.2f} ms (target <= 10 ms)"
        )
        total = max(80, int(400 * scale))
        for name, sandbox in (("cold", cold), ("pre-started", warm)):
            lat, rate = await _concurrent(sandbox, spec, total)
            print(summary(f"nsjail {name}, 8 callers", lat, f"{rate:7.1f} calls/s"))
        await asyncio.sleep(1.0)
        jails = warm.pool.waiting()
        if jails:
            print(_memory("pre-started jail (nsjail + waiting python)", [j.cgroup for j in jails]))
        stats = warm.pool.stats()
        print(f"  pool: ready {stats.ready}, set-up time per jail {stats.setup_ms:.1f} ms (avg)")
    finally:
        await cold.close()
        await warm.close()
    await _docker_memory(tmp, spec)
