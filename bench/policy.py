"""Policy decision latency: the embedded engine and an OPA server, same inputs, same run.

The OPA server is a real `opa run --server` on loopback (LocalOpaServer), reached by the
OPA server engine exactly as the control plane reaches it (opa-python-client, aiohttp).
Its baseline is the floor of any server engine: one HTTP round trip to the same server
(`GET /health`) on the same kind of session. Targets, reported, never gated:
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

EMBEDDED_TARGET_MS = 1.0
SERVER_TARGET_MS = 3.0


def _input(roles: list[str], permissions: list[str], **skill: Any) -> dict[str, Any]:
    ws = "/srv/ws"
    return {
        "principal": {"id": "bench", "roles": roles, "channel": "http"},
        "skill": {
            "name": "file-read",
            "version": "1.0.0",
            "digest": "sha256:" + "0" * 64,
            "publisher": "nexflow",
            "source": "builtin",
            "permissions": permissions,
            "runtime": "python",
            "tags": ["files"],
            "filesystem": [{"path": ws, "mode": "ro"}] if "filesystem" in permissions else [],
            "network": [],
            "limits": {},
            **skill,
        },
        "call": {
            "id": "c_bench",
            "input_sha256": "0" * 64,
            "paths": [{"field": "path", "value": "a", "resolved": f"{ws}/a", "access": "read"}]
            if "filesystem" in permissions
            else [],
        },
        "context": {"workspace": ws, "time": "2026-11-21T00:00:00Z", "approved": False},
    }


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
    print(f"  baseline: GET /health, same server     p50 {h50:7.3f} ms   p99 {h99:7.3f} ms")
    print(f"  ratio server/embedded at p50: {s50 / e50:.1f}x   at p99: {s99 / e99:.1f}x")
    print(
        f"  server decision above its HTTP floor at p50: {s50 - h50:.3f} ms  ({n} decisions each)"
    )
