"""Bearer-token authentication: a token names a principal (user id, roles, scopes, channel).

Two kinds of token are accepted:

* the bootstrap admin's (`NEXFLOW_ADMIN_TOKEN`, or generated once into
  `HOME/admin.token` with mode 0600): principal `admin`, role `admin`, every scope. It
  is how the first users are created;
* API tokens of users (`nxf_<id>_<secret>`, see `accounts`): principal = the user's
  name, the user's roles, the token's scopes.

A browser session (`web`) authenticates with a cookie instead: see `session_principal`.

Routes then ask `require_scope(principal, scope)` before doing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .accounts import DEFAULT_SCOPES, TOKEN_PREFIX, AccountStore, Scope
from .accounts.sessions import SessionStore
from .errors import CsrfFailed, InsufficientScope, Unauthenticated


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. `user_id`/`token_id` are None for the bootstrap admin."""

    id: str
    roles: tuple[str, ...]
    channel: str = "http"
    scopes: frozenset[str] = frozenset()
    user_id: str | None = None
    token_id: str | None = None
    session_id: str | None = None
    """Set (a short prefix of the session's id) when a browser session authenticated."""
    identity: str | None = None
    """The chat identity (`telegram:123`) a gateway acts for (`calls:run_as`); `token_id`
    is then the gateway's token and `channel` the chat (`telegram:<chat_id>`)."""
    deliver_to: str | None = None
    """The chat (`telegram:<chat>`, `discord:<user>`) this principal's calls owe their
    results to (`chat.outbox`): a schedule's destination, or the chat a call that waited
    for approval came from (`waiting_chat`)."""

    @property
    def via(self) -> str | None:
        """What authenticated the call, for audit payloads: a token id, `session:<id>`,
        or None for the bootstrap admin."""
        if self.session_id is not None:
            return f"session:{self.session_id}"
        return self.token_id

    def chat_fields(self) -> dict[str, str]:
        """For audit payloads of a call a gateway makes for a chat user: the chat, the
        chat identity, and the gateway's token (the acting credential); else nothing."""
        if self.identity is None:
            return {}
        return {"channel": self.channel, "identity": self.identity, "via": self.via or ""}

    def waiting_chat(self) -> str | None:
        """Where a call of this principal that waits for approval owes its result: its
        `deliver_to`, or the chat a gateway asked from (the gateway is not waiting)."""
        if self.deliver_to is not None:
            return self.deliver_to
        return self.channel if self.identity is not None and ":" in self.channel else None

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


SESSION_COOKIE = "nexflow_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def web_scopes(roles: tuple[str, ...]) -> frozenset[str]:
    """What a person logged in to the web UI may do: what a default token may, plus
    deciding approvals (policy still says whose: see `policy._approver`), plus account
    administration, cancelling anyone's call and managing secrets (never reading a
    value) for admins."""
    scopes = {*DEFAULT_SCOPES, Scope.APPROVALS_DECIDE}
    if "admin" in roles:
        scopes.update((Scope.ACCOUNTS_ADMIN, Scope.CALLS_CANCEL, Scope.SECRETS_ADMIN))
    return frozenset(scopes)


async def session_principal(
    sessions: SessionStore, secret: str, *, method: str, headers: Mapping[str, str]
) -> Principal:
    """The principal of a browser session; unsafe methods must echo the session's CSRF
    token and, when the browser names an origin, come from this host (403 `csrf_failed`).
    `headers` are the request's (`X-CSRF-Token`, `Origin`, `Host`)."""
    csrf, origin, host = headers.get(CSRF_HEADER), headers.get("origin"), headers.get("host")
    session = await sessions.session(secret)
    if method.upper() not in _SAFE_METHODS:
        if not csrf or not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
            raise CsrfFailed("missing or wrong CSRF token (X-CSRF-Token)")
        if origin is not None and not same_origin(origin, host):
            raise CsrfFailed(f"cross-origin request from {origin[:100]!r} refused")
    user = session.user
    return Principal(
        user.name,
        user.roles,
        channel="web",
        scopes=web_scopes(user.roles),
        user_id=user.id,
        session_id=session.id[:12],
    )


def same_origin(origin: str, host: str | None) -> bool:
    """Is `origin` (`scheme://host[:port]`) the host the request was sent to?"""
    _, _, rest = origin.partition("://")
    return bool(host) and rest.lower() == (host or "").lower()
