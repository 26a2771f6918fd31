"""`GET /api/v1/calls` (one row per call) and `GET /api/v1/stats/calls` (hourly counts by
outcome and the top denial reasons), scope `audit:read`: the web UI's calls and overview
pages. Both are read from the audit events and bounded (`audit.overview`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel

from ..audit.overview import MAX_HOURS, CallFilter, CallRow, call_stats, list_calls
from .deps import AuditRead, ServicesDep
from .params import FilterText, Seq, utc
from .route import edge_router

router = edge_router("/api/v1", "calls")

Outcome = Literal[
    "succeeded",
    "failed",
    "killed",
    "error",
    "denied",
    "refused",
    "expired",
    "pending_approval",
    "running",
]


class CallRowOut(BaseModel):
    """One call: who ran which skill from where, how it ended and how long it took."""

    call_id: str
    started_at: datetime
    skill: str | None
    actor: str | None
    channel: str | None
    outcome: Outcome
    decision: str | None
    reason_codes: list[str]
    ended_at: datetime | None
    duration_ms: int | None
    kill_reason: str | None


class CallsPageOut(BaseModel):
    calls: list[CallRowOut]
    next_before: int | None
    """Pass as `before` for the next (older) page; null when there is none."""


class HourCounts(BaseModel):
    hour: str
    """The hour's start, `YYYY-MM-DDTHH:00:00Z`."""
    counts: dict[str, int]
    """Calls that ended in this hour, by outcome (absent outcomes are 0)."""


class ReasonCount(BaseModel):
    code: str
    count: int


class CallStatsOut(BaseModel):
    since: datetime
    until: datetime
    hours: list[HourCounts]
    denials: list[ReasonCount]


def _out(row: CallRow) -> CallRowOut:
    return CallRowOut.model_validate(row, from_attributes=True)


@router.get("/calls", response_model=CallsPageOut)
async def calls_page(
    svc: ServicesDep,
    _: AuditRead,
    skill: FilterText = None,
    actor: FilterText = None,
    outcome: Outcome | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Seq = None,
) -> CallsPageOut:
    """Calls newest first, one row each. With `outcome` a page looks at no more than 500
    calls, so it may come back short with a `next_before` to go on from."""
    f = CallFilter(
        skill=skill or None,
        actor=actor or None,
        outcome=outcome,
        since=utc(since, "since"),
        until=utc(until, "until"),
    )
    page = await list_calls(svc.audit, f, limit=limit, before=before)
    return CallsPageOut(calls=[_out(r) for r in page.calls], next_before=page.next_before)


@router.get("/stats/calls", response_model=CallStatsOut)
async def calls_stats(
    svc: ServicesDep, _: AuditRead, hours: Annotated[int, Query(ge=1, le=MAX_HOURS)] = 24
) -> CallStatsOut:
    """Calls ended per hour by outcome over the last `hours` (1..168), every hour
    listed, and the ten most frequent reason codes of denials in that window."""
    stats = await call_stats(svc.audit, hours)
    return CallStatsOut.model_validate(stats, from_attributes=True)
