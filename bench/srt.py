"""Anthropic's sandbox runtime beside Nexflow: the python `echo` skill (skills/echo) run by
`srt` (npm @anthropic-ai/sandbox-runtime, pinned in scripts/srt/) with the example config
of its README, in the same run and alternating call by call with: a bare
`python3 -I run.py` (the floor); Nexflow's pre-started nsjail jail at the sandbox backend
(bench/prestart.py); the same call over HTTP through the whole stack, policy, audit, gRPC
and nsjail (bench/spine.py).

srt is run as its CLI is: `srt --settings FILE -- python3 -I run.py`, one srt process per
call (node, its HTTP/SOCKS proxy, the socat bridges, bwrap, apply-seccomp). Then what
each enforces, read from the configurations used (bench/enforced.py), and what one probe
script could do inside each. If srt cannot run here the reason is printed and its figures
are `not measured`; Nexflow's still are.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from nexflow_executor.sandbox.base import RunSpec, Runtime, Stream
from nexflow_executor.sandbox.nsjail import NsjailSandbox
from nexflow_executor.sandbox.nsjail_config import build_config

from bench.enforced import bwrap_of, nsjail_rows, probe_facts, readme_example_config, srt_rows
from bench.prestart import LIMITS, nsjail_sandbox, nsjail_settings, timed_call
from bench.spine import ECHO, echo_call
from bench.stats import pct, summary, tree_cpu_ms
from tests.harness import REPO, start_stack

SRT = REPO / ".venv" / "bin" / "srt"  # linked by scripts/install-srt.sh
_WRAP = Path(__file__).with_name("srt_wrap.mjs")
_PYTHON = "/usr/bin/python3"
_PAYLOAD = json.dumps({"data": 1}).encode()
_EXPECT = _PAYLOAD + b"\n"
_PROBE_MIB = 384  # above the jail's 256 MiB memory limit (bench/prestart.py LIMITS)
# Run twice in each sandbox: what the first call left in /tmp, can the script write beside
# itself, read a host file outside its directory (argv[2]), allocate _PROBE_MIB?
_PROBE = """\
import json, os, sys
mark = "/tmp/nexflow-bench-probe-" + sys.argv[1]
facts = {"tmp_kept": os.path.exists(mark)}
for key, path, mode in (("tmp_write", mark, "w"),
                        ("skill_write", os.path.join(os.path.dirname(__file__), "probe.out"), "w"),
                        ("host_read", sys.argv[2], "r")):
    try:
        with open(path, mode):
            facts[key] = True
    except OSError:
        facts[key] = False
print(json.dumps(facts), flush=True)
if len(sys.argv) > 3:
    block = b"x" * (int(sys.argv[3]) << 20)
    print(json.dumps({"allocated": len(block) >> 20}), flush=True)
"""


class _Unmeasured(Exception):
    """Why srt is not measured here (printed as is)."""


def _run(argv: list[str], cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run `argv` to its end; then remove the unix socket srt 0.0.78 leaves in the host's
    /tmp for each run, named after its (node) process id."""
    with subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        finally:
            for leftover in Path("/tmp").glob(f"srt-mux-{proc.pid}-*.sock"):  # noqa: S108
                leftover.unlink(missing_ok=True)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def _timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU milliseconds of one echo run as a child process (the CPU of every
    process it started and waited for included); raises _Unmeasured unless it echoed."""
    cpu = _children_cpu_ms()
    t = time.perf_counter()
    done = _run(argv, cwd, _PAYLOAD)
    ms = (time.perf_counter() - t) * 1000
    if done.returncode != 0 or done.stdout != _EXPECT:
        tail = " ".join(done.stderr.decode(errors="replace").split())[-300:]
        raise _Unmeasured(f"{argv[0]} exited {done.returncode}: {tail or done.stdout[:100]!r}")
    return ms, _children_cpu_ms() - cpu


def _srt_setup(base: Path, skill: Path) -> tuple[list[str], str, dict[str, Any], Path]:
    """srt's argv prefix, version, example config and settings file; raises _Unmeasured."""
    missing = [t for t in ("node", "bwrap", "socat", "rg") if shutil.which(t) is None]
    if missing:
        raise _Unmeasured(f"missing on PATH: {', '.join(missing)} (make setup-test)")
    if not SRT.exists():
        raise _Unmeasured(f"{SRT} is missing (./scripts/install-srt.sh)")
    package = SRT.resolve().parents[1]  # .../@anthropic-ai/sandbox-runtime/dist/cli.js
    version = json.loads((package / "package.json").read_text())["version"]
    try:
        config = readme_example_config((package / "README.md").read_text())
    except (OSError, ValueError) as exc:
        raise _Unmeasured(f"srt {version}: its example config: {exc}") from exc
    settings = base / "srt-settings.json"
    settings.write_text(json.dumps(config, indent=2))
    argv = [str(SRT), "--settings", str(settings), "--", _PYTHON, "-I"]
    _timed([*argv, "run.py"], skill)  # refuses here, or works
    return argv, version, config, settings


