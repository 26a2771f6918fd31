"""What the policy needs to know about earlier calls: rate counts and versions that ran.

`CallHistory` gives each decision two facts the policy cannot compute itself:

- ``count_decision(principal)``: how many calls the principal made in the last minute
  and hour (``input.context.rate``), counting this one in for the next. Every call that
  reaches a decision counts (denied and approval-needing calls too: a principal cannot
  probe the policy faster than its limit). The counts live in the database
  (`throttle.SharedCounts`, kind ``rate``), so every control plane on it counts one
  budget together and a restart keeps it; concurrent calls, in any process, see each
  other.
- ``skill_runs(skill, digest)``: whether this exact version has run here before
  (``input.context.skill_runs``, 0 or 1). A version that ran is remembered in memory;
  one that has not is looked up in the audit log (``call.dispatched`` events carry the
  digest) on each call until it runs, so several control planes sharing one database
  agree, and a lost update can only ask for one approval too many, never one too few.
"""

from __future__ import annotations

from ..audit import AuditLog
from ..audit.query import version_has_run
from ..throttle import SharedCounts

MINUTE = 60
HOUR = 3600
RATE = "rate"


class CallHistory:
    """See the module docstring."""

    def __init__(self, audit: AuditLog, counts: SharedCounts) -> None:
        self._audit = audit
        self._counts = counts
        self._ran: set[tuple[str, str]] = set()

    async def count_decision(self, principal: str) -> dict[str, int]:
        """``{"minute": n, "hour": n}``: the principal's calls before this one, which is
        counted in one atomic step with the reading; `AuditUnavailable` if the database
        cannot count it (the call is refused, as it is when the audit store is down)."""
        seen = await self._counts.take(RATE, principal, (MINUTE, HOUR))
        minute, hour = seen.counts
        return {"minute": minute, "hour": hour}

    async def skill_runs(self, skill: str, digest: str) -> int:
        """1 when this version ran before (here or in the shared audit log), else 0."""
        key = (skill, digest)
        if key in self._ran:
            return 1
        if await version_has_run(self._audit, skill, digest):
            self._ran.add(key)
            return 1
        return 0

    def record_run(self, skill: str, digest: str) -> None:
        """Remember that this version was dispatched."""
        self._ran.add((skill, digest))
