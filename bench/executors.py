"""Several executors: calls/s at 8 clients with 1, 2 and 3 executors, and what TCP +
mutual TLS + a cached bundle add to one call at the control plane's client.

(1) A real `nexflow up` (nsjail) with its one local executor over the unix socket is the
baseline; then the same with one and two more real `nexflow-executor` processes over
TCP + mTLS (certificates from `nexflow certs`), listed in `NEXFLOW_EXECUTORS`. Each
configuration runs `echo` from 8 concurrent HTTP clients; calls/s is printed as a ratio
to the baseline. All executors share this machine's cores, so the ratio says what
dispatch over several executors costs or gains here, not what separate nodes would give.

(2) One real executor serving both its unix socket and TCP + mTLS; the control plane's
own client (`GrpcExecutor`) runs the same call both ways, interleaved, the skill's
bundle already cached on the executor. `executor/bench/bench_transport.py` measures the
same at the raw gRPC level (the `transport` bench); this is the cost as a call sees it.
"""

# ruff: noqa: ASYNC220, ASYNC230, ASYNC240 - blocking file set-up is deliberate: the loop runs nothing else then

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from nexflow_control.certs import init_ca, issue_control_plane, issue_executor
from nexflow_control.executors import ExecutionSpec, GrpcExecutor
from nexflow_control.executors._config import executor_pool
from nexflow_control.settings import ExecutorTarget, ExecutorTls, Settings
from nexflow_control.skills import SkillCatalog

from bench.spine import _http_runs
from bench.stats import pct, summary
from tests.harness import REPO, free_port, start_stack

EXECUTOR = Path(sys.executable).with_name("nexflow-executor")


@dataclass
class Remote:
    """A running `nexflow-executor` with a unix socket and a TCP + mTLS port."""

    name: str
    socket: Path
    tcp: str
    proc: subprocess.Popen[bytes]


@dataclass
class Pki:
    ca: Path
    client_cert: Path
    client_key: Path
    folder: Path

    def target(self, remote: Remote) -> ExecutorTarget:
        tls = ExecutorTls(ca_file=self.ca, cert_file=self.client_cert, key_file=self.client_key)
        return ExecutorTarget(target=remote.tcp, name=remote.name, tls=tls)


def _pki(folder: Path) -> Pki:
    ca = init_ca(folder)
    client = issue_control_plane(folder)
    return Pki(ca.cert, client.cert, client.key, folder)


async def _healthy(socket: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    client = GrpcExecutor(f"unix://{socket}", connect_timeout_s=1)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"executor exited {proc.returncode}:\n{log.read_text()}")
            if socket.exists() and await client.healthy():
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"executor never became healthy:\n{log.read_text()}")
    finally:
        await client.close()


@asynccontextmanager
async def remote_executors(tmp: Path, pki: Pki, count: int) -> AsyncIterator[list[Remote]]:
    """`count` real executors (nsjail), each on its own socket, state and mTLS port."""
    remotes: list[Remote] = []
    try:
        for i in range(count):
            name = f"bench-{i + 1}"
            cert = issue_executor(pki.folder, name, dns=[name], ips=["127.0.0.1"])
            port = free_port()
            base = tmp / name
            base.mkdir(parents=True, exist_ok=True)
            env = {
                **os.environ,
                "NEXFLOW_EXECUTOR_EXECUTOR_ID": name,
                "NEXFLOW_EXECUTOR_TCP__ADDRESS": f"127.0.0.1:{port}",
                "NEXFLOW_EXECUTOR_TCP__CERT_FILE": str(cert.cert),
                "NEXFLOW_EXECUTOR_TCP__KEY_FILE": str(cert.key),
                "NEXFLOW_EXECUTOR_TCP__CLIENT_CA_FILE": str(pki.ca),
                "NEXFLOW_EXECUTOR_TCP__CLIENT_NAME": "nexflow-control-plane",
            }
            log = base / "executor.log"
            socket = base / "run" / "executor.sock"
            cmd = [str(EXECUTOR), "--socket", str(socket), "--state-dir", str(base / "state")]
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [*cmd, "--backend", "nsjail"], stdout=out, stderr=subprocess.STDOUT, env=env
                )
            remotes.append(Remote(name, socket, f"127.0.0.1:{port}", proc))
            await _healthy(socket, proc, log)
        yield remotes
    finally:
        for r in remotes:
            r.proc.terminate()
        for r in remotes:
            try:
                r.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                r.proc.kill()


