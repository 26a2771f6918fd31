"""What routes share: the running services, and the authenticated principal.

A route names what its token must be allowed to do by the dependency it takes:
`PrincipalDep` (any valid token), or `CallsRun`, `SkillsRead`, `AuditRead`,
`ApprovalsDecide`, `AccountsAdmin` (that scope, else 403 `insufficient_scope`), or
`ApprovalsRead` (`approvals:decide` or `audit:read`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..accounts import AccountStore, Scope
from ..approvals.service import ApprovalService
from ..audit import AuditLog
from ..auth import Principal, TokenAuthenticator, require_scope
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
    accounts: AccountStore
    approvals: ApprovalService


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def principal(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal:
    return await svc.auth.authenticate(request.headers.get("authorization"))


ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(principal)]


def _scoped(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(who: PrincipalDep) -> Principal:
        return require_scope(who, scope)

    return check


CallsRun = Annotated[Principal, Depends(_scoped(Scope.CALLS_RUN))]
SkillsRead = Annotated[Principal, Depends(_scoped(Scope.SKILLS_READ))]
AuditRead = Annotated[Principal, Depends(_scoped(Scope.AUDIT_READ))]
AccountsAdmin = Annotated[Principal, Depends(_scoped(Scope.ACCOUNTS_ADMIN))]
ApprovalsDecide = Annotated[Principal, Depends(_scoped(Scope.APPROVALS_DECIDE))]


async def _approvals_read(who: PrincipalDep) -> Principal:
    if Scope.APPROVALS_DECIDE in who.scopes:
        return who
    return require_scope(who, Scope.AUDIT_READ)


ApprovalsRead = Annotated[Principal, Depends(_approvals_read)]
