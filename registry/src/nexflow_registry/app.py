"""The registry's app factory: routes, the error mapping and start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from . import archives, signing
from .auth import bootstrap_admin
from .blobs import BlobStore
from .context import LogSigner, Registry
from .db import open_database
from .errors import RegistryError
from .routes_admin import router as admin_router
from .routes_clawhub import router as clawhub_router
from .routes_log import router as log_router
from .routes_packages import router as packages_router

log = structlog.get_logger("nexflow.registry")


def _error(
    status: int, code: str, message: str, extra: dict[str, object] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **(extra or {})}, status_code=status)


def log_key(home: Path) -> Ed25519PrivateKey:
    """The checkpoint-signing key in `<home>/log.key`, made on first start."""
    path = home / "log.key"
    if not path.exists():
        signing.keygen(path)
    return signing.load_private(path)


def create_app(
    home: Path, database_url: str | None = None, origin: str = "nexflow-registry"
) -> FastAPI:
    """The registry app over `home` (blobs, database, admin.token, log.key)."""
    home.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite+aiosqlite:///{home / 'registry.db'}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await open_database(url)
        await bootstrap_admin(db, home)
        scratch = home / "tmp"
        scratch.mkdir(exist_ok=True)
        signer = LogSigner(origin, log_key(home))
        app.state.registry = Registry(
            db, BlobStore(home / "blobs"), scratch, archives.Limits(), signer
        )
        try:
            yield
        finally:
            await db.close()

    app = FastAPI(
        title="Nexflow registry (preview)", lifespan=lifespan, openapi_url="/api/openapi.json"
    )
    app.include_router(packages_router)
    app.include_router(admin_router)
    app.include_router(clawhub_router)
    app.include_router(log_router)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(RegistryError)
    async def on_registry_error(_request: Request, exc: RegistryError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(HTTPException)
    async def on_http(_request: Request, exc: HTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("request_failed", path=request.url.path, error=type(exc).__name__)
        return _error(500, "internal", "the registry failed on this request")

    return app