async def _throughput(tmp: Path, targets: list[ExecutorTarget], total: int) -> float:
    """calls/s of `echo` from 8 clients through a real `nexflow up` with `targets` (none:
    its own local executor only) beside that local one."""
    home = tmp / "home"
    env = {}
    if targets:
        local = ExecutorTarget(target=f"unix://{home / 'run' / 'executor.sock'}", name="local")
        env["NEXFLOW_EXECUTORS"] = json.dumps(
            [t.model_dump(mode="json") for t in [local, *targets]]
        )
    stack = start_stack(tmp, "--sandbox", "nsjail", env=env)
    try:
        await _http_runs(stack.url, stack.token, 8, 24)  # warm-up: bundles sent
        _, rate, ids = await _http_runs(stack.url, stack.token, 8, total)
        ran: dict[str, int] = {}
        for call_id in ids[:: max(1, total // 48)]:
            events = stack.client.get(f"/api/v1/calls/{call_id}").json()["events"]
            for e in events:
                if e["action"] == "call.finished":
                    name = e["payload"]["executor"]
                    ran[name] = ran.get(name, 0) + 1
        print(
            "    a sample of calls ran on: " + ", ".join(f"{k} {v}" for k, v in sorted(ran.items()))
        )
        return rate
    finally:
        stack.stop()


def _echo_spec() -> ExecutionSpec:
    skill = SkillCatalog.load([(REPO / "skills", "builtin")]).get("echo")
    assert skill is not None and skill.entrypoint is not None
    return ExecutionSpec(
        call_id="",
        runtime="python",
        skill_dir=skill.dir,
        skill_digest=skill.digest,
        entrypoint=str(skill.entrypoint),
        stdin=b'{"message": "hi"}',
    )


async def _client_costs(remote: Remote, pki: Pki, rounds: int) -> None:
    local = ExecutorTarget(target=f"unix://{remote.socket}", name="unix")
    pool = executor_pool(Settings(executors=[local, pki.target(remote)]))
    ways = dict(zip(("unix socket", "TCP + mTLS"), pool.members, strict=True))
    spec = _echo_spec()
    times: dict[str, list[float]] = {label: [] for label in ways}
    first: dict[str, float] = {}
    try:
        for i in range(rounds + 3):  # the first round sends the bundle; two more warm up
            for n, (label, member) in enumerate(ways.items()):
                call = dataclasses.replace(spec, call_id=f"c{i}-{n}")
                begin = time.perf_counter()
                outcome = await member.execute(call, output_cap=65536)
                elapsed = (time.perf_counter() - begin) * 1000
                assert outcome.exit_code == 0, outcome.stderr
                if i == 0:
                    first[label] = elapsed
                elif i >= 3:
                    times[label].append(elapsed)
    finally:
        await pool.close()
    print(
        "  first call (bundle sent):"
        + "".join(f"  {label} {ms:.1f} ms" for label, ms in first.items())
    )
    base = pct(times["unix socket"], 50)
    for label, values in times.items():
        added = f" {pct(values, 50) - base:+.2f} ms at p50 vs unix"
        print(summary(f"GrpcExecutor.execute, {label}", values, added))


async def run(tmp: Path, scale: float) -> None:
    print("== executors: calls/s at 8 clients with 1, 2, 3 executors (nexflow up, nsjail) ==")
    pki = _pki(tmp / "executors-certs")
    total = max(48, int(160 * scale))
    rates: list[float] = []
    for extra in range(3):
        async with remote_executors(tmp / f"executors-{extra}", pki, extra) as remotes:
            rate = await _throughput(
                tmp / f"executors-stack-{extra}", [pki.target(r) for r in remotes], total
            )
        rates.append(rate)
        what = "unix socket" if extra == 0 else f"unix + {extra} over TCP + mTLS"
        print(
            f"  {extra + 1} executor(s) ({what}): {rate:7.1f} calls/s"
            f"   ratio {rate / rates[0]:.2f}x to one over the unix socket"
        )
    print("== executors: one call at the control plane's client, unix socket vs TCP + mTLS ==")
    async with remote_executors(tmp / "executors-client", pki, 1) as (remote,):
        await _client_costs(remote, pki, max(20, int(60 * scale)))
