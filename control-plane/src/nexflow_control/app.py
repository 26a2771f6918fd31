"""The FastAPI app factory: build everything from Settings, open and close it with the app."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import structlog
from fastapi import FastAPI
from nexflow_common.body_limit import BodyLimitMiddleware

from .accounts import ALL_SCOPES, AccountStore
from .accounts.sessions import SessionStore
from .api.deps import Services
from .api.disconnects import DisconnectWatch, install_disconnect_handler
from .api.errors import install_error_handlers
from .api.routes_accounts import router as accounts_router
from .api.routes_approvals import router as approvals_router
from .api.routes_audit import router as audit_router
from .api.routes_calls import router as calls_router
from .api.routes_calls_list import router as calls_list_router
from .api.routes_chat import buttons as chat_buttons_router
from .api.routes_chat import pairings as pairings_router
from .api.routes_marketplace import router as marketplace_router
from .api.routes_outbox import router as outbox_router
from .api.routes_schedules import router as schedules_router
from .api.routes_secret_usage import router as secret_usage_router
from .api.routes_secrets import router as secrets_router
from .api.routes_skill_state import router as skill_state_router
from .api.routes_skills import router as skills_router
from .api.routes_system import router as system_router
from .approvals import ApprovalStore
from .approvals.service import ApprovalService
from .audit import Action, AuditEvent, AuditLog, AuditUnavailable
from .audit.checkpointer import Checkpointer
from .auth import Principal, TokenAuthenticator, load_or_create_admin_token
from .calls import CallHistory, CallService, end_interrupted_calls
from .chat.outbox import ChatOutbox
from .db import Database
from .errors import AccountsUnavailable, ApprovalsUnavailable
from .executors import executor_pool
from .marketplace import LockfileBroken, Marketplace, load_catalog, prune
from .metrics import Metrics
from .policy import (
    EmbeddedEngine,
    OpaServerEngine,
    PolicyEngine,
    PolicyError,
    PolicyWatcher,
    ReloadResult,
)
from .public_paths import HideHostPaths, HostPathMask
from .schedules import Scheduler, ScheduleService, ScheduleStore
from .secrets import SecretStore, SecretsUnavailable
from .settings import Settings
from .skills import SkillCatalog
from .throttle import SharedCounts
from .tracing import TraceRequests, start_tracing
from .web import auth_routes, chat_proxy, export, pages, tail
from .web.login_limits import LoginLimiter
from .web.tail import LogTail

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
    prune(settings.home)  # release folders of updated or removed registry skills
    settings.resolved_workspace.mkdir(parents=True, exist_ok=True)
    if settings.database_url is None:
        # SQLite gives its -wal and -shm files the database file's mode: create it 0600.
        db = settings.home / "nexflow.db"
        if not db.exists():
            os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))


async def open_engine(settings: Settings) -> PolicyEngine:
    """The OPA server engine when ``policy.opa_url`` is set, else the embedded one."""
    if settings.policy.opa_url:
        return await OpaServerEngine.connect(
            settings.policy.opa_url,
            settings.policy_dir,
            timeout_ms=settings.policy.opa_timeout_ms,
            token=settings.policy.opa_token,
            overlay=settings.policy.overlay(),
            cache_size=settings.policy.opa_cache_size,
        )
    return EmbeddedEngine(settings.policy_dir, settings.policy.overlay())


def _engine_facts(settings: Settings) -> dict[str, str]:
    facts = {"policy_dir": str(settings.policy_dir), "engine": "embedded"}
    if settings.policy.opa_url:
        facts.update(engine="opa", opa_url=settings.policy.opa_url)
    return facts


def policy_watcher(settings: Settings, engine: PolicyEngine, audit: AuditLog) -> PolicyWatcher:
    """A watcher that reloads ``engine`` on change and audits every attempt."""

    async def record(result: ReloadResult, attempted: str | None) -> None:
        if result.ok and not result.changed:
            return
        action = Action.POLICY_RELOADED if result.ok else Action.POLICY_RELOAD_FAILED
        payload = {
            **_engine_facts(settings),
            "previous_revision": result.previous_revision,
            "attempted_revision": attempted,
            "error": result.error,
        }
        if result.ok:
            log.info("policy.reloaded", revision=result.revision, previous=result.previous_revision)
        else:
            log.warning("policy.reload_failed", attempted=attempted, error=result.error)
        try:
            await audit.append(
                AuditEvent(action=action, policy_revision=result.revision, payload=payload)
            )
        except AuditUnavailable:
            log.error("audit.write_failed", stage=str(action))

    return PolicyWatcher(
        engine,
        settings.policy_dir,
        settings.policy.reload_interval_s,
        record,
        settings.policy.overlay(),
    )


async def build_services(settings: Settings) -> Services:
    prepare_home(settings)
    token = load_or_create_admin_token(settings.token_file, settings.admin_token)
    catalog = load_catalog(skill_sources(settings), settings.home)
    engine = await open_engine(settings)
    try:
        db = await Database.open(settings.resolved_database_url)
    except BaseException:
        await engine.close()
        raise
    audit = AuditLog(db)
    try:
        accounts = await AccountStore.open(db, audit)
        approval_store = await ApprovalStore.open(db, audit)
    except BaseException:
        await audit.close()
        await db.close()
        await engine.close()
        raise
    admin = Principal("admin", ("admin",), scopes=ALL_SCOPES)
    auth = TokenAuthenticator({token: admin}, accounts)
    await audit.append(
        AuditEvent(
            action=Action.POLICY_LOADED,
            policy_revision=engine.revision,
            payload=_engine_facts(settings),
        )
    )
    executor = executor_pool(settings)
    await executor.refresh()
    metrics = Metrics()
    metrics.executor_queue.set_function(lambda: executor.waiting)
    counts = SharedCounts(db)
    history = CallHistory(audit, counts)
    secrets = SecretStore.open(db, audit, settings.secrets_key_file)
    calls = CallService(
        settings, catalog, engine, audit, executor, metrics, history, approval_store, secrets
    )
    calls.outbox = ChatOutbox(db)
    approvals = ApprovalService(
        approval_store,
        engine,
        calls,
        sweep_interval_s=settings.approvals.sweep_interval_s,
        accounts=accounts,
    )
    log.info("approvals.recovered", **await approvals.recover())
    log.info("calls.recovered", **await end_interrupted_calls(audit))
    for d in catalog.diagnostics:
        log.warning("skill.load_problem", **d.to_dict())
    web = settings.web
    sessions = SessionStore(
        db,
        audit,
        lifetime=timedelta(seconds=web.session_lifetime_s),
        idle=timedelta(seconds=web.session_idle_s),
    )
    logins = LoginLimiter(
        counts,
        per_name=web.login_failures,
        per_client=web.login_failures_per_client,
        window_s=web.login_window_s,
    )
    schedule_store = ScheduleStore(db, audit)
    schedules = ScheduleService(
        schedule_store,
        calls,
        min_interval_s=settings.schedules.min_interval_s,
        accounts=accounts,
        max_per_owner=settings.schedules.max_per_owner,
    )
    scheduler = Scheduler(
        schedule_store,
        calls,
        accounts,
        tick_s=settings.schedules.tick_s,
        grace_s=settings.schedules.grace_s,
    )
    services = Services(
        settings,
        catalog,
        engine,
        audit,
        executor,
        metrics,
        auth,
        calls,
        accounts,
        approvals,
        sessions,
        logins,
        LogTail(audit),
        db,
        secrets=secrets,
        schedules=schedules,
        scheduler=scheduler,
    )
    services.marketplace = marketplace(settings, services)
    return services


def marketplace(settings: Settings, services: Services) -> Marketplace:
    """Installs from a registry; each change swaps the catalog live (a running call keeps
    the `Skill` it resolved, and its release folder stays until the next start)."""

    def swap(catalog: SkillCatalog) -> None:
        services.catalog = catalog
        services.calls.catalog = catalog

    return Marketplace(
        settings.home,
        services.audit,
        skill_sources(settings),
        swap,
        default_registry=settings.marketplace.registry_url,
        min_age_hours=settings.marketplace.min_age_hours,
    )


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracing = start_tracing(settings.otel)
        try:
            services = await build_services(settings)
        except (
            PolicyError,
            AuditUnavailable,
            AccountsUnavailable,
            ApprovalsUnavailable,
            SecretsUnavailable,
            LockfileBroken,
        ) as exc:
            log.error("control_plane.start_failed", reason=str(exc))
            app.state.start_failed = str(exc)  # said in one line: the server hides the trace
            if tracing is not None:
                tracing.shutdown()
            raise
        app.state.services = services
        watcher = policy_watcher(settings, services.engine, services.audit)
        watcher.start()
        services.approvals.start()
        services.executor.start()
        if services.scheduler is not None:
            services.scheduler.start()
        if settings.checkpoints.enabled:
            services.checkpointer = Checkpointer.from_settings(services.audit, settings)
            services.checkpointer.start()
        # What start-up built lives as long as the process: out of the collector's sight,
        # a full collection no longer walks it (a pause of ~100 ms on this heap, in the
        # middle of whatever requests are being served).
        gc.collect()
        gc.freeze()
        log.info(
            "control_plane.ready",
            skills=len(services.catalog.list()),
            policy_revision=services.engine.revision,
        )
        try:
            yield
        finally:
            await watcher.stop()
            if services.scheduler is not None:
                await services.scheduler.stop()
            await services.approvals.stop()
            await services.calls.close()
            await services.tail.close()
            await services.executor.close()
            await services.engine.close()
            if services.checkpointer is not None:
                await services.checkpointer.stop()  # a last checkpoint of the final head
            if services.secrets is not None:
                await services.secrets.close()
            await services.audit.close()
            await services.db.close()
            await app.state.chat_proxy.aclose()
            if services.marketplace is not None:
                await services.marketplace.close()
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)  # sends the spans still batched

    app = FastAPI(
        title="Nexflow control plane",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    install_error_handlers(app)
    install_disconnect_handler(app)
    app.include_router(system_router)
    app.include_router(skills_router)
    app.include_router(audit_router)
    app.include_router(calls_list_router)
    app.include_router(skill_state_router)
    app.include_router(calls_router)
    app.include_router(accounts_router)
    app.include_router(approvals_router)
    app.include_router(secret_usage_router)
    app.include_router(secrets_router)
    app.include_router(schedules_router)
    app.include_router(chat_buttons_router)
    app.include_router(pairings_router)
    app.include_router(outbox_router)
    app.include_router(marketplace_router)
    app.include_router(export.router)
    app.include_router(tail.router)
    app.include_router(auth_routes.router)
    app.state.chat_proxy = chat_proxy.GatewayProxy(
        settings.gateway_url, timeout_s=settings.gateway_timeout_s
    )
    app.include_router(chat_proxy.router)
    pages.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(DisconnectWatch)
    app.add_middleware(HideHostPaths, mask=HostPathMask.from_settings(settings))
    if settings.otel.endpoint is not None:  # off: not even a no-op span per request
        app.add_middleware(TraceRequests)
    return app
