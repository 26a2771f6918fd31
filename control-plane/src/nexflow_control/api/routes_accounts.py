"""`/api/v1/users` (with web-login passwords) and `/api/v1/tokens` (scope `accounts:admin`),
and `/api/v1/me` (any token).

Token secrets appear in exactly one response: the one creating the token (sent with
`Cache-Control: no-store`). Lists show a token's id, prefix, name, scopes and dates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from ..accounts import Actor, parse_expiry
from ..auth import Principal
from ..errors import InvalidInput
from .deps import AccountsAdmin, PrincipalDep, ServicesDep
from .params import FilterText, PathName, utc
from .route import edge_router
from .schemas_accounts import (
    LinkedIdentity,
    Me,
    NewTokenOut,
    TokenList,
    TokenOut,
    UserList,
    UserOut,
)

router = edge_router("/api/v1", "accounts")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewUser(_Body):
    name: StrictStr
    roles: list[StrictStr] = []


class UserChange(_Body):
    """Only the fields given change."""

    roles: list[StrictStr] | None = None
    disabled: StrictBool | None = None


class NewToken(_Body):
    """`expires_in` (`30d`, `12h`, `never`) or `expires_at` (ISO 8601); default never."""

    name: StrictStr = "default"
    scopes: list[StrictStr] | None = None
    expires_in: StrictStr | None = None
    expires_at: datetime | None = None


class NewIdentity(_Body):
    provider: StrictStr
    subject: StrictStr


def _actor(who: Principal) -> Actor:
    return Actor(who.id, who.via)


@router.get("/me", response_model=Me)
async def me(who: PrincipalDep) -> dict[str, Any]:
    """Who the presented token stands for: id, roles, scopes (any valid token)."""
    return {
        "id": who.id,
        "kind": "bootstrap" if who.user_id is None else "user",
        "user_id": who.user_id,
        "token_id": who.token_id,
        "roles": list(who.roles),
        "scopes": sorted(who.scopes),
        "channel": who.channel,
    }


@router.post("/users", status_code=201, response_model=UserOut)
async def create_user(body: NewUser, svc: ServicesDep, who: AccountsAdmin) -> dict[str, Any]:
    user = await svc.accounts.create_user(body.name, body.roles, actor=_actor(who))
    return user.to_dict()


@router.get("/users", response_model=UserList)
async def list_users(svc: ServicesDep, _: AccountsAdmin) -> dict[str, Any]:
    return {"users": [u.to_dict() for u in await svc.accounts.list_users()]}


@router.get("/users/{name}", response_model=UserOut)
async def show_user(name: PathName, svc: ServicesDep, _: AccountsAdmin) -> dict[str, Any]:
    return (await svc.accounts.get_user(name)).to_dict()


@router.patch("/users/{name}", response_model=UserOut)
async def update_user(
    name: PathName, body: UserChange, svc: ServicesDep, who: AccountsAdmin
) -> dict[str, Any]:
    """Set roles (the whole list) and/or `disabled`; a disabled user's tokens stop working."""
    user = await svc.accounts.update_user(
        name, roles=body.roles, disabled=body.disabled, actor=_actor(who)
    )
    return user.to_dict()


class NewPassword(_Body):
    password: StrictStr


@router.put("/users/{name}/password", status_code=204)
async def set_password(
    name: PathName, body: NewPassword, svc: ServicesDep, who: AccountsAdmin
) -> Response:
    """Set the user's web-login password (10+ characters); their open web sessions end."""
    await svc.sessions.set_password(name, body.password, actor=_actor(who))
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.post("/users/{name}/tokens", status_code=201, response_model=NewTokenOut)
async def create_token(
    name: PathName, body: NewToken, response: Response, svc: ServicesDep, who: AccountsAdmin
) -> dict[str, Any]:
    """A new API token; `token` in the answer is the bearer token, shown this once."""
    if body.expires_in is not None and body.expires_at is not None:
        raise InvalidInput("give expires_in or expires_at, not both", field="expires_at")
    expires_at = utc(body.expires_at, "expires_at", code="invalid_input")
    if body.expires_in is not None:
        lifetime = parse_expiry(body.expires_in)
        expires_at = None if lifetime is None else datetime.now(UTC) + lifetime
    token, whole = await svc.accounts.create_token(
        name, name=body.name, scopes=body.scopes, expires_at=expires_at, actor=_actor(who)
    )
    response.headers["Cache-Control"] = "no-store"
    return {**token.to_dict(datetime.now(UTC)), "token": whole}


@router.get("/users/{name}/tokens", response_model=TokenList)
async def list_user_tokens(name: PathName, svc: ServicesDep, _: AccountsAdmin) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"tokens": [t.to_dict(now) for t in await svc.accounts.list_tokens(name)]}


@router.get("/tokens", response_model=TokenList)
async def list_tokens(
    svc: ServicesDep, _: AccountsAdmin, user: FilterText = None
) -> dict[str, Any]:
    """Every token (or one user's with `?user=`), oldest first."""
    now = datetime.now(UTC)
    return {"tokens": [t.to_dict(now) for t in await svc.accounts.list_tokens(user)]}


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut)
async def revoke_token(token_id: PathName, svc: ServicesDep, who: AccountsAdmin) -> dict[str, Any]:
    """Revoke a token (it answers 401 `token_revoked` from now on); idempotent."""
    token = await svc.accounts.revoke_token(token_id, actor=_actor(who))
    return token.to_dict(datetime.now(UTC))


@router.post("/users/{name}/identities", status_code=201, response_model=LinkedIdentity)
async def link_identity(
    name: PathName, body: NewIdentity, svc: ServicesDep, who: AccountsAdmin
) -> dict[str, Any]:
    """Link `provider:subject` (e.g. `telegram:123`) to the user; 409 if linked to anyone."""
    link = await svc.accounts.link_identity(name, body.provider, body.subject, actor=_actor(who))
    return {"user": name, **link.to_dict()}


@router.delete("/users/{name}/identities/{provider}/{subject:path}", status_code=204)
async def unlink_identity(
    name: PathName, provider: PathName, subject: PathName, svc: ServicesDep, who: AccountsAdmin
) -> Response:
    await svc.accounts.unlink_identity(name, provider, subject, actor=_actor(who))
    return Response(status_code=204)
