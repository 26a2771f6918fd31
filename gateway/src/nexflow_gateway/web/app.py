"""The web chat API: `POST /api/v1/chat`, `GET /api/v1/sessions[/{id}]`,
`GET|POST /api/v1/notes`, `DELETE /api/v1/notes/{id}`, `GET /api/v1/chat/search`,
`ws /ws/chat/{session}` and `GET /health`.

Every route but `/health` needs a credential the control plane knows (see `callers`): the
gateway's own token, a user's token, or the web session the control plane's proxy
forwards. Each person sees only their own sessions and notes, and their skill calls are
made with their own credential. Errors are `{"error": code, "message": ...}`; nothing
answers with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nexflow_common.body_limit import BodyLimitMiddleware

from ..channels import chat_channels
from ..connectors import ConnectorSet
from ..control_plane import ControlPlane
from ..errors import GatewayError
from ..llm import Agent, Embedder, close_sessions
from ..settings import Settings
from ..store import Note, NoteStore, SessionStore, open_engine
from .callers import Caller, Callers
from .chat import ChatService
from .schemas import (
    ChatReply,
    ChatRequest,
    ErrorOut,
    NewNote,
    NoteList,
    SearchResult,
    SessionDetail,
    SessionList,
)
from .socket import chat_socket

log = structlog.get_logger("nexflow_gateway.web")
MAX_BODY = 64 * 1024
_SWEEP_EVERY_S = 3600.0
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    404: {"model": ErrorOut},
    422: {"model": ErrorOut},
    503: {"model": ErrorOut},
}


async def caller(request: Request) -> Caller:
    """Who is asking (401 `unauthenticated` when nobody the control plane knows)."""
    callers: Callers = request.app.state.callers
    return await callers.resolve(request.headers, request.cookies)


Who = Annotated[Caller, Depends(caller)]


def create_app(settings: Settings, connectors: ConnectorSet | None = None) -> FastAPI:
    """The web chat API; with `connectors`, the chat channels run beside it (started with
    the app, stopped with it) through the same control-plane client and session store."""
    token = settings.gateway.token.get_secret_value() if settings.gateway.token else ""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await open_engine(settings.resolved_database_url())
        cp = ControlPlane(
            settings.gateway.control_plane_url, token, cache_s=settings.gateway.skills_cache_s
        )
        sessions = SessionStore(
            engine,
            max_turns=settings.gateway.max_turns_per_session,
            retention_days=settings.gateway.retention_days,
        )
        app.state.sessions = sessions
        app.state.notes = NoteStore(
            engine,
            max_notes=settings.gateway.max_notes_per_user,
            vectors=Embedder.configured(settings.llm),
        )
        app.state.callers = Callers(cp, token)
        app.state.chat = ChatService(settings, sessions, Agent(settings.llm, cp), cp)
        sweeper = asyncio.create_task(_sweep(sessions))
        try:
            async with contextlib.AsyncExitStack() as channels:
                if connectors is not None:
                    await channels.enter_async_context(
                        chat_channels(settings, cp, sessions, connectors)
                    )
                yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await cp.aclose()
            await close_sessions()
            await engine.dispose()

    app = FastAPI(title="Nexflow gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/chat", response_model=ChatReply, responses=_ERRORS)
    async def chat(body: ChatRequest, request: Request, who: Who) -> Response:
        service: ChatService = request.app.state.chat
        reply = await service.turn(who, body.message, body.session_id)
        log.info("chat.turn", session_id=reply.session_id, calls=len(reply.calls))
        # Encoded once, by the model that built it (FastAPI would validate it again first).
        return Response(reply.model_dump_json(), media_type="application/json")

    @app.get("/api/v1/chat/search", responses=_ERRORS)
    async def search(
        request: Request, who: Who, q: Annotated[str, Query(min_length=1, max_length=500)]
    ) -> SearchResult:
        notes: NoteStore = request.app.state.notes
        return SearchResult(hits=await notes.search(who.user_id, q))

    @app.get("/api/v1/sessions", responses=_ERRORS)
    async def sessions(request: Request, who: Who) -> SessionList:
        store: SessionStore = request.app.state.sessions
        return SessionList(sessions=await store.of_user(who.user_id))

    @app.get("/api/v1/sessions/{session_id}", responses=_ERRORS)
    async def session(session_id: str, request: Request, who: Who) -> SessionDetail:
        store: SessionStore = request.app.state.sessions
        found = await store.summary(session_id[:64], who.user_id)
        return SessionDetail(**found.model_dump(), history=await store.turns(found.id))

    @app.get("/api/v1/notes", responses=_ERRORS)
    async def notes(request: Request, who: Who) -> NoteList:
        return NoteList(notes=await request.app.state.notes.of_user(who.user_id))

    @app.post("/api/v1/notes", status_code=201, responses=_ERRORS)
    async def add_note(body: NewNote, request: Request, who: Who) -> Note:
        added: Note = await request.app.state.notes.add(who.user_id, body.text)
        return added

    @app.delete("/api/v1/notes/{note_id}", status_code=204, responses=_ERRORS)
    async def delete_note(
        note_id: Annotated[int, Path(ge=1, le=2**62)], request: Request, who: Who
    ) -> Response:
        await request.app.state.notes.delete(who.user_id, note_id)
        return Response(status_code=204)

    app.add_api_websocket_route("/ws/chat/{session}", chat_socket)

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


async def _sweep(sessions: SessionStore) -> None:
    """Delete the sessions past the retention now and every hour."""
    while True:
        try:
            gone = await sessions.sweep()
            if gone:
                log.info("sessions.swept", sessions=gone)
        except Exception as exc:  # a busy database: try again next time
            log.warning("sessions.sweep_failed", error=type(exc).__name__)
        await asyncio.sleep(_SWEEP_EVERY_S)
