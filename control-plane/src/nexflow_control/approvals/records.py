"""An approval as the code sees it, and its states."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..audit import redact
from ..auth import Principal


class Status(StrEnum):
    PENDING = "pending"  # waiting for a human, until expires_at
    GRANTED = "granted"  # approved; the call is about to be re-decided and run
    RAN = "ran"  # re-decided with the same binding and dispatched
    DENIED = "denied"  # a human said no
    EXPIRED = "expired"  # nobody decided before expires_at
    INVALIDATED = "invalidated"  # approved, but the skill, input or grants changed since
    INTERRUPTED = "interrupted"  # approved, but the control plane stopped before running it


SYSTEM = "system"
"""The actor of transitions nobody made by hand (expiry, invalidation, restart)."""


@dataclass(frozen=True, slots=True)
class Approval:
    id: str
    call_id: str
    status: Status
    principal: dict[str, Any]
    skill: str
    skill_digest: str
    input_sha256: str
    input: str
    grants: dict[str, Any]
    policy_revision: str
    reasons: list[dict[str, str]]
    context: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    comment: str | None

    @property
    def reason_codes(self) -> list[str]:
        return [r["code"] for r in self.reasons]

    def requester(self) -> Principal:
        """The principal the call runs as (the one who asked for it)."""
        p = self.principal
        return Principal(
            str(p["id"]),
            tuple(p.get("roles", ())),
            channel=str(p.get("channel", "http")),
            user_id=p.get("user_id"),
            token_id=p.get("token_id"),
            identity=p.get("identity"),
            deliver_to=p.get("deliver_to"),
        )

    def binding(self) -> dict[str, Any]:
        """What the approval is for; it is void when any of it changes."""
        return {
            "principal": self.principal["id"],
            "skill": self.skill,
            "skill_digest": self.skill_digest,
            "input_sha256": self.input_sha256,
            "grants": self.grants,
            "policy_revision": self.policy_revision,
        }

    def to_dict(self) -> dict[str, Any]:
        """The HTTP view; the input is redacted as the audit log would store it."""
        return {
            "id": self.id,
            "call_id": self.call_id,
            "status": str(self.status),
            "principal": self.principal["id"],
            "skill": self.skill,
            "skill_digest": self.skill_digest,
            "input_sha256": self.input_sha256,
            "input": redact(json.loads(self.input)),
            "grants": self.grants,
            "policy_revision": self.policy_revision,
            "reasons": self.reasons,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
            "comment": self.comment,
        }


def from_row(row: Any) -> Approval:
    m = row._mapping
    return Approval(**{**dict(m), "status": Status(m["status"])})
