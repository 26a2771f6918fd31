"""The viewer's filters as query parameters, shared by the log list, export and live tail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from ..audit import AuditFilter


def audit_filter(
    actor: str | None = None,
    skill: str | None = None,
    action: str | None = None,
    decision: str | None = None,
    reason_code: str | None = None,
    call_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditFilter:
    """`action` is exact or a prefix ending in `*`; `since` inclusive, `until` exclusive;
    empty values are no filter (an HTML form sends every field)."""
    return AuditFilter(
        actor=actor or None,
        skill=skill or None,
        action=action or None,
        decision=decision or None,
        reason_code=reason_code or None,
        call_id=call_id or None,
        since=since,
        until=until,
    )


AuditFilterDep = Annotated[AuditFilter, Depends(audit_filter)]
