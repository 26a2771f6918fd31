"""What routes share: the running services, and the authenticated principal.

A route names what its token must be allowed to do by the dependency it takes:
`PrincipalDep` (any valid token or browser session), or `CallsRun`, `SkillsRead`, `AuditRead`,
`ApprovalsDecide`, `AccountsAdmin`, `SecretsAdmin` (that scope, else 403 `insufficient_scope`), or
`ApprovalsRead` (`approvals:decide` or `audit:read`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..accounts import AccountStore, Scope
from ..accounts.sessions import SessionStore
from ..approvals.service import ApprovalService
from ..audit import AuditLog
from ..audit.checkpointer import Checkpointer
from ..audit.status import ChainStatus
from ..auth import (
    SESSION_COOKIE,
    Principal,
    TokenAuthenticator,
    require_scope,
    session_principal,
)
from ..calls import CallService
from ..chat import ChatNonces, PairingStore, linked_principal
from ..chat.identity import CHANNEL, ON_BEHALF_OF
from ..db import Database
from ..errors import CsrfFailed, InsufficientScope, Unauthenticated
from ..executors import ExecutorPool
from ..marketplace import Marketplace
from ..metrics import Metrics
from ..policy import PolicyEngine
from ..refusals import RefusalRecorder
from ..schedules import Scheduler, ScheduleService
from ..secrets import SecretStore
from ..settings import Settings
from ..skills import SkillCatalog
from ..throttle import SharedCounts
from ..web.login_limits import LoginLimiter
from ..web.tail import LogTail


@dataclass
class Services:
    settings: Settings
    catalog: SkillCatalog
    engine: PolicyEngine
    audit: AuditLog
    executor: ExecutorPool
    metrics: Metrics
    auth: TokenAuthenticator
    calls: CallService
    accounts: AccountStore
    approvals: ApprovalService
    sessions: SessionStore
    logins: LoginLimiter
    tail: LogTail
    db: Database
    """The one database; the services above each use their own tables in it."""
    checkpointer: Checkpointer | None = None
    """Set by the app's lifespan when checkpoints are enabled."""
    secrets: SecretStore | None = None
    """Sealed secrets (`/api/v1/secrets`, and the values calls are granted)."""
    schedules: ScheduleService | None = None
    scheduler: Scheduler | None = None
    chain_status: ChainStatus = field(default_factory=ChainStatus)
    marketplace: Marketplace | None = None
    """Set by `build_services` (installs from a registry)."""
    refusals: RefusalRecorder = field(init=False)
    pairings: PairingStore = field(init=False)
    nonces: ChatNonces = field(init=False)

    def __post_init__(self) -> None:
        self.refusals = RefusalRecorder(self.audit, SharedCounts(self.db))
        self.pairings = PairingStore(self.audit, self.accounts, SharedCounts(self.db))
        self.nonces = ChatNonces(self.db, ttl_s=self.settings.approvals.ttl_s)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


# Declares the bearer scheme in /api/openapi.json; `principal` reads the header itself.
_bearer = HTTPBearer(auto_error=False, description="an API token (`nexflow` admin or user)")


async def principal(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """A bearer token if one is presented, else the browser session's cookie; a refusal
    is audited (`auth.failed`, throttled: see `refusals`). With `X-Nexflow-On-Behalf-Of`
    the token must hold `calls:run_as` and the request acts as the linked user (see
    `chat.identity`)."""
    authorization = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        if authorization is None and cookie:
            who = await session_principal(
                svc.sessions, cookie, method=request.method, headers=request.headers
            )
        else:
            who = await svc.auth.authenticate(authorization)
    except (Unauthenticated, CsrfFailed) as exc:
        await svc.refusals.record(
            "auth.failed",
            exc,
            client=_client(request),
            method=request.method,
            path=request.url.path,
            authorization=authorization,
            channel="web" if authorization is None and cookie else "http",
        )
        raise
    on_behalf_of = request.headers.get(ON_BEHALF_OF)
    if on_behalf_of is None:
        return who
    try:
        gateway = require_scope(who, Scope.CALLS_RUN_AS)
    except InsufficientScope as exc:
        await refuse_scope(svc, request, who, exc)
        raise
    return await linked_principal(svc.accounts, on_behalf_of, request.headers.get(CHANNEL), gateway)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(principal)]


async def refuse_scope(
    svc: Services, request: Request, who: Principal, exc: InsufficientScope
) -> None:
    """Record a refusal for a missing scope (`auth.scope_refused`, throttled)."""
    await svc.refusals.record(
        "auth.scope_refused",
        exc,
        client=_client(request),
        method=request.method,
        path=request.url.path,
        actor=who.id,
        scope=str(exc.extra["scope"]),
        via=who.via,
    )


def _scoped(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    async def check(who: PrincipalDep, request: Request, svc: ServicesDep) -> Principal:
        try:
            return require_scope(who, scope)
        except InsufficientScope as exc:
            await refuse_scope(svc, request, who, exc)
            raise

    return check


CallsRun = Annotated[Principal, Depends(_scoped(Scope.CALLS_RUN))]
SkillsRead = Annotated[Principal, Depends(_scoped(Scope.SKILLS_READ))]
_audit_read = _scoped(Scope.AUDIT_READ)
AuditRead = Annotated[Principal, Depends(_audit_read)]
AccountsAdmin = Annotated[Principal, Depends(_scoped(Scope.ACCOUNTS_ADMIN))]
ApprovalsDecide = Annotated[Principal, Depends(_scoped(Scope.APPROVALS_DECIDE))]
SecretsAdmin = Annotated[Principal, Depends(_scoped(Scope.SECRETS_ADMIN))]
ApprovalsRelay = Annotated[Principal, Depends(_scoped(Scope.APPROVALS_RELAY))]
CallsRunAs = Annotated[Principal, Depends(_scoped(Scope.CALLS_RUN_AS))]
"""The gateway's own token (no `On-Behalf-Of`): asks for pairing codes."""


async def _run_as(who: PrincipalDep) -> Principal:
    if who.identity is None:
        raise InsufficientScope(f"{Scope.CALLS_RUN_AS} with {ON_BEHALF_OF}")
    return who


RunAs = Annotated[Principal, Depends(_run_as)]
"""A gateway acting for a linked chat user (`X-Nexflow-On-Behalf-Of`)."""


async def _call_reader(who: PrincipalDep, request: Request, svc: ServicesDep) -> Principal:
    if who.identity is not None:
        return who  # a chat user: only their own calls (the route checks)
    return await _audit_read(who, request, svc)


CallReader = Annotated[Principal, Depends(_call_reader)]
"""`audit:read`, or a gateway acting for a chat user (who reads only their own calls)."""


async def _approvals_read(who: PrincipalDep, request: Request, svc: ServicesDep) -> Principal:
    if Scope.APPROVALS_DECIDE in who.scopes:
        return who
    return await _audit_read(who, request, svc)


ApprovalsRead = Annotated[Principal, Depends(_approvals_read)]