def _srt_rows(settings: Path, config: dict[str, Any], skill: Path) -> dict[str, str]:
    package = SRT.resolve().parents[1]
    done = _run(["node", str(_WRAP), str(package), str(settings), f"{_PYTHON} -I run.py"], skill)
    if done.returncode != 0:  # the argv carries a credential: only stderr is shown
        raise _Unmeasured(f"srt_wrap.mjs exited {done.returncode}: {done.stderr[-300:]!r}")
    return srt_rows(config, bwrap_of(json.loads(done.stdout)), os.geteuid())


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


class _Collect:
    """The output callback of a sandbox run, keeping stdout."""

    def __init__(self) -> None:
        self.stdout = b""

    async def __call__(self, stream: Stream, data: bytes) -> None:
        if stream is Stream.STDOUT:
            self.stdout += data


async def _started(image_id: str = "", warm: bool = False) -> None:
    return None


def _observed(first: dict[str, Any], second: dict[str, Any], *, ended: str) -> str:
    yes = {True: "yes", False: "no"}
    return (
        f"wrote beside the script: {yes[bool(first.get('skill_write'))]}; read a host file "
        f"outside it: {yes[bool(first.get('host_read'))]}; saw the previous call's /tmp "
        f"file: {yes[bool(second.get('tmp_kept'))]}; allocated {_PROBE_MIB} MiB: "
        f"{'yes' if second.get('allocated') else 'no, ' + ended}"
    )


async def _probe_jail(jail: NsjailSandbox, spec: RunSpec, args: tuple[str, ...]) -> str:
    facts = []
    ended = ""
    for extra in ((), (str(_PROBE_MIB),)):
        out = _Collect()
        probe = RunSpec(
            spec.call_id, spec.runtime, spec.skill_dir, "probe.py", (*args, *extra),
            b"", spec.env, spec.mounts, spec.limits,
        )  # fmt: skip
        result = await jail.run(probe, _started, out, asyncio.Event())
        ended = f"exit {result.exit_code}, {result.kill_reason.name}"
        facts.append(probe_facts(out.stdout.decode(errors="replace")))
    return _observed(facts[0], facts[1], ended=ended)


def _probe_srt(argv: list[str], skill: Path, args: tuple[str, ...]) -> str:
    facts = []
    ended = ""
    for extra in ((), (str(_PROBE_MIB),)):
        done = _run([*argv, "probe.py", *args, *extra], skill)
        ended = f"exit {done.returncode}"
        facts.append(probe_facts(done.stdout.decode(errors="replace")))
    Path(f"/tmp/nexflow-bench-probe-{args[0]}").unlink(missing_ok=True)  # noqa: S108 - srt's /tmp is the host's
    (skill / "probe.out").unlink(missing_ok=True)
    return _observed(facts[0], facts[1], ended=ended)


def _table(title: str, srt: dict[str, str] | str, nexflow: dict[str, str]) -> None:
    print(f"  {title}")
    for row, enforced in nexflow.items():
        print(f"    {row}")
        print(f"      srt:     {srt if isinstance(srt, str) else srt.get(row, '?')}")
        print(f"      nexflow: {enforced}")


