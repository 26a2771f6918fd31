"""Policy decision latency: the embedded engine and an OPA server, same inputs, same run.

The OPA server is a real `opa run --server` on loopback (LocalOpaServer), reached by the
OPA server engine exactly as the control plane reaches it (opa-python-client, aiohttp).
Baselines: for the embedded engine, a one-rule policy on the same engine; for the server,
the floor of any server engine, one HTTP round trip to the same server (`GET /health`)
on the same kind of session. Targets, reported, never gated:
embedded p99 <= 1 ms, OPA server p99 <= 3 ms.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
from nexflow_control.policy import EmbeddedEngine, LocalOpaServer, OpaServerEngine, bench_decisions

from tests.harness import REPO
from tests.policy_input import WORKSPACE, policy_input

EMBEDDED_TARGET_MS = 1.0
SERVER_TARGET_MS = 3.0


def _input(roles: list[str], permissions: list[str], **skill: Any) -> dict[str, Any]:
    """A policy input; with "filesystem", the workspace is requested and read from."""
    value = policy_input(roles, permissions, principal="bench", **skill)
    if "filesystem" in permissions:
        value["skill"]["filesystem"] = [{"path": WORKSPACE, "mode": "ro"}]
        value["call"]["paths"] = [
            {"field": "path", "value": "a", "resolved": f"{WORKSPACE}/a", "access": "read"}
        ]
    return value


def _trivial_policy(tmp: Path) -> Path:
    """A policy that answers the decision shape with no logic: the engine's own floor."""
    root = tmp / "trivial-policy"
    (root / "nexflow" / "authz").mkdir(parents=True, exist_ok=True)
    (root / "data.json").write_text("{}")
    (root / "nexflow" / "authz" / "decision.rego").write_text(
        "package nexflow.authz\n\n"
        'decision := {"allow": true, "require_approval": false, "reasons": [],'
        ' "grants": {"filesystem": [], "network": [], "limits": {"wall_time_ms": 1,'
        ' "cpu_time_ms": 1, "memory_bytes": 1, "pids": 1, "output_bytes": 1}}}\n'
    )
    return root


INPUTS = [
    _input(["user"], ["filesystem"]),  # allow with a filesystem grant
    _input(["admin"], ["shell"]),  # approval required
    _input(["viewer"], []),  # deny
    _input(["operator"], ["network"], network=["api.github.com:443"]),  # deny: allowlist
]


async def _http_floor(server: LocalOpaServer, n: int) -> tuple[float, float]:
    """p50/p99 of GET /health on one keep-alive aiohttp session (no policy evaluated)."""
    samples = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            start = time.perf_counter()
            async with session.get(f"{server.url}/health") as response:
                await response.read()
            samples.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _verdict(p99: float, target: float) -> str:
    return f"target p99 <= {target:g} ms: {'met' if p99 <= target else 'NOT met'}"


async def run(tmp: Path, scale: float) -> None:
    """Print p50/p99 for both engines with the same inputs, and the server's HTTP floor."""
    n = max(500, int(5_000 * scale))
    policies = REPO / "policies"
    print("== policy: embedded engine vs OPA server engine (same inputs, loopback) ==")
    embedded = EmbeddedEngine(policies)
    await bench_decisions(embedded, INPUTS, 100)  # warm-up
    e50, e99 = await bench_decisions(embedded, INPUTS, n)
    floor = EmbeddedEngine(_trivial_policy(tmp))
    f50, f99 = await bench_decisions(floor, INPUTS, n)
    with LocalOpaServer() as server:
        engine = await OpaServerEngine.connect(server.url, policies, token=server.token)
        try:
            for item in INPUTS:  # same answers, or the comparison means nothing
                assert await engine.decide(item) == await embedded.decide(item)
            await bench_decisions(engine, INPUTS, 100)
            s50, s99 = await bench_decisions(engine, INPUTS, n)
            h50, h99 = await _http_floor(server, n)
        finally:
            await engine.close()
    print(
        f"  embedded (regopy, in-process)          p50 {e50:7.3f} ms   p99 {e99:7.3f} ms   "
        + _verdict(e99, EMBEDDED_TARGET_MS)
    )
    print(
        f"  OPA server engine (REST, loopback)     p50 {s50:7.3f} ms   p99 {s99:7.3f} ms   "
        + _verdict(s99, SERVER_TARGET_MS)
    )
    print(f"  baseline: one-rule policy, embedded    p50 {f50:7.3f} ms   p99 {f99:7.3f} ms")
    print(f"  baseline: GET /health, same server     p50 {h50:7.3f} ms   p99 {h99:7.3f} ms")
    print(f"  ratio server/embedded at p50: {s50 / e50:.1f}x   at p99: {s99 / e99:.1f}x")
    print(
        f"  server decision above its HTTP floor at p50: {s50 - h50:.3f} ms  ({n} decisions each)"
    )
