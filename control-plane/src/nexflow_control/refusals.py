"""Refused access is audited too: `auth.failed` (no or a bad token, an ended session) and
`auth.scope_refused` (a valid token without the scope a route needs: say, an agent's
token trying to approve a call).

Anyone can send bad tokens, so these events are throttled per client address: at most
`per_minute` a minute; the next one recorded after a quiet spell says how many were
left out (`suppressed`). Recording never changes the answer: if the audit store cannot
take the event the refusal still stands, and only the application log says so.
Secrets never reach the event: an API token is named by its public id only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import structlog

from .accounts.tokens import PREFIX, parse_token_id
from .audit import AuditEvent, AuditLog
from .errors import AuditUnavailable, NexflowError
from .throttle import SlidingWindows

log = structlog.get_logger("nexflow.auth")

_MAX_CLIENTS = 10_000


class RefusalRecorder:
    def __init__(
        self,
        audit: AuditLog,
        *,
        per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._audit, self._per_minute = audit, per_minute
        self._recent = SlidingWindows(60.0, max_keys=_MAX_CLIENTS, clock=clock)
        self._suppressed: dict[str, int] = defaultdict(int)

    async def record(
        self,
        action: str,
        error: NexflowError,
        *,
        client: str,
        method: str,
        path: str,
        actor: str | None = None,
        authorization: str | None = None,
        **extra: Any,
    ) -> None:
        if not self._admit(client):
            return
        payload: dict[str, Any] = {"client": client, "method": method, "path": path[:256]}
        if authorization:
            token = authorization.partition(" ")[2].strip()
            token_id = parse_token_id(token)  # the public part only, when it is one of ours
            payload["presented"] = f"{PREFIX}{token_id}_" if token_id else "not an API token"
        if suppressed := self._suppressed.pop(client, 0):
            payload["suppressed"] = suppressed
        payload.update(extra)
        try:
            await self._audit.append(
                AuditEvent(
                    action=action,
                    actor=actor,
                    decision="deny",
                    reason_codes=[error.code],
                    payload=payload,
                )
            )
        except AuditUnavailable:
            log.warning("auth.refusal_not_audited", action=action, client=client)

    def _admit(self, client: str) -> bool:
        if self._recent.count(client) >= self._per_minute:
            if len(self._suppressed) > _MAX_CLIENTS:
                self._suppressed.clear()
            self._suppressed[client] += 1
            return False
        self._recent.add(client)
        return True
