"""The typed edge of the account routes and the browser's session routes (answers)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from .schemas import Answer


class Me(Answer):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "alice",
                    "kind": "user",
                    "user_id": "u_01",
                    "token_id": "t_01",
                    "roles": ["operator"],
                    "scopes": ["calls:run", "skills:read"],
                    "channel": "http",
                }
            ]
        },
    )
    id: str
    kind: str
    user_id: str | None
    token_id: str | None
    roles: list[str]
    scopes: list[str]
    channel: str | None


class IdentityOut(Answer):
    provider: str
    subject: str
    identity: str
    linked_at: str | None


class LinkedIdentity(IdentityOut):
    user: str


class UserOut(Answer):
    id: str
    name: str
    roles: list[str]
    disabled: bool
    created_at: str | None
    updated_at: str | None
    identities: list[IdentityOut]


class UserList(Answer):
    users: list[UserOut]


class TokenOut(Answer):
    id: str
    prefix: str
    user: str
    name: str
    scopes: list[str]
    status: str
    created_at: str | None
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class NewTokenOut(TokenOut):
    token: str = Field(description="the bearer token; shown this once")


class TokenList(Answer):
    tokens: list[TokenOut]


class SessionOut(Answer):
    user: str
    roles: list[str]
    scopes: list[str]
    csrf_token: str
    expires_at: str | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "alice", "password": "…"}]}
    )
    name: StrictStr = Field(min_length=1, max_length=1024)
    password: StrictStr = Field(min_length=1, max_length=1024)


class PasswordChange(_Body):
    current_password: StrictStr = Field(min_length=1, max_length=1024)
    new_password: StrictStr = Field(min_length=1, max_length=1024)
