"""Browse benchmark: a search's round trip through the control plane
(`GET /api/v1/marketplace/search`, which proxies, bounds and validates the registry's
answer) against a real `nexflow-registry serve` holding a few thousand packages, beside the
baselines measured in the same run: the same search asked of the registry directly, and an
authenticated control-plane read that touches no registry (its own floor). Also a
package's page (three registry reads and a trust-store check) through the control plane.
Printed, never gated."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
from nexflow_registry.db import open_database

from bench.install import start
from bench.registry import WORDS, load_packages
from bench.stats import pct, summary
from tests.harness import start_stack

PACKAGES = 3000


def _timed(samples: list[float], client: httpx.Client, path: str, **params: object) -> None:
    begin = time.perf_counter()
    reply = client.get(path, params=params)
    samples.append((time.perf_counter() - begin) * 1000)
    assert reply.status_code == 200, reply.text


async def run(tmp: Path, scale: float) -> None:
    rounds = max(20, int(200 * scale))
    print(f"== registry browse: search over {PACKAGES} packages through the control plane ==")
    url = f"sqlite+aiosqlite:///{tmp / 'browse-registry.db'}"
    db = await open_database(url)
    try:
        await load_packages(db, PACKAGES, seed=23)
    finally:
        await db.close()
    server = start(tmp / "browse-registry", database_url=url)
    try:
        stack = start_stack(
            tmp / "browse-cp",
            "--sandbox",
            "nsjail",
            env={"NEXFLOW_MARKETPLACE__REGISTRY_URL": server.url},
        )
        try:
            _measure(server.client, stack.client, rounds)
        finally:
            stack.stop()
    finally:
        server.stop()


def _measure(registry: httpx.Client, control: httpx.Client, rounds: int) -> None:
    rng = random.Random(5)  # noqa: S311 (test data, not secrets)
    direct: dict[str, list[float]] = {"word": [], "exact name": [], "tag": []}
    proxied: dict[str, list[float]] = {k: [] for k in direct}
    page: list[float] = []
    floor: list[float] = []
    for _ in range(3):  # warm both paths (connections, caches) before measuring
        _timed([], control, "/api/v1/marketplace/search", q="csv", limit=20)
    for _ in range(rounds):
        word, name = rng.choice(WORDS), f"skill-{rng.randrange(PACKAGES):05d}"
        tag = rng.choice(WORDS)
        for label, params in (
            ("word", {"q": word}),
            ("exact name", {"q": name}),
            ("tag", {"tag": tag}),
        ):
            _timed(direct[label], registry, "/api/v1/packages", limit=20, **params)
            _timed(proxied[label], control, "/api/v1/marketplace/search", limit=20, **params)
        _timed(page, control, f"/api/v1/marketplace/packages/{name}")
        _timed(floor, control, "/api/v1/marketplace/skills")
    print(summary("baseline: control plane, no registry read", floor))
    for label in direct:
        print(summary(f"baseline: registry search, {label}", direct[label]))
        print(summary(f"control plane search, {label}", proxied[label]))
        ratio = pct(proxied[label], 50) / pct(direct[label], 50)
        print(f"  {label}: proxied / direct p50 {ratio:.2f}x")
    print(summary("control plane package page", page))
