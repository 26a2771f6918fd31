"""Policy decision latency: the embedded engine and an OPA server, same inputs, same run.

The OPA server is a real `opa run --server` on loopback (LocalOpaServer), reached by the
OPA server engine exactly as the control plane reaches it (opa-python-client, aiohttp).
Each engine is measured twice: "cached", the same four inputs again and again with other
call ids, times and rising rate counts each call (what repeated calls look like: decision
cache hits, the counts compared against the cached caps), and "uncached", a distinct input
every call (every call a miss: evaluation in full).
Baselines: a one-rule policy on each engine (no cache; on its own OPA server), and for
the server the floor of any server engine, one HTTP round trip to the same server
(`GET /health`).
Targets, reported, never gated: embedded p99 <= 1 ms, OPA server p99 <= 3 ms.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
from nexflow_control.policy import (
    EmbeddedEngine,
    LocalOpaServer,
    OpaServerEngine,
    bench_decisions,
)

from tests.harness import REPO
from tests.policy_input import WORKSPACE, policy_input

Cuts = tuple[float, float]
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


def _fresh(inputs: list[dict[str, Any]], n: int, *, distinct: bool) -> list[dict[str, Any]]:
    """``n`` inputs cycling through ``inputs`` with a new call id and time each (hidden from
    the policy) and rate counts rising as a busy principal's do (below the user role's
    caps, 60 a minute and 1,000 an hour); with ``distinct``, also a new skill_runs count,
    so that no two are alike."""
    out = []
    for i in range(n):
        value = copy.deepcopy(inputs[i % len(inputs)])
        value["call"]["id"] = f"c_bench_{i}"
        value["context"]["time"] = f"2026-12-07T10:{i // 60 % 60:02d}:{i % 60:02d}Z"
        value["context"]["rate"] = {"minute": i % 60, "hour": i % 1000}
        if distinct:
            value["context"]["skill_runs"] = 1 + i
        out.append(value)
    return out


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


async def _pair(engine: EmbeddedEngine | OpaServerEngine, n: int) -> tuple[Cuts, Cuts, str, str]:
    """(cached, uncached) p50/p99 of ``engine``, repeated calls then distinct inputs; the
    cache's hits and misses over the repeated calls (the proof they were hits); and this
    process's CPU time per uncached decision (what a loaded machine does not distort)."""
    await bench_decisions(engine, _fresh(INPUTS, 100, distinct=False), 100)  # warm-up
    hits, misses = engine.cache.hits, engine.cache.misses
    cached = await bench_decisions(engine, _fresh(INPUTS, n, distinct=False), n)
    counted = f"{engine.cache.hits - hits} hits, {engine.cache.misses - misses} misses"
    distinct = _fresh(INPUTS, n, distinct=True)
    cpu = time.process_time()
    uncached = await bench_decisions(engine, distinct, n)
    per_call = f"{(time.process_time() - cpu) * 1000 / n:.3f} ms CPU each in this process"
    return cached, uncached, counted, per_call


def _line(label: str, cuts: Cuts, target: float | None = None, note: str = "") -> None:
    verdict = "" if target is None else "   " + _verdict(cuts[1], target)
    note = f"   ({note})" if note else ""
    print(f"  {label:<40} p50 {cuts[0]:7.3f} ms   p99 {cuts[1]:7.3f} ms{verdict}{note}")


async def _server_floor(tmp: Path, n: int) -> Cuts:
    """The one-rule policy on its own OPA server, through the same engine (no cache)."""
    with LocalOpaServer() as server:
        engine = await OpaServerEngine.connect(server.url, _trivial_policy(tmp), token=server.token)
        try:
            return await bench_decisions(engine, _fresh(INPUTS, n, distinct=True), n)
        finally:
            await engine.close()


async def run(tmp: Path, scale: float) -> None:
    """Print p50/p99 for both engines, cached and uncached, beside their baselines."""
    n = max(500, int(5_000 * scale))
    policies = REPO / "policies"
    print("== policy: embedded engine vs OPA server engine (same inputs, loopback) ==")
    embedded = EmbeddedEngine(policies)
    e_hit, e_miss, e_count, e_cpu = await _pair(embedded, n)
    floor = EmbeddedEngine(_trivial_policy(tmp), cache_size=0)
    f = await bench_decisions(floor, _fresh(INPUTS, n, distinct=True), n)
    with LocalOpaServer() as server:
        engine = await OpaServerEngine.connect(
            server.url, policies, token=server.token, cache_size=4096
        )
        try:
            for item in INPUTS:  # same answers, or the comparison means nothing
                assert await engine.decide(item) == await embedded.decide(item)
            s_hit, s_miss, s_count, s_cpu = await _pair(engine, n)
            h = await _http_floor(server, n)
        finally:
            await engine.close()
    s_floor = await _server_floor(tmp, n)
    _line("embedded, cached (repeated calls)", e_hit, EMBEDDED_TARGET_MS, e_count)
    _line("embedded, uncached (distinct inputs)", e_miss, EMBEDDED_TARGET_MS, e_cpu)
    _line("OPA server, cached (repeated calls)", s_hit, SERVER_TARGET_MS, s_count)
    _line("OPA server, uncached (distinct inputs)", s_miss, SERVER_TARGET_MS, s_cpu)
    _line("baseline: one-rule policy, embedded", f)
    _line("baseline: one-rule policy, OPA server", s_floor)
    _line("baseline: GET /health, same server", h)
    print(
        f"  uncached server/embedded at p50: {s_miss[0] / e_miss[0]:.1f}x;"
        f" uncached server above its HTTP floor at p50: {s_miss[0] - h[0]:.3f} ms"
        f"  ({n} decisions each; the control plane's OPA server engine caches only with"
        " NEXFLOW_POLICY__OPA_CACHE_SIZE > 0)"
    )
