"""`/api/v1/audit` and `/api/v1/audit/verify`."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..audit import VerifyReport, query, verify, verify_with_checkpoints
from ..audit.chain import format_ts
from .audit_filters import AuditFilterDep
from .deps import AuditRead, ServicesDep
from .params import Limit, Seq
from .route import edge_router
from .schemas import AuditPage, VerifyOut

router = edge_router("/api/v1", "audit")


@router.get("/audit", response_model=AuditPage)
async def list_events(
    svc: ServicesDep,
    _: AuditRead,
    filters: AuditFilterDep,
    limit: Limit = 100,
    before: Seq = None,
) -> dict[str, Any]:
    """Events newest first; pass `before=<next_before>` for the next page."""
    page = await query(svc.audit, filters, limit=limit, before_seq=before)
    return {
        "events": [r.to_dict() for r in page.records],
        "next_before": page.next_before_seq,
    }


@router.get("/audit/verify", response_model=VerifyOut)
async def verify_chain(svc: ServicesDep, _: AuditRead, fresh: bool = False) -> dict[str, Any]:
    """Walk the hash chain and hold it against the signed checkpoints; name the first
    broken sequence number (or the missing tail), if any. The report of the last walk is
    reused for a minute (`verified_at` says when it ran); `fresh=true` walks again."""
    cp = svc.checkpointer

    async def walk() -> VerifyReport:
        if cp is None:
            plain = await verify(svc.audit)
            return dataclasses.replace(plain, warnings=("checkpoints are disabled",))
        return await verify_with_checkpoints(svc.audit, cp.file, cp.public_key)

    report, verified_at = await svc.chain_status.report(walk, fresh=fresh)
    return {**report.to_dict(), "verified_at": format_ts(verified_at)}
