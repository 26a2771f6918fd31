"""`/api/v1/skills`: list, show, run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse

from ..calls import PendingCall, StartedCall
from ..errors import NotFound
from .deps import CallsRun, ServicesDep, SkillsRead
from .params import PathName
from .route import edge_router
from .schemas import CallResultOut, PendingCallOut, RunRequest, SkillDetail, SkillList
from .schemas_calls import StartedCallOut

router = edge_router("/api/v1/skills", "skills")

SkillName = PathName


@router.get("", response_model=SkillList)
async def list_skills(
    svc: ServicesDep,
    _: SkillsRead,
    schemas: Annotated[bool, Query(description="add each skill's `input_schema`")] = False,
) -> dict[str, Any]:
    """Installed skills, and the skill folders that failed to load (with why); with
    `?schemas=1` each skill carries its input JSON Schema (one request for a client, such
    as the gateway, that offers every skill as a tool)."""
    return {
        "skills": [
            s.to_summary() | ({"input_schema": s.input_schema} if schemas else {})
            for s in svc.catalog.list()
        ],
        "problems": [d.to_dict() for d in svc.catalog.diagnostics],
    }


@router.get("/{name}", response_model=SkillDetail)
async def show_skill(name: SkillName, svc: ServicesDep, _: SkillsRead) -> dict[str, Any]:
    skill = svc.catalog.get(name)
    if skill is None:
        raise NotFound(f"no skill named {name!r}", code="skill_not_found")
    detail: dict[str, Any] = skill.to_detail()
    return detail


@router.post(
    "/{name}",
    response_model=CallResultOut,
    responses={
        202: {
            "model": PendingCallOut | StartedCallOut,
            "description": "waits for a human's approval, or (`wait: false`) runs on",
        }
    },
)
async def run_skill(
    name: SkillName, svc: ServicesDep, who: CallsRun, body: RunRequest | None = None
) -> dict[str, Any] | JSONResponse:
    """Run a skill: body `{"input": {...}}`; the answer is the call's result, or 202
    `pending_approval` when a human must approve it first. With `"wait": false` an
    allowed call answers 202 `running` once dispatched (its result: `GET
    /api/v1/calls/{call_id}`, or its `call.finished` on `/ws/logs`)."""
    body = body or RunRequest()
    result = await svc.calls.run(who, name, body.input, wait=body.wait)
    if isinstance(result, PendingCall | StartedCall):
        return JSONResponse(result.to_dict(), status_code=202)
    return result.to_dict()
