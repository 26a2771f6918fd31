"""Approvals: calls that wait for a human, bound to exactly what was asked.

    models      the `approvals` table (own MetaData, in the shared `db.Database`)
    records     Approval, Status
    store       ApprovalStore: reads, and changes committed with their audit events
    service     ApprovalService: approve / deny (scope + policy), expiry, background runs

A call whose decision requires approval is stored `pending` (HTTP 202). Approving it
re-decides it with `context.approved = true` against the current catalog and policy and
runs it in the background only if the skill digest, the input hash and the grants are
what was approved; otherwise it is `invalidated` (`approval_stale`).
"""

from .records import SYSTEM, Approval, Status
from .store import ApprovalStore, new_approval_id, not_pending

__all__ = ["SYSTEM", "Approval", "ApprovalStore", "Status", "new_approval_id", "not_pending"]
