"""The viewer's filters as query parameters, shared by the log list, export and live tail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from ..audit import AuditFilter
from .params import FilterText, utc


def audit_filter(
    actor: FilterText = None,
    skill: FilterText = None,
    action: FilterText = None,
    decision: FilterText = None,
    reason_code: FilterText = None,
    call_id: FilterText = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditFilter:
    """`action` is exact or a prefix ending in `*`; `since` inclusive, `until` exclusive
    (ISO 8601; without an offset, UTC); empty values are no filter (an HTML form sends
    every field)."""
    return AuditFilter(
        actor=actor or None,
        skill=skill or None,
        action=action or None,
        decision=decision or None,
        reason_code=reason_code or None,
        call_id=call_id or None,
        since=utc(since, "since"),
        until=utc(until, "until"),
    )


AuditFilterDep = Annotated[AuditFilter, Depends(audit_filter)]
