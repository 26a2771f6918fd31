"""Who is chatting: the gateway asks the control plane (`GET /api/v1/me`) who the request's
credential stands for, and makes that person's skill calls with that same credential.

A credential is a bearer token (the gateway's own, or a user's API token), or a browser
session's cookie with its CSRF header (what the control plane's proxy forwards from the
web UI). The gateway keeps no password or session of its own: the control plane decides
every credential and every call. Answers are cached `ttl_s` seconds by a hash of the
credential (never the credential itself), so a chat turn costs no extra round trip.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from ..control_plane import ControlPlane
from ..errors import Unauthenticated

SESSION_COOKIE = "nexflow_session"
CSRF_HEADER = "x-csrf-token"
_MAX_CREDENTIAL = 4096


@dataclass(frozen=True)
class Caller:
    user_id: str
    credential: dict[str, str] | None
    """The headers this person's skill calls carry; None: the gateway's own token."""


class Callers:
    def __init__(self, control_plane: ControlPlane, own_token: str, *, ttl_s: float = 10.0):
        self._cp = control_plane
        self._own = own_token
        self._ttl = ttl_s
        self._cache: OrderedDict[bytes, tuple[float, str]] = OrderedDict()

    async def resolve(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Caller:
        """The caller of a request or socket with these headers; `Unauthenticated` if none."""
        credential = _credential(headers, cookies)
        if credential is None:
            raise Unauthenticated("a bearer token or a web session is required")
        own = f"Bearer {self._own}"
        given = credential.get("Authorization", "")
        mine = bool(self._own) and hmac.compare_digest(given.encode(), own.encode())
        user = await self._who(credential)
        return Caller(user, None if mine else credential)

    async def _who(self, credential: dict[str, str]) -> str:
        key = hashlib.sha256(
            (credential.get("Authorization") or credential.get("Cookie", "")).encode()
        ).digest()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        probe = {k: v for k, v in credential.items() if k != CSRF_HEADER}
        me = await self._cp.whoami(probe)
        if me is None:
            self._cache.pop(key, None)
            raise Unauthenticated("the control plane does not know this credential")
        self._cache[key] = (now, me.id)
        self._cache.move_to_end(key)
        while len(self._cache) > 1024:
            self._cache.popitem(last=False)
        return me.id


def _credential(headers: Mapping[str, str], cookies: Mapping[str, str]) -> dict[str, str] | None:
    """The request's credential headers; None when it has none fit to pass on (a
    credential is printable ASCII of bounded length, or it is nobody's)."""
    authorization = headers.get("authorization")
    if authorization:
        return {"Authorization": authorization} if _plain(authorization) else None
    session = cookies.get(SESSION_COOKIE)
    if session and _plain(session):
        found = {"Cookie": f"{SESSION_COOKIE}={session}"}
        csrf = headers.get(CSRF_HEADER)
        if csrf and _plain(csrf):
            found[CSRF_HEADER] = csrf
        return found
    return None


def _plain(value: str) -> bool:
    return len(value) <= _MAX_CREDENTIAL and value.isascii() and value.isprintable()
