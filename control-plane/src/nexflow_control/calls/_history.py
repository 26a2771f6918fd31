"""What the policy needs to know about earlier calls: rate counts and versions that ran.

`CallHistory` gives each decision two facts the policy cannot compute itself:

- ``rate(principal)``: how many calls the principal made in the last minute and hour
  (``input.context.rate``). Counted in memory, per second, for every call that reached a
  decision (denied and approval-needing calls count too: a principal cannot probe the
  policy faster than its limit). Restored from the audit log's ``call.decided`` events at
  start, so a restart does not reset anybody's budget.
- ``skill_runs(skill, digest)``: whether this exact version has run here before
  (``input.context.skill_runs``, 0 or 1). A version that ran is remembered in memory;
  one that has not is looked up in the audit log (``call.dispatched`` events carry the
  digest) on each call until it runs, so several control planes sharing one database
  agree, and a lost update can only ask for one approval too many, never one too few.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..audit import AuditLog
from ..audit.query import decisions_since, version_has_run

MINUTE = 60
HOUR = 3600


class _Window:
    """Calls of one principal in the last hour, as (second, count) buckets."""

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()

    def add(self, second: int) -> None:
        if self.buckets and self.buckets[-1][0] == second:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([second, 1])

    def counts(self, now: int) -> tuple[int, int]:
        while self.buckets and self.buckets[0][0] <= now - HOUR:
            self.buckets.popleft()
        hour = minute = 0
        for second, count in self.buckets:
            hour += count
            if second > now - MINUTE:
                minute += count
        return minute, hour


class CallHistory:
    """See the module docstring. ``clock`` returns Unix seconds (tests move it)."""

    def __init__(self, audit: AuditLog, clock: Callable[[], float] = time.time) -> None:
        self._audit = audit
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._ran: set[tuple[str, str]] = set()

    async def restore(self) -> int:
        """Load the last hour's decisions from the audit log; return how many."""
        since = datetime.fromtimestamp(self._clock(), UTC) - timedelta(seconds=HOUR)
        rows = await decisions_since(self._audit, since)
        for actor, ts in rows:
            self._window(actor).add(int(ts.timestamp()))
        return len(rows)

    def rate(self, principal: str) -> dict[str, int]:
        """``{"minute": n, "hour": n}``: the principal's calls before this one."""
        window = self._windows.get(principal)
        if window is None:
            return {"minute": 0, "hour": 0}
        minute, hour = window.counts(int(self._clock()))
        return {"minute": minute, "hour": hour}

    def record_decision(self, principal: str) -> None:
        """Count one decided call of ``principal`` now."""
        self._window(principal).add(int(self._clock()))

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

    def _window(self, principal: str) -> _Window:
        window = self._windows.get(principal)
        if window is None:
            window = self._windows[principal] = _Window()
        return window
