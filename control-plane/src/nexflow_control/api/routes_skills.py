"""`/api/v1/skills`: list, show, run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..calls import PendingCall
from ..errors import NotFound
from .body import json_object
from .deps import CallsRun, ServicesDep, SkillsRead

router = APIRouter(prefix="/api/v1/skills", tags=["skills"])


@router.get("")
async def list_skills(svc: ServicesDep, _: SkillsRead) -> dict[str, Any]:
    """Installed skills, and the skill folders that failed to load (with why)."""
    return {
        "skills": [s.to_summary() for s in svc.catalog.list()],
        "problems": [d.to_dict() for d in svc.catalog.diagnostics],
    }


@router.get("/{name}")
async def show_skill(name: str, svc: ServicesDep, _: SkillsRead) -> dict[str, Any]:
    skill = svc.catalog.get(name)
    if skill is None:
        raise NotFound(f"no skill named {name!r}", code="skill_not_found")
    detail: dict[str, Any] = skill.to_detail()
    return detail


@router.post("/{name}", response_model=None)
async def run_skill(
    name: str, request: Request, svc: ServicesDep, who: CallsRun
) -> dict[str, Any] | JSONResponse:
    """Run a skill: body `{"input": {...}}`; the answer is the call's result, or 202
    `pending_approval` when a human must approve it first."""
    body = await json_object(request, frozenset({"input"}))
    result = await svc.calls.run(who, name, body.get("input", {}))
    if isinstance(result, PendingCall):
        return JSONResponse(result.to_dict(), status_code=202)
    return result.to_dict()
