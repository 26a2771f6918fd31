"""`/api/v1/approvals`: list, show, approve, deny."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ..approvals import Status
from ..approvals.service import MAX_COMMENT
from ..errors import InvalidInput
from .body import json_object
from .deps import ApprovalsDecide, ApprovalsRead, ServicesDep

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])


@router.get("")
async def list_approvals(
    svc: ServicesDep,
    _: ApprovalsRead,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Approvals, newest first; `status=pending` for those waiting for a human."""
    found = await svc.approvals.recent(status, limit)
    return {"approvals": [a.to_dict() for a in found]}


@router.get("/{approval_id}")
async def show_approval(approval_id: str, svc: ServicesDep, _: ApprovalsRead) -> dict[str, Any]:
    return (await svc.approvals.get(approval_id)).to_dict()


async def _comment(request: Request) -> str | None:
    comment = (await json_object(request, frozenset({"comment"}))).get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise InvalidInput(f"comment must be a string of at most {MAX_COMMENT}", field="comment")
    return comment


@router.post("/{approval_id}/approve")
async def approve(
    approval_id: str, request: Request, svc: ServicesDep, who: ApprovalsDecide
) -> dict[str, Any]:
    """Approve: the call is re-decided and, if nothing changed, runs in the background
    (follow it at `GET /api/v1/calls/{call_id}`)."""
    comment = await _comment(request)
    decided = await svc.approvals.decide(approval_id, who, approve=True, comment=comment)
    return decided.to_dict()


@router.post("/{approval_id}/deny")
async def deny(
    approval_id: str, request: Request, svc: ServicesDep, who: ApprovalsDecide
) -> dict[str, Any]:
    """Deny: the call never runs."""
    comment = await _comment(request)
    decided = await svc.approvals.decide(approval_id, who, approve=False, comment=comment)
    return decided.to_dict()
