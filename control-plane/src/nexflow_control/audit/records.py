"""What goes into the audit log (`AuditEvent`) and what comes out (`AuditRecord`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .chain import format_ts


class Decision(StrEnum):
    """The outcome a `call.decided` / `call.refused` event records."""

    ALLOW = "allow"
    DENY = "deny"
    APPROVAL_REQUIRED = "approval_required"
    ERROR = "error"


class Action(StrEnum):
    """The well-known event kinds; other dotted lowercase names are accepted too."""

    CALL_REQUESTED = "call.requested"
    CALL_DECIDED = "call.decided"
    CALL_REFUSED = "call.refused"
    CALL_DISPATCHED = "call.dispatched"
    CALL_FINISHED = "call.finished"
    CALL_FAILED = "call.failed"
    AUTH_FAILED = "auth.failed"
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGIN_RATE_LIMITED = "auth.login_rate_limited"
    LOGOUT = "auth.logout"
    PASSWORD_SET = "accounts.password_set"  # noqa: S105 (an event name, not a secret)
    POLICY_LOADED = "policy.loaded"
    POLICY_RELOADED = "policy.reloaded"
    POLICY_RELOAD_FAILED = "policy.reload_failed"
    USER_CREATED = "accounts.user_created"
    USER_UPDATED = "accounts.user_updated"
    TOKEN_CREATED = "accounts.token_created"  # noqa: S105 (an event name, not a secret)
    TOKEN_REVOKED = "accounts.token_revoked"  # noqa: S105
    IDENTITY_LINKED = "accounts.identity_linked"
    IDENTITY_UNLINKED = "accounts.identity_unlinked"


_ACTION_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
MAX_ACTION_LEN = 64
MAX_ID_LEN = 255
MAX_REASON_CODES = 64
MAX_REASON_CODE_LEN = 128


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing that happened, as the caller describes it; `AuditLog.append` stores it.

    `payload` may hold anything: it is redacted and capped before it is stored.
    `action` must be a dotted lowercase name and `decision` one of `Decision`; anything
    else is a programming error and raises `ValueError` here, before any I/O.
    """

    action: str
    call_id: str | None = None
    actor: str | None = None
    skill: str | None = None
    decision: str | None = None
    reason_codes: list[str] = field(default_factory=list)
    policy_revision: str | None = None
    payload: Any = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.action) > MAX_ACTION_LEN or not _ACTION_RE.fullmatch(self.action):
            raise ValueError(f"bad audit action {self.action[:80]!r}")
        if self.decision is not None:
            object.__setattr__(self, "decision", Decision(self.decision).value)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored, chained audit event."""

    seq: int
    ts: datetime
    action: str
    call_id: str | None
    actor: str | None
    skill: str | None
    decision: str | None
    reason_codes: list[str]
    policy_revision: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (HTTP API, export); drop `hash` and it is exactly what is hashed."""
        return {
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "action": self.action,
            "call_id": self.call_id,
            "actor": self.actor,
            "skill": self.skill,
            "decision": self.decision,
            "reason_codes": list(self.reason_codes),
            "policy_revision": self.policy_revision,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def to_row(self) -> dict[str, Any]:
        """The column values for an INSERT."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "action": self.action,
            "call_id": self.call_id,
            "actor": self.actor,
            "skill": self.skill,
            "decision": self.decision,
            "reason_codes": self.reason_codes,
            "policy_revision": self.policy_revision,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
