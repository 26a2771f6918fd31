"""Install benchmark: a 100-file skill from a real `nexflow-registry serve` on a socket,
end to end through the verifying client (resolve, download, digest, log entry, checkpoint,
inclusion and consistency proofs, signature, safe unpack, manifest check), beside a
baseline in the same run: a plain download of the same archive and `tarfile` extraction
with no check at all. Printed, never gated."""

from __future__ import annotations

import importlib.util
import io
import shutil
import sys
import tarfile
import time
from pathlib import Path
from types import ModuleType

import httpx
from nexflow_registry.client import (
    RegistryClient,
    TrustStore,
    fetch_verified,
    parse_spec,
    unpack_verified,
)

from bench.stats import pct, summary
from tests.harness import REPO

FILES = 100


def _registry_harness() -> ModuleType:
    """`registry/tests/server.py` (by path: under `bench/`, `registry` names bench/registry.py)."""
    spec = importlib.util.spec_from_file_location(
        "registry_test_server", REPO / "registry" / "tests" / "server.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_server = _registry_harness()
start, new_publisher, publish, skill_copy = (
    _server.start,
    _server.new_publisher,
    _server.publish,
    _server.skill_copy,
)


def _skill(tmp: Path) -> Path:
    folder = skill_copy(tmp, "1.0.0", name="hundred")
    data = folder / "data"
    data.mkdir()
    for i in range(FILES - 2):  # SKILL.md and run.py are the other two
        (data / f"part-{i:03d}.txt").write_text(f"file {i}\n" * (20 + i))
    return folder


async def run(tmp: Path, scale: float) -> None:
    rounds = max(5, int(40 * scale))
    print(f"== install: a {FILES}-file skill from a real registry, {rounds} rounds ==")
    server = start(tmp / "install-registry")
    try:
        key = tmp / "install-acme.key"
        token = new_publisher(server, "acme", key)
        reply = publish(server, token, _skill(tmp), key)
        assert reply.status_code == 201, reply.text
        home = tmp / "install-home"
        home.mkdir()
        trust = TrustStore.load(home)
        plain: list[float] = []
        verified: list[float] = []
        async with (
            RegistryClient(server.url) as client,
            httpx.AsyncClient(base_url=server.url) as http,
        ):
            first = await fetch_verified(client, trust, parse_spec("hundred"))
            print(f"  archive {len(first.archive)} bytes; first use pinned: {first.first_use}")
            for i in range(rounds):
                dest = tmp / f"plain-{i}"
                begin = time.perf_counter()
                body = (await http.get("/api/v1/packages/hundred/1.0.0/archive")).content
                with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
                    tar.extractall(dest, filter="data")
                plain.append((time.perf_counter() - begin) * 1000)
                shutil.rmtree(dest)
                dest = tmp / f"verified-{i}" / "hundred"
                begin = time.perf_counter()
                done = await fetch_verified(client, trust, parse_spec("hundred"))
                unpack_verified(done, dest)
                verified.append((time.perf_counter() - begin) * 1000)
                shutil.rmtree(dest.parent)
        print(summary("baseline: download + untar, no checks", plain))
        print(summary("verified install (pinned keys)", verified))
        print(f"  verified / baseline p50: {pct(verified, 50) / pct(plain, 50):.1f}x")
    finally:
        server.stop()
