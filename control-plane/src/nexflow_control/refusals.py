"""Refused access is audited too: `auth.failed` (no or a bad token, an ended session) and
`auth.scope_refused` (a valid token without the scope a route needs: say, an agent's
token trying to approve a call).

Anyone can send bad tokens, so these events are throttled per client address: at most
`per_minute` a minute, counted in the database (`throttle.SharedCounts`, kind
``refused``) so that several control planes together record no more; the next one a
control plane records after a quiet spell says how many *it* left out (`suppressed`,
counted in its memory: a refusal left out costs no write). Recording never changes the
answer: if the audit store cannot take the event the refusal still stands, and only the
application log says so.
Secrets never reach the event: an API token is named by its public id only.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import structlog

from .accounts.tokens import PREFIX, parse_token_id
from .audit import AuditEvent, AuditLog
from .errors import AuditUnavailable, NexflowError
from .throttle import SharedCounts

log = structlog.get_logger("nexflow.auth")

_MAX_CLIENTS = 10_000
REFUSED = "refused"


class RefusalRecorder:
    def __init__(
        self,
        audit: AuditLog,
        counts: SharedCounts,
        *,
        per_minute: int = 20,
    ) -> None:
        self._audit, self._counts, self._per_minute = audit, counts, per_minute
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
        if not await self._admit(action, client):
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

    async def _admit(self, action: str, client: str) -> bool:
        try:
            seen = await self._counts.take(REFUSED, client, (60.0,), limit=self._per_minute)
        except AuditUnavailable:
            log.warning("auth.refusal_not_audited", action=action, client=client)
            return False
        if not seen.taken:
            if len(self._suppressed) > _MAX_CLIENTS:
                self._suppressed.clear()
            self._suppressed[client] += 1
        return seen.taken
