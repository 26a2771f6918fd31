"""`GET /api/v1/secrets/usage` (scope `secrets:admin`): each secret's name and version,
the policy grants that name it (`data.nexflow.config.secrets.grants`) and its last read
by a call (`secret.read` events). Never a value; grants naming a secret that is not
stored are listed too, so an admin sees what calls would miss."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ..audit.secret_reads import last_reads
from .deps import SecretsAdmin, Services, ServicesDep
from .policy_config import policy_config, section
from .route import edge_router
from .routes_secrets import _store

router = edge_router("/api/v1", "secrets")


class Grant(BaseModel):
    """Which skills may get the secret, for whom (ids or roles)."""

    skills: list[str]
    principals: list[str]
    roles: list[str]


class LastRead(BaseModel):
    at: datetime
    actor: str | None
    skill: str | None
    call_id: str | None


class SecretUsage(BaseModel):
    name: str
    stored: bool
    version: int | None
    updated_at: datetime | None
    updated_by: str | None
    grants: list[Grant]
    last_read: LastRead | None


class SecretUsageList(BaseModel):
    secrets: list[SecretUsage]


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


async def _grants(svc: Services) -> dict[str, list[Grant]]:
    """The grants of the policy directory as it is on disk, by secret name."""
    rules = section(await policy_config(svc), "secrets", "grants")
    out: dict[str, list[Grant]] = {}
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict) and isinstance(rule.get("secret"), str):
            out.setdefault(rule["secret"], []).append(
                Grant(
                    skills=_strings(rule.get("skills")),
                    principals=_strings(rule.get("principals")),
                    roles=_strings(rule.get("roles")),
                )
            )
    return out


@router.get("/secrets/usage", response_model=SecretUsageList)
async def secrets_usage(svc: ServicesDep, _: SecretsAdmin) -> SecretUsageList:
    """Stored secrets and granted names, by name: version, grants and last read."""
    stored = {i.name: i for i in await _store(svc).listing()}
    grants = await _grants(svc)
    reads = await last_reads(svc.audit)
    rows = []
    for name in sorted(set(stored) | set(grants)):
        info, read = stored.get(name), reads.get(name)
        rows.append(
            SecretUsage(
                name=name,
                stored=info is not None,
                version=info.version if info else None,
                updated_at=info.updated_at if info else None,
                updated_by=info.updated_by if info else None,
                grants=grants.get(name, []),
                last_read=None
                if read is None
                else LastRead(at=read.at, actor=read.actor, skill=read.skill, call_id=read.call_id),
            )
        )
    return SecretUsageList(secrets=rows)
