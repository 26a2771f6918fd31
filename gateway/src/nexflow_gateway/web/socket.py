"""`ws /ws/chat/{session}`: a turn streamed as JSON frames, each with a `type`.

The browser sends `{"message": ..., "csrf"?: ...}` (`{session}` is a session id, or `new`);
the gateway answers `session` (the id), `delta` (reply text as the model streams it),
`tool.started`, `tool.finished` (the step's record), then `turn.finished` (what
`POST /api/v1/chat` answers) or `error`. Authenticated like the HTTP routes (a bearer
header, or the web session's cookie from this host's pages). Frames wait in a bounded
outbox: a slow reader loses `delta` frames (the final frame holds the whole reply), and a
client that vanished loses the rest; the turn itself never waits for the socket, and
finishes and is stored either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import structlog
from fastapi import WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from ..errors import GatewayError, SessionNotFound, Unauthenticated
from .callers import CSRF_HEADER, Caller, Callers
from .chat import ChatService
from .schemas import SESSION_ID, SocketMessage

log = structlog.get_logger("nexflow_gateway.web")
OUTBOX = 512
_FINAL_WAIT_S = 10.0
_SESSION = re.compile(SESSION_ID)


async def chat_socket(ws: WebSocket, session: str) -> None:
    callers: Callers = ws.app.state.callers
    chat: ChatService = ws.app.state.chat
    try:
        if session != "new" and not _SESSION.match(session):
            raise SessionNotFound("the path names a session id (`s_...`) or `new`")
        caller = await _caller(ws, callers)
    except GatewayError as exc:  # 4401 unauthenticated, 4404, 4503 control plane down
        await ws.close(code=4000 + exc.status, reason=exc.code)
        return
    await ws.accept()
    outbox = _Outbox(ws)
    session_id = None if session == "new" else session
    try:
        while True:
            try:
                frame = SocketMessage.model_validate_json(await ws.receive_text())
            except ValidationError as exc:
                outbox.put({"type": "error", "error": "invalid_request", "message": _first(exc)})
                continue
            own = caller
            if frame.csrf and caller.credential and "Cookie" in caller.credential:
                own = Caller(caller.user_id, caller.credential | {CSRF_HEADER: frame.csrf})
            session_id = await _turn(chat, own, frame.message, session_id, outbox)
    except WebSocketDisconnect:
        pass
    finally:
        await outbox.close()


async def _turn(
    chat: ChatService, caller: Caller, message: str, session_id: str | None, outbox: _Outbox
) -> str | None:
    """One turn; the session it ran in (the new one, for `new`)."""
    seen: dict[str, Any] = {}

    def on_session(frame: dict[str, Any]) -> None:
        seen.update(frame)
        outbox.put(frame)

    try:
        reply = await chat.turn(caller, message, session_id, outbox.put, on_session=on_session)
    except GatewayError as exc:
        outbox.put({"type": "error", "error": exc.code, "message": exc.message})
        return session_id
    await outbox.final({"type": "turn.finished"} | reply.model_dump(mode="json"))
    return str(seen.get("session_id", session_id))


async def _caller(ws: WebSocket, callers: Callers) -> Caller:
    """A cookie-authenticated socket must come from this host's pages (a bearer need not)."""
    origin = ws.headers.get("origin")
    if "authorization" not in ws.headers and origin is not None:
        _, _, rest = origin.partition("://")
        if rest.lower() != (ws.headers.get("host") or "").lower():
            raise Unauthenticated("a session's socket must come from this host's pages")
    return await callers.resolve(ws.headers, ws.cookies)


def _first(exc: ValidationError) -> str:
    errors = exc.errors()
    return str(errors[0].get("msg", "invalid frame"))[:300] if errors else "invalid frame"


class _Outbox:
    """Frames to one socket, sent by one task; `put` never waits."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX)
        self._gone = False
        self.dropped = 0
        self._task = asyncio.create_task(self._send())

    def put(self, frame: dict[str, Any]) -> None:
        if self._gone:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped += 1

    async def final(self, frame: dict[str, Any]) -> None:
        """A frame that must not be dropped: wait (bounded) for room, the turn is stored."""
        if self._gone:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_FINAL_WAIT_S):
                await self._queue.put(frame | {"dropped_frames": self.dropped})

    async def _send(self) -> None:
        while (frame := await self._queue.get()) is not None:
            try:
                await self._ws.send_json(frame)
            except Exception:  # the client vanished: keep nothing more for it
                self._gone = True
                return

    async def close(self) -> None:
        if not self._gone:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
        try:
            async with asyncio.timeout(_FINAL_WAIT_S):
                await self._task
        except TimeoutError:
            self._task.cancel()
        with contextlib.suppress(Exception):
            await self._ws.close()
