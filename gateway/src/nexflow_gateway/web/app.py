"""The web chat API: `POST /api/v1/chat`, `GET /api/v1/sessions[/{id}]`, `GET /health`.

Every route but `/health` needs `Authorization: Bearer <NEXFLOW_GATEWAY__TOKEN>`: the web
chat runs its calls with the gateway's own control-plane token, so whoever may chat acts as
that token's user (per-user identity comes with pairing). Errors are
`{"error": code, "message": ...}`; nothing answers with a traceback.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nexflow_common.body_limit import BodyLimitMiddleware

from ..control_plane import ControlPlane
from ..errors import GatewayError, LLMNotConfigured, Unauthenticated
from ..llm import Agent
from ..sessions import Session, SessionStore
from ..settings import Settings
from .schemas import ChatReply, ChatRequest, ErrorOut, SessionDetail, SessionList, SessionSummary

log = structlog.get_logger("nexflow_gateway.web")
MAX_BODY = 64 * 1024
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    404: {"model": ErrorOut},
    422: {"model": ErrorOut},
}


def authenticated(request: Request) -> None:
    """The caller holds the gateway's token (compared in constant time)."""
    token: str = request.app.state.token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    given = value.encode("utf-8", "surrogateescape")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(given, token.encode()):
        raise Unauthenticated("a bearer token is required")


Auth = Annotated[None, Depends(authenticated)]


def create_app(settings: Settings) -> FastAPI:
    token = settings.gateway.token.get_secret_value() if settings.gateway.token else ""
    store = SessionStore(settings.gateway.max_sessions, settings.gateway.max_turns_per_session)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cp = ControlPlane(
            settings.gateway.control_plane_url, token, cache_s=settings.gateway.skills_cache_s
        )
        app.state.agent = Agent(settings.llm, cp)
        try:
            yield
        finally:
            await cp.aclose()

    app = FastAPI(title="Nexflow gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.token = token

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/chat", responses=_ERRORS)
    async def chat(body: ChatRequest, request: Request, _: Auth) -> ChatReply:
        if not settings.llm.model:
            raise LLMNotConfigured("set NEXFLOW_LLM__MODEL to chat with a model")
        session = store.get(body.session_id) if body.session_id else store.new()
        async with session.lock:
            history = [
                m for t in session.turns[-settings.llm.history_turns :] for m in t.transcript
            ]
            turn = await request.app.state.agent.turn(history, body.message)
            store.record(session, turn)
        log.info("chat.turn", session_id=session.id, calls=len(turn.calls), stop=turn.stop_reason)
        return ChatReply(
            session_id=session.id,
            reply=turn.reply,
            calls=turn.calls,
            pending_approvals=turn.pending_approvals,
            stop_reason=turn.stop_reason,
            usage=turn.usage,
            session_usage=session.usage,
        )

    @app.get("/api/v1/sessions", responses=_ERRORS)
    async def sessions(_: Auth) -> SessionList:
        return SessionList(sessions=[_summary(s) for s in store.all()])

    @app.get("/api/v1/sessions/{session_id}", responses=_ERRORS)
    async def session(session_id: str, _: Auth) -> SessionDetail:
        found = store.get(session_id[:64])
        return SessionDetail(**_summary(found).model_dump(), history=found.turns)

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        code = "invalid_json" if first.get("type") == "json_invalid" else "invalid_request"
        message = str(first.get("msg", "invalid request"))[:300]
        return JSONResponse({"error": code, "message": message, "field": where}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal_error", error=type(exc).__name__)
        return JSONResponse(
            {"error": "internal_error", "message": "the gateway failed; see its log"},
            status_code=500,
        )

    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY)
    return app


def _summary(session: Session) -> SessionSummary:
    return SessionSummary(
        id=session.id,
        created_at=session.created_at,
        updated_at=session.updated_at,
        turns=len(session.turns),
        usage=session.usage,
    )
