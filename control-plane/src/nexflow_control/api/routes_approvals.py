"""`/api/v1/approvals`: list, show, approve, deny."""

from __future__ import annotations

from typing import Any

from ..approvals import Status
from .deps import ApprovalsDecide, ApprovalsRead, ServicesDep
from .params import Limit, PathName
from .route import edge_router
from .schemas import ApprovalComment, ApprovalList, ApprovalOut

router = edge_router("/api/v1/approvals", "approvals")


@router.get("", response_model=ApprovalList)
async def list_approvals(
    svc: ServicesDep,
    _: ApprovalsRead,
    status: Status | None = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Approvals, newest first; `status=pending` for those waiting for a human."""
    found = await svc.approvals.recent(status, limit)
    return {"approvals": [a.to_dict() for a in found]}


@router.get("/{approval_id}", response_model=ApprovalOut)
async def show_approval(
    approval_id: PathName, svc: ServicesDep, _: ApprovalsRead
) -> dict[str, Any]:
    return (await svc.approvals.get(approval_id)).to_dict()


@router.post("/{approval_id}/approve", response_model=ApprovalOut)
async def approve(
    approval_id: PathName,
    svc: ServicesDep,
    who: ApprovalsDecide,
    body: ApprovalComment | None = None,
) -> dict[str, Any]:
    """Approve: the call is re-decided and, if nothing changed, runs in the background
    (follow it at `GET /api/v1/calls/{call_id}`)."""
    comment = body.comment if body is not None else None
    decided = await svc.approvals.decide(approval_id, who, approve=True, comment=comment)
    return decided.to_dict()


@router.post("/{approval_id}/deny", response_model=ApprovalOut)
async def deny(
    approval_id: PathName,
    svc: ServicesDep,
    who: ApprovalsDecide,
    body: ApprovalComment | None = None,
) -> dict[str, Any]:
    """Deny: the call never runs."""
    comment = body.comment if body is not None else None
    decided = await svc.approvals.decide(approval_id, who, approve=False, comment=comment)
    return decided.to_dict()
