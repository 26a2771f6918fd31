"""Hostile schemas and inputs never stall the server's event loop: the real app on a real
socket (uvicorn, in this process so a ticker can time its loop), hostile calls meanwhile."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from nexflow_control.app import create_app
from nexflow_control.settings import PolicySettings, Settings

TOKEN = "stall-test-admin-token-0123456789abcdef"
MAX_STALL_S = 0.050
"""The longest the loop's own thread may run without yielding (CPU time: what we control)."""
MAX_LATE_S = 0.250
"""The worst wall-clock lateness allowed beyond the idle noise: the other test worker and
the OS scheduler add spikes of their own on a loaded 2-core machine, so this bound only
catches a real stall (the issue's was seconds); the CPU-time bound above is the sharp one."""
TICK_S = 0.002
HOSTILE = """---
name: hostile
description: schemas written to hurt
input_schema:
  type: object
  properties:
    s: {type: string, pattern: '^(a+)+$'}
    u: {type: array, uniqueItems: true}
    n: {items: {allOf: [{$ref: '#/properties/n'}, {$ref: '#/properties/n'}]}}
  patternProperties:
    '^(x+)+$': {type: integer}
---
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Ticker:
    """Wakes every 2 ms and records, per wake, the wall-clock lateness and the CPU time
    this thread spent since the last wake (the loop running something without yielding)."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self.busy: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        while not self._stop.is_set():
            await asyncio.sleep(TICK_S)
            now, now_cpu = time.perf_counter(), time.thread_time()
            self.late.append(now - wall - TICK_S)
            self.busy.append(now_cpu - cpu)
            wall, cpu = now, now_cpu

    def __enter__(self) -> _Ticker:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    async def stopped(self) -> _Ticker:
        self._stop.set()
        assert self._task is not None
        await self._task
        return self


async def _idle(seconds: float) -> float:
    """The loop's worst lateness while idle for `seconds`: this machine's own noise."""
    with _Ticker() as ticker:
        await asyncio.sleep(seconds)
    return max((await ticker.stopped()).late)


def _nested(depth: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    return nested


def _hostile_inputs() -> list[dict[str, Any]]:
    nested = _nested(40)
    return [
        {"s": "a" * 100_000 + "!"},  # backtracking pattern: RE2, inline
        {"x" * 50_000: "not an integer"},  # backtracking pattern key
        {"u": [{"k": i} for i in range(4_000)] + [{"k": 0}]},  # quadratic in jsonschema
        {"n": nested},  # fan-out to the step budget: a worker process
    ]


async def test_hostile_validation_never_stalls_the_event_loop(tmp_path: Path) -> None:
    """While backtracking patterns, a 4000-object uniqueItems and a fan-out schema are
    validated on a live server, its loop never runs 50 ms without yielding (CPU time, blind
    to a busy machine), and its worst lateness stays within 250 ms of the same loop's worst
    lateness idle just before and after (the machine's own noise, allowed for)."""
    skills = tmp_path / "skills"
    (skills / "hostile").mkdir(parents=True)
    (skills / "hostile" / "SKILL.md").write_text(HOSTILE)
    settings = Settings(
        home=tmp_path / "home",
        admin_token=TOKEN,
        executor_socket=tmp_path / "no-executor.sock",
        executor_timeout_s=0.2,
        policy=PolicySettings(reload_interval_s=0),
        builtin_skills_dir=skills,
    )
    port = _free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        ) as client:
            assert (await client.get("/api/v1/skills/hostile")).status_code == 200
            # Warm: the worker processes start (an interpreter each) before the timing, on
            # a valid input too costly for the inline slice (the skill has no entrypoint).
            warm = await asyncio.gather(
                *(
                    client.post("/api/v1/skills/hostile", json={"input": {"n": _nested(14)}})
                    for _ in range(2)
                )
            )
            assert [a.json()["error"] for a in warm] == ["skill_not_executable"] * 2
            # Encoded up front: the client shares this loop and should add little to it.
            bodies = [json.dumps({"input": v}).encode() for v in _hostile_inputs() * 2]
            json_type = {"Content-Type": "application/json"}
            idle_before = await _idle(3.0)
            with _Ticker() as hostile_run:
                started = time.perf_counter()
                answers = await asyncio.gather(
                    *(
                        client.post("/api/v1/skills/hostile", content=b, headers=json_type)
                        for b in bodies
                    )
                )
                elapsed = time.perf_counter() - started
            await hostile_run.stopped()
            idle_after = await _idle(max(elapsed, 3.0))
    finally:
        server.should_exit = True
        await serving
        app.state.services.calls.validation.close()
    busiest = max(hostile_run.busy)
    noise = max(idle_before, idle_after)
    stall = max(hostile_run.late) - noise
    print(
        f"\nhostile {elapsed:.2f} s: worst lateness {max(hostile_run.late) * 1e3:.1f} ms "
        f"(idle {idle_before * 1e3:.1f} / {idle_after * 1e3:.1f} ms), "
        f"longest busy stretch {busiest * 1e3:.1f} ms"
    )
    codes = sorted({(a.status_code, a.json()["error"]) for a in answers})
    assert codes == [(422, "input_too_complex"), (422, "invalid_input")], codes
    assert elapsed > 0.2  # the fan-out really ran up to its budget meanwhile
    assert len(hostile_run.late) > 50
    assert busiest < MAX_STALL_S, f"the loop ran {busiest * 1e3:.1f} ms without yielding"
    assert stall < MAX_LATE_S, f"the event loop stalled {stall * 1e3:.1f} ms beyond idle"
