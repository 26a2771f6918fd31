"""`/auth/login`, `/auth/logout`, `/auth/session`, `/auth/password`: the browser's way
in and out, and changing one's own password.

Login takes JSON only (`{"name", "password"}`): a cross-site HTML form cannot send
that content type without a CORS preflight, which this server never grants, so no
other site can log a visitor in to an account of its choosing. The session cookie is
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it) and
Secure in production; its CSRF token comes back in the JSON and is echoed by the UI in
`X-CSRF-Token` on every unsafe request.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from ..accounts import Actor
from ..accounts.sessions import WebSession
from ..api.deps import Services, ServicesDep
from ..api.route import edge_router
from ..api.schemas_accounts import Login, PasswordChange, SessionOut
from ..audit.chain import format_ts
from ..auth import SESSION_COOKIE, Principal, same_origin, session_principal, web_scopes
from ..errors import CsrfFailed, InvalidInput, Unauthenticated

router = edge_router("/auth", "web")


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _session_body(session: WebSession) -> dict[str, Any]:
    user = session.user
    return {
        "user": user.name,
        "roles": list(user.roles),
        "scopes": sorted(web_scopes(user.roles)),
        "csrf_token": session.csrf,
        "expires_at": format_ts(session.expires_at),
    }


def _secure(svc: Services) -> bool:
    web = svc.settings.web
    return (
        web.secure_cookies if web.secure_cookies is not None else svc.settings.env == "production"
    )


@router.post("/login", response_model=SessionOut)
async def login(
    body: Login, request: Request, response: Response, svc: ServicesDep
) -> dict[str, Any]:
    """Log in with name and password; 401 `login_failed`, 429 `login_rate_limited`."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise InvalidInput("send the login as application/json", code="unsupported_media_type")
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, request.headers.get("host")):
        raise CsrfFailed(f"cross-origin login from {origin[:100]!r} refused")
    name, password = body.name, body.password
    client = client_of(request)
    await svc.logins.check(name, client)
    try:
        secret, session = await svc.sessions.login(name, password, client=client)
    except Unauthenticated:
        await svc.logins.failed(name, client)
        raise
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(svc.settings.web.session_lifetime_s),
        httponly=True,
        samesite="strict",
        secure=_secure(svc),
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return _session_body(session)


@router.get("/session", response_model=SessionOut)
async def current_session(request: Request, response: Response, svc: ServicesDep) -> dict[str, Any]:
    """Who is logged in, and the CSRF token to echo; 401 `session_expired` if no one."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise Unauthenticated("not logged in", code="session_expired")
    response.headers["Cache-Control"] = "no-store"
    return _session_body(await svc.sessions.session(secret))


async def _unsafe_session(request: Request, svc: Services) -> tuple[str, Principal]:
    """(cookie secret, principal) of the caller's session, for a state-changing request:
    the CSRF token and origin are checked as for any unsafe API request."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise Unauthenticated("not logged in", code="session_expired")
    who = await session_principal(svc.sessions, secret, method="POST", headers=request.headers)
    return secret, who


@router.post("/logout", status_code=204)
async def logout(request: Request, svc: ServicesDep) -> Response:
    """End the session (CSRF token required, so no other site can log anyone out)."""
    secret, _ = await _unsafe_session(request, svc)
    await svc.sessions.logout(secret, client=client_of(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/password", status_code=204)
async def change_password(body: PasswordChange, request: Request, svc: ServicesDep) -> Response:
    """Change one's own password: `{"current_password", "new_password"}`, CSRF token
    required. Every session of the user ends (this one too): log in again."""
    _, who = await _unsafe_session(request, svc)
    current, new = body.current_password, body.new_password
    client = client_of(request)
    await svc.logins.check(who.id, client)
    try:
        await svc.sessions.change_password(
            who.id, current, new, client=client, actor=Actor(who.id, who.via)
        )
    except Unauthenticated:
        await svc.logins.failed(who.id, client)
        raise
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
