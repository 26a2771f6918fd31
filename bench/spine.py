"""The spine: `echo` over HTTP through policy, audit and the nsjail sandbox, vs bare python.

Beside the latencies and calls/s: how many calls took a pre-started jail (`warm` in each
call's `call.finished`), and the resident size of the whole stack (`nexflow up`, the
executor and everything below them: waiting jails included) idle and under 8 clients.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import httpx

from bench.procs import MemorySampler, footprint
from bench.stats import pct, summary
from tests.harness import REPO, start_stack

ECHO = REPO / "skills" / "echo"


def _bare_runs(n: int) -> list[float]:
    """The floor: the same script as a bare subprocess, no sandbox, no HTTP."""
    entry = next(p for p in ECHO.iterdir() if p.suffix == ".py")
    payload = json.dumps({"data": 1}).encode()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(
            ["/usr/bin/python3", "-I", str(entry)], input=payload, capture_output=True, check=True
        )
        out.append((time.perf_counter() - t) * 1000)
    return out


async def echo_call(client: httpx.AsyncClient, i: int) -> tuple[float, str]:
    """One `echo` call over HTTP (the client carries the base URL and token): its
    milliseconds and call id; raises unless it succeeded."""
    t = time.perf_counter()
    r = await client.post("/api/v1/skills/echo", json={"input": {"data": i}})
    ms = (time.perf_counter() - t) * 1000
    r.raise_for_status()
    return ms, str(r.json()["call_id"])


async def _http_runs(
    url: str, token: str, clients: int, total: int
) -> tuple[list[float], float, list[str]]:
    lat: list[float] = []
    ids: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                ms, call_id = await echo_call(client, queue.get_nowait())
                lat.append(ms)
                ids.append(call_id)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return lat, total / elapsed, ids


async def run(tmp: Path, scale: float) -> None:
    print("== spine: echo over HTTP (policy + audit + nsjail) vs bare subprocess ==")
    n_bare = max(20, int(200 * scale))
    bare = _bare_runs(n_bare)
    print(summary("bare subprocess python3 echo", bare))
    stack = start_stack(tmp / "spine", "--sandbox", "nsjail")
    try:
        await asyncio.sleep(1.0)  # start-up settled: the stack as it waits for its first call
        idle = footprint(stack.proc.pid)
        await _http_runs(stack.url, stack.token, 2, 20)  # warm-up
        for clients, total in ((1, int(300 * scale) or 30), (8, int(800 * scale) or 80)):
            with MemorySampler(stack.proc.pid) as memory:
                lat, rate, ids = await _http_runs(stack.url, stack.token, clients, total)
            print(summary(f"HTTP echo, {clients} client(s)", lat, f" {rate:7.1f} calls/s"))
            if clients == 8:
                print(f"  stack memory idle:           {idle}")
                print(f"  stack memory, 8 clients peak: {memory.peak}")
            if clients == 1:
                print(
                    f"  overhead over bare at p50: {pct(lat, 50) - pct(bare, 50):+.2f} ms"
                    f"  (ratio {pct(lat, 50) / pct(bare, 50):.2f}x)"
                )
            lost = warm = 0
            for call_id in ids:
                story = stack.client.get(f"/api/v1/calls/{call_id}").json()
                if story["status"] != "succeeded" or len(story["events"]) != 4:
                    lost += 1
                warm += any(e["payload"].get("warm") for e in story["events"])
            print(
                f"  audit: {len(ids) - lost}/{len(ids)} calls fully recorded;"
                f" pre-started jail taken: {warm}/{len(ids)}"
            )
        report = stack.client.get("/api/v1/audit/verify").json()
        print(f"  audit chain: ok={report['ok']} events={report['checked']}")
    finally:
        stack.stop()
