"""What routes share: the running services, and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..audit import AuditLog
from ..auth import Principal, TokenAuthenticator
from ..calls import CallService
from ..executor_client import ExecutorClient
from ..metrics import Metrics
from ..policy import PolicyEngine
from ..settings import Settings
from ..skills import SkillCatalog


@dataclass
class Services:
    settings: Settings
    catalog: SkillCatalog
    engine: PolicyEngine
    audit: AuditLog
    executor: ExecutorClient
    metrics: Metrics
    auth: TokenAuthenticator
    calls: CallService


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def principal(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
    return svc.auth.authenticate(request.headers.get("authorization"))


ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(principal)]
