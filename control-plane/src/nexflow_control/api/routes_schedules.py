"""`/api/v1/schedules` (scope `calls:run`): calls that run later, as their owner.

    POST   /api/v1/schedules                 {skill, input, cron | at, timezone, destination} -> 201
    GET    /api/v1/schedules                 the caller's (every one with `accounts:admin`)
    GET    /api/v1/schedules/{id}
    POST   /api/v1/schedules/{id}/pause      409 schedule_not_active
    POST   /api/v1/schedules/{id}/resume     409 schedule_not_paused / schedule_expired
    DELETE /api/v1/schedules/{id}            204

Bad timing is 422 (`invalid_cron`, `invalid_timezone`, `schedule_never_fires`,
`schedule_too_frequent`, `schedule_in_past`, `invalid_schedule`), a bad destination 422
`invalid_destination`, input that does not fit the skill 422 as for a call, an unknown
skill 404 `skill_not_found`, someone else's schedule 404 `schedule_not_found`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ..errors import Unavailable
from ..schedules import ScheduleService
from .deps import CallsRun, Services, ServicesDep
from .params import PathName
from .route import edge_router

router = edge_router("/api/v1", "schedules")


class NewSchedule(BaseModel):
    """Exactly one of `cron` (five fields) and `at` (ISO 8601; without an offset it is
    read in `timezone`)."""

    model_config = ConfigDict(extra="forbid")

    skill: StrictStr = Field(max_length=64)
    input: dict[str, Any] = Field(default_factory=dict)
    cron: StrictStr | None = Field(default=None, max_length=128)
    at: datetime | None = None
    timezone: StrictStr = Field(default="UTC", max_length=64)
    destination: StrictStr = Field(default="web", max_length=160)


class ScheduleOut(BaseModel):
    id: str
    owner: str
    skill: str
    input: dict[str, Any]
    cron: str | None
    at: str | None
    timezone: str
    destination: str
    status: str
    next_run: str | None
    created_at: str
    updated_at: str
    last_due: str | None
    last_call_id: str | None
    last_outcome: str | None


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


def _service(svc: Services) -> ScheduleService:
    if svc.schedules is None:
        raise Unavailable("this control plane runs no schedules", code="schedules_unavailable")
    return svc.schedules


@router.post("/schedules", status_code=201, response_model=ScheduleOut)
async def create_schedule(body: NewSchedule, svc: ServicesDep, who: CallsRun) -> dict[str, Any]:
    """Schedule a call of `skill` with `input`, run as the caller."""
    schedule = await _service(svc).create(
        who,
        body.skill,
        body.input,
        cron=body.cron,
        at=body.at,
        timezone=body.timezone,
        destination=body.destination,
    )
    return schedule.to_dict()


@router.get("/schedules", response_model=ScheduleList)
async def list_schedules(svc: ServicesDep, who: CallsRun) -> dict[str, Any]:
    return {"schedules": [s.to_dict() for s in await _service(svc).visible(who)]}


@router.get("/schedules/{schedule_id}", response_model=ScheduleOut)
async def show_schedule(schedule_id: PathName, svc: ServicesDep, who: CallsRun) -> dict[str, Any]:
    return (await _service(svc).get(who, schedule_id)).to_dict()


@router.post("/schedules/{schedule_id}/pause", response_model=ScheduleOut)
async def pause_schedule(schedule_id: PathName, svc: ServicesDep, who: CallsRun) -> dict[str, Any]:
    return (await _service(svc).pause(who, schedule_id)).to_dict()


@router.post("/schedules/{schedule_id}/resume", response_model=ScheduleOut)
async def resume_schedule(schedule_id: PathName, svc: ServicesDep, who: CallsRun) -> dict[str, Any]:
    """Active again from now; runs due while paused are not made up."""
    return (await _service(svc).resume(who, schedule_id)).to_dict()


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: PathName, svc: ServicesDep, who: CallsRun) -> Response:
    await _service(svc).delete(who, schedule_id)
    return Response(status_code=204)
