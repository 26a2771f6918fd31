"""The gateway's only path to the control plane: its HTTP API, with a bearer token.

`skills()` reads the executable skills and their input schemas; `run()` asks for one
call and says how it ended: a result, a pending approval (202), or a refusal with the
control plane's stable error code. `acting_for(identity, channel)` is the same client
acting for a chat user (`X-Nexflow-On-Behalf-Of`, `X-Nexflow-Channel`; the token needs
`calls:run_as`). Nothing here can approve: the gateway has no route for it and its token
cannot hold `approvals:decide` (see `relay` for the one path a human's press takes).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ControlPlaneRefused, ControlPlaneUnavailable

ON_BEHALF_OF = "X-Nexflow-On-Behalf-Of"
CHANNEL = "X-Nexflow-Channel"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Reason(_Answer):
    code: str = Field(max_length=200)
    message: str = Field(max_length=2000)


class SkillInfo(_Answer):
    name: str
    description: str = ""
    executable: bool = False
    input_schema: dict[str, Any] | None = None


class Me(_Answer):
    """Who a credential stands for (`GET /api/v1/me`)."""

    id: str = Field(max_length=255)
    scopes: list[str] = Field(default_factory=list)
    channel: str = "http"


class CallOutcome(_Answer):
    """How one requested call ended, as far as the gateway knows."""

    kind: Literal["result", "pending", "refused"]
    skill: str
    status: str
    call_id: str | None = None
    output: Any = None
    error: str | None = None
    message: str | None = None
    approval_id: str | None = None
    reasons: list[Reason] = Field(default_factory=list)
    expires_at: str | None = None


class ControlPlane:
    """An async client of the control plane's skills API, caching the skill catalogue."""

    def __init__(self, base_url: str, token: str | None, *, cache_s: float = 10.0) -> None:
        # Per request, not on the client: a call made as a browser user must not also
        # carry the gateway's own token (the control plane would take that one).
        self._own: dict[str, str] = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self._cache_s = cache_s
        self._cache = _SkillCache()
        self._headers: dict[str, str] = {}
        self.identity: str | None = None
        """The chat identity this client acts for (`acting_for`); None: the token's own."""

    async def aclose(self) -> None:
        await self._http.aclose()

    def acting_for(self, identity: str, channel: str) -> ControlPlane:
        """This client (same connections, same skill cache) acting for a chat user."""
        view = copy.copy(self)
        view._headers = {ON_BEHALF_OF: identity, CHANNEL: channel}
        view.identity = identity
        return view

    def with_credential(self, credential: Mapping[str, str] | None) -> ControlPlane:
        """This client making its requests with `credential` alone (a web chat user's token
        or session), not the gateway's; None: this client as it is (the gateway's token)."""
        if credential is None:
            return self
        view = copy.copy(self)
        view._own, view._headers = {}, dict(credential)
        view.identity = None
        return view

    def _as_self(self) -> dict[str, str]:
        """The gateway's own token, with the run-as headers when acting for a chat user."""
        return {**self._own, **self._headers}

    async def skills(self) -> list[SkillInfo]:
        """The executable skills with their input schemas (cached `cache_s` seconds)."""
        async with self._cache.lock:
            now = time.monotonic()
            if self._cache.at is not None and now - self._cache.at < self._cache_s:
                return self._cache.skills
            found = await self._load_skills()
            self._cache.at, self._cache.skills = now, found
            return found

    async def _load_skills(self) -> list[SkillInfo]:
        """One request: the listing with each skill's input schema (`?schemas=1`)."""
        listing = await self._get("/api/v1/skills?schemas=1")
        try:
            found = [SkillInfo.model_validate(s) for s in listing.get("skills", [])]
        except ValidationError as exc:
            raise ControlPlaneUnavailable("the control plane's skill list is malformed") from exc
        return [s for s in found if s.executable]

    async def whoami(self, credential: Mapping[str, str]) -> Me | None:
        """Who `credential` (a bearer token, or a browser session's cookie) stands for;
        None when the control plane refuses it."""
        try:
            reply = await self._http.get("/api/v1/me", headers=dict(credential), timeout=10)
        except httpx.HTTPError as exc:
            raise ControlPlaneUnavailable(
                f"control plane unreachable: {type(exc).__name__}"
            ) from exc
        if reply.status_code in (401, 403):
            return None
        if reply.status_code != 200:
            raise ControlPlaneUnavailable(f"control plane answered {reply.status_code} on /me")
        try:
            return Me.model_validate_json(reply.content)
        except ValidationError as exc:
            raise ControlPlaneUnavailable("the control plane's /me is malformed") from exc

    async def _get(self, path: str) -> dict[str, Any]:
        try:
            return await self.request("GET", path)
        except ControlPlaneRefused as exc:  # the skill list is needed: no list, no turn
            raise ControlPlaneUnavailable(
                f"control plane answered {exc.status} ({exc.code}) on {path}"
            ) from exc

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One request as this client; its JSON object answer (2xx), else
        `ControlPlaneRefused` with the control plane's code, or `ControlPlaneUnavailable`."""
        try:
            reply = await self._http.request(
                method, path, json=body, headers=self._as_self(), timeout=30
            )
        except httpx.HTTPError as exc:
            raise ControlPlaneUnavailable(
                f"control plane unreachable: {type(exc).__name__}"
            ) from exc
        try:
            answer = reply.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ControlPlaneUnavailable(f"control plane answered a non-object on {path}")
        if not reply.is_success:
            raise ControlPlaneRefused(
                str(answer.get("error", "control_plane_error"))[:100],
                str(answer.get("message", f"HTTP {reply.status_code}"))[:2000],
                reply.status_code,
            )
        return answer

    async def run(
        self,
        skill: str,
        arguments: dict[str, Any],
        within_s: float,
        as_user: Mapping[str, str] | None = None,
    ) -> CallOutcome:
        """Ask the control plane to run `skill` with the `as_user` credential headers (the
        gateway's own token without them); never raises for a refused call."""
        try:
            reply = await self._http.post(
                f"/api/v1/skills/{quote(skill, safe='')}",
                json={"input": arguments},
                headers=dict(as_user) if as_user is not None else self._as_self(),
                timeout=within_s,
            )
        except httpx.TimeoutException:
            return _refused(skill, "control_plane_timeout", "the call took longer than the turn")
        except httpx.HTTPError as exc:
            return _refused(skill, "control_plane_unavailable", type(exc).__name__)
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _refused(skill, "control_plane_error", f"HTTP {reply.status_code}")
        try:
            if reply.status_code == 200:
                return CallOutcome(kind="result", skill=skill, **_pick(body, _RESULT))
            if reply.status_code == 202 and body.get("status") == "pending_approval":
                return CallOutcome(kind="pending", skill=skill, **_pick(body, _PENDING))
        except ValidationError:
            return _refused(skill, "control_plane_error", "malformed answer")
        return _refused(
            skill,
            str(body.get("error", "control_plane_error"))[:100],
            str(body.get("message", f"HTTP {reply.status_code}"))[:2000],
            call_id=body.get("call_id") if isinstance(body.get("call_id"), str) else None,
        )


class _SkillCache:
    """The skill list and when it was read, shared by a client and its `acting_for` views."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.at: float | None = None
        self.skills: list[SkillInfo] = []


_RESULT = ("status", "call_id", "output", "error", "message")
_PENDING = ("status", "call_id", "approval_id", "reasons", "expires_at")


def _pick(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: body[k] for k in keys if k in body}


def _refused(skill: str, error: str, message: str, call_id: str | None = None) -> CallOutcome:
    return CallOutcome(
        kind="refused", skill=skill, status="refused", error=error, message=message, call_id=call_id
    )
