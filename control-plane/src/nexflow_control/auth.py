"""Bearer-token authentication: a token names a principal (user id, roles, scopes, channel).

Two kinds of token are accepted:

* the bootstrap admin's (`NEXFLOW_ADMIN_TOKEN`, or generated once into
  `HOME/admin.token` with mode 0600): principal `admin`, role `admin`, every scope. It
  is how the first users are created;
* API tokens of users (`nxf_<id>_<secret>`, see `accounts`): principal = the user's
  name, the user's roles, the token's scopes.

Routes then ask `require_scope(principal, scope)` before doing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .accounts import TOKEN_PREFIX, AccountStore
from .errors import InsufficientScope, Unauthenticated


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. `user_id`/`token_id` are None for the bootstrap admin."""

    id: str
    roles: tuple[str, ...]
    channel: str = "http"
    scopes: frozenset[str] = frozenset()
    user_id: str | None = None
    token_id: str | None = None

    def to_policy(self) -> dict[str, object]:
        """What policy sees; exactly this shape (the policy validates it)."""
        return {"id": self.id, "roles": list(self.roles), "channel": self.channel}


def require_scope(principal: Principal, scope: str) -> Principal:
    """`principal`, if its token has `scope`; else 403 `insufficient_scope`."""
    if scope not in principal.scopes:
        raise InsufficientScope(scope)
    return principal


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
    """Maps `Authorization: Bearer <token>` to a principal, comparing in constant time.

    Fixed tokens (the bootstrap admin's) are checked first, in memory; then API tokens
    against `accounts`, when given.
    """

    def __init__(self, tokens: dict[str, Principal], accounts: AccountStore | None = None) -> None:
        # Keyed by a digest so lookups do not depend on the secret's bytes.
        self._by_digest = {_digest(t): p for t, p in tokens.items()}
        self._accounts = accounts

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("missing bearer token (Authorization: Bearer <token>)")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("expected 'Authorization: Bearer <token>'")
        wanted = _digest(token)
        for digest, principal in self._by_digest.items():
            if hmac.compare_digest(digest, wanted):
                return principal
        if self._accounts is not None and token.startswith(TOKEN_PREFIX):
            found = await self._accounts.authenticate(token)
            return Principal(
                found.user.name,
                found.user.roles,
                scopes=frozenset(found.token.scopes),
                user_id=found.user.id,
                token_id=found.token.id,
            )
        raise Unauthenticated("invalid bearer token")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