async def run(tmp: Path, scale: float) -> None:
    print("== srt: echo under Anthropic's sandbox runtime vs Nexflow (jail, HTTP) vs bare ==")
    base = tmp / "srt"
    skill = base / "echo"
    skill.mkdir(parents=True)
    for d in (base, skill):
        d.chmod(0o755)
    shutil.copyfile(ECHO / "run.py", skill / "run.py")
    (skill / "probe.py").write_text(_PROBE)
    for f in skill.iterdir():
        f.chmod(0o644)
    outside = base / "host-file.txt"  # readable by anyone on the host, outside the skill
    outside.write_text("host\n")
    outside.chmod(0o644)
    n = max(10, int(40 * scale))
    srt_argv: list[str] | None = None
    try:
        srt_argv, version, config, settings = _srt_setup(base, skill)
        print(f"  srt {version}: {' '.join([SRT.name, *srt_argv[1:]])} run.py (README example)")
    except (_Unmeasured, OSError, subprocess.SubprocessError) as exc:
        print(f"  srt: not measured ({exc})")
    spec = RunSpec(
        "bench-srt", Runtime.PYTHON, skill, "run.py", (), _PAYLOAD, {"PATH": "/usr/bin"}, (), LIMITS
    )  # fmt: skip
    jail_settings = nsjail_settings(base, prestart=True)
    jail = nsjail_sandbox(jail_settings)
    await jail.start()
    stack = start_stack(base / "stack", "--sandbox", "nsjail")
    bare, srt_ms, jail_ms, http_ms, ids = [], [], [], [], []
    bare_cpu, srt_cpu = [], []
    hits = 0
    try:
        headers = {"Authorization": f"Bearer {stack.token}"}
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60) as client:
            for i in range(5):  # the stack's pool learns the profile; so does the jail's
                await echo_call(client, i)
            await timed_call(jail, spec)
            await asyncio.sleep(1.0)
            for i in range(n):
                ms, cpu = _timed([_PYTHON, "-I", "run.py"], skill)
                bare.append(ms)
                bare_cpu.append(cpu)
                if srt_argv is not None:
                    try:
                        ms, cpu = _timed([*srt_argv, "run.py"], skill)
                        srt_ms.append(ms)
                        srt_cpu.append(cpu)
                    except (_Unmeasured, subprocess.SubprocessError) as exc:
                        print(f"  srt: not measured (call {i + 1} failed: {exc})")
                        srt_argv, srt_ms = None, []
                hits += jail.pool.stats().ready > 0
                jail_ms.append(await timed_call(jail, spec))
                ms, call_id = await echo_call(client, i)
                http_ms.append(ms)
                ids.append(call_id)
            # CPU: the same calls again back to back, each side's processes counted whole.
            jail_cpu = await _cpu_per_call(
                lambda: tree_cpu_ms(os.getpid()) - tree_cpu_ms(stack.proc.pid),
                n,
                lambda: timed_call(jail, spec),
            )
            stack_cpu = await _cpu_per_call(
                lambda: tree_cpu_ms(stack.proc.pid), n, lambda: echo_call(client, 0)
            )
        print(summary("bare python3 -I run.py", bare, f"p95 {pct(bare, 95):.1f} ms"))
        if srt_ms:
            print(summary("srt (CLI, example config)", srt_ms, f"p95 {pct(srt_ms, 95):.1f} ms"))
        jail_extra = f"p95 {pct(jail_ms, 95):.1f} ms, ready at take {hits}/{n}"
        print(summary("nexflow: pre-started nsjail jail", jail_ms, jail_extra))
        http_extra = f"p95 {pct(http_ms, 95):.1f} ms"
        print(summary("nexflow: HTTP (policy, audit, gRPC, nsjail)", http_ms, http_extra))
        print(
            f"  CPU per call: bare {pct(bare_cpu, 50):.1f} ms (p50), srt "
            + (f"{pct(srt_cpu, 50):.1f} ms (p50)" if srt_cpu else "not measured")
            + f", jail {jail_cpu:.1f} ms and whole stack per HTTP call {stack_cpu:.1f} ms "
            f"(means over {n} more calls, the pool's refill included)"
        )
        if srt_ms:
            s50, c50 = pct(srt_ms, 50), pct(srt_cpu, 50)
            print(
                f"  srt / nexflow per call at p50: {s50 / pct(jail_ms, 50):.1f}x the jail, "
                f"{s50 / pct(http_ms, 50):.1f}x the HTTP call (target >= 15x); CPU: "
                f"{c50 / jail_cpu:.1f}x the jail, {c50 / stack_cpu:.1f}x the HTTP call"
            )
            b50 = pct(bare_cpu, 50)
            print(
                f"  CPU over the bare python: srt +{c50 - b50:.1f} ms, jail "
                f"+{jail_cpu - b50:.1f} ms, HTTP call +{stack_cpu - b50:.1f} ms"
            )
        else:
            print("  srt / nexflow per call: not measured")
        report = stack.client.get("/api/v1/audit/verify").json()
        recorded = sum(
            len(stack.client.get(f"/api/v1/calls/{c}").json()["events"]) == 4 for c in ids
        )
        audit = (
            f"HTTP path: {recorded}/{len(ids)} calls with their 4 events in the hash-chained "
            f"log; chain verified: {report['ok']} ({report['checked']} events); the jail alone: "
            "none (below the control plane)"
        )
        idle_s = jail_settings.nsjail.prestart.idle_s
        nexflow = nsjail_rows(build_config(spec, jail_settings, 2, idle_s=idle_s), spec)
        nexflow["fresh sandbox per call"] = "yes: a jail serves one call, then its cgroup is killed"
        nexflow["audit"] = audit
        srt_side: dict[str, str] | str = "not measured"
        if srt_argv is not None:
            try:
                srt_side = _srt_rows(settings, config, skill)
            except (_Unmeasured, ValueError, subprocess.SubprocessError) as exc:
                srt_side = f"not read ({exc})"
            else:
                srt_side["fresh sandbox per call"] = "yes: one srt process (proxy, bwrap) per call"
                srt_side["audit"] = "none on Linux (no violation log; the CLI records nothing)"
        _table("what each enforces (read from the configs this run used)", srt_side, nexflow)
        args = (uuid.uuid4().hex[:12], str(outside))
        row = "what a probe script could do"
        observed = {row: await _probe_jail(jail, spec, args)}
        srt_seen: dict[str, str] | str = "not measured"
        if srt_argv is not None:
            try:
                srt_seen = {row: _probe_srt(srt_argv, skill, args)}
            except subprocess.SubprocessError as exc:
                srt_seen = f"not measured ({exc})"
        _table("observed in this run", srt_seen, observed)
    finally:
        stack.stop()
        await jail.close()
