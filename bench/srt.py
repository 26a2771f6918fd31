"""Anthropic's sandbox runtime beside Nexflow: the python `echo` skill (skills/echo) run by
`srt` (npm @anthropic-ai/sandbox-runtime, pinned in scripts/srt/) with the example config
of its README, in the same run and alternating call by call with: a bare
`python3 -I run.py` (the floor); Nexflow's pre-started nsjail jail at the sandbox backend
(bench/prestart.py); the same call over HTTP through the whole stack, policy, audit, gRPC
and nsjail (bench/spine.py).

srt twice: its CLI as a user runs it, `srt --settings FILE -- python3 -I run.py`, one srt
process per call (node, its proxy, the socat bridges, bwrap, apply-seccomp); and its
library kept running, the argv it built for the call run again each time (bwrap, socat,
apply-seccomp, no node start, no wrap): srt's floor per command. Then CPU per call, what
each enforces, read from the configurations used (bench/enforced.py), and what a probe
script could do inside each (bench/srt_probe.py). If srt cannot run here the reason is
printed and its figures are `not measured`; Nexflow's still are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from nexflow_executor.sandbox.base import RunSpec, Runtime
from nexflow_executor.sandbox.nsjail_config import build_config
from nexflow_executor.settings import Settings

from bench.enforced import Rows, bwrap_of, nsjail_rows, srt_rows
from bench.prestart import LIMITS, nsjail_sandbox, nsjail_settings, timed_call
from bench.spine import ECHO, echo_call
from bench.srt_probe import SCRIPT, probe_jail, probe_srt
from bench.srt_process import SrtCli, Unmeasured, cpu_account, held_library, srt_cli, timed
from bench.stats import pct, summary, tree_cpu_ms
from tests.harness import Stack, start_stack

_PYTHON = "/usr/bin/python3"
_PAYLOAD = json.dumps({"data": 1}).encode()
_EXPECT = _PAYLOAD + b"\n"
_CLI = "srt CLI (example config)"
_LIB = "srt library kept up (argv reused)"


async def _cpu_per_call(
    cpu_ms: Callable[[], float], n: int, call: Callable[[], Awaitable[object]]
) -> float:
    """Mean CPU milliseconds per call of `n` calls back to back, read with `cpu_ms`
    before and one second after (what the call left to do in the background counts)."""
    before = cpu_ms()
    for _ in range(n):
        await call()
    await asyncio.sleep(1.0)
    return (cpu_ms() - before) / n


def _table(title: str, srt: Rows | str, nexflow: Rows) -> None:
    print(f"  {title}")
    for row, enforced in nexflow.items():
        print(f"    {row}")
        print(f"      srt:     {srt if isinstance(srt, str) else srt.get(row, '?')}")
        print(f"      nexflow: {enforced}")


def _skill(base: Path) -> tuple[Path, Path]:
    """The echo skill (and the probe) in a directory the jail's user can read, and a host
    file outside it that anyone on the host can read."""
    skill = base / "echo"
    skill.mkdir(parents=True)
    for d in (base, skill):
        d.chmod(0o755)
    shutil.copyfile(ECHO / "run.py", skill / "run.py")
    (skill / "probe.py").write_text(SCRIPT)
    outside = base / "host-file.txt"
    outside.write_text("host\n")
    for f in (*skill.iterdir(), outside):
        f.chmod(0o644)
    return skill, outside


class _Runs:
    """Wall milliseconds per child-process contender, then CPU per call; one that fails
    is dropped with its reason, the others go on."""

    def __init__(self) -> None:
        self.argv: dict[str, list[str]] = {}
        self.ms: dict[str, list[float]] = {}
        self.cpu: dict[str, float] = {}

    def add(self, name: str, argv: list[str]) -> None:
        self.argv[name] = argv
        self.ms[name] = []

    def run(self, name: str, skill: Path) -> None:
        try:
            self.ms[name].append(timed(self.argv[name], skill, _PAYLOAD, _EXPECT))
        except Unmeasured as exc:
            print(f"  {name}: not measured ({exc})")
            del self.argv[name], self.ms[name]

    def measure_cpu(self, skill: Path, n: int) -> None:
        """Mean CPU milliseconds per call of `n` more runs each, back to back, counted by
        a cgroup (every process of the run, whatever reaps it)."""
        for i, (name, argv) in enumerate(self.argv.items()):
            try:
                with cpu_account(f"c{i}") as (inside, used):
                    before = used()
                    for _ in range(n):
                        timed([*inside, *argv], skill, _PAYLOAD, _EXPECT)
                    self.cpu[name] = (used() - before) / n
            except (OSError, ValueError, Unmeasured) as exc:
                print(f"  CPU of {name}: not measured ({exc})")


async def run(tmp: Path, scale: float) -> None:
    print("== srt: echo under Anthropic's sandbox runtime vs Nexflow (jail, HTTP) vs bare ==")
    base = tmp / "srt"
    skill, outside = _skill(base)
    n = max(10, int(40 * scale))
    runs = _Runs()
    runs.add("bare python3 -I run.py", [_PYTHON, "-I", "run.py"])
    cli: SrtCli | None = None
    with contextlib.ExitStack() as held:
        try:
            cli = srt_cli(base / "srt-settings.json")
            argv = cli.argv(_PYTHON, "-I", "run.py")
            timed(argv, skill, _PAYLOAD, _EXPECT)  # refuses here, or works
            runs.add(_CLI, argv)
            print(f"  srt {cli.version}: srt --settings EXAMPLE -- {_PYTHON} -I run.py")
            runs.add(_LIB, held.enter_context(held_library(cli, skill, f"{_PYTHON} -I run.py")))
        except Unmeasured as exc:
            what = "srt library" if _CLI in runs.argv else "srt"
            print(f"  {what}: not measured ({exc})")
        await _measure(base, skill, outside, n, runs, cli)


async def _measure(
    base: Path, skill: Path, outside: Path, n: int, runs: _Runs, cli: SrtCli | None
) -> None:
    spec = RunSpec(
        "bench-srt", Runtime.PYTHON, skill, "run.py", (), _PAYLOAD, {"PATH": "/usr/bin"}, (), LIMITS
    )  # fmt: skip
    jail_settings = nsjail_settings(base, prestart=True)
    jail = nsjail_sandbox(jail_settings)
    await jail.start()
    stack = start_stack(base / "stack", "--sandbox", "nsjail")
    jail_ms, http_ms, ids = [], [], []
    hits = 0
    try:
        headers = {"Authorization": f"Bearer {stack.token}"}
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60) as client:
            for i in range(5):  # the stack's pool learns the profile; so does the jail's
                await echo_call(client, i)
            await timed_call(jail, spec)
            await asyncio.sleep(1.0)
            for i in range(n):
                for name in list(runs.argv):
                    runs.run(name, skill)
                hits += jail.pool.stats().ready > 0
                jail_ms.append(await timed_call(jail, spec))
                ms, call_id = await echo_call(client, i)
                http_ms.append(ms)
                ids.append(call_id)
            # CPU: the same calls again back to back, each side's processes counted whole.
            runs.measure_cpu(skill, n)
            jail_cpu = await _cpu_per_call(
                lambda: tree_cpu_ms(os.getpid()) - tree_cpu_ms(stack.proc.pid),
                n,
                lambda: timed_call(jail, spec),
            )
            http_cpu = await _cpu_per_call(
                lambda: tree_cpu_ms(stack.proc.pid), n, lambda: echo_call(client, 0)
            )
        for name, samples in runs.ms.items():
            print(summary(name, samples, f"p95 {pct(samples, 95):.1f} ms"))
        extra = f"p95 {pct(jail_ms, 95):.1f} ms, ready at take {hits}/{n}"
        print(summary("nexflow: pre-started nsjail jail", jail_ms, extra))
        extra = f"p95 {pct(http_ms, 95):.1f} ms"
        print(summary("nexflow: HTTP (policy, audit, gRPC, nsjail)", http_ms, extra))
        print(
            f"  CPU per call (mean of {n} more calls each, back to back): "
            + ", ".join(f"{name.split(' (')[0]} {ms:.1f} ms" for name, ms in runs.cpu.items())
            + f", nexflow jail {jail_cpu:.1f} ms, whole stack per HTTP call {http_cpu:.1f} ms"
            " (the pool's refill included)"
        )
        for name in (_CLI, _LIB):
            if name in runs.ms:
                s50 = pct(runs.ms[name], 50)
                line = (
                    f"  {name} / nexflow at p50: {s50 / pct(jail_ms, 50):.1f}x the jail, "
                    f"{s50 / pct(http_ms, 50):.1f}x the HTTP call (target >= 15x)"
                )
                if name in runs.cpu:
                    c = runs.cpu[name]
                    line += f"; CPU {c / jail_cpu:.1f}x the jail, {c / http_cpu:.1f}x HTTP"
                print(line)
        if _CLI not in runs.ms:
            print("  srt / nexflow per call: not measured")
        nexflow = _nexflow_rows(stack, ids, spec, jail_settings)
        _table(
            "what each enforces (read from the configs this run used)",
            _srt_rows(runs, cli),
            nexflow,
        )
        args = (uuid.uuid4().hex[:12], str(outside))
        row = "what a probe script could do"
        observed = {row: await probe_jail(jail, spec, args)}
        srt_seen: Rows | str = "not measured"
        if cli is not None and _CLI in runs.argv:
            try:
                srt_seen = {row: probe_srt(cli.argv(_PYTHON, "-I"), skill, args)}
            except (OSError, subprocess.SubprocessError) as exc:
                srt_seen = f"not measured ({exc})"
        _table("observed in this run (srt: its CLI)", srt_seen, observed)
    finally:
        stack.stop()
        await jail.close()


def _nexflow_rows(stack: Stack, ids: list[str], spec: RunSpec, settings: Settings) -> Rows:
    report = stack.client.get("/api/v1/audit/verify").json()
    recorded = sum(len(stack.client.get(f"/api/v1/calls/{c}").json()["events"]) == 4 for c in ids)
    idle_s = settings.nsjail.prestart.idle_s
    rows = nsjail_rows(build_config(spec, settings, 2, idle_s=idle_s), spec)
    rows["fresh sandbox per call"] = "yes: a jail serves one call, then its cgroup is killed"
    rows["audit"] = (
        f"HTTP path: {recorded}/{len(ids)} calls with their 4 events in the hash-chained "
        f"log; chain verified: {report['ok']} ({report['checked']} events); the jail alone: "
        "none (below the control plane)"
    )
    return rows


def _srt_rows(runs: _Runs, cli: SrtCli | None) -> Rows | str:
    if cli is None or _LIB not in runs.argv:
        return "not measured"
    try:
        rows = srt_rows(cli.config, bwrap_of(runs.argv[_LIB]), os.geteuid())
    except ValueError as exc:
        return f"not read ({exc})"
    rows["fresh sandbox per call"] = "yes: a new bwrap per call (CLI: a new srt too)"
    rows["audit"] = "none on Linux (no violation log; the CLI records nothing)"
    return rows
