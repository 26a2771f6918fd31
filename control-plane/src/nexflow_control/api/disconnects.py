"""Clients that go away: counted and said in one line, never an error with a traceback.

`DisconnectWatch` (ASGI middleware) sees a client drop either while it sends its body
(`stage="request_body"`: the route's body read raises Starlette's `ClientDisconnect`,
which `install_disconnect_handler` answers quietly) or after its body, before the answer
is complete (`stage="before_answer"`: e.g. while its skill runs; the call still ends and
is recorded, only the answer has no one to read it). Each is
`nexflow_client_disconnects_total{stage}` and one info line `http.client_disconnected`.
Requests that never read a body (GET) are not watched: they hold no work worth counting.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import FastAPI, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("nexflow.api")


def _count(scope: Scope, stage: str) -> None:
    services = getattr(scope["app"].state, "services", None)
    if services is not None:
        services.metrics.client_disconnects.labels(stage=stage).inc()
    log.info("http.client_disconnected", stage=stage, method=scope["method"], path=scope["path"])


class DisconnectWatch:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_read = asyncio.Event()
        state = {"complete": False, "counted": False}

        def counted(stage: str) -> None:
            if not state["counted"] and not state["complete"]:
                state["counted"] = True
                _count(scope, stage)

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not body_read.is_set():
                counted("request_body")
            elif message["type"] == "http.request" and not message.get("more_body", False):
                body_read.set()
            return message

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                state["complete"] = True
            await send(message)

        async def watch() -> None:
            await body_read.wait()
            while (await receive())["type"] != "http.disconnect":
                pass
            counted("before_answer")

        watcher = asyncio.create_task(watch())
        try:
            await self.app(scope, watched_receive, watched_send)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def install_disconnect_handler(app: FastAPI) -> None:
    """A body read that the client abandoned: no one reads the answer; no error is logged
    (`DisconnectWatch` counted it)."""

    @app.exception_handler(ClientDisconnect)
    async def _gone(_: Request, __: ClientDisconnect) -> Response:
        return Response(status_code=400)
