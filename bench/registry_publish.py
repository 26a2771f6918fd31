"""Registry: publish → visible, on a real `nexflow-registry serve` over a real socket.

For each round a fresh signed skill is published (unpack, signature check, scan, lookalike
check, blob, log append) and the clock runs until it is visible three ways: found by
search, resolved as the package's `latest`, and covered by the signed checkpoint (its log
entry proved included). Target: visible ≤ 1 s. Baselines in the same run: a `/health`
round trip and a read of an existing package page. Printed, never gated."""

from __future__ import annotations

import base64
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

from nexflow_registry import signing
from nexflow_registry.transparency import leaf_hash, verify_inclusion

from bench.stats import pct, summary


def _load_test_server() -> ModuleType:
    """registry/tests/server.py (the real-socket server fixture), by path: `registry` is
    this folder's registry.py when the benchmarks run."""
    path = Path(__file__).resolve().parents[1] / "registry" / "tests" / "server.py"
    spec = importlib.util.spec_from_file_location("registry_test_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_server = _load_test_server()
b64list, new_publisher, skill_copy, start, tar_gz = (
    _server.b64list,
    _server.new_publisher,
    _server.skill_copy,
    _server.start,
    _server.tar_gz,
)

TARGET_VISIBLE_MS = 1000.0


def _ms(begin: float) -> float:
    return (time.perf_counter() - begin) * 1000


def run(tmp: Path, scale: float) -> None:
    rounds = max(5, int(30 * scale))
    print(f"== registry: publish → visible over a real socket, {rounds} publishes ==")
    server = start(tmp / "registry-home")
    try:
        token = new_publisher(server, "bench", tmp / "bench.key")
        private = signing.load_private(tmp / "bench.key")
        c = server.client
        publish_ms: list[float] = []
        search_ms: list[float] = []
        resolve_ms: list[float] = []
        logged_ms: list[float] = []
        health_ms: list[float] = []
        page_ms: list[float] = []
        work = tmp / "registry-skills"
        work.mkdir()
        for i in range(rounds):
            name = f"bench-skill-{i:04d}"
            folder = skill_copy(work, "1.0.0", name=name)
            body = tar_gz(folder)
            sig = signing.sign(folder, private).model_dump_json()
            begin = time.perf_counter()
            reply = c.post(
                "/api/v1/packages",
                content=body,
                headers={**server.auth(token), "X-Nexflow-Signature": sig},
            )
            reply.raise_for_status()
            publish_ms.append(_ms(begin))
            while not any(
                h["name"] == name
                for h in c.get("/api/v1/packages", params={"q": name}).json()["results"]
            ):
                pass
            search_ms.append(_ms(begin))
            while c.get(f"/api/v1/packages/{name}").json()["latest"] != "1.0.0":
                pass
            resolve_ms.append(_ms(begin))
            index = reply.json()["log_index"]
            head = server.checkpoint()
            proof = c.get(
                "/api/v1/log/proof/inclusion",
                params={"leaf_index": index, "tree_size": head.size},
            ).json()
            entry = c.get(f"/api/v1/log/entries/{index}").json()["data"]
            assert verify_inclusion(
                leaf_hash(base64.b64decode(entry)),
                index,
                head.size,
                b64list(proof["hashes"]),
                head.root,
            )
            logged_ms.append(_ms(begin))
            begin = time.perf_counter()
            c.get("/health").raise_for_status()
            health_ms.append(_ms(begin))
            begin = time.perf_counter()
            c.get(f"/api/v1/packages/{name}").raise_for_status()
            page_ms.append(_ms(begin))
    finally:
        server.stop()
    print(summary("baseline: GET /health round trip", health_ms))
    print(summary("baseline: GET a package page", page_ms))
    print(summary("publish (201 returned)", publish_ms))
    print(summary("publish → found by search", search_ms))
    print(summary("publish → resolved as latest", resolve_ms))
    print(summary("publish → in a checkpoint, inclusion proved", logged_ms))
    worst = max(pct(v, 50) for v in (search_ms, resolve_ms, logged_ms))
    print(
        f"  publish→visible p50 worst {worst:.1f} ms "
        f"({worst / pct(page_ms, 50):.1f}x one page read); target ≤ {TARGET_VISIBLE_MS:.0f} ms: "
        f"{'met' if worst <= TARGET_VISIBLE_MS else 'MISSED'}"
    )
