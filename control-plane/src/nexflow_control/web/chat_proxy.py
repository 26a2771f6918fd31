"""The chat routes on the control plane's own address, proxied to the gateway.

`/api/v1/chat*`, `/api/v1/sessions*`, `/api/v1/notes*` and `ws /ws/chat/*` answer here so
the browser stays on one origin; the gateway (`NEXFLOW_GATEWAY_URL`, started by
`nexflow up` when an LLM is configured) does the work. The request goes on as it came:
its credential (bearer header, or the web session's cookie and CSRF header) is checked
by the gateway, which asks this control plane who it is (`GET /api/v1/me`), so nothing
here can be forged on the way. Hop-by-hop headers are dropped; the body is bounded by the
app's body limit; a gateway that is not configured, not answering or too slow is 503
`gateway_unavailable`. A session's socket is checked for this host's origin here, as the
log tail's is, before it is relayed.

Why a proxy and not the gateway mounted in this process: the gateway imports litellm
(seconds of start-up, tens of MB) and runs alone against remote control planes; kept as
its own process it is the same program either way, and a model stuck in a turn never
shares an event loop with policy and audit.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import structlog
import websockets
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from websockets.asyncio.client import ClientConnection

from ..auth import SESSION_COOKIE, same_origin
from ..errors import GatewayUnavailable

log = structlog.get_logger("nexflow.chat_proxy")
router = APIRouter(include_in_schema=False)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_FORWARDED = ("authorization", "cookie", "x-csrf-token", "content-type", "accept")
MAX_REPLY_BYTES = 4 * 1024 * 1024
NOT_CONFIGURED = (
    "no chat gateway is running: the web chat is off (NEXFLOW_WEB_CHAT=false or "
    "`nexflow up --no-web-chat`); start `nexflow up` without it, or point "
    "NEXFLOW_GATEWAY_URL at a running gateway (`nexflow gateway`)"
)


class GatewayProxy:
    """The one HTTP client to the gateway (None when no gateway is configured)."""

    def __init__(self, url: str | None, *, timeout_s: float) -> None:
        self.url = url.rstrip("/") if url else None
        self._timeout = timeout_s
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout_s) if self.url else None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def forward(self, request: Request) -> Response:
        if self._http is None:
            raise GatewayUnavailable(NOT_CONFIGURED)
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        try:
            reply = await self._http.request(
                request.method,
                request.url.path,
                params=request.query_params,
                headers=headers,
                content=await request.body(),
            )
        except httpx.TimeoutException as exc:
            raise GatewayUnavailable("the chat gateway did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(
                f"the chat gateway cannot be reached ({type(exc).__name__})"
            ) from exc
        if len(reply.content) > MAX_REPLY_BYTES:
            raise GatewayUnavailable("the chat gateway's answer is too large")
        kept = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_BY_HOP}
        kept.pop("content-encoding", None)  # httpx decoded the body
        return Response(reply.content, status_code=reply.status_code, headers=kept)

    def socket_url(self, path: str) -> str:
        assert self.url is not None
        return "ws" + self.url.removeprefix("http") + path


def _proxy(request: Request) -> GatewayProxy:
    proxy: GatewayProxy = request.app.state.chat_proxy
    return proxy


@router.api_route("/api/v1/chat", methods=["POST"])
@router.api_route("/api/v1/chat/{rest:path}", methods=["GET"])
@router.api_route("/api/v1/sessions", methods=["GET"])
@router.api_route("/api/v1/sessions/{rest:path}", methods=["GET"])
@router.api_route("/api/v1/notes", methods=["GET", "POST"])
@router.api_route("/api/v1/notes/{rest:path}", methods=["DELETE"])
async def chat_routes(request: Request) -> Response:
    return await _proxy(request).forward(request)


@router.websocket("/ws/chat/{session}")
async def chat_socket(ws: WebSocket, session: str) -> None:
    proxy: GatewayProxy = ws.app.state.chat_proxy
    origin = ws.headers.get("origin") or ""
    by_cookie = "authorization" not in ws.headers and ws.cookies.get(SESSION_COOKIE)
    if by_cookie and not same_origin(origin, ws.headers.get("host")):
        await ws.close(code=4403, reason="csrf_failed")
        return
    if proxy.url is None:
        await ws.close(code=4503, reason="gateway_unavailable")
        return
    headers = {k: v for k, v in ws.headers.items() if k.lower() in ("authorization", "cookie")}
    try:
        upstream = await websockets.connect(
            proxy.socket_url(ws.url.path), additional_headers=headers, open_timeout=10
        )
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        log.warning("chat_proxy.socket_failed", error=type(exc).__name__)
        await ws.close(code=4503, reason="gateway_unavailable")
        return
    await ws.accept()
    async with upstream:
        await _relay(ws, upstream)


async def _relay(ws: WebSocket, upstream: ClientConnection) -> None:
    """Frames both ways until either side closes; then the other is closed too."""

    async def down() -> None:
        async for frame in upstream:
            await ws.send_text(frame if isinstance(frame, str) else frame.decode())

    async def up() -> None:
        while True:
            await upstream.send(await ws.receive_text())

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in [*done, *pending]:
        with contextlib.suppress(
            asyncio.CancelledError, WebSocketDisconnect, websockets.WebSocketException, RuntimeError
        ):
            await task
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await ws.close()
