"""Bearer-token authentication: a token names a principal (user id, roles, channel).

Until accounts exist (a later issue brings users, scoped and hashed API tokens) there is
one principal, the built-in `admin`, whose token comes from `NEXFLOW_ADMIN_TOKEN` or is
generated once into `HOME/admin.token` with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import Unauthenticated


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    roles: tuple[str, ...]
    channel: str = "http"

    def to_policy(self) -> dict[str, object]:
        return {"id": self.id, "roles": list(self.roles), "channel": self.channel}


def load_or_create_admin_token(token_file: Path, configured: str | None) -> str:
    """The configured token, else the one in `token_file`, else a new one written there (0600)."""
    if configured:
        return configured
    try:
        token = token_file.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


class TokenAuthenticator:
    """Maps `Authorization: Bearer <token>` to a principal, comparing in constant time."""

    def __init__(self, tokens: dict[str, Principal]) -> None:
        # Keyed by a digest so lookups do not depend on the secret's bytes.
        self._by_digest = {_digest(t): p for t, p in tokens.items()}

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("missing bearer token (Authorization: Bearer <token>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("expected 'Authorization: Bearer <token>'")
        wanted = _digest(token.strip())
        for digest, principal in self._by_digest.items():
            if hmac.compare_digest(digest, wanted):
                return principal
        raise Unauthenticated("invalid bearer token")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
