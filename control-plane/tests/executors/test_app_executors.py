"""The app with several executors: /health lists each one, and a call whose executor dies
mid-call is answered and audited `executor_lost`, run once."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from nexflow_control.app import create_app
from nexflow_control.settings import ExecutorTarget, PolicySettings, Settings

from .conftest import DigestExecutor, serve

TOKEN = "bootstrap-admin-" + "e" * 32


async def test_health_lists_executors_and_lost_call_is_audited(tmp_path: Path) -> None:
    """/health names both executors with their slots and draining flag; an executor that
    dies after Started ends the call 502 executor_lost, recorded as call.failed, and the
    other executor never gets it."""
    first, second = DigestExecutor("a", slots=4), DigestExecutor("b")
    second.draining = True
    first.hold = asyncio.Event()
    async with AsyncExitStack() as stack:
        server, a = await stack.enter_async_context(serve(first, f"unix://{tmp_path}/a.sock"))
        _, b = await stack.enter_async_context(serve(second, f"unix://{tmp_path}/b.sock"))
        settings = Settings(
            home=tmp_path / "home",
            admin_token=TOKEN,
            executors=[ExecutorTarget(target=a, name="a"), ExecutorTarget(target=b, name="b")],
            executor_refresh_s=0,
            policy=PolicySettings(reload_interval_s=0),
        )
        app = create_app(settings)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://cp",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        )
        health = (await client.get("/health")).json()
        by_name = {e["name"]: e for e in health["executors"]}
        assert by_name["a"]["healthy"] and by_name["a"]["slots_total"] == 4
        assert by_name["a"]["executor_id"] == "a" and not by_name["a"]["draining"]
        assert by_name["b"]["draining"]
        call = asyncio.create_task(
            client.post("/api/v1/skills/echo", json={"input": {"message": "hi"}})
        )
        await asyncio.wait_for(first.started.wait(), 10)
        await server.stop(None)
        reply = await call
        assert reply.status_code == 502, reply.text
        assert reply.json()["error"] == "executor_lost"
        call_id = reply.json()["call_id"]
        audit = (await client.get("/api/v1/audit", params={"call_id": call_id})).json()
        metrics = (await client.get("/api/v1/metrics")).text
    events = sorted(audit["events"], key=lambda e: e["seq"])
    assert [e["action"] for e in events][-2:] == ["call.dispatched", "call.failed"]
    assert events[-1]["reason_codes"] == ["executor_lost"]
    assert second.requests == []
    assert 'nexflow_executor_draining{executor="b"} 1.0' in metrics
