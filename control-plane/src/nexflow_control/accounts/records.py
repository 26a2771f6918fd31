"""Users, API tokens and identity links as the store hands them out (never a secret)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..audit.chain import format_ts
from .tokens import public_prefix


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: a principal id, and the token it used (None: bootstrap admin)."""

    id: str
    token_id: str | None = None

    def audit_fields(self) -> dict[str, str]:
        """What the audit payload says about the actor beyond its id."""
        return {"via": self.token_id or "bootstrap"}


@dataclass(frozen=True, slots=True)
class Identity:
    """An outside identity (`telegram:123`) that stands for a user."""

    provider: str
    subject: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "subject": self.subject,
            "identity": f"{self.provider}:{self.subject}",
            "linked_at": _ts(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: datetime
    updated_at: datetime
    identities: tuple[Identity, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "disabled": self.disabled,
            "created_at": _ts(self.created_at),
            "updated_at": _ts(self.updated_at),
            "identities": [i.to_dict() for i in self.identities],
        }


@dataclass(frozen=True, slots=True)
class Token:
    """An API token's public facts: no secret, no hash."""

    id: str
    user_id: str
    user: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def prefix(self) -> str:
        return public_prefix(self.id)

    def status(self, now: datetime) -> str:
        """active | expired | revoked (revoked wins)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "user": self.user,
            "name": self.name,
            "scopes": list(self.scopes),
            "status": self.status(now),
            "created_at": _ts(self.created_at),
            "expires_at": _ts(self.expires_at),
            "revoked_at": _ts(self.revoked_at),
            "last_used_at": _ts(self.last_used_at),
        }


@dataclass(frozen=True, slots=True)
class Credential:
    """What a valid API token stands for: its user and the token itself."""

    user: User
    token: Token
