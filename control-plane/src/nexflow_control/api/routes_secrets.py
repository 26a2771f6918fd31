"""`/api/v1/secrets` (scope `secrets:admin`): values go in, names and versions come out.

    GET    /api/v1/secrets                  names, versions, dates (never a value)
    POST   /api/v1/secrets                  {"name", "value"} -> 201; 409 secret_exists
    PUT    /api/v1/secrets/{name}           {"value"} rotate -> 200, version + 1; 404
    DELETE /api/v1/secrets/{name}           204; 404 secret_not_found

A bad name is 422 `invalid_secret_name`, an empty, NUL-holding or too long value 422
`invalid_secret_value`; each change is audited (`secret.created|rotated|deleted`).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Response
from pydantic import BaseModel, ConfigDict, StrictStr

from ..errors import Unavailable
from ..secrets import SecretInfo, SecretStore
from .deps import SecretsAdmin, Services, ServicesDep
from .params import PathName
from .route import edge_router

router = edge_router("/api/v1", "secrets")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewSecret(_Body):
    name: StrictStr
    value: StrictStr


class SecretValue(_Body):
    value: StrictStr


class SecretOut(BaseModel):
    """A secret as anyone may see it: no value."""

    name: str
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str


class SecretList(BaseModel):
    secrets: list[SecretOut]


def _out(info: SecretInfo) -> SecretOut:
    return SecretOut(
        name=info.name,
        version=info.version,
        created_at=info.created_at,
        updated_at=info.updated_at,
        updated_by=info.updated_by,
    )


def _store(svc: Services) -> SecretStore:
    if svc.secrets is None:
        raise Unavailable("this control plane has no secret store", code="secrets_unavailable")
    return svc.secrets


@router.get("/secrets", response_model=SecretList)
async def list_secrets(svc: ServicesDep, _: SecretsAdmin) -> SecretList:
    """Every secret's name, version and dates, by name."""
    return SecretList(secrets=[_out(i) for i in await _store(svc).listing()])


@router.post("/secrets", status_code=201, response_model=SecretOut)
async def create_secret(body: NewSecret, svc: ServicesDep, who: SecretsAdmin) -> SecretOut:
    """Store a new secret (version 1); 409 `secret_exists` when the name is taken."""
    return _out(await _store(svc).create(body.name, body.value, who.id))


@router.put("/secrets/{name}", response_model=SecretOut)
async def rotate_secret(
    name: PathName, body: SecretValue, svc: ServicesDep, who: SecretsAdmin
) -> SecretOut:
    """Give an existing secret a new value (version + 1); 404 `secret_not_found`."""
    return _out(await _store(svc).rotate(name, body.value, who.id))


@router.delete("/secrets/{name}", status_code=204)
async def delete_secret(name: PathName, svc: ServicesDep, who: SecretsAdmin) -> Response:
    """Delete a secret; calls granted it fail `secret_missing` until it is set again."""
    await _store(svc).delete(name, who.id)
    return Response(status_code=204)
