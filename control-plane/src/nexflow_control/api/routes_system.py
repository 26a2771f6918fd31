"""`/health` and `/api/v1/metrics`."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from .deps import PrincipalDep, ServicesDep
from .route import edge_router
from .schemas import Health

router = edge_router("", "system")


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "the executor does not answer"}},
)
async def health(svc: ServicesDep) -> Response:
    """200 when an executor answers; 503 (same body) when none does. `sandbox` names the
    backend calls run on by default, the other usable ones, and the warm pool (of the
    first executor that describes itself); `executors` lists each executor's health,
    slots, draining flag and this control plane's calls on it."""
    states = await svc.executor.states()
    svc.metrics.observe_executors(states)
    executor_ok = any(s.healthy for s in states)
    sandbox = next((s.sandbox() for s in states if s.described), None)
    body: dict[str, Any] = {
        "status": "ok" if executor_ok else "degraded",
        "executor": "serving" if executor_ok else "unreachable",
        "sandbox": sandbox,
        "executors": [
            {
                "name": s.name,
                "healthy": s.healthy,
                "draining": s.draining,
                "slots_total": s.slots_total,
                "slots_busy": s.slots_busy,
                "inflight": s.inflight,
                "executor_id": s.executor_id,
            }
            for s in states
        ],
        "policy_revision": svc.engine.revision,
        "skills": len(svc.catalog.list()),
    }
    return JSONResponse(body, status_code=200 if executor_ok else 503)


@router.get(
    "/api/v1/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(svc: ServicesDep, _: PrincipalDep) -> Response:
    svc.metrics.observe_executors(await svc.executor.states())
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)
