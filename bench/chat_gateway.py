"""Gateway benchmark: the chat gateway's own time per message, beside the skill call it
makes, measured in the same run.

A zero-latency scripted model (`gateway/tests/scripted_llm.py`) asks for one `echo` call,
then answers. Each sample is one chat turn through `POST /api/v1/chat` (two model calls,
one skill call through policy, audit and nsjail, the turn stored in the database); beside
it the same `echo` call made directly over HTTP. Printed: the turn, the direct call, and
the gateway's own time (the turn minus its skill call's duration as the gateway saw it),
against the issue's target of 20 ms at p50; then 50 concurrent sessions, counting lost
messages. Never a gate.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stats import pct, summary
from gateway.tests.conftest import stack_database, start_gateway, stop_gateway
from gateway.tests.scripted_llm import ScriptedLLM, call, say
from tests.harness import start_stack

TARGET_OWN_MS = 20.0
SESSIONS = 50


def _model(body: dict[str, Any]) -> dict[str, Any]:
    """One echo call, then an answer once its result is in."""
    if body["messages"][-1]["role"] == "tool":
        return say("done")(body)
    return call(("echo", '{"message": "bench"}'))(body)


async def _samples(
    gateway: httpx.AsyncClient, stack: httpx.AsyncClient, n: int
) -> tuple[list[float], list[float], list[float]]:
    turns, direct, own = [], [], []
    for i in range(n):
        t = time.perf_counter()
        r = await stack.post("/api/v1/skills/echo", json={"input": {"message": f"d{i}"}})
        direct.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
        t = time.perf_counter()
        r = await gateway.post("/api/v1/chat", json={"message": f"turn {i}"})
        took = (time.perf_counter() - t) * 1000
        r.raise_for_status()
        [step] = r.json()["calls"]
        turns.append(took)
        own.append(took - step["duration_ms"])
    return turns, direct, own


async def _concurrent(gateway: httpx.AsyncClient, turns_each: int) -> tuple[int, int, float]:
    """`SESSIONS` sessions at once, `turns_each` turns each: (sent, answered, seconds)."""
    answered = 0

    async def one(k: int) -> None:
        nonlocal answered
        session: str | None = None
        for j in range(turns_each):
            body = {"message": f"s{k} t{j}"} | ({"session_id": session} if session else {})
            r = await gateway.post("/api/v1/chat", json=body)
            if r.status_code == 200 and r.json()["reply"] == "done":
                answered += 1
                session = r.json()["session_id"]

    t = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(SESSIONS)))
    return SESSIONS * turns_each, answered, time.perf_counter() - t


async def run(tmp: Path, scale: float) -> None:
    print("== gateway: a chat turn with one skill call vs the same call over HTTP ==")
    stack = start_stack(tmp / "gateway-stack", "--sandbox", "nsjail")
    llm = ScriptedLLM().start()
    llm.script(forever=_model)
    gw = None
    try:
        made = stack.client.post("/api/v1/users", json={"name": "bench", "roles": ["operator"]})
        made.raise_for_status()
        token = stack.client.post("/api/v1/users/bench/tokens", json={"name": "bench"}).json()
        folder = tmp / "gateway"
        folder.mkdir()
        gw = start_gateway(
            folder,
            llm,
            stack.url,
            token["token"],
            stack_database(stack),
            NEXFLOW_GATEWAY__LOG_LEVEL="WARNING",
            NEXFLOW_GATEWAY__SKILLS_CACHE_S="10",
        )
        headers = {"Authorization": f"Bearer {token['token']}"}
        async with (
            httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=120) as chat,
            httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=120) as direct,
        ):
            await _samples(chat, direct, 5)  # warm: imports, caches, connections
            n = max(20, int(200 * scale))
            turns, calls, own = await _samples(chat, direct, n)
            print(summary("chat turn (2 model calls + echo)", turns))
            print(summary("echo directly over HTTP", calls))
            print(summary("gateway's own time per turn", own))
            added = pct(turns, 50) - pct(calls, 50)
            print(
                f"  p50 turn - p50 direct call: {added:.1f} ms; gateway's own p50: "
                f"{pct(own, 50):.1f} ms (target <= {TARGET_OWN_MS:.0f} ms)"
            )
            sent, answered, seconds = await _concurrent(chat, max(2, int(4 * scale)))
            print(
                f"  {SESSIONS} concurrent sessions: {answered}/{sent} answered "
                f"({sent - answered} lost) in {seconds:.1f} s"
            )
    finally:
        if gw is not None:
            stop_gateway(gw)
        llm.stop()
        stack.stop()
