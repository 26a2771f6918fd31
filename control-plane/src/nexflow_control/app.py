"""The FastAPI app factory: build everything from Settings, open and close it with the app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI

from .api.body_limit import BodyLimitMiddleware
from .api.deps import Services
from .api.errors import install_error_handlers
from .api.routes_audit import router as audit_router
from .api.routes_skills import router as skills_router
from .api.routes_system import router as system_router
from .audit import AuditEvent, AuditLog
from .auth import Principal, TokenAuthenticator, load_or_create_admin_token
from .calls import CallService
from .executor_client import ExecutorClient
from .metrics import Metrics
from .policy import EmbeddedEngine
from .settings import Settings
from .skills import SkillCatalog

log = structlog.get_logger("nexflow.app")


def skill_sources(settings: Settings) -> list[tuple[Path, str]]:
    """Where skills come from, in load order: built-in, the home's, then --skills folders."""
    sources = [(settings.builtin_skills_dir, "builtin"), (settings.user_skills_dir, "user")]
    sources += [(d, "extra") for d in settings.skills_dirs]
    return [(d, label) for d, label in sources if d.is_dir()]


def prepare_home(settings: Settings) -> None:
    """Create the home layout: private by default, the workspace readable by the sandbox."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.user_skills_dir.mkdir(exist_ok=True)
    settings.resolved_workspace.mkdir(parents=True, exist_ok=True)
    if settings.database_url is None:
        # SQLite gives its -wal and -shm files the database file's mode: create it 0600.
        db = settings.home / "nexflow.db"
        if not db.exists():
            os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))


async def build_services(settings: Settings) -> Services:
    prepare_home(settings)
    token = load_or_create_admin_token(settings.token_file, settings.admin_token)
    auth = TokenAuthenticator({token: Principal("admin", ("admin",))})
    catalog = SkillCatalog.load(skill_sources(settings))
    engine = EmbeddedEngine(settings.policy_dir)
    audit = await AuditLog.open(settings.resolved_database_url)
    await audit.append(
        AuditEvent(
            action="policy.loaded",
            policy_revision=engine.revision,
            payload={"policy_dir": str(settings.policy_dir)},
        )
    )
    executor = ExecutorClient(
        settings.resolved_executor_socket, connect_timeout_s=settings.executor_timeout_s
    )
    metrics = Metrics()
    calls = CallService(settings, catalog, engine, audit, executor, metrics)
    for d in catalog.diagnostics:
        log.warning("skill.load_problem", **d.to_dict())
    return Services(settings, catalog, engine, audit, executor, metrics, auth, calls)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings)
        app.state.services = services
        log.info(
            "control_plane.ready",
            skills=len(services.catalog.list()),
            policy_revision=services.engine.revision,
        )
        try:
            yield
        finally:
            await services.executor.close()
            await services.audit.close()

    app = FastAPI(
        title="Nexflow control plane",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(system_router)
    app.include_router(skills_router)
    app.include_router(audit_router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    return app
